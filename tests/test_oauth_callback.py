"""One OAuth callback behind both front-ends: the jupyter-server extension and the terminal's
one-shot server answer the same request with the same refusal, over real HTTP.

Each test drives a real Jupyter server (pytest-jupyter, the edge_jupyter extension on) and a
real one-shot callback server from ``%edge connect`` in a terminal, both against the real
sandbox, and compares what a person sees: the status, the page's reason, its title and its
"What happened" sentence, and the sentence the waiting kernel or terminal is given.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx
import pytest
from connect_fixtures import decide, json_of, query_of

from edge_jupyter import connect, keystore
from edge_jupyter.pkce import challenge_for, new_verifier

WATCH = "t" * 24


@pytest.fixture
def jp_server_config(sandbox) -> dict:
    return {"ServerApp": {"jpserver_extensions": {"edge_jupyter": True}},
            "EdgeExtensionApp": {"openrouter_url": sandbox.url}}


@pytest.fixture
def data_dir(sb, tmp_path, monkeypatch) -> Path:
    path = tmp_path / "edge-data"
    for name in ("OPENROUTER_API_KEY", "JUPYTERHUB_SERVICE_PREFIX", "JUPYTERHUB_PUBLIC_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("EDGE_OPENROUTER_URL", sb.url)
    monkeypatch.setenv("EDGE_DATA_DIR", str(path))
    monkeypatch.setenv("EDGE_KEY_STORE", "file")
    return path


@pytest.fixture
def terminal(sb, data_dir) -> Iterator:
    """A factory of one-shot callback servers (one flow each), as ``%edge connect`` starts."""
    with ExitStack() as stack:
        yield lambda: stack.enter_context(connect._OneShot(sb.url, None))


class Answer:
    """One callback answer, cut into what a person reads."""

    def __init__(self, status: int, html: str) -> None:
        self.status = status
        self.html = html
        self.reason = _first(r'data-reason="([^"]*)"', html)
        self.title = _first(r"<h1>(.*?)</h1>", html)
        self.what = _first(r"<h2>What happened</h2><p>(.*?)</p>", html)
        self.steps = re.findall(r"<li>(.*?)</li>", html)

    def __repr__(self) -> str:
        return f"Answer({self.status}, {self.reason!r}, {self.title!r}, {self.what!r})"


def _first(pattern: str, text: str) -> str:
    found = re.search(pattern, text, re.S)
    return found.group(1) if found else ""


# -- the two front-ends ---------------------------------------------------------------------------


async def server_start(jp_fetch, watch: str = WATCH) -> str:
    """``GET edge/connect``: the consent page's address (the flow is in its callback_url)."""
    r = await jp_fetch("edge", "connect", params={"watch": watch}, follow_redirects=False,
                       raise_error=False)
    assert r.code == 302, r.body
    return r.headers["Location"]


def flow_id_of(callback_url: str) -> str:
    return unquote(urlsplit(callback_url).path.rstrip("/").rsplit("/", 1)[1])


async def server_callback(jp_fetch, flow_id: str, params: dict[str, str]) -> Answer:
    r = await jp_fetch("edge", "oauth", "callback", flow_id, params=params, raise_error=False)
    return Answer(r.code, r.body.decode())


def terminal_callback(one, flow_id: str, params: dict[str, str]) -> Answer:
    with httpx.Client(trust_env=False) as client:
        r = client.get(f"http://127.0.0.1:{one.port}/edge/oauth/callback/{flow_id}",
                       params=params)
    return Answer(r.status_code, r.text)


async def watch_message(jp_fetch, watch: str = WATCH) -> tuple[str, str]:
    state = json_of(await jp_fetch("edge", "api", "connect", watch))
    return str(state["state"]), str(state["message"])


# -- the same request, the same answer ------------------------------------------------------------


async def test_an_unknown_link_is_refused_alike(jp_fetch, terminal):
    one = terminal()
    flow_id = "Z" * 32
    at_server = await server_callback(jp_fetch, flow_id, {"code": "whatever"})
    at_terminal = terminal_callback(one, flow_id, {"code": "whatever"})
    for answer in (at_server, at_terminal):
        assert (answer.status, answer.reason) == (400, "flow-unknown"), answer
        assert answer.title == "This sign-in link cannot be used"
        assert answer.what.startswith("This sign-in link is unknown to this ")
    assert one.result is None, "an unknown link ends no flow: the terminal keeps waiting"
    assert keystore.resolve_api_key().source == "none"


async def test_a_used_link_is_refused_alike(jp_fetch, sb, terminal):
    back_server = decide(await server_start(jp_fetch))
    one = terminal()
    back_terminal = decide(one.authorize_url)
    first = (await server_callback(jp_fetch, flow_id_of(back_server), query_of(back_server)),
             terminal_callback(one, one.flow.flow_id, query_of(back_terminal)))
    assert [a.status for a in first] == [200, 200], first
    assert first[0].html == first[1].html, "the same success page, byte for byte"
    assert one.result == ("connected", "Connected to OpenRouter.")
    assert await watch_message(jp_fetch) == one.result
    key = keystore.resolve_api_key().key
    assert key and not any(key in a.html for a in first)

    again = (await server_callback(jp_fetch, flow_id_of(back_server), query_of(back_server)),
             terminal_callback(one, one.flow.flow_id, query_of(back_terminal)))
    for answer in again:
        assert (answer.status, answer.reason) == (400, "flow-used"), answer
    assert again[0].what == again[1].what == ("This sign-in link was already used. Each link "
                                              "works exactly once.")


async def test_a_code_the_verifier_cannot_redeem_fails_alike(jp_fetch, terminal):
    someone_elses = challenge_for(new_verifier())
    back_server = decide(await server_start(jp_fetch), challenge=someone_elses)
    one = terminal()
    back_terminal = decide(one.authorize_url, challenge=someone_elses)
    at_server = await server_callback(jp_fetch, flow_id_of(back_server), query_of(back_server))
    at_terminal = terminal_callback(one, one.flow.flow_id, query_of(back_terminal))
    for answer, back in ((at_server, back_server), (at_terminal, back_terminal)):
        assert (answer.status, answer.reason) == (502, "exchange-failed"), answer
        assert "Invalid code or code_verifier" in answer.what
        assert query_of(back)["code"] not in answer.html
    assert at_server.what == at_terminal.what
    assert at_server.steps[0] == at_terminal.steps[0]
    state, message = await watch_message(jp_fetch)
    assert state == "error" and message.startswith("OpenRouter did not issue a key: ")
    assert one.result == (state, message), "the kernel and the terminal are told the same"
    assert keystore.resolve_api_key().source == "none"


async def test_an_error_from_openrouter_is_shown_alike(jp_fetch, terminal):
    location = await server_start(jp_fetch)
    server_flow = flow_id_of(query_of(location)["callback_url"])
    one = terminal()
    error = {"error": "server_error<script>"}
    at_server = await server_callback(jp_fetch, server_flow, error)
    at_terminal = terminal_callback(one, one.flow.flow_id, error)
    for answer in (at_server, at_terminal):
        assert (answer.status, answer.reason) == (400, "provider-error"), answer
        assert "server_error<" not in answer.html
    assert at_server.what == at_terminal.what == (
        "OpenRouter sent you back with the error &#x27;server_errorscript&#x27;.")
    assert await watch_message(jp_fetch) == one.result == (
        "error", "OpenRouter sent you back with the error 'server_errorscript'.")


async def test_a_key_that_cannot_be_kept_is_said_alike(jp_fetch, terminal, data_dir,
                                                       monkeypatch):
    back_server = decide(await server_start(jp_fetch))
    one = terminal()
    back_terminal = decide(one.authorize_url)
    blocker = data_dir.parent / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("EDGE_DATA_DIR", str(blocker / "edge-data"))  # nothing can be written
    at_server = await server_callback(jp_fetch, flow_id_of(back_server), query_of(back_server))
    at_terminal = terminal_callback(one, one.flow.flow_id, query_of(back_terminal))
    for answer in (at_server, at_terminal):
        assert (answer.status, answer.reason) == (503, "store-KeyStoreError"), answer
        assert answer.title == "The key could not be stored"
        assert "OpenRouter created a key that was not kept" in answer.steps[-1]
    assert at_server.what == at_terminal.what and "a-file" in at_server.what
    assert await watch_message(jp_fetch) == one.result
    assert one.result is not None and one.result[0] == "error"
