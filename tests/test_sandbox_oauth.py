"""The sandbox's OAuth PKCE flow behaves as OpenRouter documents it (§1 of the API notes).

The consent page is driven the way a browser would: GET the page, then POST
its form (the page has no JavaScript), and follow the 302 by hand.
"""

from __future__ import annotations

import re
import time
from html import unescape
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sandbox_fixtures import auth, chat_body, pkce_pair

from edge_jupyter.sandbox import Sandbox

CALLBACK = "http://localhost:8888/edge/callback"

pytestmark = [pytest.mark.usefixtures("clean_sandbox")]


def consent(sb: Sandbox, decision: str = "authorize", **params: str) -> httpx.Response:
    """Open /auth and press a button; returns the response to the form POST."""
    page = httpx.get(sb.url + "/auth", params=params)
    assert page.status_code == 200, page.text
    assert 'id="authorize"' in page.text and 'id="deny"' in page.text
    fields = {unescape(n): unescape(v) for n, v in
              re.findall(r'<input type="hidden" name="([^"]*)" value="([^"]*)">', page.text)}
    fields["decision"] = decision
    return httpx.post(sb.url + "/auth/decide", data=fields)


def authorize(sb: Sandbox, **extra: str) -> tuple[str, str]:
    """Run the browser half of the flow; returns (code, verifier)."""
    verifier, challenge = pkce_pair()
    r = consent(sb, callback_url=CALLBACK, code_challenge=challenge, code_challenge_method="S256", **extra)
    assert r.status_code == 302
    query = parse_qs(urlsplit(r.headers["location"]).query)
    return query["code"][0], verifier


def exchange(sb: Sandbox, code: str, verifier: str, method: str | None = "S256") -> httpx.Response:
    body = {"code": code, "code_verifier": verifier}
    if method is not None:
        body["code_challenge_method"] = method
    return httpx.post(sb.api_url + "/auth/keys", json=body)


def test_full_flow_gives_a_working_key(sb: Sandbox) -> None:
    code, verifier = authorize(sb, state="xyz")
    r = exchange(sb, code, verifier)
    assert r.status_code == 200
    key = r.json()["key"]
    assert re.fullmatch(r"sk-or-v1-[0-9a-f]{64}", key) and r.json()["user_id"] == "user_sandbox"
    chat = httpx.post(sb.api_url + "/chat/completions", json=chat_body(), headers=auth(key))
    assert chat.status_code == 200
    # The auth page itself never got a bearer key, and nothing logged one.
    assert all("authorization" not in req.headers for req in sb.requests)


def test_redirect_keeps_callback_query_and_returns_state(sb: Sandbox) -> None:
    _, challenge = pkce_pair()
    r = consent(sb, callback_url=CALLBACK + "?session=1#frag", code_challenge=challenge,
                code_challenge_method="S256", state="s-42")
    parts = urlsplit(r.headers["location"])
    assert (parts.scheme, parts.netloc, parts.path, parts.fragment) == ("http", "localhost:8888", "/edge/callback", "frag")
    query = parse_qs(parts.query)
    assert query["session"] == ["1"] and query["state"] == ["s-42"] and query["code"]


def test_consent_page_shows_the_app_and_limit(sb: Sandbox) -> None:
    _, challenge = pkce_pair()
    page = httpx.get(sb.url + "/auth", params={"callback_url": CALLBACK, "code_challenge": challenge,
                                                "code_challenge_method": "S256", "limit": "5"})
    assert "edge_jupyter sandbox" in page.text and "localhost:8888" in page.text and "$5.00" in page.text
    assert page.headers["content-type"].startswith("text/html")


def test_limit_from_auth_is_stored_on_the_key(sb: Sandbox) -> None:
    code, verifier = authorize(sb, limit="1.5")
    key = exchange(sb, code, verifier).json()["key"]
    info = httpx.get(sb.api_url + "/key", headers=auth(key)).json()["data"]
    assert info["limit"] == 1.5 and info["limit_remaining"] == 1.5


def test_deny_redirects_with_access_denied(sb: Sandbox) -> None:
    _, challenge = pkce_pair()
    r = consent(sb, "deny", callback_url=CALLBACK, code_challenge=challenge, code_challenge_method="S256")
    assert r.status_code == 302
    assert parse_qs(urlsplit(r.headers["location"]).query) == {"error": ["access_denied"]}


def test_wrong_verifier_and_reused_code_are_403(sb: Sandbox) -> None:
    code, verifier = authorize(sb)
    r = exchange(sb, code, verifier + "x")
    assert r.status_code == 403 and r.json()["error"]["message"] == "Invalid code or code_verifier"
    code, verifier = authorize(sb)
    assert exchange(sb, code, verifier).status_code == 200
    r = exchange(sb, code, verifier)
    assert r.status_code == 403 and r.json()["error"]["message"] == "Invalid code or code_verifier"
    assert exchange(sb, "no-such-code", verifier).status_code == 403


def test_expired_code_is_403(sb: Sandbox) -> None:
    sb.code_ttl = 0.05
    code, verifier = authorize(sb)
    time.sleep(0.1)
    r = exchange(sb, code, verifier)
    assert r.status_code == 403 and r.json()["error"]["message"] == "Authorization code expired"


def test_method_mismatch_is_400(sb: Sandbox) -> None:
    code, verifier = authorize(sb)
    r = exchange(sb, code, verifier, method="plain")
    assert r.status_code == 400 and r.json()["error"]["message"] == "Invalid code_challenge_method"
    # plain works when both sides say plain
    r = consent(sb, callback_url=CALLBACK, code_challenge="plain-verifier-" + "a" * 30,
                code_challenge_method="plain")
    code = parse_qs(urlsplit(r.headers["location"]).query)["code"][0]
    assert exchange(sb, code, "plain-verifier-" + "a" * 30, method="plain").status_code == 200


def test_get_on_auth_keys_is_405(sb: Sandbox) -> None:
    r = httpx.get(sb.api_url + "/auth/keys")
    assert r.status_code == 405 and r.headers["allow"] == "POST"


@pytest.mark.parametrize(
    "callback",
    ["http://example.com/cb", "http://192.168.1.5:8888/cb", "ftp://localhost/cb", "javascript:alert(1)"],
)
def test_auth_rejects_unsafe_callbacks(sb: Sandbox, callback: str) -> None:
    _, challenge = pkce_pair()
    r = httpx.get(sb.url + "/auth", params={"callback_url": callback, "code_challenge": challenge,
                                             "code_challenge_method": "S256"})
    assert r.status_code == 400 and 'id="authorize"' not in r.text


@pytest.mark.parametrize("callback", ["https://app.example/cb", "http://127.0.0.1:51423/cb", "http://localhost/cb"])
def test_auth_accepts_https_and_any_localhost_port(sb: Sandbox, callback: str) -> None:
    _, challenge = pkce_pair()
    r = httpx.get(sb.url + "/auth", params={"callback_url": callback, "code_challenge": challenge,
                                             "code_challenge_method": "S256"})
    assert r.status_code == 200


def test_auth_requires_a_challenge_and_a_known_method(sb: Sandbox) -> None:
    assert httpx.get(sb.url + "/auth", params={"callback_url": CALLBACK}).status_code == 400
    r = httpx.get(sb.url + "/auth", params={"callback_url": CALLBACK, "code_challenge": "abc",
                                             "code_challenge_method": "S512"})
    assert r.status_code == 400


def test_forged_form_post_is_validated_again(sb: Sandbox) -> None:
    r = httpx.post(sb.url + "/auth/decide", data={"callback_url": "http://evil.example/", "code_challenge": "x",
                                                   "code_challenge_method": "S256", "decision": "authorize"})
    assert r.status_code == 400 and "location" not in r.headers


def test_headless_mode_shows_the_code(sb: Sandbox) -> None:
    verifier, challenge = pkce_pair()
    r = consent(sb, code_challenge=challenge, code_challenge_method="S256", key_label="my CLI")
    code = re.search(r'<code class="k" id="code">([^<]+)</code>', r.text)
    assert r.status_code == 200 and code
    assert exchange(sb, unescape(code.group(1)), verifier).status_code == 200
