"""The client reads tool calls, citations and web searches (issue 16): streamed
``delta.tool_calls`` pieces joined by index, ``message.tool_calls``, ``url_citation``
annotations in both shapes (http and https only, one per URL), and
``usage.server_tool_use_details``.  Hostile shapes come from a raw local HTTP server that
serves crafted bytes exactly (a stand-in for a broken OpenRouter, as the sandbox's faults
are); the well-formed shapes also come from the real sandbox, end to end.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from edge_jupyter.calls import RunningCall
from edge_jupyter.openrouter import (
    Citation,
    OpenRouterClient,
    RetryPolicy,
    TextDelta,
    ToolCall,
    ToolCallDelta,
)
from edge_jupyter.record import CallRecord

KEY = "sk-or-v1-" + "0123456789abcdef" * 4
BODY = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "weather?"}],
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]}
WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {}}}


class RawServer:
    """Answers each POST with the next queued (content type, body bytes), as they are."""

    def __init__(self) -> None:
        self.queue: list[tuple[str, bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                kind, body = outer.queue.pop(0)
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.end_headers()  # HTTP/1.0: the body ends when the connection closes
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def sse(self, *chunks: dict[str, Any] | str, done: bool = True) -> None:
        """Queue a stream: each chunk one ``data:`` event (a str is sent as it is)."""
        lines = [f"data: {c if isinstance(c, str) else json.dumps(c)}\n\n" for c in chunks]
        self.queue.append(("text/event-stream", ("".join(lines) + ("data: [DONE]\n\n" if done else ""))
                           .encode()))

    def json(self, payload: dict[str, Any]) -> None:
        self.queue.append(("application/json", json.dumps(payload).encode()))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def raw() -> Iterator[RawServer]:
    server = RawServer()
    yield server
    server.close()


def client_for(url: str) -> OpenRouterClient:
    return OpenRouterClient(KEY, origin=url, retry=RetryPolicy(max_retries=0))


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **top: Any) -> dict[str, Any]:
    return {"id": "gen-raw-1", "model": "openai/gpt-4o-mini", **top,
            "choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish}]}


def piece(index: Any, arguments: Any = None, **first: Any) -> dict[str, Any]:
    """One ``delta.tool_calls`` entry: ``first`` holds id/name for an index's first piece."""
    out: dict[str, Any] = {"index": index}
    function: dict[str, Any] = {}
    if "id" in first:
        out["id"] = first.pop("id")
        out["type"] = "function"
    if "name" in first:
        function["name"] = first.pop("name")
    if arguments is not None:
        function["arguments"] = arguments
    out["function"] = function
    return out


def calls(*pieces: dict[str, Any]) -> dict[str, Any]:
    return chunk({"tool_calls": list(pieces)})


USAGE = {"id": "gen-raw-1", "choices": [], "usage": {
    "prompt_tokens": 12, "completion_tokens": 9, "total_tokens": 21, "cost": 0.00021}}
FINISH = chunk(finish="tool_calls")


def stream(server: RawServer) -> tuple[Any, list[Any]]:
    s = client_for(server.url).stream_chat(BODY)
    return s, list(s)


# -- streamed tool calls ---------------------------------------------------------------------------


def test_arguments_split_across_chunks_are_joined_in_order_and_the_answer_is_complete(raw):
    raw.sse(chunk({"role": "assistant", "content": ""}),
            calls(piece(0, "", id="call_abc", name="get_weather")),
            calls(piece(0, '{"ci')), calls(piece(0, 'ty": "Pa')), calls(piece(0, 'ris"}')),
            FINISH, USAGE)
    s, events = stream(raw)
    c = s.completion
    assert c.tool_calls == [ToolCall(id="call_abc", name="get_weather", arguments='{"city": "Paris"}')]
    assert (c.text, c.finish_reason, c.notes) == ("", "tool_calls", [])
    assert c.usage is not None and c.usage.cost == 0.00021
    pieces = [e for e in events if isinstance(e, ToolCallDelta)]
    assert "".join(e.arguments for e in pieces) == '{"city": "Paris"}'
    assert {(e.index, e.name) for e in pieces} == {(0, "get_weather")}
    assert not [e for e in events if isinstance(e, TextDelta)]
    assert c.tool_calls[0].to_json() == {"id": "call_abc", "type": "function", "function": {
        "name": "get_weather", "arguments": '{"city": "Paris"}'}}


def test_parallel_calls_interleaved_keep_their_own_arguments_in_first_seen_order(raw):
    raw.sse(calls(piece(1, '{"a"', id="call_b", name="second"), piece(0, "", id="call_a", name="first")),
            calls(piece(0, '{"x": 1')), calls(piece(1, ": 2}"), piece(0, "}")),
            calls(piece(2, "{}", id="call_c", name="third")), FINISH, USAGE)
    s, _ = stream(raw)
    assert s.completion.tool_calls == [ToolCall("call_b", "second", '{"a": 2}'),
                                       ToolCall("call_a", "first", '{"x": 1}'),
                                       ToolCall("call_c", "third", "{}")]
    assert s.completion.notes == []


def test_a_missing_or_repeated_id_is_made_up_uniquely_and_said(raw):
    raw.sse(calls(piece(0, "{}", name="first")), calls(piece(1, "{}", id="call_0", name="second")),
            calls(piece(2, "{}", id="call_0", name="third")), FINISH, USAGE)
    s, _ = stream(raw)
    ids = [call.id for call in s.completion.tool_calls]
    assert len(set(ids)) == 3 and ids[1] == "call_0" and all(i.startswith("call_") for i in ids)
    assert s.completion.notes == ["A tool call came without an id (or with a repeated one); "
                                  "edge_jupyter gave it one."]


def test_odd_shapes_are_survived_and_said_once_each(raw):
    raw.sse(calls(piece(0, '{"q": ', id="call_1", name="search")),
            calls(piece(0, 42), piece(0, '"x"', name="other"), "not a piece"),
            chunk({"tool_calls": {"index": 0, "function": {"arguments": "}"}}}),
            calls({"index": True, "id": "call_2", "function": {"name": "second", "arguments": "{}"}}),
            calls({"index": "0", "function": "not an object"}),
            calls({"index": 5, "id": "call_9", "function": {"arguments": {"k": "v"}}}),
            FINISH, USAGE)
    s, _ = stream(raw)
    c = s.completion
    assert c.tool_calls == [ToolCall("call_1", "search", '{"q": "x"}'),
                            ToolCall("call_2", "second", "{}"),
                            ToolCall("call_9", "", '{"k": "v"}')]
    assert c.notes == [
        "A tool call's arguments were not text; that piece was skipped.",
        "The server changed a tool call's function name midway; the first one was kept.",
        "A tool call piece that was not an object was skipped.",
        "A tool call piece came without a whole-number index; it was joined to the call its id "
        "names, or to the latest call.",
        "A tool call came without a function name.",
    ]


def test_a_flood_of_argument_pieces_is_cut_at_one_megabyte_and_said(raw):
    block = "x" * 65_536
    raw.sse(calls(piece(0, '"', id="call_1", name="f")), *[calls(piece(0, block)) for _ in range(20)],
            FINISH, USAGE)
    s, _ = stream(raw)
    (call,) = s.completion.tool_calls
    assert len(call.arguments) == 1 << 20 and call.arguments.startswith('"x')
    assert s.completion.notes == ["A tool call's arguments were over 1 MB; the rest was dropped."]


def test_absurdly_many_calls_are_capped_and_said(raw):
    raw.sse(calls(*[piece(i, "{}", id=f"call_{i}", name="f") for i in range(300)]), FINISH, USAGE)
    s, _ = stream(raw)
    assert [c.id for c in s.completion.tool_calls] == [f"call_{i}" for i in range(128)]
    assert s.completion.notes == ["The server sent more than 128 tool calls; the rest were dropped."]


def test_text_and_a_call_in_one_chunk_both_arrive(raw):
    """A chunk with text and a call piece must not take the quick text-only path."""
    raw.sse(chunk({"role": "assistant", "content": "Let me check. "}),
            chunk({"content": "One moment.", "tool_calls": [piece(0, "{}", id="call_1", name="f")]}),
            FINISH, USAGE)
    s, events = stream(raw)
    assert s.completion.text == "Let me check. One moment."
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == s.completion.text
    assert s.completion.tool_calls == [ToolCall("call_1", "f", "{}")]


def test_a_tool_call_answer_without_done_or_usage_is_still_complete_for_the_call_engine(raw):
    """finish_reason "tool_calls" and no text: a normal, complete answer (status ok)."""
    raw.sse(calls(piece(0, '{"city": "Oslo"}', id="call_1", name="get_weather")), FINISH, done=False)
    record = CallRecord(model="openai/gpt-4o-mini")
    call = RunningCall(record, BODY)
    call.run(client_for(raw.url))
    record = call.finish_record(None)
    assert call.error is None, call.error
    assert (record.status, record.text, record.finish_reason) == ("ok", "", "tool_calls")
    assert call.completion is not None
    assert call.completion.tool_calls == [ToolCall("call_1", "get_weather", '{"city": "Oslo"}')]


# -- citations and web searches ----------------------------------------------------------------------

NESTED = {"type": "url_citation", "url_citation": {
    "url": "https://example.org/a", "title": "A page", "content": "About a", "start_index": 0,
    "end_index": 5}}
FLAT = {"type": "url_citation", "url": "http://example.net/b", "title": "B page"}
HOSTILE = [
    {"type": "url_citation", "url_citation": {"url": "javascript:alert(1)", "title": "x"}},
    {"type": "url_citation", "url": "data:text/html,<script>alert(1)</script>"},
    {"type": "url_citation", "url": " https://example.org/leading-space"},
    {"type": "url_citation", "url": "java\tscript:alert(1)"},
    {"type": "url_citation", "url": "https:no-host"},
    {"type": "url_citation", "url": ["https://example.org/list"]},
]


def test_streamed_citations_both_shapes_deduplicated_http_only_and_the_text_whole(raw):
    raw.sse(chunk({"role": "assistant", "content": "Paris [1]"}),
            # the last content chunk carries the annotations: its text must not be lost either
            chunk({"content": " and [2].", "annotations": [NESTED, FLAT, *HOSTILE]}),
            chunk({"annotations": [dict(NESTED), {"type": "file", "file": {}},
                                   {"type": "url_citation", "url_citation": {
                                       "url": "HTTPS://EXAMPLE.COM/c", "title": f"key {KEY}",
                                       "start_index": -1, "end_index": "9"}}]}),
            chunk(finish="stop"), USAGE)
    s, events = stream(raw)
    c = s.completion
    assert c.text == "Paris [1] and [2]."
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == c.text
    assert c.annotations[:2] == [
        Citation("https://example.org/a", "A page", "About a", 0, 5),
        Citation("http://example.net/b", "B page")]
    (third,) = c.annotations[2:]
    assert third.url == "HTTPS://EXAMPLE.COM/c" and KEY[9:] not in third.title
    assert (third.start_index, third.end_index) == (None, None)
    assert c.notes == ["A citation whose link is not a plain http(s) URL was dropped."]


def test_a_flood_of_citations_is_capped_and_long_texts_cut(raw):
    many = [{"type": "url_citation", "url": f"https://example.org/{n}", "title": "t" * 600,
             "content": "c" * 5000} for n in range(500)]  # two chunks, each under the line cap
    raw.sse(chunk({"content": "x", "annotations": many[:250]}),
            chunk({"annotations": many[250:]}), chunk(finish="stop"), USAGE)
    s, _ = stream(raw)
    c = s.completion
    assert [a.url for a in c.annotations] == [f"https://example.org/{n}" for n in range(200)]
    assert len(c.annotations[0].title) == 500 and c.annotations[0].title.endswith("…")
    assert len(c.annotations[0].content) == 4000
    assert c.notes == ["The server sent more than 200 citations; the rest were dropped."]


def test_web_searches_come_from_server_tool_use_details_and_an_impossible_count_is_unknown(raw):
    usage = {**USAGE["usage"], "server_tool_use_details": {
        "web_search_requests": 2, "tool_calls_requested": 2, "tool_calls_executed": 2}}
    raw.sse(chunk({"content": "hi"}), chunk(finish="stop"), {"choices": [], "usage": usage})
    s, _ = stream(raw)
    assert s.completion.usage is not None and s.completion.usage.web_searches == 2
    raw.sse(chunk({"content": "hi"}), chunk(finish="stop"), {"choices": [], "usage": {
        **USAGE["usage"], "server_tool_use_details": {"web_search_requests": -3}}})
    s, _ = stream(raw)
    assert s.completion.usage is None
    assert s.completion.notes == ["OpenRouter sent an impossible web search count "
                                  "(web_search_requests = -3): it was not recorded, and the exact "
                                  "cost is read from /generation instead."]
    raw.sse(chunk({"content": "hi"}), chunk(finish="stop"), {"choices": [], "usage": {
        **USAGE["usage"], "server_tool_use_details": "odd"}})
    s, _ = stream(raw)
    assert s.completion.usage is not None and s.completion.usage.web_searches == 0


def test_non_streamed_tool_calls_citations_and_searches(raw):
    raw.json({"id": "gen-raw-2", "model": "openai/gpt-4o-mini", "choices": [{
        "index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": None,
            "tool_calls": [
                {"id": "call_x", "type": "function",
                 "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'}},
                {"type": "function", "function": {"name": "get_time", "arguments": {"tz": "CET"}}},
                "junk"],
            "annotations": [NESTED, FLAT, NESTED, *HOSTILE]}}],
        "usage": {**USAGE["usage"], "server_tool_use_details": {"web_search_requests": 1}}})
    c = client_for(raw.url).complete(BODY)
    assert (c.text, c.finish_reason) == ("", "tool_calls")
    assert c.tool_calls == [ToolCall("call_x", "get_weather", '{"city": "Rome"}'),
                            ToolCall("call_1", "get_time", '{"tz": "CET"}')]
    assert [a.url for a in c.annotations] == ["https://example.org/a", "http://example.net/b"]
    assert c.usage is not None and c.usage.web_searches == 1
    assert c.notes == ["A tool call piece that was not an object was skipped.",
                       "A tool call came without an id (or with a repeated one); edge_jupyter gave it one.",
                       "A citation whose link is not a plain http(s) URL was dropped."]


# -- end to end: the real sandbox ----------------------------------------------------------------------

CLOCK = {"type": "function", "function": {"name": "local_time", "parameters": {
    "type": "object", "properties": {"zone": {"type": "string"}}, "required": ["zone"]}}}
WEB = {"type": "openrouter:web_search", "parameters": {"max_results": 2}}


def sandbox_client(sb) -> OpenRouterClient:
    return OpenRouterClient(sb.key, origin=sb.url, retry=RetryPolicy(max_retries=0))


def answer(client: OpenRouterClient, body: dict[str, Any], streamed: bool) -> Any:
    if not streamed:
        return client.complete(body)
    s = client.stream_chat(body)
    list(s)
    return s.completion


@pytest.mark.parametrize("streamed", [True, False], ids=["streamed", "whole"])
def test_the_sandboxs_tool_calls_are_read_as_sent_and_go_back_as_the_next_turn(sb, streamed):
    sb.script_tools([[("get_weather", {"city": "Paris", "days": 2}), ("local_time", {"zone": "CET"})]])
    client = sandbox_client(sb)
    messages: list[dict[str, Any]] = [{"role": "user", "content": "weather and time?"}]
    body = {"model": "openai/gpt-4o-mini", "messages": messages, "tools": [WEATHER, CLOCK]}
    c = answer(client, body, streamed)
    (sent,) = sb.completions
    assert len(sent.tool_calls) == 2  # streamed: arguments in 1-7 character pieces
    assert [(t.id, t.name, t.arguments) for t in c.tool_calls] == [
        (t["id"], t["name"], t["arguments"]) for t in sent.tool_calls]
    assert json.loads(c.tool_calls[0].arguments) == {"city": "Paris", "days": 2}
    assert (c.text, c.finish_reason, c.notes) == ("", "tool_calls", [])
    assert c.usage is not None and c.usage.cost == sent.cost
    # the calls as the next request carries them: the sandbox checks every id is answered
    messages += [{"role": "assistant", "content": None, "tool_calls": [t.to_json() for t in c.tool_calls]},
                 {"role": "tool", "tool_call_id": c.tool_calls[0].id, "content": "18°C"},
                 {"role": "tool", "tool_call_id": c.tool_calls[1].id, "content": "14:05"}]
    final = answer(client, body, streamed)
    assert final.text.startswith("Tool results: 18°C; 14:05. ") and final.tool_calls == []
    assert final.finish_reason == "stop"


def test_a_streamed_tool_step_from_the_sandbox_is_an_ok_call_with_its_exact_cost(sb):
    sb.script_tools([[("get_weather", {"city": "Oslo"})]])
    record = CallRecord(model="openai/gpt-4o-mini")
    call = RunningCall(record, {"model": "openai/gpt-4o-mini", "tools": [WEATHER],
                                "messages": [{"role": "user", "content": "weather?"}]})
    client = sandbox_client(sb)
    call.run(client)
    record = call.finish_record(client)
    (sent,) = sb.completions
    assert call.error is None, call.error
    assert (record.status, record.text, record.finish_reason) == ("ok", "", "tool_calls")
    assert record.cost_usd == sent.cost > 0 and record.completion_tokens == sent.usage["completion_tokens"]
    assert [t.arguments for t in call.completion.tool_calls] == [sent.tool_calls[0]["arguments"]]


@pytest.mark.parametrize("streamed", [True, False], ids=["streamed", "whole"])
def test_the_sandboxs_web_search_gives_citations_and_the_number_of_searches(sb, streamed):
    body = {"model": "openai/gpt-4o", "tools": [WEB],
            "messages": [{"role": "user", "content": "Paris weather [sandbox:searches=2]"}]}
    c = answer(sandbox_client(sb), body, streamed)
    (sent,) = sb.completions
    assert sent.web_searches == 2 and len(sent.citations) == 4
    assert c.annotations == [Citation(url=n["url_citation"]["url"], title=n["url_citation"]["title"],
                                      content=n["url_citation"]["content"],
                                      start_index=n["url_citation"]["start_index"],
                                      end_index=n["url_citation"]["end_index"])
                             for n in sent.citations]
    assert all(a.url.startswith("https://example.org/sandbox/") for a in c.annotations)
    assert c.usage is not None and c.usage.web_searches == 2 and c.usage.cost == sent.cost
    assert "[1]" in c.text and c.text == sent.text and c.notes == []


def test_parallel_calls_directed_in_the_prompt_are_read_whole_and_in_order(sb):
    body = {"model": "openai/gpt-4o-mini", "tools": [WEATHER, CLOCK], "messages": [
        {"role": "user", "content": "plan my day [sandbox:tools=1] [sandbox:parallel=3]"}]}
    c = answer(sandbox_client(sb), body, True)
    (sent,) = sb.completions
    assert len(c.tool_calls) == 3 and len({t.id for t in c.tool_calls}) == 3
    assert [t.to_json() for t in c.tool_calls] == [
        {"id": t["id"], "type": "function", "function": {"name": t["name"], "arguments": t["arguments"]}}
        for t in sent.tool_calls]
    assert all(isinstance(json.loads(t.arguments), dict) for t in c.tool_calls) and c.notes == []
