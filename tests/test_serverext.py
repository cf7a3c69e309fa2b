"""The server extension's routes, in-process with pytest-jupyter and a real sandbox.

Most tests keep the key in the opt-in file store (a tmp EDGE_DATA_DIR) so that
they are isolated from each other; one runs the whole flow against the real OS
keyring when a D-Bus session is there (``scripts/test.sh`` provides one).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from connect_fixtures import (
    cleanup_keyring,
    decide,
    find_secret,
    has_secret_service,
    json_of,
    query_of,
)
from tornado.httpclient import HTTPClientError

from edge_jupyter import keystore
from edge_jupyter.oauth import FlowStore
from edge_jupyter.pkce import challenge_for, new_verifier


@pytest.fixture
def jp_server_config(sandbox) -> dict:
    return {"ServerApp": {"jpserver_extensions": {"edge_jupyter": True}},
            "EdgeExtensionApp": {"openrouter_url": sandbox.url}}


@pytest.fixture
def data_dir(sb, tmp_path, monkeypatch) -> Path:
    """No key in the environment, the file store in a fresh folder."""
    path = tmp_path / "edge-data"
    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
    monkeypatch.setenv("EDGE_OPENROUTER_URL", sb.url)
    monkeypatch.setenv("EDGE_DATA_DIR", str(path))
    monkeypatch.setenv("EDGE_KEY_STORE", "file")
    return path


@pytest.fixture
def logs() -> Iterator[list[str]]:
    """Every log line of the server, its extension, tornado and the access log, DEBUG up."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            # httpcore's transport trace also covers this test's own requests to the
            # sandbox (whose redirect carries the code); the server does not log through it.
            if not record.name.startswith("httpcore"):
                lines.append(self.format(record))

    handler = Collect(logging.DEBUG)
    names = ["", "tornado.access", "tornado.application", "tornado.general", "ServerApp",
             "EdgeExtensionApp", "traitlets"]
    saved = []
    for name in names:
        log = logging.getLogger(name)
        saved.append((log, log.level))
        log.addHandler(handler)
        log.setLevel(logging.DEBUG)
    yield lines
    for log, level in saved:
        log.removeHandler(handler)
        log.setLevel(level)


@pytest.fixture
def edge_app(jp_serverapp):
    apps = jp_serverapp.extension_manager.extension_apps["edge_jupyter"]
    (app,) = apps
    return app


@pytest.fixture
def serverapp_logs(jp_serverapp, edge_app, logs) -> list[str]:
    """Also hook the traitlets loggers of the server app and the extension app."""
    handler = logging.getLogger("").handlers[-1]
    for log in (jp_serverapp.log, edge_app.log):
        log.addHandler(handler)
        log.setLevel(logging.DEBUG)
    return logs


async def start(jp_fetch, **params: str) -> str:
    """GET edge/connect; return the Location (the sandbox's consent page)."""
    r = await jp_fetch("edge", "connect", params=params, follow_redirects=False, raise_error=False)
    assert r.code == 302, r.body
    return r.headers["Location"]


async def callback(jp_fetch, location: str):
    """Follow the sandbox's redirect back to this server (with the token header)."""
    parts = urlsplit(location)
    flow_id = unquote(parts.path.rstrip("/").rsplit("/", 1)[1])
    return await jp_fetch("edge", "oauth", "callback", flow_id, params=query_of(location),
                          raise_error=False)


def page(r) -> str:
    return r.body.decode()


# -- access control ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", [("edge", "api", "status"), ("edge", "api", "connect", "x" * 20)])
async def test_api_routes_refuse_unauthenticated_requests(jp_fetch, data_dir, path):
    with pytest.raises(HTTPClientError) as e:
        await jp_fetch(*path, headers={"Authorization": ""})
    assert e.value.code == 403


async def test_disconnect_refuses_unauthenticated_requests(jp_fetch, data_dir):
    keystore.store_api_key("sk-or-v1-keep-me")
    r = await jp_fetch("edge", "api", "disconnect", method="POST", body=b"",
                       headers={"Authorization": ""}, raise_error=False)
    assert r.code == 403
    assert keystore.resolve_api_key().key == "sk-or-v1-keep-me"


@pytest.mark.parametrize("path", [("edge", "connect"),
                                  ("edge", "oauth", "callback", "A" * 32)])
async def test_pages_send_unauthenticated_browsers_to_login(jp_fetch, jp_base_url, data_dir, path):
    r = await jp_fetch(*path, params={"code": "c0de"}, headers={"Authorization": ""},
                       follow_redirects=False, raise_error=False)
    assert r.code == 302
    assert r.headers["Location"].startswith(f"{jp_base_url}login?next=")
    assert keystore.resolve_api_key().source == "none"


async def test_the_code_in_a_login_redirect_is_not_logged(jp_fetch, data_dir, serverapp_logs):
    code = "c0de-" + "x" * 30
    r = await jp_fetch("edge", "oauth", "callback", "A" * 32, params={"code": code},
                       headers={"Authorization": ""}, follow_redirects=False, raise_error=False)
    login = r.headers["Location"]
    assert code in login  # the code survives the login, in ``next``
    r = await jp_fetch("login", params=query_of(login), headers={"Authorization": ""},
                       raise_error=False)
    assert r.code == 200
    assert any("/login?next=[secret]" in line for line in serverapp_logs), [line for line in serverapp_logs if "login" in line]
    assert [line for line in serverapp_logs if code in line] == []


async def test_disconnect_needs_xsrf_with_a_cookie_login(jp_fetch, jp_serverapp, data_dir):
    """Token-header requests skip XSRF (Jupyter's rule); a cookie login must send X-XSRFToken."""
    token = jp_serverapp.identity_provider.token
    r = await jp_fetch("edge", "api", "status", params={"token": token, "details": "0"},
                       headers={"Authorization": ""})
    cookies = "; ".join(c.split(";", 1)[0] for c in r.headers.get_list("Set-Cookie"))
    assert "username-" in cookies, "logging in with ?token= should set the login cookie"
    keystore.store_api_key("sk-or-v1-keep-me")

    r = await jp_fetch("edge", "api", "disconnect", method="POST", body=b"",
                       headers={"Authorization": "", "Cookie": cookies}, raise_error=False)
    assert r.code == 403
    assert b"xsrf" in r.body.lower()
    assert keystore.resolve_api_key().key == "sk-or-v1-keep-me"

    xsrf = "edge-test-xsrf-value"
    r = await jp_fetch("edge", "api", "disconnect", method="POST", body=b"",
                       headers={"Authorization": "", "Cookie": f"{cookies}; _xsrf={xsrf}",
                                "X-XSRFToken": xsrf})
    assert r.code == 200
    assert json_of(r)["removed"] is True
    assert keystore.resolve_api_key().source == "none"


# -- the flow ----------------------------------------------------------------------------------


async def test_connect_redirects_to_the_consent_page_with_s256_and_callback(
        jp_fetch, jp_base_url, jp_http_port, sb, data_dir):
    location = await start(jp_fetch, limit="2.5")
    assert location.startswith(f"{sb.url}/auth?")
    q = query_of(location)
    assert q["code_challenge_method"] == "S256"
    assert len(q["code_challenge"]) == 43
    assert q["limit"] == "2.5"
    assert q["callback_url"].startswith(
        f"http://127.0.0.1:{jp_http_port}{jp_base_url}edge/oauth/callback/")
    again = query_of(await start(jp_fetch))
    assert again["code_challenge"] != q["code_challenge"], "a fresh verifier per flow"
    assert "limit" not in again


async def test_full_flow_stores_the_key_and_status_never_shows_it(
        jp_fetch, sb, data_dir, serverapp_logs):
    location = await start(jp_fetch, limit="3", watch="w" * 24)
    back = decide(location)
    code = query_of(back)["code"]
    r = await callback(jp_fetch, back)
    assert r.code == 200, page(r)
    assert "Connected to OpenRouter" in page(r)
    assert "you can close this tab" in page(r).lower()
    assert r.headers["Referrer-Policy"] == "no-referrer"

    resolved = keystore.resolve_api_key()
    assert resolved.source == "file" and resolved.key and resolved.key.startswith("sk-or-v1-")
    key = resolved.key
    assert (data_dir / "keys.json").stat().st_mode & 0o777 == 0o600

    watch = json_of(await jp_fetch("edge", "api", "connect", "w" * 24))
    assert watch["state"] == "connected"

    r = await jp_fetch("edge", "api", "status")
    status = json_of(r)
    assert status["connected"] is True and status["source"] == "file"
    assert status["key"]["limit"] == 3.0
    assert status["origin"] == sb.url
    assert key not in page(r)

    # The key and the one-time code reach no log line and no page.
    assert find_secret(key, [*serverapp_logs, page(r), json.dumps(watch)]) == []
    assert find_secret(code, serverapp_logs) == [], [line for line in serverapp_logs if code in line]
    assert any("[secret]" in line for line in serverapp_logs), "the access log should be there"
    assert find_secret(key, paths=[data_dir], skip=[data_dir / "keys.json"]) == []


async def test_callback_is_one_time(jp_fetch, data_dir):
    back = decide(await start(jp_fetch))
    assert (await callback(jp_fetch, back)).code == 200
    assert keystore.delete_api_key()
    r = await callback(jp_fetch, back)
    assert r.code == 400
    assert "already used" in page(r)
    assert keystore.resolve_api_key().source == "none"


async def test_unknown_flow_gives_a_clear_page(jp_fetch, data_dir):
    r = await jp_fetch("edge", "oauth", "callback", "Z" * 32, params={"code": "whatever"},
                       raise_error=False)
    assert r.code == 400
    assert "cannot be used" in page(r) and "unknown" in page(r)
    assert keystore.resolve_api_key().source == "none"


async def test_expired_flow_is_refused_and_stores_nothing(jp_fetch, edge_app, data_dir):
    now = [1000.0]
    edge_app.flows = FlowStore(ttl=600, clock=lambda: now[0])
    back = decide(await start(jp_fetch))
    now[0] += 601
    r = await callback(jp_fetch, back)
    assert r.code == 400
    assert "expired" in page(r)
    assert keystore.resolve_api_key().source == "none"


async def test_wrong_verifier_gives_an_error_page_and_stores_nothing(jp_fetch, data_dir):
    location = await start(jp_fetch, watch="v" * 24)
    back = decide(location, challenge=challenge_for(new_verifier()))  # a code for someone else
    r = await callback(jp_fetch, back)
    assert r.code == 502
    assert "OpenRouter did not issue a key" in page(r)
    assert "Invalid code or code_verifier" in page(r)
    assert keystore.resolve_api_key().source == "none"
    watch = json_of(await jp_fetch("edge", "api", "connect", "v" * 24))
    assert watch["state"] == "error" and "did not issue a key" in watch["message"]


async def test_expired_code_at_openrouter_gives_an_error_page(jp_fetch, sb, data_dir, monkeypatch):
    back = decide(await start(jp_fetch))
    monkeypatch.setattr(sb, "code_ttl", 0.0)
    r = await callback(jp_fetch, back)
    assert r.code == 502
    assert "expired" in page(r)
    assert keystore.resolve_api_key().source == "none"


async def test_unreachable_openrouter_gives_an_error_page(jp_fetch, edge_app, data_dir,
                                                          monkeypatch):
    back = decide(await start(jp_fetch))
    monkeypatch.setattr(edge_app, "openrouter_url", "http://127.0.0.1:9")
    r = await callback(jp_fetch, back)
    assert r.code == 502
    assert "Could not reach" in page(r)
    assert keystore.resolve_api_key().source == "none"


async def test_denial_gives_a_clear_page(jp_fetch, data_dir):
    back = decide(await start(jp_fetch, watch="d" * 24), "deny")
    assert query_of(back) == {"error": "access_denied"}
    r = await callback(jp_fetch, back)
    assert r.code == 400
    assert "Connection declined" in page(r)
    assert keystore.resolve_api_key().source == "none"
    watch = json_of(await jp_fetch("edge", "api", "connect", "d" * 24))
    assert watch["state"] == "error"


async def test_other_error_parameter_is_shown_escaped(jp_fetch, data_dir):
    back = decide(await start(jp_fetch))
    parts = urlsplit(back)
    flow_id = parts.path.rsplit("/", 1)[1]
    r = await jp_fetch("edge", "oauth", "callback", flow_id,
                       params={"error": "server_error<script>"}, raise_error=False)
    assert r.code == 400
    assert "server_errorscript" in page(r) and "<script>alert" not in page(r)


async def test_bad_limit_is_refused_before_anything_starts(jp_fetch, edge_app, data_dir):
    r = await jp_fetch("edge", "connect", params={"limit": "lots"}, follow_redirects=False,
                       raise_error=False)
    assert r.code == 400
    assert "limit" in page(r)
    assert len(edge_app.flows) == 0


async def test_no_secure_store_refuses_before_the_user_approves(jp_fetch, data_dir, monkeypatch,
                                                                edge_app):
    import keyring
    from keyring.backends import null

    monkeypatch.delenv("EDGE_KEY_STORE")
    saved = keyring.get_keyring()
    keyring.set_keyring(null.Keyring())
    try:
        r = await jp_fetch("edge", "connect", params={"watch": "n" * 24},
                           follow_redirects=False, raise_error=False)
        status = json_of(await jp_fetch("edge", "api", "status"))
    finally:
        keyring.set_keyring(saved)
    assert r.code == 503
    text = page(r)
    assert "No secure place to keep your key" in text
    for hint in ("OPENROUTER_API_KEY", "Secret Service", "EDGE_KEY_STORE=file"):
        assert hint in text
    assert len(edge_app.flows) == 0
    assert status["connected"] is False
    assert status["store"]["secure"] is False and "EDGE_KEY_STORE" in status["store"]["problem"]
    watch = json_of(await jp_fetch("edge", "api", "connect", "n" * 24))
    assert watch["state"] == "error" and "No secure key store" in watch["message"]


async def test_status_reports_the_environment_key_without_showing_it(jp_fetch, sb, data_dir,
                                                                     monkeypatch):
    monkeypatch.setenv("OPENROUTER_API_KEY", sb.key)
    r = await jp_fetch("edge", "api", "status")
    status = json_of(r)
    assert status["connected"] is True and status["source"] == "environment"
    assert status["key"]["label"].startswith("sk-or-v1-") and "..." in status["key"]["label"]
    assert sb.key not in page(r)


async def test_status_with_a_revoked_key_says_so(jp_fetch, sb, data_dir):
    key = sb.issue_key()
    keystore.store_api_key(key)
    sb.revoke(key)
    r = await jp_fetch("edge", "api", "status")
    status = json_of(r)
    assert status["connected"] is True and status["key"] is None
    assert "%edge connect" in status["key_error"]
    assert key not in page(r)


async def test_disconnect_removes_the_key_and_keeps_the_data(jp_fetch, data_dir):
    keystore.store_api_key("sk-or-v1-to-remove")
    (data_dir / "ledger.jsonl").write_text("{}\n")
    r = await jp_fetch("edge", "api", "disconnect", method="POST", body=b"")
    body = json_of(r)
    assert body["removed"] is True and body["connected"] is False
    assert "ledger" in body["message"]
    assert (data_dir / "ledger.jsonl").exists()
    assert not (data_dir / "keys.json").exists()
    again = json_of(await jp_fetch("edge", "api", "disconnect", method="POST", body=b""))
    assert again["removed"] is False


@pytest.mark.skipif(not has_secret_service(), reason="needs a D-Bus session with a Secret Service "
                    "(run through scripts/test.sh)")
async def test_full_flow_with_the_real_os_keyring(jp_fetch, data_dir, monkeypatch):
    monkeypatch.delenv("EDGE_KEY_STORE")
    cleanup_keyring()
    try:
        r = await callback(jp_fetch, decide(await start(jp_fetch)))
        assert r.code == 200, page(r)
        assert "SecretService" in page(r)
        resolved = keystore.resolve_api_key()
        assert resolved.source == "keyring" and resolved.backend == "SecretService Keyring"
        assert not (data_dir / "keys.json").exists()
        body = json_of(await jp_fetch("edge", "api", "disconnect", method="POST", body=b""))
        assert body["removed"] is True
        assert keystore.resolve_api_key().source == "none"
    finally:
        cleanup_keyring()
