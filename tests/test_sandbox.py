"""The sandbox behaves like OpenRouter for real clients: the openai SDK, httpx, curl-alikes.

Fault injection, money and OAuth have their own files; this one covers the
happy paths, the deterministic answer generator, the catalog, account
endpoints, request recording and the CLI.
"""

from __future__ import annotations

import json
import threading
import time
from decimal import Decimal

import httpx
import openai
import pytest
from processes import loaded_by
from sandbox_fixtures import auth, chat_body, chunks, content_of, parse_sse

from edge_jupyter.sandbox import MODELS, Sandbox, answer_tokens, count_prompt_tokens
from edge_jupyter.sandbox.cli import main as cli_main

MSGS = [{"role": "user", "content": "How do I stream from OpenRouter?"}]

pytestmark = [pytest.mark.usefixtures("clean_sandbox")]


# -- the official openai SDK ------------------------------------------------------------
def test_openai_sdk_streams_exactly_the_generated_answer(sb: Sandbox) -> None:
    sb.answer_length = 300
    client = openai.OpenAI(base_url=sb.api_url, api_key=sb.key, max_retries=0)
    stream = client.chat.completions.create(model="openai/gpt-4o-mini", messages=MSGS, stream=True)
    text, usage, finish = "", None, None
    for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
            finish = chunk.choices[0].finish_reason or finish
        if chunk.usage is not None:
            usage = chunk.usage
    expected = "".join(answer_tokens("openai/gpt-4o-mini", MSGS, 300))
    assert text == expected == sb.completions[-1].text
    assert finish == "stop"
    assert usage is not None and usage.completion_tokens == 300
    assert usage.prompt_tokens == count_prompt_tokens(MSGS)
    # The answer really exercises multi-byte UTF-8 and U+2028.
    assert "\u2028" in text and any(ord(ch) > 0xFFFF for ch in text) and "é" in text


def test_openai_sdk_non_streaming_result(sb: Sandbox) -> None:
    client = openai.OpenAI(base_url=sb.api_url, api_key=sb.key, max_retries=0)
    result = client.chat.completions.create(model="anthropic/claude-3.5-haiku", messages=MSGS)
    assert result.choices[0].message.content == "".join(answer_tokens("anthropic/claude-3.5-haiku", MSGS, 24))
    assert result.choices[0].finish_reason == "stop"
    assert result.model == "anthropic/claude-3.5-haiku"
    assert result.id.startswith("gen-") and len(result.id.split("-")[2]) == 20
    extra = result.model_extra or {}
    assert extra.get("provider") == "Anthropic"
    assert result.choices[0].model_extra["native_finish_reason"] == "end_turn"
    record = sb.completions[-1]
    assert record.stream is False and record.cancelled is False and record.provider == "Anthropic"


def test_reasoning_model_streams_reasoning_first_and_bills_it(sb: Sandbox, client: httpx.Client) -> None:
    r = client.post("/api/v1/chat/completions", json=chat_body(model="deepseek/deepseek-r1", stream=True))
    cs = chunks(r.text)
    kinds = ["r" if c["choices"] and c["choices"][0]["delta"].get("reasoning") else
             "c" if c["choices"] and c["choices"][0]["delta"].get("content") else "-" for c in cs]
    first_content = kinds.index("c")
    assert "r" in kinds[:first_content] and "r" not in kinds[first_content:]
    usage = cs[-1]["usage"]
    rec = sb.completions[-1]
    n_reason = usage["completion_tokens_details"]["reasoning_tokens"]
    assert n_reason == kinds.count("r") == 8
    assert usage["completion_tokens"] == n_reason + 24
    assert rec.reasoning and rec.text == content_of(cs)
    cost = Decimal(usage["prompt_tokens"]) * MODELS["deepseek/deepseek-r1"].prompt_price + \
        Decimal(usage["completion_tokens"]) * MODELS["deepseek/deepseek-r1"].completion_price
    assert usage["cost"] == pytest.approx(float(cost), rel=1e-9)


def test_reasoning_can_be_excluded_but_is_still_billed(sb: Sandbox, client: httpx.Client) -> None:
    body = chat_body(model="deepseek/deepseek-r1", stream=True, reasoning={"exclude": True})
    cs = chunks(client.post("/api/v1/chat/completions", json=body).text)
    assert not any(c["choices"] and c["choices"][0]["delta"].get("reasoning") for c in cs)
    assert cs[-1]["usage"]["completion_tokens_details"]["reasoning_tokens"] == 8


# -- the wire format ----------------------------------------------------------------------
def test_stream_wire_format_matches_openrouter(sb: Sandbox, client: httpx.Client) -> None:
    r = client.post("/api/v1/chat/completions", json=chat_body(stream=True))
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/event-stream"
    assert r.headers["cache-control"] == "no-cache"
    assert r.headers["transfer-encoding"] == "chunked"
    assert r.text.startswith(": OPENROUTER PROCESSING\n\n")
    payloads, comments = parse_sse(r.text)
    assert payloads[-1] == "[DONE]" and comments == [": OPENROUTER PROCESSING"] * 2
    cs = [json.loads(p) for p in payloads[:-1]]
    gen_id = r.headers["x-generation-id"]
    for c in cs:
        assert (c["id"], c["provider"], c["model"], c["object"]) == (
            gen_id, "OpenAI", "openai/gpt-4o-mini", "chat.completion.chunk")
        assert isinstance(c["created"], int)
    assert cs[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert all(len(c["choices"]) == 1 and c["choices"][0]["finish_reason"] is None for c in cs[1:-2])
    assert [c["choices"][0]["finish_reason"] for c in cs[-2:-1]] == ["stop"]
    assert cs[-2]["choices"][0]["native_finish_reason"] == "stop"
    assert cs[-1]["choices"] == [] and cs[-1]["usage"]["completion_tokens"] == 24
    # The comment comes between the finish chunk and the usage chunk, as on the real wire.
    text = r.text
    assert text.index('"finish_reason":"stop"') < text.rindex(": OPENROUTER PROCESSING") < text.index('"usage"')
    assert sb.completions[-1].usage == cs[-1]["usage"]


def test_max_tokens_caps_the_answer_with_finish_reason_length(client: httpx.Client) -> None:
    for field in ("max_tokens", "max_completion_tokens"):
        r = client.post("/api/v1/chat/completions", json=chat_body(**{field: 5}))
        body = r.json()
        assert body["choices"][0]["finish_reason"] == "length"
        assert body["usage"]["completion_tokens"] == 5
        assert body["choices"][0]["message"]["content"] == "".join(
            answer_tokens("openai/gpt-4o-mini", [{"role": "user", "content": "Hello there"}], 5))


def test_prompt_directive_sets_answer_length(client: httpx.Client) -> None:
    r = client.post("/api/v1/chat/completions", json=chat_body("Write a lot [sandbox:tokens=77]", stream=True))
    assert chunks(r.text)[-1]["usage"]["completion_tokens"] == 77
    r = client.post("/api/v1/chat/completions", json=chat_body("[sandbox:tokens=77]", max_tokens=10))
    assert r.json()["usage"]["completion_tokens"] == 10


def test_cost_is_tokens_times_catalog_prices(sb: Sandbox, client: httpx.Client) -> None:
    body = client.post("/api/v1/chat/completions", json=chat_body(model="openai/gpt-4o")).json()
    u = body["usage"]
    model = MODELS["openai/gpt-4o"]
    expected = u["prompt_tokens"] * model.prompt_price + u["completion_tokens"] * model.completion_price
    assert u["cost"] == float(expected)
    assert u["cost_details"]["upstream_inference_cost"] == u["cost"] and u["is_byok"] is False
    assert sb.credits_used == pytest.approx(u["cost"])
    free = client.post("/api/v1/chat/completions",
                       json=chat_body(model="meta-llama/llama-3.1-8b-instruct:free")).json()
    assert free["usage"]["cost"] == 0 and free["provider"] == "DeepInfra"


def test_provider_order_picks_the_endpoint(client: httpx.Client) -> None:
    body = chat_body(provider={"order": ["azure"]})
    assert client.post("/api/v1/chat/completions", json=body).json()["provider"] == "Azure"
    body = chat_body(provider={"only": ["nobody"]})
    assert client.post("/api/v1/chat/completions", json=body).status_code == 404


# -- the answer generator ------------------------------------------------------------------
def test_answer_tokens_is_deterministic_prefix_stable_and_fast() -> None:
    msgs = [{"role": "user", "content": "anything"}]
    start = time.perf_counter()
    long = answer_tokens("openai/gpt-4o", msgs, 50_000)
    elapsed = time.perf_counter() - start
    assert len(long) == 50_000 and elapsed < 0.1
    assert answer_tokens("openai/gpt-4o", msgs, 1234) == long[:1234]
    assert answer_tokens("openai/gpt-4o", [{"role": "user", "content": "other"}], 100) != long[:100]
    assert answer_tokens("openai/gpt-4o-mini", msgs, 100) != long[:100]
    text = "".join(long)
    assert "\n## " in text or "\n### " in text
    assert "\n- " in text and "\n1. " in text
    for ch in ("é", "—", "🙂", "日本", "\u2028"):
        assert ch in text


def test_count_prompt_tokens_rule() -> None:
    assert count_prompt_tokens([{"role": "user", "content": "abcd"}]) == 3 + 1
    assert count_prompt_tokens([{"role": "user", "content": "abcde"}]) == 3 + 2
    assert count_prompt_tokens([{"role": "system", "content": ""}, {"role": "user", "content": "x" * 40}]) == 3 + 13
    audio = {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}
    parts = [{"type": "text", "text": "abcdefgh"}, audio]
    assert count_prompt_tokens([{"role": "user", "content": parts}]) == 3 + 2 + 85
    # Images and files are billed by pixel size and pages (tests/test_sandbox_media.py), not here.
    parts = [{"type": "text", "text": "abcdefgh"}, {"type": "image_url", "image_url": {"url": "x"}}]
    assert count_prompt_tokens([{"role": "user", "content": parts}]) == 3 + 2


# -- errors ---------------------------------------------------------------------------------
def test_auth_errors(sb: Sandbox) -> None:
    url = sb.api_url + "/chat/completions"
    r = httpx.post(url, json=chat_body())
    assert r.status_code == 401
    assert r.json() == {"error": {"message": "No auth credentials found", "code": 401,
                                  "metadata": {"error_type": "authentication"}}, "user_id": None}
    r = httpx.post(url, json=chat_body(), headers=auth("sk-or-v1-" + "0" * 64))
    assert r.status_code == 401 and r.json()["error"]["message"] == "User not found"
    r = httpx.post(url, json=chat_body(), headers=auth(sb.management_key))
    assert r.status_code == 403


def test_revoked_key_gets_user_not_found(sb: Sandbox, client: httpx.Client) -> None:
    other = sb.issue_key()
    assert httpx.get(sb.api_url + "/key", headers=auth(other)).status_code == 200
    sb.revoke(other)
    r = httpx.post(sb.api_url + "/chat/completions", json=chat_body(), headers=auth(other))
    assert r.status_code == 401 and r.json()["error"]["message"] == "User not found"
    assert client.post("/api/v1/chat/completions", json=chat_body()).status_code == 200


def test_request_errors(client: httpx.Client) -> None:
    r = client.post("/api/v1/chat/completions", json=chat_body(model="acme/fake-1.0"))
    assert r.status_code == 400 and r.json()["error"]["message"] == "acme/fake-1.0 is not a valid model ID"
    for body in ({"model": "openai/gpt-4o"}, {"model": "openai/gpt-4o", "messages": []}):
        r = client.post("/api/v1/chat/completions", json=body)
        assert r.status_code == 400 and r.json()["user_id"] == "user_sandbox"
    r = client.post("/api/v1/chat/completions", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert client.post("/api/v1/chat/completions", json=chat_body(max_tokens=0)).status_code == 400
    r = client.get("/api/v1/chat/completions")
    assert r.status_code == 405 and r.headers["allow"] == "POST"
    r = client.get("/api/v1/nothing-here")
    assert r.status_code == 404 and r.json()["error"]["code"] == 404
    assert client.get("/favicon.ico").status_code == 404


def test_no_model_uses_default_and_models_list_falls_back(client: httpx.Client) -> None:
    body = {"messages": MSGS}
    assert client.post("/api/v1/chat/completions", json=body).json()["model"] == "openai/gpt-4o-mini"
    body = {"models": ["acme/nope", "google/gemini-2.0-flash-001"], "messages": MSGS}
    r = client.post("/api/v1/chat/completions", json=body).json()
    assert r["model"] == "google/gemini-2.0-flash-001" and r["provider"] == "Google AI Studio"


# -- catalog, key, credits --------------------------------------------------------------------
def test_models_are_public_and_match_the_catalog(sb: Sandbox) -> None:
    body = httpx.get(sb.api_url + "/models").json()
    assert body["total_count"] == len(body["data"]) == len(MODELS) >= 6
    assert body["links"] == {"next": None}
    by_id = {m["id"]: m for m in body["data"]}
    assert by_id["openai/gpt-4o-mini"]["pricing"]["prompt"] == "0.00000015"
    assert by_id["openai/gpt-4o-mini"]["pricing"]["completion"] == "0.0000006"
    assert by_id["meta-llama/llama-3.1-8b-instruct:free"]["pricing"]["completion"] == "0"
    assert MODELS["anthropic/claude-3.5-haiku"].provider == "Anthropic"
    ep = httpx.get(sb.url + by_id["deepseek/deepseek-r1"]["links"]["details"]).json()["data"]
    assert ep["endpoints"][0]["provider_name"] == "DeepSeek" and ep["endpoints"][0]["quantization"] == "fp8"
    assert httpx.get(sb.api_url + "/models/acme/none/endpoints").status_code == 404


def test_key_and_credits(sb: Sandbox, client: httpx.Client) -> None:
    client.post("/api/v1/chat/completions", json=chat_body(model="openai/gpt-4o"))
    info = client.get("/api/v1/key").json()["data"]
    assert info["usage"] == pytest.approx(sb.credits_used) and info["limit"] is None
    assert info["is_management_key"] is False and info["label"].startswith("sk-or-v1-")
    assert sb.key not in json.dumps(info)
    r = client.get("/api/v1/credits")
    assert r.status_code == 403
    assert r.json()["error"]["message"] == "Only management keys can perform this operation"
    data = httpx.get(sb.api_url + "/credits", headers=auth(sb.management_key)).json()["data"]
    assert data == {"total_credits": 100.0, "total_usage": pytest.approx(sb.credits_used)}
    assert httpx.get(sb.api_url + "/key", headers=auth(sb.management_key)).json()["data"]["is_management_key"]


def test_generation_readiness_and_ownership(sb: Sandbox, client: httpx.Client) -> None:
    sb.generation_ready_after = 0.3
    gen_id = client.post("/api/v1/chat/completions", json=chat_body()).json()["id"]
    r = client.get("/api/v1/generation", params={"id": gen_id})
    assert r.status_code == 404 and r.json()["error"] == {"message": "Generation not found", "code": 404}
    time.sleep(0.35)
    data = client.get("/api/v1/generation", params={"id": gen_id}).json()["data"]
    assert data["id"] == gen_id and data["cancelled"] is False and data["streamed"] is False
    assert data["total_cost"] == sb.completions[-1].usage["cost"]
    other = sb.issue_key()
    assert httpx.get(sb.api_url + "/generation", params={"id": gen_id}, headers=auth(other)).status_code == 404


# -- plumbing ----------------------------------------------------------------------------------
def test_requests_are_recorded_without_authorization(sb: Sandbox, client: httpx.Client) -> None:
    client.post("/api/v1/chat/completions?x=1", json=chat_body(), headers={"HTTP-Referer": "https://e.x/"})
    req = sb.requests[-1]
    assert (req.method, req.path, req.query) == ("POST", "/api/v1/chat/completions", {"x": "1"})
    assert req.json == chat_body()
    assert req.headers["http-referer"] == "https://e.x/" == req.headers["HTTP-Referer"]
    assert "authorization" not in req.headers and sb.key not in repr(req)
    assert sb.completions[-1].messages == chat_body()["messages"]


def test_keep_alive_connection_is_reused_across_streams(sb: Sandbox) -> None:
    with httpx.Client(base_url=sb.url, headers=auth(sb.key)) as c:
        for _ in range(3):
            with c.stream("POST", "/api/v1/chat/completions", json=chat_body(stream=True)) as r:
                r.read()
        pool = c._transport._pool  # type: ignore[attr-defined]
        assert len(pool.connections) == 1


def test_reset_restores_everything(sb: Sandbox, client: httpx.Client) -> None:
    client.post("/api/v1/chat/completions", json=chat_body())
    assert sb.credits_used > 0 and sb.completions and sb.requests
    sb.reset()
    assert sb.credits_used == 0 and not sb.completions and not sb.requests
    assert client.get("/api/v1/key").json()["data"]["usage"] == 0


def test_sandbox_imports_no_heavy_or_ui_modules() -> None:
    assert loaded_by("import edge_jupyter.sandbox, edge_jupyter.sandbox.cli",
                     ("IPython", "ipywidgets", "tornado", "jupyter_server", "pandas", "httpx",
                      "openai")) == []


def test_cli_prints_url_and_env_lines_and_serves(capsys: pytest.CaptureFixture[str]) -> None:
    stop = threading.Event()
    result: list[int] = []
    t = threading.Thread(target=lambda: result.append(cli_main(
        ["--port", "0", "--key", "sk-or-v1-" + "a" * 64, "--tokens-per-second", "0"], stop=stop)))
    t.start()
    try:
        deadline = time.monotonic() + 5
        out = ""
        while "OPENROUTER_API_KEY=" not in out and time.monotonic() < deadline:
            time.sleep(0.02)
            out += capsys.readouterr().out
        url = next(line.split("=", 1)[1] for line in out.splitlines() if line.startswith("EDGE_OPENROUTER_URL="))
        assert f"OPENROUTER_API_KEY=sk-or-v1-{'a' * 64}" in out
        r = httpx.post(url + "/api/v1/chat/completions", json=chat_body(), headers=auth("sk-or-v1-" + "a" * 64))
        assert r.status_code == 200
    finally:
        stop.set()
        t.join(5)
    assert result == [0]


def test_stop_ends_streams_in_flight() -> None:
    sandbox = Sandbox(tokens_per_second=20, answer_length=1000).start()
    try:
        with httpx.Client(base_url=sandbox.url, headers=auth(sandbox.key)) as c, \
                c.stream("POST", "/api/v1/chat/completions", json=chat_body(stream=True)) as r:
            pieces = r.iter_bytes()
            next(pieces)
            t0 = time.monotonic()
            sandbox.stop()
            with pytest.raises(httpx.HTTPError):
                for _ in pieces:
                    pass
            assert time.monotonic() - t0 < 2
    finally:
        sandbox.stop()
    assert sandbox.wait_for_completions(1)[0].cancelled
