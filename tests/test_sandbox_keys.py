"""The sandbox's key management API (``/keys``, ``/keys/{hash}``), over real HTTP.

Every request and response body is validated against OpenRouter's OpenAPI spec; what
the spec cannot say (management keys only, a disabled key refused everywhere, a
created key's limit enforced) is checked by making the calls.
"""

from __future__ import annotations

import hashlib
import re
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sandbox_fixtures import auth, chat_body, spec_available, validate

from edge_jupyter.sandbox import Sandbox

pytestmark = [
    pytest.mark.usefixtures("clean_sandbox"),
    pytest.mark.skipif(not spec_available(), reason="shared OpenAPI spec not present"),
]

FORBIDDEN = "Only management keys can perform this operation"
#: a call whose answer is exactly max_tokens long, so it costs exactly its reservation
EXACT = chat_body("[sandbox:tokens=8] hello", max_tokens=8)


@pytest.fixture
def admin(sb: Sandbox) -> Any:
    """An httpx client with the sandbox's management key."""
    with httpx.Client(base_url=sb.api_url, headers=auth(sb.management_key), timeout=10) as c:
        yield c


def create(admin: httpx.Client, **body: Any) -> dict[str, Any]:
    """POST /keys with a spec-valid body; the 201 answer, validated."""
    body.setdefault("name", "test key")
    validate(body, "POST /keys request")
    r = admin.post("/keys", json=body)
    assert r.status_code == 201, r.text
    validate(r.json(), "POST /keys 201")
    return r.json()


def patch(admin: httpx.Client, key_hash: str, **body: Any) -> dict[str, Any]:
    validate(body, "PATCH /keys/{hash} request")
    r = admin.patch(f"/keys/{key_hash}", json=body)
    assert r.status_code == 200, r.text
    validate(r.json(), "PATCH /keys/{hash}")
    return r.json()["data"]


def chat(sb: Sandbox, key: str, body: dict[str, Any] | None = None) -> httpx.Response:
    return httpx.post(sb.api_url + "/chat/completions", json=body or EXACT, headers=auth(key), timeout=10)


def key_info(sb: Sandbox, key: str) -> dict[str, Any]:
    r = httpx.get(sb.api_url + "/key", headers=auth(key), timeout=10)
    assert r.status_code == 200, r.text
    validate(r.json(), "GET /key")
    return r.json()["data"]


def listed(admin: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    r = admin.get("/keys", params=params)
    assert r.status_code == 200, r.text
    validate(r.json(), "GET /keys")
    return r.json()["data"]


def test_create_get_list_patch_delete_round_trip(sb: Sandbox, admin: httpx.Client) -> None:
    made = create(admin, name="alice", limit=2.5, limit_reset="monthly", include_byok_in_limit=True)
    key, info = made["key"], made["data"]
    assert re.fullmatch(r"sk-or-v1-[0-9a-f]{64}", key)
    assert re.fullmatch(r"[0-9a-f]{64}", info["hash"])
    assert info["hash"] != hashlib.sha256(key.encode()).hexdigest()  # random: never derive it
    assert key not in str(info)
    assert (info["name"], info["limit"], info["limit_remaining"], info["limit_reset"],
            info["include_byok_in_limit"], info["disabled"]) == ("alice", 2.5, 2.5, "monthly", True, False)
    assert info["label"] == key_info(sb, key)["label"]  # how a client finds its own key
    assert info["label"].startswith(key[:12]) and info["label"].endswith(key[-3:])

    got = admin.get(f"/keys/{info['hash']}")
    validate(got.json(), "GET /keys/{hash}")
    assert got.json()["data"] == info
    assert key not in got.text
    assert info["hash"] in [k["hash"] for k in listed(admin)]

    changed = patch(admin, info["hash"], name="alice (capped)", limit=1, limit_reset=None,
                    include_byok_in_limit=False)
    assert (changed["name"], changed["limit"], changed["limit_reset"], changed["include_byok_in_limit"]) == (
        "alice (capped)", 1.0, None, False)
    assert changed["updated_at"] >= info["updated_at"]
    assert key_info(sb, key)["limit"] == 1.0  # the key itself sees the new limit

    gone = admin.delete(f"/keys/{info['hash']}")
    assert gone.status_code == 200
    validate(gone.json(), "DELETE /keys/{hash}")
    assert gone.json() == {"deleted": True}
    again = admin.get(f"/keys/{info['hash']}")
    assert again.status_code == 404
    validate(again.json(), "NotFoundResponse")
    assert again.json()["error"]["message"] == "Resource not found"
    assert admin.delete(f"/keys/{info['hash']}").status_code == 404
    assert info["hash"] not in [k["hash"] for k in listed(admin, include_disabled="true")]
    refused = chat(sb, key)
    assert refused.status_code == 401, refused.text
    validate(refused.json(), "UnauthorizedResponse")


def test_the_main_key_is_listed_and_management_keys_are_not(sb: Sandbox, admin: httpx.Client) -> None:
    rows = listed(admin)
    labels = [k["label"] for k in rows]
    assert key_info(sb, sb.key)["label"] in labels
    assert key_info(sb, sb.management_key)["label"] not in labels
    for row in rows:
        assert admin.get(f"/keys/{row['hash']}").status_code == 200


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/keys"), ("POST", "/keys"), ("GET", "/keys/{h}"), ("PATCH", "/keys/{h}"),
    ("DELETE", "/keys/{h}"),
])
def test_ordinary_keys_are_refused_as_openrouter_refuses_them(sb: Sandbox, admin: httpx.Client,
                                                              method: str, path: str) -> None:
    target = create(admin)["data"]["hash"]
    url = sb.api_url + path.format(h=target)
    body = {"name": "x"} if method in ("POST", "PATCH") else None
    r = httpx.request(method, url, json=body, headers=auth(sb.key), timeout=10)
    assert r.status_code == 403, r.text
    validate(r.json(), "ForbiddenResponse")
    assert r.json()["error"]["message"] == FORBIDDEN
    anonymous = httpx.request(method, url, json=body, timeout=10)
    assert anonymous.status_code == 401
    validate(anonymous.json(), "UnauthorizedResponse")
    assert admin.get(f"/keys/{target}").json()["data"]["name"] == "test key"  # nothing changed


@pytest.mark.parametrize(("body", "field"), [
    ({}, "name"),
    ({"name": ""}, "name"),
    ({"name": 3}, "name"),
    ({"name": "k", "limit": "5"}, "limit"),
    ({"name": "k", "limit": -1}, "limit"),
    ({"name": "k", "limit": True}, "limit"),
    ({"name": "k", "limit_reset": "yearly"}, "limit_reset"),
    ({"name": "k", "include_byok_in_limit": "yes"}, "include_byok_in_limit"),
    ({"name": "k", "expires_at": "2030-01-01T00:00:00+02:00"}, "expires_at"),
    ({"name": "k", "expires_at": "tomorrow"}, "expires_at"),
    ({"name": "k", "expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
    ({"name": "k", "disabled": True}, "disabled"),
    ({"name": "k", "colour": "red"}, "colour"),
])
def test_a_bad_create_body_is_a_400_naming_the_field(admin: httpx.Client, body: dict[str, Any],
                                                     field: str) -> None:
    before = len(listed(admin, include_disabled="true"))
    r = admin.post("/keys", json=body)
    assert r.status_code == 400, r.text
    validate(r.json(), "BadRequestResponse")
    assert field in r.json()["error"]["message"]
    assert len(listed(admin, include_disabled="true")) == before


@pytest.mark.parametrize(("body", "field"), [
    ({"disabled": "true"}, "disabled"),
    ({"limit": "1"}, "limit"),
    ({"limit_reset": "hourly"}, "limit_reset"),
    ({"name": ""}, "name"),
    ({"expires_at": None}, "expires_at"),
    ({"hash": "0" * 64}, "hash"),
])
def test_a_bad_patch_body_is_a_400_naming_the_field(admin: httpx.Client, body: dict[str, Any],
                                                    field: str) -> None:
    info = create(admin, limit=3)["data"]
    r = admin.patch(f"/keys/{info['hash']}", json=body)
    assert r.status_code == 400, r.text
    validate(r.json(), "BadRequestResponse")
    assert field in r.json()["error"]["message"]
    assert admin.get(f"/keys/{info['hash']}").json()["data"] == info
    for raw in (b"not json", b"[1]"):
        bad = admin.patch(f"/keys/{info['hash']}", content=raw, headers={"Content-Type": "application/json"})
        assert bad.status_code == 400


def test_bad_list_parameters_are_400(admin: httpx.Client) -> None:
    for params in ({"offset": "-1"}, {"offset": "x"}, {"include_disabled": "maybe"}):
        r = admin.get("/keys", params=params)
        assert r.status_code == 400, params
        validate(r.json(), "BadRequestResponse")


def all_pages(admin: httpx.Client, size: int, **params: Any) -> list[str]:
    """Every hash, page by page (``offset``) until a short page, as a client follows them."""
    seen: list[str] = []
    for _ in range(50):
        page = listed(admin, offset=len(seen), **params)
        assert len(page) <= size
        seen += [k["hash"] for k in page]
        if len(page) < size:
            return seen
    raise AssertionError("the pages never ended")


def test_pages_of_keys_by_offset_and_disabled_keys_only_when_asked(sb: Sandbox,
                                                                   admin: httpx.Client) -> None:
    sb.keys_page_size = 2
    made = [create(admin, name=f"page {i}")["data"]["hash"] for i in range(5)]
    patch(admin, made[1], disabled=True)
    everything = all_pages(admin, 2, include_disabled="true")
    assert len(everything) == len(set(everything)) >= 6, "no key twice; the main key and five"
    assert set(made) <= set(everything)
    assert len(listed(admin, include_disabled="true")) == 2
    enabled = all_pages(admin, 2)
    assert made[1] not in enabled and set(made) - {made[1]} <= set(enabled)
    assert len(enabled) == len(everything) - 1
    sb.keys_page_size = 100
    assert [k["hash"] for k in listed(admin, include_disabled="true")] == everything


def test_a_disabled_key_gets_401_on_every_route_until_enabled_again(sb: Sandbox,
                                                                     admin: httpx.Client) -> None:
    made = create(admin, name="to disable")
    key, key_hash = made["key"], made["data"]["hash"]
    assert chat(sb, key).status_code == 200
    assert patch(admin, key_hash, disabled=True)["disabled"] is True
    with httpx.Client(base_url=sb.url, headers=auth(key), timeout=10) as c:
        for r in (c.post("/api/v1/chat/completions", json=EXACT),
                  c.post("/api/v1/chat/completions", json={**EXACT, "stream": True}),
                  c.get("/api/v1/key"), c.get("/api/v1/generation", params={"id": "gen-1"}),
                  c.get("/api/beta/batches")):
            assert r.status_code == 401, (r.request.url, r.text)
            validate(r.json(), "UnauthorizedResponse")
            assert r.json()["error"]["message"] == "User not found"
    assert key_hash not in [k["hash"] for k in listed(admin)]
    assert key_hash in [k["hash"] for k in listed(admin, include_disabled="true")]
    patch(admin, key_hash, disabled=False)
    assert chat(sb, key).status_code == 200


def test_a_key_past_its_expiry_gets_401(sb: Sandbox, admin: httpx.Client) -> None:
    from datetime import timedelta

    tomorrow = (sb.now + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    made = create(admin, name="expiring", expires_at=tomorrow)
    assert made["data"]["expires_at"].startswith(tomorrow[:-1])
    assert key_info(sb, made["key"])["expires_at"] == made["data"]["expires_at"]
    assert chat(sb, made["key"]).status_code == 200
    sb.advance_clock(days=2)
    assert chat(sb, made["key"]).status_code == 401


def test_a_created_keys_limit_is_enforced_with_403_once_spent(sb: Sandbox, admin: httpx.Client) -> None:
    cost = Decimal(str(chat(sb, sb.key).json()["usage"]["cost"]))  # one call's exact price
    made = create(admin, name="capped", limit=float(cost * 2))
    key, key_hash = made["key"], made["data"]["hash"]
    spent = [chat(sb, key) for _ in range(2)]
    assert [r.status_code for r in spent] == [200, 200], [r.text for r in spent]
    over = chat(sb, key)
    assert over.status_code == 403, over.text
    validate(over.json(), "ForbiddenResponse")
    assert over.json()["error"]["message"] == (
        "Key limit exceeded (total limit). Manage it using https://openrouter.ai/settings/keys")
    row = admin.get(f"/keys/{key_hash}").json()["data"]
    assert row["usage"] == float(cost * 2) and row["limit_remaining"] == 0
    assert key_info(sb, key)["limit_remaining"] == 0
    assert sb.credits_used == pytest.approx(float(cost * 3))  # the refused call cost nothing
    patch(admin, key_hash, limit=float(cost * 3))  # raised: it works again
    assert chat(sb, key).status_code == 200


def test_a_limit_lowered_below_the_spend_refuses_and_none_lifts_it(sb: Sandbox,
                                                                   admin: httpx.Client) -> None:
    made = create(admin, name="lowered", limit=1)
    assert chat(sb, made["key"]).status_code == 200
    patch(admin, made["data"]["hash"], limit=0)
    assert chat(sb, made["key"]).status_code == 403
    assert patch(admin, made["data"]["hash"], limit=None)["limit_remaining"] is None
    assert chat(sb, made["key"]).status_code == 200


def test_a_too_big_request_on_a_created_key_is_a_402_against_what_is_left(sb: Sandbox,
                                                                         admin: httpx.Client) -> None:
    made = create(admin, name="small", limit=0.000001)
    r = chat(sb, made["key"], chat_body("hello", max_tokens=1000))
    assert r.status_code == 402, r.text
    assert "can only afford" in r.json()["error"]["message"]


def test_reset_deletes_created_keys_and_restores_the_main_keys_settings(sb: Sandbox,
                                                                        admin: httpx.Client) -> None:
    made = create(admin, name="temporary")
    main = next(k for k in listed(admin) if k["label"] == key_info(sb, sb.key)["label"])
    patch(admin, main["hash"], name="renamed", limit=0, limit_reset="daily")
    assert chat(sb, sb.key).status_code == 403
    sb.reset()
    assert chat(sb, made["key"]).status_code == 401
    assert made["data"]["hash"] not in [k["hash"] for k in listed(admin, include_disabled="true")]
    restored = admin.get(f"/keys/{main['hash']}").json()["data"]
    assert (restored["name"], restored["limit"], restored["limit_reset"]) == (main["name"], None, None)
    assert chat(sb, sb.key).status_code == 200


# -- limit windows on the sandbox's clock ------------------------------------------------
def spend_once(sb: Sandbox, admin: httpx.Client, reset: str) -> tuple[str, str, float]:
    """A key whose limit (``reset`` window) is exactly one call, spent: (key, hash, cost)."""
    cost = Decimal(str(chat(sb, sb.key).json()["usage"]["cost"]))
    made = create(admin, name=f"{reset} key", limit=float(cost), limit_reset=reset)
    assert chat(sb, made["key"]).status_code == 200
    refused = chat(sb, made["key"])
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["message"] == (
        f"Key limit exceeded ({reset} limit). Manage it using https://openrouter.ai/settings/keys")
    return made["key"], made["data"]["hash"], float(cost)


def windows(sb: Sandbox, admin: httpx.Client, key: str, key_hash: str) -> dict[str, Any]:
    """The key's spend windows; ``/key`` and ``/keys/{hash}`` must agree on them."""
    names = ("usage", "usage_daily", "usage_weekly", "usage_monthly", "limit_remaining")
    own = key_info(sb, key)
    row = admin.get(f"/keys/{key_hash}").json()["data"]
    assert {n: own[n] for n in names} == {n: row[n] for n in names}
    return row


@pytest.mark.usefixtures("at_noon")
def test_a_daily_limit_resets_at_the_next_utc_day(sb: Sandbox, admin: httpx.Client) -> None:
    key, key_hash, cost = spend_once(sb, admin, "daily")
    row = windows(sb, admin, key, key_hash)
    assert (row["usage_daily"], row["limit_remaining"]) == (cost, 0)
    sb.advance_clock(days=1)
    row = windows(sb, admin, key, key_hash)
    assert (row["usage"], row["usage_daily"], row["limit_remaining"]) == (cost, 0, cost)
    assert chat(sb, key).status_code == 200
    assert windows(sb, admin, key, key_hash)["usage"] == pytest.approx(2 * cost)
    assert chat(sb, key).status_code == 403


@pytest.mark.usefixtures("at_noon")
def test_a_weekly_limit_lasts_monday_to_sunday(sb: Sandbox, admin: httpx.Client) -> None:
    key, key_hash, cost = spend_once(sb, admin, "weekly")
    if sb.now.weekday() != 6:  # not Sunday: tomorrow is the same week
        sb.advance_clock(days=1)
        row = windows(sb, admin, key, key_hash)
        assert (row["usage_daily"], row["usage_weekly"], row["limit_remaining"]) == (0, cost, 0)
        assert chat(sb, key).status_code == 403
    sb.advance_clock(days=7 - sb.now.weekday())  # next Monday
    assert sb.now.weekday() == 0
    row = windows(sb, admin, key, key_hash)
    assert (row["usage_weekly"], row["limit_remaining"]) == (0, cost)
    assert chat(sb, key).status_code == 200


@pytest.mark.usefixtures("at_noon")
def test_a_monthly_limit_lasts_the_calendar_month(sb: Sandbox, admin: httpx.Client) -> None:
    from datetime import timedelta

    key, key_hash, cost = spend_once(sb, admin, "monthly")
    if (sb.now + timedelta(days=1)).month == sb.now.month:
        sb.advance_clock(days=1)
        row = windows(sb, admin, key, key_hash)
        assert (row["usage_daily"], row["usage_monthly"], row["limit_remaining"]) == (0, cost, 0)
        assert chat(sb, key).status_code == 403
    today = sb.now.date()
    first_of_next = (today.replace(day=28) + timedelta(days=4)).replace(day=1)
    sb.advance_clock(days=(first_of_next - today).days)
    assert sb.now.day == 1
    row = windows(sb, admin, key, key_hash)
    assert (row["usage_monthly"], row["limit_remaining"], row["usage"]) == (0, cost, cost)
    assert chat(sb, key).status_code == 200


@pytest.mark.usefixtures("at_noon")
def test_byok_spend_counts_against_the_limit_only_when_asked(sb: Sandbox, admin: httpx.Client) -> None:
    sb.byok_providers = {"openai"}
    counted = create(admin, name="byok counted", limit=1, include_byok_in_limit=True)
    free = create(admin, name="byok not counted", limit=1)
    for made in (counted, free):
        usage = chat(sb, made["key"]).json()["usage"]
        assert usage["is_byok"] is True
    rows = {m["data"]["hash"]: admin.get(f"/keys/{m['data']['hash']}").json()["data"] for m in (counted, free)}
    c, f = rows[counted["data"]["hash"]], rows[free["data"]["hash"]]
    assert c["byok_usage"] > 0 and c["byok_usage_daily"] == c["byok_usage"]
    assert c["limit_remaining"] == pytest.approx(1 - c["usage"] - c["byok_usage"])
    assert f["limit_remaining"] == pytest.approx(1 - f["usage"])


def test_the_clock_moves_over_http_and_reset_brings_it_back(sb: Sandbox) -> None:
    from datetime import datetime

    before = sb.now
    with httpx.Client(base_url=sb.url, timeout=10) as c:
        r = c.post("/_sandbox/advance_clock", json={"days": 3})
        assert r.status_code == 200, r.text
        moved = datetime.fromisoformat(r.json()["now"])
        assert 3 <= (moved - before).total_seconds() / 86400 < 3.01
        assert (sb.now - before).days == 3
        for bad in ({}, {"days": -1}, {"days": "1"}, {"days": True}, [1]):
            assert c.post("/_sandbox/advance_clock", json=bad).status_code == 400, bad
    sb.reset()
    assert abs((sb.now - datetime.now(before.tzinfo)).total_seconds()) < 60


def test_the_sandbox_command_prints_a_management_key_that_manages_keys(capsys: Any) -> None:
    import threading
    import time

    from edge_jupyter.sandbox.cli import main as cli_main

    stop = threading.Event()
    result: list[int] = []
    t = threading.Thread(target=lambda: result.append(cli_main(["--port", "0"], stop=stop)))
    t.start()
    try:
        out = ""
        deadline = time.monotonic() + 10
        while "EDGE_PROVISIONING_KEY=" not in out and time.monotonic() < deadline:
            time.sleep(0.02)
            out += capsys.readouterr().out
        env = dict(line.split("=", 1) for line in out.splitlines() if "=" in line and not line.startswith("#"))
        api = env["EDGE_OPENROUTER_URL"] + "/api/v1"
        made = httpx.post(api + "/keys", json={"name": "from the command line"},
                          headers=auth(env["EDGE_PROVISIONING_KEY"]), timeout=10)
        assert made.status_code == 201, made.text
        assert httpx.get(api + "/keys", headers=auth(env["OPENROUTER_API_KEY"]), timeout=10).status_code == 403
    finally:
        stop.set()
        t.join(5)
    assert result == [0]
