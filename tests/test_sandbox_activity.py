"""The sandbox's ``/activity``: built from its own billing, over real HTTP.

Calls are made with httpx straight to the sandbox (no edge_jupyter in between), so
the rows must come from what the sandbox billed, whichever client made the call.
Every response is validated against OpenRouter's OpenAPI spec.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sandbox_fixtures import auth, chat_body, chunks, spec_available, validate

from edge_jupyter.sandbox import Fault, Sandbox

pytestmark = [
    pytest.mark.usefixtures("clean_sandbox", "at_noon"),
    pytest.mark.skipif(not spec_available(), reason="shared OpenAPI spec not present"),
]


def activity(sb: Sandbox, **params: Any) -> list[dict[str, Any]]:
    r = httpx.get(sb.api_url + "/activity", params=params, headers=auth(sb.management_key), timeout=10)
    assert r.status_code == 200, r.text
    validate(r.json(), "GET /activity")
    validate(r.json(), "ActivityResponse")
    return r.json()["data"]


def call(sb: Sandbox, key: str, body: dict[str, Any]) -> dict[str, Any]:
    """One chat completion; its usage (the last chunk's for a stream) and generation id."""
    r = httpx.post(sb.api_url + "/chat/completions", json=body, headers=auth(key), timeout=10)
    assert r.status_code == 200, r.text
    if body.get("stream"):
        last = chunks(r.text)[-1]
        return {"id": last["id"], "usage": last["usage"], "model": body["model"]}
    return {"id": r.json()["id"], "usage": r.json()["usage"], "model": body["model"]}


def test_rows_equal_the_calls_made_and_today_is_not_reported_until_it_ends(sb: Sandbox) -> None:
    sb.generation_ready_after = 0
    sb.byok_providers = {"anthropic"}
    other = sb.issue_key()
    made = [
        call(sb, sb.key, chat_body("one", max_tokens=30)),
        call(sb, sb.key, chat_body("two [sandbox:tokens=12]")),
        call(sb, other, chat_body("three", stream=True)),
        call(sb, sb.key, chat_body("why", model="deepseek/deepseek-r1")),
        call(sb, other, chat_body("byok", model="anthropic/claude-3.5-haiku")),
    ]
    assert activity(sb) == [], "today's calls are not in /activity until the UTC day ends"
    day = sb.now.date().isoformat()
    sb.advance_clock(days=1)
    rows = activity(sb)
    expected: dict[str, dict[str, Any]] = defaultdict(lambda: defaultdict(Decimal))
    for c in made:
        u, e = c["usage"], expected[c["model"]]
        e["requests"] += 1
        e["usage"] += Decimal(str(u["cost"]))
        e["byok"] += Decimal(str(u["cost_details"]["upstream_inference_cost"] or 0)) if u["is_byok"] else 0
        e["prompt_tokens"] += u["prompt_tokens"]
        e["completion_tokens"] += u["completion_tokens"]
        e["reasoning_tokens"] += u["completion_tokens_details"]["reasoning_tokens"]
    assert sorted(r["model"] for r in rows) == sorted(expected)
    for row in rows:
        e = expected[row["model"]]
        assert row["date"] == day
        assert (row["requests"], row["prompt_tokens"], row["completion_tokens"], row["reasoning_tokens"]) == (
            e["requests"], e["prompt_tokens"], e["completion_tokens"], e["reasoning_tokens"]), row
        assert row["usage"] == pytest.approx(float(e["usage"]), abs=1e-12)
        assert row["byok_usage_inference"] == pytest.approx(float(e["byok"]), abs=1e-12)
    assert next(r for r in rows if r["model"] == "deepseek/deepseek-r1")["reasoning_tokens"] > 0
    byok = next(r for r in rows if r["model"] == "anthropic/claude-3.5-haiku")
    assert byok["byok_usage_inference"] > byok["usage"] > 0  # the provider's bill vs OpenRouter's fee
    assert sum(r["usage"] for r in rows) == pytest.approx(sb.credits_used, abs=1e-12)
    # the endpoint is the one /generation names for the call
    gen = httpx.get(sb.api_url + "/generation", params={"id": made[0]["id"]}, headers=auth(sb.key)).json()
    served = gen["data"]["provider_responses"][-1]
    mini = next(r for r in rows if r["model"] == "openai/gpt-4o-mini")
    assert (mini["endpoint_id"], mini["provider_name"]) == (served["endpoint_id"], served["provider_name"])


def test_one_row_per_day_model_and_endpoint(sb: Sandbox) -> None:
    sb.down_providers = {"openai"}  # gpt-4o-mini falls back to its next endpoint
    fallback = call(sb, sb.key, chat_body("a"))
    sb.down_providers = set()
    call(sb, sb.key, chat_body("b"))
    call(sb, sb.key, chat_body("c"))
    sb.advance_clock(days=1)
    call(sb, sb.key, chat_body("next day"))
    sb.advance_clock(days=1)
    rows = activity(sb)
    keyed = {(r["date"], r["endpoint_id"]): r["requests"] for r in rows}
    assert len(keyed) == len(rows) == 3, rows
    first, second = sorted({r["date"] for r in rows})
    assert sorted(n for (d, _), n in keyed.items() if d == first) == [1, 2]
    assert [n for (d, _), n in keyed.items() if d == second] == [1]
    assert fallback["usage"]["cost"] in [r["usage"] for r in rows if r["date"] == first]


def test_batch_rows_are_billed_into_activity(sb: Sandbox) -> None:
    sb.batch_seconds_per_status = 0
    rows = [{"custom_id": f"r{i}", "body": {"model": "openai/gpt-4o-mini", "max_tokens": 20,
             "messages": [{"role": "user", "content": f"row {i}"}]}} for i in range(3)]
    made = httpx.post(sb.url + "/api/beta/batches", headers=auth(sb.key), timeout=10, json={
        "endpoint": "/v1/chat/completions", "model": "openai/gpt-4o-mini", "requests": rows})
    assert made.status_code == 202, made.text
    done = httpx.get(sb.url + f"/api/beta/batches/{made.json()['id']}", headers=auth(sb.key)).json()
    assert done["status"] == "completed"
    sb.advance_clock(days=1)
    [row] = activity(sb)
    assert row["requests"] == 3
    assert row["usage"] == pytest.approx(done["usage"]["cost"], abs=1e-12)
    assert (row["prompt_tokens"], row["completion_tokens"]) == (
        done["usage"]["prompt_tokens"], done["usage"]["completion_tokens"])


def test_calls_openrouter_does_not_bill_are_not_in_activity(sb: Sandbox) -> None:
    sb.inject(Fault.midstream(after_tokens=0, code=502))
    r = httpx.post(sb.api_url + "/chat/completions", json=chat_body("x", stream=True), headers=auth(sb.key))
    assert "error" in chunks(r.text)[-1]
    sb.inject(Fault.http(429))
    assert httpx.post(sb.api_url + "/chat/completions", json=chat_body("y"),
                      headers=auth(sb.key)).status_code == 429
    cached = {**auth(sb.key), "X-OpenRouter-Cache": "true"}
    for _ in range(2):  # the second is replayed from OpenRouter's response cache, at $0
        r = httpx.post(sb.api_url + "/chat/completions", json=chat_body("z"), headers=cached)
        assert r.status_code == 200, r.text
    assert r.headers["X-OpenRouter-Cache-Status"] == "HIT"
    sb.advance_clock(days=1)
    [row] = activity(sb)
    assert row["requests"] == 1 and row["usage"] == pytest.approx(sb.credits_used, abs=1e-12)


def test_a_call_across_midnight_is_dated_by_when_it_began(sb: Sandbox) -> None:
    """A ledger dates a call by its start: so do ``/activity`` and ``/generation``'s
    created_at, on the sandbox's clock (not real time, not when the call ended)."""
    sb.generation_ready_after = 0  # /generation at once (by default it lags a call, as OpenRouter's)
    sb.advance_clock(days=2)  # the billing clock well away from real time
    sb.tokens_per_second = 50  # the stream is still running when the day ends
    before = sb.now
    with httpx.stream("POST", sb.api_url + "/chat/completions", headers=auth(sb.key), timeout=30,
                      json=chat_body("across midnight", stream=True)) as r:
        assert r.status_code == 200
        lines = r.iter_lines()
        first = next(line for line in lines if line.startswith("data: "))
        began = sb.now
        sb.advance_clock(days=1)  # the UTC day ends while the answer is streaming
        body = "\n".join([first, *lines])
    gen_id = chunks(body)[-1]["id"]
    day = before.date().isoformat()
    sb.advance_clock(days=1)  # the next day is completed too
    assert [r["date"] for r in activity(sb)] == [day]
    g = httpx.get(sb.api_url + "/generation", params={"id": gen_id}, headers=auth(sb.key))
    created = datetime.fromisoformat(g.json()["data"]["created_at"])
    assert before <= created <= began


def test_the_last_30_completed_days_and_no_more(sb: Sandbox) -> None:
    call(sb, sb.key, chat_body("old"))
    day = sb.now.date().isoformat()
    sb.advance_clock(days=30)  # that day is now the 30th completed day back
    assert [r["date"] for r in activity(sb)] == [day]
    assert [r["date"] for r in activity(sb, date=day)] == [day]
    sb.advance_clock(days=1)
    assert activity(sb) == []
    r = httpx.get(sb.api_url + "/activity", params={"date": day}, headers=auth(sb.management_key))
    assert r.status_code == 400
    assert r.json()["error"]["message"] == "Date must be within the last 30 (completed) UTC days"


def test_filters_by_date_and_key_hash(sb: Sandbox) -> None:
    admin = {"Authorization": f"Bearer {sb.management_key}"}
    created = httpx.post(sb.api_url + "/keys", json={"name": "filtered"}, headers=admin).json()
    call(sb, sb.key, chat_body("main, day one"))
    call(sb, created["key"], chat_body("created, day one"))
    first = sb.now.date().isoformat()
    sb.advance_clock(days=1)
    call(sb, created["key"], chat_body("created, day two"))
    second = sb.now.date().isoformat()
    sb.advance_clock(days=1)
    key_hash = created["data"]["hash"]
    assert sum(r["requests"] for r in activity(sb)) == 3
    assert sum(r["requests"] for r in activity(sb, date=first)) == 2
    assert {r["date"] for r in activity(sb, date=second)} == {second}
    assert sum(r["requests"] for r in activity(sb, api_key_hash=key_hash)) == 2
    assert sum(r["requests"] for r in activity(sb, api_key_hash=key_hash, date=first)) == 1
    assert activity(sb, api_key_hash="0" * 64) == []
    httpx.delete(sb.api_url + f"/keys/{key_hash}", headers=admin)  # what it spent stays spent
    assert sum(r["requests"] for r in activity(sb, api_key_hash=key_hash)) == 2
    today = sb.now.date().isoformat()
    for bad in ("2026-13-01", "yesterday", "2026-1-1", "20261201", today, "2999-01-01"):
        r = httpx.get(sb.api_url + "/activity", params={"date": bad}, headers=admin)
        assert r.status_code == 400, bad
        validate(r.json(), "BadRequestResponse")


def test_management_keys_only(sb: Sandbox) -> None:
    r = httpx.get(sb.api_url + "/activity", headers=auth(sb.key))
    assert r.status_code == 403
    validate(r.json(), "ForbiddenResponse")
    assert r.json()["error"]["message"] == "Only management keys can perform this operation"
    anonymous = httpx.get(sb.api_url + "/activity")
    assert anonymous.status_code == 401
    validate(anonymous.json(), "UnauthorizedResponse")


def test_reset_forgets_activity_and_the_clock(sb: Sandbox) -> None:
    call(sb, sb.key, chat_body("before reset"))
    sb.advance_clock(days=1)
    assert activity(sb) != []
    sb.reset()
    assert activity(sb) == []
    sb.advance_clock(days=1)
    assert activity(sb) == []
