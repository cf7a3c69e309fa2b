"""End to end: a real ``jupyter server``, a real kernel, headless Chromium, the sandbox.

The server is started with no ``jpserver_extensions`` flag: the routes only exist
if the jupyter-config file installed with the package enabled the extension.
The key goes to the real OS keyring when a D-Bus session is there (scripts/test.sh),
else to the opt-in file store.  At the end, the server log, every kernel message,
the saved notebook, the pages and the data dir are scanned for the key.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import nbformat
import pytest
from connect_fixtures import (
    BrowserThread,
    JupyterServer,
    cleanup_keyring,
    find_secret,
    has_secret_service,
    jupyter_server,
    query_of,
    server_env,
)
from panel_fixtures import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, needs_chromium

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def e2e_env(sandbox, tmp_path_factory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("e2e")
    extra = {"JUPYTER_RUNTIME_DIR": str(tmp / "runtime"), "JUPYTER_CONFIG_DIR": str(tmp / "cfg"),
             "IPYTHONDIR": str(tmp / "ipython")}
    if not has_secret_service():
        extra["EDGE_KEY_STORE"] = "file"
    return server_env(sandbox.url, tmp / "edge-data", **extra)


@pytest.fixture(scope="module")
def server(e2e_env, tmp_path_factory) -> Iterator[JupyterServer]:
    cleanup_keyring()
    with jupyter_server(tmp_path_factory.mktemp("srv"), e2e_env,
                        extra_args=["--ServerApp.trust_xheaders=True"]) as srv:
        yield srv
    cleanup_keyring()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    runner = BrowserThread(CHROMIUM, CHROMIUM_ARGS)
    yield runner.browser
    runner.close()


@pytest.fixture
def page(browser, server) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 820, "height": 640})
    pg = context.new_page()
    # Log in once with the token, as the link Jupyter prints does; the cookie does the rest.
    pg.goto(f"{server.url}edge/api/status?details=0&token={server.token}")
    yield pg
    context.close()


class RemoteKernel:
    """A kernel started through the server's REST API, driven with jupyter_client."""

    def __init__(self, srv: JupyterServer, env: dict[str, str]) -> None:
        from jupyter_client import BlockingKernelClient

        self.srv = srv
        r = httpx.post(srv.api("api/kernels"), json={"name": "python3"}, headers=srv.auth,
                       trust_env=False, timeout=30)
        r.raise_for_status()
        self.id = r.json()["id"]
        self.kc = BlockingKernelClient(
            connection_file=str(Path(env["JUPYTER_RUNTIME_DIR"]) / f"kernel-{self.id}.json"))
        self.kc.load_connection_file()
        self.kc.start_channels()
        # A client without a manager calls the kernel dead while its heartbeat is not up yet.
        deadline = time.monotonic() + 60
        while True:
            try:
                self.kc.wait_for_ready(timeout=60)
                break
            except RuntimeError:
                assert time.monotonic() < deadline, srv.log_text()[-3000:]
                time.sleep(0.2)
        self.messages: list[dict[str, Any]] = []

    def start(self, code: str) -> tuple[str, queue.Queue[dict[str, Any]]]:
        """Send a cell; its iopub messages arrive on the returned queue (None at idle)."""
        msg_id = self.kc.execute(code, allow_stdin=False)
        out: queue.Queue[dict[str, Any]] = queue.Queue()

        def pump() -> None:
            while True:
                m = self.kc.get_iopub_msg(timeout=90)
                if m["parent_header"].get("msg_id") != msg_id:
                    continue
                self.messages.append(m)
                if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
                    out.put(None)  # type: ignore[arg-type]
                    return
                out.put(m)

        threading.Thread(target=pump, daemon=True).start()
        return msg_id, out

    def run(self, code: str, timeout: float = 60) -> list[dict[str, Any]]:
        _, out = self.start(code)
        return drain(out, timeout)

    def shutdown(self) -> None:
        self.kc.stop_channels()
        httpx.delete(self.srv.api(f"api/kernels/{self.id}"), headers=self.srv.auth,
                     trust_env=False, timeout=30)


def drain(out: queue.Queue[dict[str, Any]], timeout: float) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while True:
        m = out.get(timeout=max(0.1, deadline - time.monotonic()))
        if m is None:
            return got
        got.append(m)


def text_of(messages: list[dict[str, Any]]) -> str:
    parts = []
    for m in messages:
        c = m["content"]
        if m["msg_type"] == "stream" and "without encryption" not in c["text"]:
            parts.append(c["text"])
        elif "data" in c:
            parts.append(c["data"].get("text/plain", ""))
        elif m["msg_type"] == "error":
            parts.append("\n".join(c["traceback"]))
    return "\n".join(parts)


def shot(pg: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    pg.screenshot(path=str(path), full_page=True)
    return path


def test_connect_from_a_kernel_in_a_real_browser(server, e2e_env, page, sandbox, monkeypatch):
    kernel = RemoteKernel(server, e2e_env)
    pages_seen: list[str] = []
    callback_urls: list[str] = []
    page.on("request", lambda req: callback_urls.append(req.url)
            if "/edge/oauth/callback/" in req.url else None)
    try:
        status_before = text_of(kernel.run("%load_ext edge_jupyter\n%edge status"))
        assert "run %edge connect" in status_before, status_before
        # 1. %edge connect in the kernel shows a link to this server's connect route ...
        _, out = kernel.start("%edge connect --limit 5 --timeout 60")
        link = None
        connect_msgs: list[dict[str, Any]] = []
        deadline = time.monotonic() + 30
        while link is None and time.monotonic() < deadline:
            m = out.get(timeout=30)
            assert m is not None, text_of(connect_msgs)
            connect_msgs.append(m)
            html = m["content"].get("data", {}).get("text/html", "")
            if "edge-connect-link" in html:
                link = html.split('href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
        assert link and link.startswith("/edge/connect?"), link
        assert query_of(link)["limit"] == "5"

        # 2. ... which the browser follows to the consent page, where the user clicks Authorize
        origin = server.url.split("/", 3)[:3]
        page.goto("/".join(origin) + link)
        page.wait_for_selector("#authorize")
        assert "$5.00" in page.content()
        page.click("#authorize")
        page.wait_for_selector("#edge-ok", timeout=15000)
        assert "Connected to OpenRouter" in page.inner_text("h1")
        assert "close this tab" in page.inner_text("main")
        assert "?code=" not in page.url, "the code is dropped from the address bar"
        pages_seen.append(page.content())
        shot(page, "oauth-success.png")

        # 3. ... and the waiting cell ends with "connected", updated in place
        connect_msgs += drain(out, 30)
        final = text_of(connect_msgs)
        assert "Connected to OpenRouter" in final and "limit $5.00" in final, final
        updates = [m for m in connect_msgs if m["msg_type"] == "update_display_data"]
        assert updates, "the status line is updated in place"
        ids = {m["content"]["transient"]["display_id"] for m in updates}
        assert len(ids) == 1

        # the key as the test process sees it (same store), for the leak scan
        monkeypatch.setenv("EDGE_DATA_DIR", e2e_env["EDGE_DATA_DIR"])
        if "EDGE_KEY_STORE" in e2e_env:
            monkeypatch.setenv("EDGE_KEY_STORE", e2e_env["EDGE_KEY_STORE"])
        monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
        from edge_jupyter import keystore

        resolved = keystore.resolve_api_key()
        key = resolved.key
        assert key and resolved.source in ("keyring", "file")

        in_env = text_of(kernel.run(
            "import os\nfrom edge_jupyter.keystore import resolve_api_key\n"
            "print('in environ:', any(resolve_api_key().key in v for v in os.environ.values()))"))
        assert "in environ: False" in in_env

        status = httpx.get(server.api("edge/api/status"), headers=server.auth, trust_env=False,
                           timeout=10)
        body = status.json()
        assert body["connected"] and body["key"]["limit"] == 5.0
        pages_seen.append(status.text)

        # 4. a %%edge cell uses the stored key
        before = len(sandbox.completions)
        answer = kernel.run("%%edge -m openai/gpt-4o-mini\nSay hello")
        assert len(sandbox.completions) == before + 1, text_of(answer)
        assert sandbox.completions[-1].text in text_of(answer)

        # 5. a cookie-only POST without the XSRF header is refused; %edge disconnect works
        refused = page.evaluate("""async (url) => {
            const r = await fetch(url, {method: 'POST', credentials: 'same-origin'});
            return r.status; }""", server.api("edge/api/disconnect"))
        assert refused == 403
        gone = text_of(kernel.run("%edge disconnect"))
        assert "Disconnected" in gone and "ledger" in gone, gone
        after = text_of(kernel.run("%%edge -m openai/gpt-4o-mini\nSay hello again"))
        assert "Not connected to OpenRouter" in after and "%edge connect" in after, after
        assert len(sandbox.completions) == before + 1

        # 6. the key is nowhere but in the key store
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell("%edge connect --limit 5")]
        nb.cells[0].outputs = [nbformat.v4.output_from_msg(m) for m in kernel.messages
                               if m["msg_type"] in ("stream", "display_data", "execute_result",
                                                    "error")]
        nb_path = server.root / "connect.ipynb"
        nbformat.write(nb, nb_path)
        kernel_json = [json.dumps(m, default=str) for m in kernel.messages]
        data_dir = Path(e2e_env["EDGE_DATA_DIR"])
        leaks = find_secret(key, [server.log_text(), *kernel_json, *pages_seen],
                            paths=[nb_path, data_dir, server.root],
                            skip=[data_dir / "keys.json"])
        assert leaks == []
        code = query_of(callback_urls[0])["code"]
        assert find_secret(code, [server.log_text()]) == []
    finally:
        kernel.shutdown()
        cleanup_keyring()


def test_denying_in_a_real_browser_shows_a_clear_page(server, page):
    page.goto(f"{server.url}edge/connect")
    page.wait_for_selector("#deny")
    page.click("#deny")
    page.wait_for_selector("#edge-err", timeout=15000)
    assert page.inner_text("h1") == "Connection declined"
    assert "Nothing was stored" in page.inner_text("main")
    shot(page, "oauth-error.png")
    page.click("#retry")  # "Try again" starts a new flow
    page.wait_for_selector("#authorize")


def test_no_secure_store_in_a_real_server(e2e_env, browser, tmp_path):
    # A typical data dir, so the page (and its screenshot in docs/) reads as a user sees it;
    # nothing may be written there, which is checked at the end.
    shown_dir = Path("/home/you/.local/share/edge_jupyter")
    env = {**e2e_env, "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
           "EDGE_DATA_DIR": str(shown_dir)}
    env.pop("EDGE_KEY_STORE", None)
    with jupyter_server(tmp_path, env) as srv:
        context = browser.new_context(viewport={"width": 820, "height": 760})
        pg = context.new_page()
        response = pg.goto(f"{srv.url}edge/connect?token={srv.token}")
        assert response is not None and response.status == 503
        text = pg.inner_text("main")
        assert "No secure place to keep your key" in text
        for hint in ("OPENROUTER_API_KEY", "Secret Service", "EDGE_KEY_STORE=file"):
            assert hint in text
        shot(pg, "oauth-no-secure-store.png")
        context.close()
    assert not shown_dir.exists()


def test_forwarded_proto_behind_a_proxy(server):
    r = httpx.get(server.api("edge/connect"), headers={**server.auth, "X-Forwarded-Proto": "https"},
                  trust_env=False, follow_redirects=False, timeout=10)
    assert r.status_code == 302
    port = server.url.split(":")[2].split("/")[0]
    assert query_of(r.headers["location"])["callback_url"].startswith(
        f"https://127.0.0.1:{port}/edge/oauth/callback/")
