"""Injected faults, money limits, cancellation and wire-level stress behave as specified.

Raw httpx only, so every status, header and byte the client would see is checked.
"""

from __future__ import annotations

import json
import time
from decimal import Decimal

import httpx
import pytest
from httpx_sse import connect_sse
from sandbox_fixtures import auth, chat_body, chunks, content_of, parse_sse

from edge_jupyter.sandbox import MODELS, Fault, Sandbox, answer_tokens, count_prompt_tokens

URL = "/api/v1/chat/completions"
MINI = MODELS["openai/gpt-4o-mini"]

pytestmark = [pytest.mark.usefixtures("clean_sandbox")]


# -- pre-stream HTTP errors -----------------------------------------------------------------
def test_http_429_with_retry_headers_then_recovers(sb: Sandbox, client: httpx.Client) -> None:
    sb.inject(Fault.http(429, retry_after=1, times=2))
    for _ in range(2):
        r = client.post(URL, json=chat_body(stream=True))
        assert r.status_code == 429 and r.headers["content-type"] == "application/json"
        assert r.headers["retry-after"] == "1"
        assert r.headers["x-ratelimit-remaining"] == "0" and int(r.headers["x-ratelimit-reset"]) > time.time() * 1000
        assert r.headers["x-ratelimit-limit"]
        err = r.json()["error"]
        assert (err["code"], err["message"], err["metadata"]["error_type"]) == (
            429, "Rate limit exceeded", "rate_limit_exceeded")
    assert client.post(URL, json=chat_body()).status_code == 200
    assert len(sb.completions) == 1 and sb.credits_used == pytest.approx(sb.completions[0].cost)


def test_http_fault_is_not_consumed_by_a_bad_request(sb: Sandbox, client: httpx.Client) -> None:
    sb.inject(Fault.http(503))
    assert client.post(URL, json=chat_body(model="x/y")).status_code == 400
    r = client.post(URL, json=chat_body())
    assert r.status_code == 503 and r.json()["error"]["message"] == "Service temporarily unavailable"
    assert "retry-after" not in r.headers
    assert client.post(URL, json=chat_body()).status_code == 200


def test_faults_apply_in_order_and_can_be_cleared(sb: Sandbox, client: httpx.Client) -> None:
    sb.inject(Fault.http(502))
    sb.inject(Fault.http(500))
    assert [client.post(URL, json=chat_body()).status_code for _ in range(3)] == [502, 500, 200]
    sb.inject(Fault.http(502))
    sb.clear_faults()
    assert client.post(URL, json=chat_body()).status_code == 200


# -- faults inside the stream ---------------------------------------------------------------------
def test_midstream_error_chunk_then_end_without_done(sb: Sandbox, client: httpx.Client) -> None:
    sb.inject(Fault.midstream(after_tokens=5, code=502, message="Provider returned error"))
    r = client.post(URL, json=chat_body(stream=True))
    assert r.status_code == 200
    payloads, _ = parse_sse(r.text)
    assert "[DONE]" not in payloads
    cs = [json.loads(p) for p in payloads]
    last = cs[-1]
    assert last["error"] == {"code": 502, "message": "Provider returned error",
                             "metadata": {"error_type": "provider_unavailable"}}
    assert last["choices"] == [{"index": 0, "delta": {"content": ""}, "finish_reason": "error",
                                "native_finish_reason": "error"}]
    assert content_of(cs[:-1]) == "".join(answer_tokens(MINI.id, chat_body()["messages"], 5))
    rec = sb.completions[-1]
    assert rec.finish_reason == "error" and rec.cost == 0 and sb.credits_used == 0
    # The connection survived (the body was terminated properly) and serves the next call.
    assert client.post(URL, json=chat_body()).status_code == 200


def test_drop_closes_the_connection_mid_stream(sb: Sandbox, client: httpx.Client) -> None:
    sb.inject(Fault.drop(after_tokens=5))
    received = b""
    with pytest.raises(httpx.RemoteProtocolError), client.stream("POST", URL, json=chat_body(stream=True)) as r:
        for piece in r.iter_bytes():
            received += piece
    cs = chunks(received.decode())
    assert len(cs) == 6 and "[DONE]" not in received.decode()
    rec = sb.wait_for_completions(1)[-1]
    assert rec.fault == "drop" and rec.finish_reason == "error" and rec.usage["completion_tokens"] == 5


def test_malformed_line_then_stream_continues(sb: Sandbox, client: httpx.Client) -> None:
    sb.inject(Fault.malformed(after_tokens=3))
    payloads, _ = parse_sse(client.post(URL, json=chat_body(stream=True)).text)
    assert payloads[-1] == "[DONE]"
    good, bad = [], []
    for i, p in enumerate(payloads[:-1]):
        try:
            good.append(json.loads(p))
        except ValueError:
            bad.append(i)
    assert bad == [4]  # first chunk + 3 tokens, then the broken line
    assert content_of(good) == "".join(answer_tokens(MINI.id, chat_body()["messages"], 24))


def test_stall_pauses_then_finishes(sb: Sandbox, client: httpx.Client) -> None:
    sb.inject(Fault.stall(0.4, after_tokens=2))
    t0 = time.monotonic()
    r = client.post(URL, json=chat_body(stream=True))
    assert time.monotonic() - t0 >= 0.38
    assert parse_sse(r.text)[0][-1] == "[DONE]"


def test_stall_trips_a_read_timeout_and_counts_as_cancelled(sb: Sandbox) -> None:
    sb.inject(Fault.stall(3, after_tokens=2))
    with httpx.Client(base_url=sb.url, headers=auth(sb.key), timeout=httpx.Timeout(5, read=0.3)) as c:
        t0 = time.monotonic()
        with pytest.raises(httpx.ReadTimeout), c.stream("POST", URL, json=chat_body(stream=True)) as r:
            for _ in r.iter_bytes():
                pass
    rec = sb.wait_for_completions(1)[-1]
    assert time.monotonic() - t0 < 2.5  # noticed the disconnect during the stall
    assert rec.cancelled and rec.usage["completion_tokens"] == 2


def test_non_stream_faults(sb: Sandbox, client: httpx.Client) -> None:
    sb.inject(Fault.midstream(after_tokens=4, code=502))
    body = client.post(URL, json=chat_body()).json()
    choice = body["choices"][0]
    assert choice["finish_reason"] == "error" and choice["error"]["code"] == 502
    assert body["usage"]["cost"] == 0 and body["usage"]["completion_tokens"] == 4
    sb.inject(Fault.drop())
    with pytest.raises(httpx.RemoteProtocolError):
        client.post(URL, json=chat_body())
    sb.inject(Fault.malformed())
    r = client.post(URL, json=chat_body())
    with pytest.raises(ValueError):
        r.json()


def test_byok_billing(sb: Sandbox, client: httpx.Client) -> None:
    sb.generation_ready_after = 0
    sb.inject(Fault.byok())
    body = client.post(URL, json=chat_body()).json()
    u = body["usage"]
    full = u["prompt_tokens"] * MINI.prompt_price + u["completion_tokens"] * MINI.completion_price
    assert u["is_byok"] is True
    assert u["cost_details"]["upstream_inference_cost"] == float(full)
    assert u["cost"] == float(full * Decimal("0.05"))
    assert sb.credits_used == pytest.approx(u["cost"])
    info = client.get("/api/v1/key").json()["data"]
    assert info["byok_usage"] == pytest.approx(float(full)) and info["usage"] == pytest.approx(u["cost"])
    gen = client.get("/api/v1/generation", params={"id": body["id"]}).json()["data"]
    assert gen["is_byok"] is True and gen["upstream_inference_cost"] == float(full)
    # Only the next call was BYOK.
    assert client.post(URL, json=chat_body()).json()["usage"]["is_byok"] is False


# -- money ------------------------------------------------------------------------------------------
def test_overrun_ignores_max_tokens_once(sb: Sandbox, client: httpx.Client) -> None:
    sb.answer_length = 40
    sb.inject(Fault.overrun())
    body = client.post(URL, json=chat_body(max_tokens=5)).json()
    assert body["usage"]["completion_tokens"] == 40  # the cap was not honoured, and is billed
    assert body["choices"][0]["finish_reason"] == "stop"
    capped = client.post(URL, json=chat_body(max_tokens=5)).json()  # only the next request
    assert capped["usage"]["completion_tokens"] == 5
    assert capped["choices"][0]["finish_reason"] == "length"
    assert Fault.from_dict({"kind": "overrun"}) == Fault.overrun()


def test_402_when_the_max_tokens_reservation_is_unaffordable(sb: Sandbox, client: httpx.Client) -> None:
    sb.credits = 0.001
    prompt = count_prompt_tokens(chat_body()["messages"])
    r = client.post(URL, json=chat_body())
    assert r.status_code == 402
    can = int((Decimal("0.001") - prompt * MINI.prompt_price) / MINI.completion_price)
    assert r.json()["error"]["message"] == (
        "This request requires more credits, or fewer max_tokens. You requested up to 16384 tokens, "
        f"but can only afford {can}. To increase, visit https://openrouter.ai/settings/credits "
        "and upgrade to a paid account")
    assert client.post(URL, json=chat_body(max_tokens=100)).status_code == 200
    # Free models still work on a tiny balance, but not on a negative one.
    free = chat_body(model="meta-llama/llama-3.1-8b-instruct:free")
    assert client.post(URL, json=free).status_code == 200
    sb.credits = 0.0
    sb.accounts.total_usage = Decimal("0.01")
    assert client.post(URL, json=free).status_code == 402


def test_403_when_the_key_limit_is_spent(sb: Sandbox) -> None:
    body = chat_body(max_tokens=24)
    one_call = count_prompt_tokens(body["messages"]) * MINI.prompt_price + 24 * MINI.completion_price
    key = sb.issue_key(limit=float(one_call))
    with httpx.Client(base_url=sb.url, headers=auth(key)) as c:
        assert c.post(URL, json=body).status_code == 200
        r = c.post(URL, json=body)
        assert r.status_code == 403
        assert r.json()["error"]["message"] == (
            "Key limit exceeded (total limit). Manage it using https://openrouter.ai/settings/keys")
        assert c.get("/api/v1/key").json()["data"]["limit_remaining"] == 0
    small = sb.issue_key(limit=0.00001)
    r = httpx.post(sb.api_url + "/chat/completions", json=chat_body(), headers=auth(small))
    assert r.status_code == 402 and "settings/keys" in r.json()["error"]["message"]


# -- cancellation and /generation -------------------------------------------------------------------
def test_disconnect_cancels_bills_sent_tokens_and_generation_appears_later(sb: Sandbox, client: httpx.Client) -> None:
    sb.tokens_per_second = 200
    sb.answer_length = 400
    sb.generation_ready_after = 0.3
    with client.stream("POST", URL, json=chat_body(stream=True)) as r:
        gen_id = r.headers["x-generation-id"]
        lines = r.iter_lines()
        for _ in range(12):
            next(lines)
    rec = sb.wait_for_completions(1)[-1]
    assert rec.cancelled and rec.finish_reason is None
    sent = rec.usage["completion_tokens"]
    assert 3 <= sent < 100
    assert rec.text == "".join(answer_tokens(MINI.id, chat_body()["messages"], sent))
    expected = rec.usage["prompt_tokens"] * MINI.prompt_price + sent * MINI.completion_price
    assert rec.usage["cost"] == float(expected) == sb.credits_used
    assert client.get("/api/v1/generation", params={"id": gen_id}).status_code == 404
    time.sleep(0.35)
    data = client.get("/api/v1/generation", params={"id": gen_id}).json()["data"]
    assert data["cancelled"] is True and data["streamed"] is True
    assert data["tokens_completion"] == sent and data["total_cost"] == float(expected)


# -- wire-level stress --------------------------------------------------------------------------------
def test_crlf_and_three_byte_writes_reassemble_exactly(sb: Sandbox, client: httpx.Client) -> None:
    sb.line_ending = "\r\n"
    sb.write_chunk_bytes = 3
    sb.answer_length = 60
    msgs = [{"role": "user", "content": "Split me 35"}]  # a prompt whose answer starts with all of these:
    expected = "".join(answer_tokens(MINI.id, msgs, 60))
    assert "\u2028" in expected and "🙂" in expected and "日本" in expected
    text, events = "", 0
    with connect_sse(client, "POST", URL, json={"model": MINI.id, "messages": msgs, "stream": True}) as es:
        for ev in es.iter_sse():
            events += 1
            if ev.data == "[DONE]":
                break
            c = json.loads(ev.data)
            if c["choices"]:
                text += c["choices"][0]["delta"].get("content") or ""
    assert text == expected and events == 60 + 4
    with client.stream("POST", URL, json=chat_body(stream=True, max_tokens=3)) as r:
        sizes = [len(b) for b in r.iter_raw()]
    assert max(sizes) <= 3 * 64  # tiny pieces (the client may coalesce a few)
    assert min(sizes) <= 3


def test_tokens_per_second_is_roughly_respected(sb: Sandbox, client: httpx.Client) -> None:
    sb.tokens_per_second = 100
    sb.answer_length = 31
    t0 = time.monotonic()
    r = client.post(URL, json=chat_body(stream=True))
    elapsed = time.monotonic() - t0
    assert r.status_code == 200 and 0.25 <= elapsed < 2.0  # 30 gaps of 10 ms
    sb.tokens_per_second = 0
    t0 = time.monotonic()
    client.post(URL, json=chat_body(stream=True))
    assert time.monotonic() - t0 < 0.25


def test_twenty_thousand_tokens_stream_fast(sb: Sandbox, client: httpx.Client) -> None:
    sb.answer_length = 20_000
    t0 = time.monotonic()
    with connect_sse(client, "POST", URL, json=chat_body(stream=True)) as es:
        n = sum(1 for _ in es.iter_sse())
    assert n == 20_000 + 4 and time.monotonic() - t0 < 3.0


# -- the control API --------------------------------------------------------------------------------
def test_control_api(sb: Sandbox, client: httpx.Client) -> None:
    ctl = httpx.Client(base_url=sb.url + "/_sandbox")
    r = ctl.post("/faults", json={"kind": "http", "status": 429, "retry_after": 1, "times": 1})
    assert r.status_code == 200 and r.json()["pending"][0]["status"] == 429
    assert client.post(URL, json=chat_body()).status_code == 429
    assert ctl.post("/faults", json={"kind": "nope"}).status_code == 400
    assert ctl.post("/config", json={"answer_length": 7, "tokens_per_second": 0}).json()["answer_length"] == 7
    assert ctl.post("/config", json={"answer_length": "x"}).status_code == 400
    assert ctl.post("/config", json={"bogus": 1}).status_code == 400
    assert client.post(URL, json=chat_body()).json()["usage"]["completion_tokens"] == 7
    stats = ctl.get("/stats").json()
    assert stats["completions"] == 1 and stats["requests"] == 2 and stats["credits_used"] > 0
    key = ctl.post("/keys", json={"limit": 1}).json()["key"]
    assert httpx.get(sb.api_url + "/key", headers=auth(key)).json()["data"]["limit"] == 1
    ctl.post("/revoke", json={"key": key})
    assert httpx.get(sb.api_url + "/key", headers=auth(key)).status_code == 401
    assert ctl.post("/reset").json() == {"requests": 0, "completions": 0, "credits_used": 0.0}
    ctl.close()


# -- hostile kinds (a broken or malicious server) --------------------------------------------------
@pytest.mark.parametrize("figures", [{"cost": float("inf")}, {"cost": -1}, {"cost": True},
                                     {"cost": 1e12}, {"prompt_tokens": -5}])
def test_usage_fault_sends_the_figures_and_keeps_the_true_generation(
        sb: Sandbox, client: httpx.Client, figures: dict) -> None:
    sb.inject(Fault.usage(**figures))
    cs = chunks(client.post(URL, json=chat_body(stream=True)).text)
    usage = cs[-1]["usage"]
    for name, value in figures.items():
        assert usage[name] == value and type(usage[name]) is type(value)
    rec = sb.wait_for_completions(1)[-1]
    gen = client.get("/api/v1/generation", params={"id": rec.id})
    for _ in range(50):
        if gen.status_code == 200:
            break
        time.sleep(0.05)
        gen = client.get("/api/v1/generation", params={"id": rec.id})
    # the true record (and the true charge): only the usage chunk lies
    assert sb.credits_used > 0
    assert gen.json()["data"]["total_cost"] == pytest.approx(float(sb.credits_used))


def test_usage_fault_can_make_the_generation_impossible_too(sb: Sandbox, client: httpx.Client) -> None:
    sb.inject(Fault.usage(cost=float("inf"), in_generation=True))
    non_stream = client.post(URL, json=chat_body()).json()
    assert non_stream["usage"]["cost"] == float("inf")
    gen_id = non_stream["id"]
    for _ in range(50):
        gen = client.get("/api/v1/generation", params={"id": gen_id})
        if gen.status_code == 200:
            break
        time.sleep(0.05)
    assert gen.json()["data"]["total_cost"] == float("inf")


def test_second_usage_follows_the_true_one(sb: Sandbox, client: httpx.Client) -> None:
    sb.inject(Fault.second_usage(cost=5.0))
    payloads, _ = parse_sse(client.post(URL, json=chat_body(stream=True)).text)
    assert payloads[-1] == "[DONE]"
    usages = [json.loads(p)["usage"] for p in payloads[:-1] if "usage" in json.loads(p)]
    assert len(usages) == 2 and usages[1]["cost"] == 5.0 != usages[0]["cost"]
    assert usages[0]["cost"] == pytest.approx(float(sb.credits_used))


def _encoded(key: str, encoding: str) -> str:
    from edge_jupyter.sandbox._faults import encode_key

    return encode_key(key, encoding)


@pytest.mark.parametrize("encoding", ["exact", "url", "upper", "split", "base64"])
def test_echo_key_puts_the_encoded_key_where_asked(sb: Sandbox, client: httpx.Client,
                                                     encoding: str) -> None:
    echoed = _encoded(sb.key, encoding)
    assert encoding == "exact" or echoed != sb.key
    sb.inject(Fault.echo_key(where="midstream", encoding=encoding, after_tokens=2))
    cs = chunks(client.post(URL, json=chat_body(stream=True)).text)
    assert echoed in cs[-1]["error"]["message"] and cs[-1]["choices"][0]["finish_reason"] == "error"
    sb.inject(Fault.echo_key(where="http", encoding=encoding))
    r = client.post(URL, json=chat_body(stream=True))
    assert r.status_code == 401 and echoed in r.json()["error"]["message"]
    sb.inject(Fault.echo_key(where="label", encoding=encoding))
    assert client.post(URL, json=chat_body()).status_code == 200, "a /key fault is not for chat"
    assert echoed in client.get("/api/v1/key").json()["data"]["label"]
    assert sb.key not in client.get("/api/v1/key").json()["data"]["label"], "one use only"


def test_gzip_bomb_is_small_on_the_wire_and_huge_inflated(sb: Sandbox, client: httpx.Client) -> None:
    import zlib

    sb.inject(Fault.gzip_bomb(size=64 << 20))
    with client.stream("POST", URL, json=chat_body(stream=True)) as r:
        assert r.status_code == 502 and r.headers["content-encoding"] == "gzip"
        raw = b"".join(r.iter_raw())
    assert len(raw) < 1 << 20
    inflater = zlib.decompressobj(31)
    assert len(inflater.decompress(raw, 128 << 20)) == 64 << 20
    sb.inject(Fault.gzip_bomb(where="models", size=8 << 20))
    assert client.post(URL, json=chat_body()).status_code == 200, "a /models fault is not for chat"
    with client.stream("GET", "/api/v1/models") as r:
        assert r.status_code == 200 and r.headers["content-encoding"] == "gzip"
        assert len(b"".join(r.iter_raw())) < 1 << 20


def test_long_line_is_one_data_line_of_the_size_then_the_answer_goes_on(
        sb: Sandbox, client: httpx.Client) -> None:
    sb.inject(Fault.long_line(size=2_000_000, after_tokens=3))
    text = client.post(URL, json=chat_body(stream=True)).text
    payloads, _ = parse_sse(text)
    sizes = sorted(len(p) for p in payloads)
    assert sizes[-1] == 2_000_000 - len("data: ") - 2 and sizes[-2] < 1000
    assert payloads[-1] == "[DONE]"
    good = [json.loads(p) for p in payloads[:-1] if len(p) < 1000]
    assert content_of(good) == "".join(answer_tokens(MINI.id, chat_body()["messages"], 24))


def test_slow_key_trickles_the_body_a_byte_at_a_time(sb: Sandbox, client: httpx.Client) -> None:
    sb.inject(Fault.slow_key(0.5))
    with client.stream("GET", "/api/v1/key") as r:
        reads = list(r.iter_raw())
    body = json.loads(b"".join(reads))
    assert body["data"]["label"] and len(reads) > 20  # many tiny reads, not one answer


def test_control_api_takes_the_hostile_kinds(sb: Sandbox, client: httpx.Client) -> None:
    ctl = httpx.Client(base_url=sb.url + "/_sandbox")
    r = ctl.post("/faults", content=b'{"kind": "usage", "figures": {"cost": Infinity}}',
                 headers={"content-type": "application/json"})
    assert r.status_code == 200 and r.json()["pending"][0]["kind"] == "usage"
    assert chunks(client.post(URL, json=chat_body(stream=True)).text)[-1]["usage"]["cost"] == float("inf")
    r = ctl.post("/faults", json={"kind": "echo_key", "where": "label", "encoding": "upper"})
    assert r.status_code == 200 and r.json()["pending"][0]["where"] == "label"
    assert sb.key.upper() in client.get("/api/v1/key").json()["data"]["label"]
    for bad in ({"kind": "echo_key", "where": "nowhere"}, {"kind": "echo_key", "encoding": "rot13"},
                {"kind": "gzip_bomb", "where": "key"}, {"kind": "long_line", "size": -1},
                {"kind": "usage", "figures": [1]}):
        assert ctl.post("/faults", json=bad).status_code == 400, bad
    assert ctl.post("/faults", json={"kind": "slow_key", "seconds": 0.01}).status_code == 200
    assert client.get("/api/v1/key").status_code == 200
    ctl.close()
