"""Kernel side of connecting (``edge_jupyter.connect``): finding the server, waiting, the
terminal flow with its one-shot callback server, flags, cancelling."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from connect_fixtures import decide, query_of

from edge_jupyter import connect, keystore


@pytest.fixture
def file_store(sb, tmp_path, monkeypatch) -> Path:
    path = tmp_path / "edge-data"
    for name in ("OPENROUTER_API_KEY", "JUPYTERHUB_SERVICE_PREFIX", "JUPYTERHUB_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("EDGE_OPENROUTER_URL", sb.url)
    monkeypatch.setenv("EDGE_DATA_DIR", str(path))
    monkeypatch.setenv("EDGE_KEY_STORE", "file")
    monkeypatch.setattr(connect, "POLL_INTERVAL", 0.05)
    return path


# -- flags ---------------------------------------------------------------------------------------


def test_help_and_bad_flags_are_one_clean_message(file_store):
    from edge_jupyter.magics._args import HelpRequested, UsageError

    with pytest.raises(HelpRequested) as helped:
        connect.run_connect(["--help"])
    assert "--limit USD" in helped.value.text and "credit limit" in helped.value.text
    with pytest.raises(UsageError) as bad:
        connect.run_connect(["--limit", "lots"])
    assert str(bad.value).startswith("%edge connect: --limit must be a finite amount of USD")
    assert "\n" not in str(bad.value)
    with pytest.raises(UsageError) as bad:
        connect.run_disconnect(["--bogus"])
    assert str(bad.value).startswith("%edge disconnect: unrecognized arguments: --bogus")


# -- finding the server --------------------------------------------------------------------------


class FakeJupyter:
    """Answers ``GET /base/api/kernels/<id>`` with 200 for one kernel and one token."""

    def __init__(self, kernel: str, token: str, base: str = "/") -> None:
        outer = self
        self.seen_auth: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.seen_auth.append(self.headers.get("Authorization", ""))
                ok = (self.path == f"{base}api/kernels/{kernel}"
                      and self.headers.get("Authorization") == f"token {token}")
                self.send_response(200 if ok else 404)
                self.end_headers()  # a 404 like tornado's own: an HTML page
                self.wfile.write(b"{}" if ok else b"<html><title>404: Not Found</title></html>")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def write_runtime(folder: Path, pid: int, port: int, token: str, base: str = "/") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"jpserver-{pid}.json").write_text(json.dumps({
        "base_url": base, "hostname": "0.0.0.0", "pid": pid, "port": port, "secure": False,
        "sock": "", "token": token, "url": f"http://0.0.0.0:{port}{base}"}))


def test_find_server_asks_each_live_server_for_this_kernel(tmp_path, monkeypatch):
    runtime = tmp_path / "runtime"
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(runtime))
    monkeypatch.delenv("JUPYTERHUB_SERVICE_PREFIX", raising=False)
    mine = FakeJupyter("k-123", "tok-a", "/user/alice/")
    other = FakeJupyter("k-999", "tok-b")
    try:
        write_runtime(runtime, os.getpid(), other.port, "tok-b")
        write_runtime(runtime, os.getppid(), mine.port, "tok-a", "/user/alice/")
        write_runtime(runtime, 2**22 + 12345, mine.port, "tok-a")  # a dead server's leftover
        found = connect.find_server(kernel="k-123")
        assert found is not None
        assert found.url == f"http://127.0.0.1:{mine.port}/user/alice/"
        assert found.public_path == "/user/alice/"
        assert found.browser_link("edge/connect?x=1") == "/user/alice/edge/connect?x=1"
        assert "tok-a" not in repr(found)
        assert connect.find_server(kernel="k-nope") is None
        assert connect.find_server(kernel=None) is None  # not in a kernel
    finally:
        mine.close()
        other.close()


def test_hub_prefix_and_api_token(tmp_path, monkeypatch):
    runtime = tmp_path / "runtime"
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(runtime))
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/hub/user/bob/")
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "hub-token")
    fake = FakeJupyter("k-1", "hub-token", "/user/bob/")
    try:
        write_runtime(runtime, os.getpid(), fake.port, "", "/user/bob/")
        found = connect.find_server(kernel="k-1")
        assert found is not None and found.public_path == "/hub/user/bob/"
    finally:
        fake.close()


# -- waiting on the server's flow (the route the server extension serves) ------------------------


@pytest.fixture
def jp_server_config(sandbox) -> dict:
    return {"ServerApp": {"jpserver_extensions": {"edge_jupyter": True}},
            "EdgeExtensionApp": {"openrouter_url": sandbox.url}}


async def _kernel_flow(jp_fetch, jp_serverapp, jp_http_port, jp_base_url, capsys,
                       decision: str, argv: list[str]) -> list[str]:
    server = connect.ServerInfo(url=f"http://127.0.0.1:{jp_http_port}{jp_base_url}",
                                base_url=jp_base_url, token=jp_serverapp.identity_provider.token)
    status = connect._Status()
    args = connect._connect_parser().parse_args(argv)
    loop = asyncio.get_running_loop()
    waiting = loop.run_in_executor(None, connect._connect_via_server, server, args, status)
    printed = ""  # outside a kernel the link is printed, as in a terminal
    while "Open this link" not in printed:
        await asyncio.sleep(0.02)
        printed += capsys.readouterr().out
    link = printed.split("Open this link to connect to OpenRouter: ", 1)[1].split()[0]
    assert link.startswith(f"http://127.0.0.1:{jp_http_port}{jp_base_url}edge/connect?watch=")
    r = await jp_fetch("edge", "connect", params=query_of(link), follow_redirects=False,
                       raise_error=False)
    back = decide(r.headers["Location"], decision)
    flow_id = back.split("?")[0].rsplit("/", 1)[1]
    await jp_fetch("edge", "oauth", "callback", flow_id, params=query_of(back), raise_error=False)
    await asyncio.wait_for(waiting, 20)
    return status.history


async def test_waits_for_the_server_and_reports_the_key(jp_fetch, jp_serverapp, jp_http_port,
                                                        jp_base_url, file_store, capsys):
    history = await _kernel_flow(jp_fetch, jp_serverapp, jp_http_port, jp_base_url, capsys,
                                 "authorize", ["--limit", "2.5"])
    assert history[0].startswith("⏳ Waiting for you to approve on OpenRouter")
    assert history[-1].startswith("✅ Connected to OpenRouter: sk-or-v1-")
    assert "limit $2.50, $2.50 left" in history[-1] and "edge_jupyter key file" in history[-1]
    key = keystore.resolve_api_key().key
    assert key and not any(key in line for line in history)


async def test_a_denial_on_the_server_ends_the_wait_at_once(jp_fetch, jp_serverapp, jp_http_port,
                                                            jp_base_url, file_store, capsys):
    history = await _kernel_flow(jp_fetch, jp_serverapp, jp_http_port, jp_base_url, capsys,
                                 "deny", [])
    assert history[-1] == ("❌ Not connected: You chose not to authorize edge_jupyter on "
                           "OpenRouter.")
    assert keystore.resolve_api_key().source == "none"


def test_server_without_the_extension_is_reported(file_store):
    plain = FakeJupyter("k", "t")
    try:
        server = connect.ServerInfo(url=f"http://127.0.0.1:{plain.port}/", base_url="/", token="t")
        status = connect._Status()
        connect._connect_via_server(server, connect._connect_parser().parse_args([]), status)
    finally:
        plain.close()
    assert status.history[-1].startswith("❌ Not connected: This Jupyter server does not have the "
                                         "edge_jupyter server extension enabled")


# -- the terminal flow: one-shot callback server -------------------------------------------------


def _browser_that(decision: str, seen: list[str]):
    """Stand-in for webbrowser.open: approve or deny on the sandbox, follow the redirect back."""

    def open_(url: str) -> bool:
        def go() -> None:
            back = decide(url, decision)
            seen.append(back)
            with httpx.Client(trust_env=False) as client:
                seen.append(client.get(back).text)

        threading.Thread(target=go, daemon=True).start()
        return True

    return open_


def test_terminal_flow_runs_its_own_callback_server(file_store, monkeypatch, capsys):
    seen: list[str] = []
    monkeypatch.setattr("webbrowser.open", _browser_that("authorize", seen))
    connect.run_connect(["--limit", "1"])
    out, err = capsys.readouterr()
    assert "Open this link to connect to OpenRouter: http://127.0.0.1:" in out
    assert "/auth?callback_url=http%3A%2F%2F127.0.0.1%3A" in out
    assert "✅ Connected to OpenRouter" in out and "limit $1.00" in out
    assert seen[0].startswith("http://127.0.0.1:") and "code=" in seen[0]
    assert "Connected to OpenRouter" in seen[1]
    code = query_of(seen[0])["code"]
    key = keystore.resolve_api_key().key
    assert key and key not in out + err and code not in out + err  # nothing logged the request


def test_a_failed_key_exchange_gives_a_connect_hint_not_a_model_hint(file_store, monkeypatch,
                                                                    capsys):
    from edge_jupyter.pkce import challenge_for, new_verifier

    def open_(url: str) -> bool:  # a code issued for another verifier: OpenRouter refuses it
        def go() -> None:
            back = decide(url, challenge=challenge_for(new_verifier()))
            with httpx.Client(trust_env=False) as client:
                client.get(back)

        threading.Thread(target=go, daemon=True).start()
        return True

    monkeypatch.setattr("webbrowser.open", open_)
    connect.run_connect([])
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("❌"))
    assert line.startswith("❌ Not connected: OpenRouter did not issue a key: OpenRouter error 4")
    assert "Invalid code or code_verifier" in line and "run `%edge connect` again" in line
    assert "model id" not in out and "flags of the cell" not in out
    assert keystore.resolve_api_key().source == "none"


def test_terminal_flow_denied(file_store, monkeypatch, capsys):
    seen: list[str] = []
    monkeypatch.setattr("webbrowser.open", _browser_that("deny", seen))
    connect.run_connect([])
    out = capsys.readouterr().out
    assert "❌ Not connected: You chose not to authorize" in out
    assert "Connection declined" in seen[1]
    assert keystore.resolve_api_key().source == "none"


def test_terminal_flow_times_out(file_store, monkeypatch, capsys):
    monkeypatch.setattr("webbrowser.open", lambda url: True)
    connect.run_connect(["--timeout", "0.3"])
    assert "❌ Not connected: Gave up after" in capsys.readouterr().out


def test_terminal_flow_without_a_secure_store_says_what_to_do(file_store, monkeypatch, capsys):
    import keyring
    from keyring.backends import null

    monkeypatch.delenv("EDGE_KEY_STORE")
    opened: list[str] = []
    monkeypatch.setattr("webbrowser.open", opened.append)
    saved = keyring.get_keyring()
    keyring.set_keyring(null.Keyring())
    try:
        connect.run_connect([])
    finally:
        keyring.set_keyring(saved)
    out = capsys.readouterr().out
    assert "❌ Not connected: No secure key store is available" in out
    assert "EDGE_KEY_STORE=file" in out and opened == []


def test_disconnect(file_store, capsys, monkeypatch):
    keystore.store_api_key("sk-or-v1-bye")
    connect.run_disconnect([])
    out = capsys.readouterr().out
    assert out.startswith("Disconnected: the stored OpenRouter key was removed.")
    assert "usage ledger are kept" in out
    connect.run_disconnect([])
    assert capsys.readouterr().out.startswith("No stored OpenRouter key to remove.")
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-v1-env")
    connect.run_disconnect([])
    assert "OPENROUTER_API_KEY is still set" in capsys.readouterr().out


# -- a real kernel: cancelling with an interrupt --------------------------------------------------


def test_interrupting_the_kernel_cancels_the_wait(sb, tmp_path):
    from kernel_harness import Kernel

    kernel = Kernel({"EDGE_OPENROUTER_URL": sb.url, "EDGE_DATA_DIR": str(tmp_path / "d"),
                     "EDGE_KEY_STORE": "file", "BROWSER": "true", "OPENROUTER_API_KEY": "",
                     "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")})
    try:
        kernel.ok("%load_ext edge_jupyter")
        run = kernel.run("%edge connect", interrupt_after=2.0, timeout=30)
        assert run.status == "ok", run.error_text
        text = run.all_text
        assert "⏹ Cancelled: nothing was stored" in text, text
        assert "KeyboardInterrupt" not in text
        assert run.count("update_display_data") >= 1
    finally:
        kernel.shutdown()
