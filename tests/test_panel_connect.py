"""The panel's Connect and Disconnect buttons against a real Jupyter server with the extension.

Connect is a link to the server's ``edge/connect`` route carrying a watch id; the panel
polls ``edge/api/connect/<watch>`` and turns "Connected" when the flow the link started
has stored a key.  Disconnect posts to ``edge/api/disconnect``.  The consent step is
the sandbox's (what a person does on OpenRouter's page).
"""

from __future__ import annotations

import asyncio
import logging

import pytest
from connect_fixtures import decide, query_of

from edge_jupyter import connect, keystore
from edge_jupyter.ledger import Context
from edge_jupyter.panel import _controller
from edge_jupyter.panel._controller import Panel
from edge_jupyter.panel._source import Source


@pytest.fixture
def jp_server_config(sandbox) -> dict:
    return {"ServerApp": {"jpserver_extensions": {"edge_jupyter": True}},
            "EdgeExtensionApp": {"openrouter_url": sandbox.url}}


@pytest.fixture
def file_store(sb, tmp_path, monkeypatch):
    for name in ("OPENROUTER_API_KEY", "JUPYTERHUB_SERVICE_PREFIX", "JUPYTERHUB_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("EDGE_OPENROUTER_URL", sb.url)
    monkeypatch.setenv("EDGE_DATA_DIR", str(tmp_path / "edge-data"))
    monkeypatch.setenv("EDGE_KEY_STORE", "file")
    monkeypatch.setattr(_controller, "WATCH_POLL_SECONDS", 0.05)
    monkeypatch.setattr("edge_jupyter.ledger._context._current",
                        Context(notebook="nb.ipynb", session_id="s"))


async def until(condition, timeout: float = 15.0) -> None:
    """Let the server (on this loop) answer the panel's thread until ``condition()``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_connect_and_disconnect_go_through_the_server(
        jp_fetch, jp_serverapp, jp_http_port, jp_base_url, file_store, caplog):
    server = connect.ServerInfo(url=f"http://127.0.0.1:{jp_http_port}{jp_base_url}",
                                base_url=jp_base_url, token=jp_serverapp.identity_provider.token)
    panel = Panel(Source(server))
    try:
        await until(lambda: "edge/connect?watch=" in panel.connect_html.value)
        assert "Not connected" in panel.account_html.value
        href = panel.connect_html.value.split('href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
        assert href.startswith(f"{jp_base_url}edge/connect?watch=")  # the path the browser uses
        assert 'target="_blank"' in panel.connect_html.value

        # the person follows the link, approves on OpenRouter, and comes back
        r = await jp_fetch("edge", "connect", params=query_of(href), follow_redirects=False,
                           raise_error=False)
        back = decide(r.headers["Location"], "authorize")
        flow_id = back.split("?")[0].rsplit("/", 1)[1]
        await jp_fetch("edge", "oauth", "callback", flow_id, params=query_of(back))

        await until(lambda: panel.account is not None and panel.account.connected
                    and "Key limit" in panel.account_html.value and panel.settle(0))
        assert "key in the edge_jupyter key file" in panel.account_html.value
        assert "Connected to OpenRouter." in panel.account_message.value
        assert panel.connect_html.layout.display == "none"
        assert not panel.disconnect_button.disabled

        with caplog.at_level(logging.INFO):
            panel.disconnect_button.click()
            await until(lambda: not panel.account.connected and panel.settle(0))
        assert "Disconnected: the stored OpenRouter key was removed." in \
            panel.account_message.value
        assert keystore.resolve_api_key().key is None
        # through the server's route (httpx logs each request it sends)
        assert 'POST http://127.0.0.1' in caplog.text
        assert 'edge/api/disconnect "HTTP/1.1 200 OK"' in caplog.text
        await until(lambda: "edge/connect?watch=" in panel.connect_html.value)  # a new link
    finally:
        panel.close()


async def test_a_declined_approval_is_said_and_a_new_link_offered(
        jp_fetch, jp_serverapp, jp_http_port, jp_base_url, file_store):
    server = connect.ServerInfo(url=f"http://127.0.0.1:{jp_http_port}{jp_base_url}",
                                base_url=jp_base_url, token=jp_serverapp.identity_provider.token)
    panel = Panel(Source(server))
    try:
        await until(lambda: "edge/connect?watch=" in panel.connect_html.value)
        first = panel.connect_html.value
        href = first.split('href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
        r = await jp_fetch("edge", "connect", params=query_of(href), follow_redirects=False,
                           raise_error=False)
        back = decide(r.headers["Location"], "deny")
        flow_id = back.split("?")[0].rsplit("/", 1)[1]
        await jp_fetch("edge", "oauth", "callback", flow_id, params=query_of(back),
                       raise_error=False)
        await until(lambda: "You chose not to authorize" in panel.account_message.value)
        await until(lambda: "edge/connect?watch=" in panel.connect_html.value
                    and panel.connect_html.value != first)
        assert not panel.account.connected
    finally:
        panel.close()
