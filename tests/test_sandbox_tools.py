"""The sandbox's function tools and web search (``sandbox/_tools.py``), over real HTTP.

Tool calls: ``tools`` / ``tool_choice`` / ``parallel_tool_calls`` and the history of tool
messages are checked (400 naming the entry or id), a model without tool use is a 404, scripted
steps (``sb.script_tools`` and its control route) and the ``[sandbox:tools=N]`` /
``[sandbox:parallel=K]`` directives make the model call tools, streamed as ``delta.tool_calls``
pieces (arguments split across chunks) or sent as ``message.tool_calls``, billed as the tokens
of their arguments; the final answer quotes the tool results. Web search: the server tool, the
``web`` plugin and ``:online`` run ``[sandbox:searches=S]`` searches (capped by ``max_uses``),
whose citations come back as ``url_citation`` annotations, billed per search. Bodies and
chunks are validated against OpenRouter's OpenAPI spec.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sandbox_fixtures import chat_body, chunks, spec_available, validate

from edge_jupyter.sandbox import MODELS, Sandbox
from edge_jupyter.sandbox._text import tokens_of
from edge_jupyter.sandbox._tools import arguments_for

pytestmark = pytest.mark.usefixtures("clean_sandbox")
needs_spec = pytest.mark.skipif(not spec_available(), reason="shared OpenAPI spec not present")

CHAT = "/api/v1/chat/completions"
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city.",
    "parameters": {"type": "object", "required": ["city", "days"],
                   "properties": {"city": {"type": "string"}, "days": {"type": "integer"},
                                  "unit": {"type": "string", "enum": ["c", "f"]}}}}}
CLOCK = {"type": "function", "function": {
    "name": "local_time", "parameters": {"type": "object", "required": ["zone", "precise"],
                                         "properties": {"zone": {"enum": ["UTC", "CET"]},
                                                        "precise": {"type": "boolean"}}}}}
FREE = "meta-llama/llama-3.1-8b-instruct:free"


def post(client: httpx.Client, body: dict[str, Any]) -> httpx.Response:
    return client.post(CHAT, json=body)


def error_of(r: httpx.Response) -> str:
    return str(r.json()["error"]["message"])


def joined_calls(chunk_list: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """The streamed tool calls joined by index, as a client must join them."""
    calls: dict[int, dict[str, Any]] = {}
    for chunk in chunk_list:
        for choice in chunk.get("choices") or []:
            for piece in choice["delta"].get("tool_calls") or []:
                call = calls.setdefault(piece["index"], {"id": None, "name": None, "arguments": "",
                                                         "pieces": []})
                call["id"] = call["id"] or piece.get("id")
                fn = piece.get("function") or {}
                call["name"] = call["name"] or fn.get("name")
                if fn.get("arguments"):
                    call["arguments"] += fn["arguments"]
                    call["pieces"].append(fn["arguments"])
    return calls


def billed(model: str, usage: dict[str, Any], searches: int = 0, per_search: str = "0") -> float:
    ep = MODELS[model].endpoints[0]
    cost = (usage["prompt_tokens"] * ep.prompt_price + usage["completion_tokens"] * ep.completion_price
            + searches * Decimal(per_search))
    return float(cost.quantize(Decimal("1e-12")))


# -- checks ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("tools", "extra", "says"), [
    ([WEATHER, {"type": "function", "function": {"name": "bad name!"}}], {}, "tools[1].function.name"),
    ([WEATHER, "get_weather"], {}, "tools[1]: a tool must be an object"),
    ([WEATHER, WEATHER], {}, "tools[1].function.name: 'get_weather' is offered twice"),
    ([{"type": "function"}], {}, "tools[0].function: required"),
    ([{"type": "code_interpreter"}], {}, "tools[0].type"),
    ([WEATHER], {"tool_choice": {"type": "function", "function": {"name": "nope"}}},
     "tool_choice.function.name: 'nope' is not one of the tools offered"),
    ([WEATHER], {"tool_choice": "sometimes"}, "tool_choice"),
    ([WEATHER], {"parallel_tool_calls": "yes"}, "parallel_tool_calls: must be a boolean"),
    ([{"type": "openrouter:web_search", "parameters": {"engine": "bing"}}], {}, "tools[0].parameters.engine"),
    ([{"type": "openrouter:web_search", "parameters": {"max_uses": 0}}], {}, "tools[0].parameters.max_uses"),
])
def test_a_malformed_tools_entry_is_a_400_naming_it(client: httpx.Client, sb: Sandbox, tools: list[Any],
                                                    extra: dict[str, Any], says: str) -> None:
    sb.script_tools([[("get_weather", {"city": "Paris", "days": 1})]])
    r = post(client, chat_body(tools=tools, **extra))
    assert r.status_code == 400 and says in error_of(r)
    assert sb.completions == [] and len(sb.tool_steps) == 1  # a refused request uses no step


def test_a_model_without_tool_use_is_a_404_but_the_web_plugin_still_serves_it(client: httpx.Client) -> None:
    assert "tools" not in MODELS[FREE].supported_parameters
    assert "tools" in MODELS["openai/gpt-4o-mini"].supported_parameters
    r = post(client, chat_body(model=FREE, tools=[WEATHER]))
    assert r.status_code == 404 and error_of(r) == "No endpoints found that support tool use"
    ok = post(client, chat_body(model=FREE, plugins=[{"id": "web"}]))
    assert ok.status_code == 200 and ok.json()["usage"]["server_tool_use_details"]["web_search_requests"] == 1


def _history(*tail: dict[str, Any]) -> list[dict[str, Any]]:
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
    return [{"role": "user", "content": "weather?"},
            {"role": "assistant", "content": None, "tool_calls": [call]}, *tail]


@pytest.mark.parametrize(("messages", "says"), [
    (_history(), "tool call 'call_1' has no tool message answering it"),
    (_history({"role": "user", "content": "and?"}), "messages[2]: tool call 'call_1' has no tool message"),
    (_history({"role": "tool", "tool_call_id": "call_9", "content": "x"}),
     "tool_call_id 'call_9', which was never called"),
    (_history({"role": "tool", "tool_call_id": "call_1", "content": "x"},
              {"role": "tool", "tool_call_id": "call_1", "content": "y"}), "'call_1', which was answered already"),
    (_history({"role": "tool", "content": "x"}), "messages[2].tool_call_id: required"),
    ([{"role": "user", "content": "hi"}, {"role": "assistant", "content": None,
                                         "tool_calls": [{"type": "function"}]}],
     "messages[1].tool_calls[0]: a tool call needs an id"),
])
def test_the_history_of_tool_messages_is_checked(client: httpx.Client, messages: list[dict[str, Any]],
                                                 says: str) -> None:
    r = post(client, {"model": "openai/gpt-4o-mini", "messages": messages, "tools": [WEATHER]})
    assert r.status_code == 400 and says in error_of(r), error_of(r)


# -- scripted steps, not streamed ----------------------------------------------------------------
@needs_spec
def test_scripted_steps_answer_with_tool_calls_then_a_final_answer_quoting_the_results(
        client: httpx.Client, sb: Sandbox) -> None:
    sb.script_tools([[("get_weather", {"city": "Paris", "days": 2}), ("local_time", {"zone": "CET"})]])
    plain = post(client, chat_body("no tools offered"))  # offers no tools: the step stays queued
    assert plain.json()["choices"][0]["finish_reason"] == "stop" and len(sb.tool_steps) == 1
    first = post(client, chat_body("weather?", tools=[WEATHER, CLOCK]))
    body = first.json()
    validate(body, "ChatResult")
    choice = body["choices"][0]
    assert choice["finish_reason"] == choice["native_finish_reason"] == "tool_calls"
    message = choice["message"]
    assert message["content"] is None
    calls = message["tool_calls"]
    for call in calls:
        validate(call, "ChatToolCall")
        assert re.fullmatch(r"call_[0-9a-f]{24}", call["id"])
    assert [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in calls] == [
        ("get_weather", {"city": "Paris", "days": 2}), ("local_time", {"zone": "CET"})]
    arguments_tokens = sum(len(tokens_of(c["function"]["arguments"])) for c in calls)
    assert body["usage"]["completion_tokens"] == arguments_tokens
    assert body["usage"]["cost"] == billed("openai/gpt-4o-mini", body["usage"])
    record = sb.completions[-1]
    assert record.tool_calls == [{"id": c["id"], "name": c["function"]["name"],
                                  "arguments": c["function"]["arguments"]} for c in calls]
    assert record.text == "" and record.finish_reason == "tool_calls" and sb.tool_steps == []

    history = [{"role": "user", "content": "weather?"},
               {"role": "assistant", "content": None, "tool_calls": calls},
               {"role": "tool", "tool_call_id": calls[0]["id"], "content": "18°C, sunny " + "x" * 300},
               {"role": "tool", "tool_call_id": calls[1]["id"], "content": "14:05"}]
    for m in history[2:]:
        validate(m, "ChatToolMessage")
    final = post(client, {"model": "openai/gpt-4o-mini", "messages": history, "tools": [WEATHER, CLOCK]})
    text = final.json()["choices"][0]["message"]["content"]
    assert text.startswith("Tool results: 18°C, sunny " + "x" * 188 + "; 14:05. ")
    assert final.json()["choices"][0]["finish_reason"] == "stop" and sb.completions[-1].tool_calls == []
    # the tools and the calls in the history are prompt tokens too
    assert final.json()["usage"]["prompt_tokens"] > post(client, {
        "model": "openai/gpt-4o-mini", "messages": history[:1]}).json()["usage"]["prompt_tokens"] + 60


def test_an_empty_step_answers_and_is_used_up_and_reset_clears_the_queue(client: httpx.Client,
                                                                       sb: Sandbox) -> None:
    sb.script_tools([[], [("get_weather", {"city": "Oslo", "days": 1})], [("x", {})]])
    r = post(client, chat_body(tools=[WEATHER]))
    assert r.json()["choices"][0]["finish_reason"] == "stop" and len(sb.tool_steps) == 2
    r = post(client, chat_body(tools=[WEATHER], parallel_tool_calls=False))
    assert r.json()["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "get_weather"
    sb.reset()
    assert sb.tool_steps == []
    with pytest.raises(TypeError):
        sb.script_tools([[("get_weather", "not a dict")]])  # type: ignore[list-item]


def test_the_control_route_scripts_steps_for_another_process(sb: Sandbox) -> None:
    with httpx.Client(base_url=sb.url, timeout=10) as c:
        r = c.post("/_sandbox/script_tools", json={"steps": [[["get_weather", {"city": "Rome"}]]]})
        assert r.status_code == 200 and r.json() == {"steps": [[["get_weather", {"city": "Rome"}]]]}
        assert sb.tool_steps == [[("get_weather", {"city": "Rome"})]]
        bad = c.post("/_sandbox/script_tools", json={"steps": [[["bad name", {}]]]})
        assert bad.status_code == 400 and "not a valid function name" in error_of(bad)
        assert c.get("/_sandbox/script_tools").json()["steps"] == [[["get_weather", {"city": "Rome"}]]]


# -- directives, streamed ---------------------------------------------------------------------------
@needs_spec
def test_directed_steps_stream_tool_calls_in_pieces_then_answer(client: httpx.Client, sb: Sandbox) -> None:
    prompt = "plan my day [sandbox:tools=2] [sandbox:parallel=2]"
    messages: list[dict[str, Any]] = [{"role": "user", "content": prompt}]
    for step in (1, 2):
        r = post(client, {"model": "openai/gpt-4o-mini", "messages": messages, "stream": True,
                          "tools": [WEATHER, CLOCK]})
        got = chunks(r.text)
        for chunk in got:
            validate(chunk, "ChatStreamChunk")
        calls = joined_calls(got)
        assert sorted(calls) == [0, 1]
        assert [calls[0]["name"], calls[1]["name"]] == ["get_weather", "local_time"]
        assert json.loads(calls[0]["arguments"]) == {"city": "sandbox", "days": step}
        assert json.loads(calls[1]["arguments"]) == {"zone": "UTC", "precise": True}
        for call in calls.values():
            assert re.fullmatch(r"call_[0-9a-f]{24}", call["id"])
            assert len(call["pieces"]) >= 3 and all(1 <= len(p) <= 7 for p in call["pieces"])
        finish = [c["choices"][0] for c in got if c.get("choices") and c["choices"][0]["finish_reason"]]
        assert [(f["finish_reason"], f["native_finish_reason"]) for f in finish] == [("tool_calls", "tool_calls")]
        usage = got[-1]["usage"]
        assert usage["completion_tokens"] == sum(len(tokens_of(c["arguments"])) for c in calls.values())
        assert usage["cost"] == billed("openai/gpt-4o-mini", usage)
        assert sb.completions[-1].tool_calls == [
            {"id": c["id"], "name": c["name"], "arguments": c["arguments"]} for c in calls.values()]
        wire = [{"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
                for c in calls.values()]
        messages += [{"role": "assistant", "content": None, "tool_calls": wire},
                     *({"role": "tool", "tool_call_id": c["id"], "content": f"r{step}{i}"}
                       for i, c in enumerate(calls.values()))]
    r = post(client, {"model": "openai/gpt-4o-mini", "messages": messages, "stream": True,
                      "tools": [WEATHER, CLOCK]})
    got = chunks(r.text)
    assert joined_calls(got) == {}
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in got if c.get("choices"))
    assert text.startswith("Tool results: r10; r11; r20; r21. ")


def test_tool_choice_none_required_named_and_no_parallel(client: httpx.Client) -> None:
    directed = chat_body("go [sandbox:tools=1] [sandbox:parallel=2]", tools=[WEATHER, CLOCK])
    none = post(client, {**directed, "tool_choice": "none"}).json()["choices"][0]
    assert none["finish_reason"] == "stop" and "tool_calls" not in none["message"]
    single = post(client, {**directed, "parallel_tool_calls": False}).json()["choices"][0]["message"]
    assert len(single["tool_calls"]) == 1
    forced = post(client, chat_body("no directive", tools=[WEATHER, CLOCK], tool_choice="required"))
    assert forced.json()["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "get_weather"
    named = post(client, chat_body("no directive", tools=[WEATHER, CLOCK],
                                   tool_choice={"type": "function", "function": {"name": "local_time"}}))
    assert named.json()["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "local_time"
    auto = post(client, chat_body("no directive", tools=[WEATHER], tool_choice="auto")).json()["choices"][0]
    assert auto["finish_reason"] == "stop"


def test_arguments_come_from_the_required_properties_of_the_schema() -> None:
    schema = {"name": "f", "parameters": {"type": "object", "required": ["s", "i", "n", "b", "e", "a", "o", "u"],
              "properties": {"s": {"type": "string"}, "i": {"type": "integer"}, "n": {"type": "number"},
                             "b": {"type": "boolean"}, "e": {"enum": [3, 4]}, "a": {"type": "array"},
                             "o": {"type": "object"}, "u": {"anyOf": [{"type": "null"}, {"type": "integer"}]},
                             "optional": {"type": "string"}}}}
    assert arguments_for(schema, 4) == {"s": "sandbox", "i": 4, "n": 1.5, "b": True, "e": 3, "a": [], "o": {},
                                        "u": 4}
    assert arguments_for({"name": "g"}, 1) == {}


# -- web search -----------------------------------------------------------------------------------
@needs_spec
def test_web_search_returns_citations_and_bills_each_search(client: httpx.Client, sb: Sandbox) -> None:
    sb.generation_ready_after = 0
    web = {"type": "openrouter:web_search", "parameters": {"max_results": 2, "max_uses": 2}}
    r = post(client, chat_body("Paris weather [sandbox:searches=3]", model="openai/gpt-4o", tools=[web]))
    body = r.json()
    validate(body, "ChatResult")
    message = body["choices"][0]["message"]
    notes = message["annotations"]
    assert len(notes) == 4  # two searches (max_uses), two citations each (max_results)
    for n, note in enumerate(notes, 1):
        cite = note["url_citation"]
        assert note["type"] == "url_citation" and cite["url"] == f"https://example.org/sandbox/paris-{n}"
        validate({"type": "url_citation", **cite}, "URLCitation")
        assert message["content"][cite["start_index"]:cite["end_index"]] == f"[{n}]"
    usage = body["usage"]
    validate(usage["server_tool_use_details"], "ServerToolUseDetails")
    assert usage["server_tool_use_details"] == {"web_search_requests": 2, "tool_calls_requested": 2,
                                                "tool_calls_executed": 2}
    assert MODELS["openai/gpt-4o"].pricing["web_search"] == "0.01"
    assert usage["cost"] == billed("openai/gpt-4o", usage, 2, "0.01")
    record = sb.completions[-1]
    assert record.web_searches == 2 and record.citations == notes
    gen = client.get("/api/v1/generation", params={"id": body["id"]}).json()
    validate(gen, "GenerationResponse")
    assert gen["data"]["total_cost"] == usage["cost"] and gen["data"]["num_search_results"] == 4
    assert gen["data"]["server_tool_use_details"]["web_search_requests"] == 2


@needs_spec
def test_streamed_citations_ride_on_the_last_content_chunk(client: httpx.Client) -> None:
    r = post(client, chat_body("Rome news", stream=True, tools=[{"type": "openrouter:web_search"}]))
    got = chunks(r.text)
    for chunk in got:
        validate(chunk, "ChatStreamChunk")
    content = [c for c in got if c.get("choices") and c["choices"][0]["delta"].get("content")]
    with_notes = [c for c in got if c.get("choices") and "annotations" in c["choices"][0]["delta"]]
    assert with_notes == [content[-1]]
    notes = with_notes[0]["choices"][0]["delta"]["annotations"]
    assert [n["url_citation"]["url"] for n in notes] == [f"https://example.org/sandbox/rome-{n}" for n in (1, 2, 3)]
    usage = got[-1]["usage"]
    assert usage["server_tool_use_details"]["web_search_requests"] == 1
    assert usage["cost"] == billed("openai/gpt-4o-mini", usage, 1, "0.007")  # no model price: auto → 0.007


@pytest.mark.parametrize(("model", "web", "per_search"), [
    ("openai/gpt-4o-mini", {"type": "openrouter:web_search", "parameters": {"engine": "exa"}}, "0.007"),
    ("openai/gpt-4o-mini", {"type": "openrouter:web_search", "parameters": {"engine": "perplexity"}}, "0.005"),
    ("openai/gpt-4o-mini", {"type": "openrouter:web_search", "parameters": {"engine": "parallel"}}, "0.005"),
    ("openai/gpt-4o-mini", {"type": "openrouter:web_search", "parameters": {"engine": "native"}}, "0.007"),
    ("mistralai/mistral-small-3.1-24b-instruct", {"type": "openrouter:web_search",
                                                  "parameters": {"engine": "exa"}}, "0.004"),
])
def test_the_price_per_search_is_the_models_else_the_engines(client: httpx.Client, model: str,
                                                             web: dict[str, Any], per_search: str) -> None:
    usage = post(client, chat_body("q [sandbox:searches=2]", model=model, tools=[web])).json()["usage"]
    assert usage["cost"] == billed(model, usage, 2, per_search)


def test_the_web_plugin_and_the_online_suffix_search_too(client: httpx.Client, sb: Sandbox) -> None:
    online = post(client, chat_body("Oslo", model="openai/gpt-4o:online")).json()
    assert online["model"] == "openai/gpt-4o" and len(online["choices"][0]["message"]["annotations"]) == 3
    assert sb.completions[-1].model == "openai/gpt-4o" and sb.completions[-1].web_searches == 1
    plugin = post(client, chat_body("Oslo [sandbox:searches=2]",
                                    plugins=[{"id": "web", "max_results": 1, "engine": "exa"}])).json()
    assert len(plugin["choices"][0]["message"]["annotations"]) == 2
    assert plugin["usage"]["cost"] == billed("openai/gpt-4o-mini", plugin["usage"], 2, "0.007")
    off = post(client, chat_body("Oslo", plugins=[{"id": "web", "enabled": False}])).json()
    assert "annotations" not in off["choices"][0]["message"] and "server_tool_use_details" not in off["usage"]
    none = post(client, chat_body("Oslo [sandbox:searches=0]", tools=[{"type": "openrouter:web_search"}])).json()
    assert "annotations" not in none["choices"][0]["message"] and sb.completions[-1].web_searches == 0


def test_max_tokens_cuts_the_arguments_and_bills_no_more_than_the_cap(client: httpx.Client,
                                                                     sb: Sandbox) -> None:
    full = json.dumps({"city": "Paris", "days": 2})
    sb.script_tools([[("get_weather", {"city": "Paris", "days": 2}), ("local_time", {"zone": "CET"})]])
    body = post(client, chat_body(tools=[WEATHER, CLOCK], max_tokens=4)).json()
    choice = body["choices"][0]
    assert choice["finish_reason"] == "length" and body["usage"]["completion_tokens"] == 4
    calls = choice["message"]["tool_calls"]
    assert len(calls) == 1 and full.startswith(calls[0]["function"]["arguments"])
    assert calls[0]["function"]["arguments"] != full


@needs_spec
def test_a_reasoning_model_reasons_then_streams_its_calls(client: httpx.Client, sb: Sandbox) -> None:
    r = post(client, {"model": "deepseek/deepseek-r1", "stream": True, "tools": [WEATHER],
                      "messages": [{"role": "user", "content": "go [sandbox:tools=1]"}]})
    got = chunks(r.text)
    for chunk in got:
        validate(chunk, "ChatStreamChunk")
    kinds = ["reasoning" if c["choices"][0]["delta"].get("reasoning") else
             "call" if c["choices"][0]["delta"].get("tool_calls") else "other"
             for c in got if c.get("choices")]
    assert kinds.index("call") > max(i for i, k in enumerate(kinds) if k == "reasoning")
    record = sb.completions[-1]
    usage = got[-1]["usage"]
    assert usage["completion_tokens"] == usage["completion_tokens_details"]["reasoning_tokens"] + len(
        tokens_of(record.tool_calls[0]["arguments"]))
    assert record.reasoning and record.finish_reason == "tool_calls"


def test_the_reservation_includes_the_searches(sb: Sandbox) -> None:
    key = sb.issue_key(limit=0.005)  # the tokens fit, one $0.007 search does not
    with httpx.Client(base_url=sb.url, headers={"Authorization": f"Bearer {key}"}, timeout=10) as c:
        plain = post(c, chat_body(max_tokens=10))
        assert plain.status_code == 200
        searched = post(c, chat_body(max_tokens=10, tools=[{"type": "openrouter:web_search"}]))
        assert searched.status_code == 402


def test_the_openai_sdk_joins_the_streamed_calls_and_sends_the_results_back(sb: Sandbox) -> None:
    openai = pytest.importorskip("openai")
    sdk = openai.OpenAI(base_url=sb.api_url, api_key=sb.key, max_retries=0)
    ask = [{"role": "user", "content": "go [sandbox:tools=1] [sandbox:parallel=2]"}]
    joined: dict[int, dict[str, str]] = {}
    finish = None
    for chunk in sdk.chat.completions.create(model="openai/gpt-4o-mini", messages=ask, tools=[WEATHER, CLOCK],
                                             stream=True):
        choice = chunk.choices[0] if chunk.choices else None
        for piece in (choice.delta.tool_calls or []) if choice else []:
            call = joined.setdefault(piece.index, {"id": "", "name": "", "arguments": ""})
            call["id"] = call["id"] or piece.id or ""
            call["name"] = call["name"] or (piece.function.name if piece.function else "") or ""
            call["arguments"] += (piece.function.arguments if piece.function else "") or ""
        finish = (choice.finish_reason if choice else None) or finish
    assert finish == "tool_calls" and [c["name"] for c in joined.values()] == ["get_weather", "local_time"]
    assert sb.completions[-1].tool_calls == list(joined.values())
    history = [*ask, {"role": "assistant", "content": None, "tool_calls": [
        {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
        for c in joined.values()]}, *({"role": "tool", "tool_call_id": c["id"], "content": f"result {i}"}
                                      for i, c in enumerate(joined.values()))]
    final = sdk.chat.completions.create(model="openai/gpt-4o-mini", messages=history, tools=[WEATHER, CLOCK])
    assert (final.choices[0].message.content or "").startswith("Tool results: result 0; result 1. ")
