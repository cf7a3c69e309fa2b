"""The routes under a JupyterHub-style ``base_url`` (``/user/alice/``) and behind a proxy.

(``X-Forwarded-Proto`` needs the real HTTP server's ``xheaders``, which pytest-jupyter's
in-process server does not pass on: that case is in ``test_serverext_e2e.py``.)
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import pytest
from connect_fixtures import decide, json_of, query_of

from edge_jupyter import keystore

PUBLIC = "lab.example.org"


@pytest.fixture
def jp_base_url() -> str:
    return "/user/alice/"


@pytest.fixture
def jp_server_config(sandbox) -> dict:
    return {"ServerApp": {"jpserver_extensions": {"edge_jupyter": True},
                          "allow_remote_access": True},
            "EdgeExtensionApp": {"openrouter_url": sandbox.url}}


@pytest.fixture
def edge_app(jp_serverapp):
    (app,) = jp_serverapp.extension_manager.extension_apps["edge_jupyter"]
    return app


@pytest.fixture(autouse=True)
def data_dir(sb, tmp_path, monkeypatch):
    path = tmp_path / "edge-data"
    for name in ("OPENROUTER_API_KEY", "JUPYTERHUB_SERVICE_PREFIX", "JUPYTERHUB_PUBLIC_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("EDGE_DATA_DIR", str(path))
    monkeypatch.setenv("EDGE_KEY_STORE", "file")
    return path


async def callback_of(jp_fetch, **headers: str) -> str:
    r = await jp_fetch("edge", "connect", headers=headers, follow_redirects=False,
                       raise_error=False)
    assert r.code == 302, r.body
    return query_of(r.headers["Location"])["callback_url"]


async def test_full_flow_under_user_alice(jp_fetch, jp_http_port):
    r = await jp_fetch("edge", "connect", follow_redirects=False, raise_error=False)
    location = r.headers["Location"]
    callback = query_of(location)["callback_url"]
    assert callback.startswith(f"http://127.0.0.1:{jp_http_port}/user/alice/edge/oauth/callback/")
    back = decide(location)
    path = urlsplit(back).path
    assert path.startswith("/user/alice/edge/oauth/callback/")
    r = await jp_fetch("edge", "oauth", "callback", unquote(path.rsplit("/", 1)[1]),
                       params=query_of(back), raise_error=False)
    assert r.code == 200 and b"Connected to OpenRouter" in r.body
    assert keystore.resolve_api_key().source == "file"
    status = json_of(await jp_fetch("edge", "api", "status", params={"details": "0"}))
    assert status["base_url"] == "/user/alice/"
    assert status["connect_url"] == "/user/alice/edge/connect"


async def test_unauthenticated_browser_goes_to_the_hub_users_login(jp_fetch):
    r = await jp_fetch("edge", "connect", headers={"Authorization": ""},
                       follow_redirects=False, raise_error=False)
    assert r.code == 302 and r.headers["Location"].startswith("/user/alice/login?next=")


async def test_jupyterhub_public_url_and_prefix(jp_fetch, monkeypatch):
    monkeypatch.setenv("JUPYTERHUB_PUBLIC_URL", "https://hub.example.org/")
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/alice/")
    callback = await callback_of(jp_fetch)
    assert callback.startswith("https://hub.example.org/user/alice/edge/oauth/callback/")


async def test_configured_public_url_wins(jp_fetch, edge_app):
    edge_app.public_url = "https://notebooks.example.com/team/alice/"
    try:
        callback = await callback_of(jp_fetch, Host=PUBLIC)
    finally:
        edge_app.public_url = ""
    assert callback.startswith("https://notebooks.example.com/team/alice/edge/oauth/callback/")


async def test_plain_http_public_host_is_refused_for_the_real_openrouter(jp_fetch, edge_app):
    saved, edge_app.openrouter_url = edge_app.openrouter_url, "https://openrouter.ai"
    try:
        r = await jp_fetch("edge", "connect", headers={"Host": PUBLIC}, follow_redirects=False,
                           raise_error=False)
        local = await jp_fetch("edge", "connect", follow_redirects=False, raise_error=False)
    finally:
        edge_app.openrouter_url = saved
    assert r.code == 400
    assert b"cannot send you back here" in r.body and b"trust_xheaders" in r.body
    assert local.code == 302
    assert local.headers["Location"].startswith("https://openrouter.ai/auth?")
