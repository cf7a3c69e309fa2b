"""Caches that make calls cheaper, against the real sandbox: OpenRouter's response cache
(``--or-cache`` / ``or_cache=`` / ``EdgeMagics.openrouter_cache``), a named chat's sticky
``session_id`` and the provider's prompt cache it keeps warm, ``--cache-prompt``'s
``cache_control`` breakpoints, and the cost line's cached tokens and savings.
"""

from __future__ import annotations

import pytest
from sandbox_fixtures import generation, validate

import edge_jupyter as edge
from edge_jupyter.answer_format import cost_line_text
from edge_jupyter.money import exact_usd
from edge_jupyter.sandbox import Fault

MODEL = "openai/gpt-4o-mini"  # caches long prompts on its own (input_cache_read: half price)
CLAUDE = "anthropic/claude-3.5-haiku"  # caches only what cache_control marks
LONG = "The quarterly report says revenue grew in every region. " * 90  # ≈ 5,000 characters


def chat_requests(sb) -> list:
    return [q for q in sb.requests if q.path.endswith("/chat/completions")]


def breakpoints(body: dict) -> list[tuple[int, str]]:
    """(message index, role) of every content part that carries cache_control."""
    return [(i, m["role"]) for i, m in enumerate(body["messages"]) if isinstance(m["content"], list)
            for p in m["content"] if "cache_control" in p]


# -- OpenRouter's response cache ------------------------------------------------------------

def test_an_openrouter_cache_hit_costs_nothing_its_row_is_0_and_the_cost_line_says_so(edge_env, sb):
    first = edge.ask("Name a colour", model=MODEL, or_cache=True)
    again = edge.ask("Name a colour", model=MODEL, or_cache=True)
    sent = chat_requests(sb)
    assert [q.headers.get("X-OpenRouter-Cache") for q in sent] == ["true", "true"]
    assert not first.openrouter_cache and first.cost_usd == sb.completions[0].usage["cost"] > 0
    assert again.openrouter_cache and again.text == first.text
    assert sb.completions[-1].usage["cost"] == 0 and again.cost_usd == 0
    assert cost_line_text(again).startswith("💰 $0 · OpenRouter cache · ")
    assert "OpenRouter cache" not in cost_line_text(first)
    ledger = edge.usage("all")
    assert list(ledger["cost_usd"]) == [first.cost_usd, 0.0]
    assert list(ledger["status"]) == ["ok", "ok"]
    assert generation(sb, again.generation_id)["response_cache_source_id"] == first.generation_id


def test_without_or_cache_no_header_is_sent_and_a_repeat_is_billed_again(edge_env, sb):
    first = edge.ask("Name a colour", model=MODEL)
    again = edge.ask("Name a colour", model=MODEL)
    assert [q.headers.get("X-OpenRouter-Cache") for q in chat_requests(sb)] == [None, None]
    assert not again.openrouter_cache and again.cost_usd == first.cost_usd > 0
    assert "OpenRouter cache" not in cost_line_text(again)


def test_a_hit_is_known_by_its_zero_usage_when_the_status_header_is_not_the_one_read(
        edge_env, sb, monkeypatch):
    # The status header is documented, not in the spec: its name is configurable, and an
    # answer asked of the cache with usage counters 0 is a hit whatever the headers say.
    monkeypatch.setenv("EDGE_CACHE_STATUS_HEADER", "X-Some-Other-Name")
    first = edge.ask("Name a tree", model=MODEL, or_cache=True)
    again = edge.ask("Name a tree", model=MODEL, or_cache=True)
    assert not first.openrouter_cache and again.openrouter_cache and again.cost_usd == 0
    # Not asked of the cache, zero usage is no hit (nothing says it came from a cache).
    plain = edge.ask("Name a tree [sandbox:tokens=0]", model=MODEL)
    assert not plain.openrouter_cache


def test_a_non_streamed_hit_is_recognised_too(edge_env, sb):
    from edge_jupyter import calls

    def run() -> calls.EdgeResult:
        request = calls.Request("Name a fruit", models=[MODEL], stream=False, or_cache=True)
        return calls.CallRun(calls.plan(request)).execute().records[0]

    first, again = run(), run()
    assert not first.openrouter_cache and first.cost_usd > 0
    assert again.openrouter_cache and again.cost_usd == 0 and again.text == first.text


# -- sticky sessions and the prompt cache ---------------------------------------------------

def test_a_named_chat_sends_one_stable_session_id_and_its_second_turn_reads_the_cache(edge_env, sb):
    chat = edge.Chat(model=MODEL, name="report")
    one = chat.ask("Here is the report. " + LONG)
    two = chat.ask("What grew?")
    first, second = (q.json for q in chat_requests(sb))
    assert first["session_id"] == second["session_id"]
    assert first["session_id"].startswith("edge-") and len(first["session_id"]) <= 64
    assert "report" not in first["session_id"]  # the name itself is not sent
    for body in (first, second):
        validate(body, "ChatRequest")
    # The sandbox's own figures: the first turn is cached by the provider, the second reads it.
    usage = sb.completions[-1].usage
    record = generation(sb, two.generation_id)
    assert one.cached_tokens == 0
    assert two.cached_tokens == usage["prompt_tokens_details"]["cached_tokens"] > 1024
    assert two.cached_tokens == record["native_tokens_cached"]
    assert two.cache_saved_usd == pytest.approx(record["cache_discount"], abs=1e-15)
    assert record["cache_discount"] > 0 and not two.cache_saved_computed
    assert two.cost_usd == usage["cost"]
    line = cost_line_text(two)
    assert f"({two.cached_tokens:,} cached, saved {exact_usd(record['cache_discount'])})" in line
    # Another chat of the same ledger has a session of its own; unnamed asks send none.
    edge.Chat(model=MODEL, name="other").ask("Hello")
    edge.ask("Hello", model=MODEL)
    third, fourth = (q.json for q in chat_requests(sb)[2:])
    assert third["session_id"] != first["session_id"] and "session_id" not in fourth


def test_the_saving_is_computed_from_input_cache_read_when_generation_does_not_say(edge_env, sb):
    chat = edge.Chat(model=MODEL, name="computed")
    chat.ask("Here is the report. " + LONG)
    sb.inject(Fault.usage(cache_discount=None, in_generation=True))  # /generation: no figure
    two = chat.ask("What grew?")
    assert generation(sb, two.generation_id)["cache_discount"] is None
    price = next(m for m in edge_models(sb) if m["id"] == MODEL)["pricing"]
    expected = two.cached_tokens * (float(price["prompt"]) - float(price["input_cache_read"]))
    assert two.cached_tokens > 0 and two.cache_saved_computed
    assert two.cache_saved_usd == pytest.approx(expected, rel=1e-9)
    assert f"cached, saved ≈ {exact_usd(two.cache_saved_usd)} (computed)" in cost_line_text(two)


def edge_models(sb) -> list[dict]:
    import httpx

    return httpx.get(f"{sb.api_url}/models").json()["data"]


# -- cache_control breakpoints --------------------------------------------------------------

def test_cache_prompt_marks_the_system_prompt_and_the_long_context_and_the_next_turn_reads_them(
        edge_env, sb):
    chat = edge.Chat(model=CLAUDE, name="claude", system="You are a careful analyst.",
                     cache_prompt=True)
    one = chat.ask("Here is the report. " + LONG)
    two = chat.ask("What grew?")
    first, second = (q.json for q in chat_requests(sb))
    for body in (first, second):
        validate(body, "ChatRequest")
    assert breakpoints(first) == [(0, "system"), (1, "user")]
    assert breakpoints(second) == [(0, "system"), (1, "user")]  # the short question: none
    assert first["messages"][1]["content"][0]["cache_control"] == {"type": "ephemeral"}
    # The first turn wrote the prefix (billed at input_cache_write), the second read it.
    assert one.cache_write_tokens == sb.completions[0].usage["prompt_tokens_details"][
        "cache_write_tokens"] > 1024
    assert "written to the cache" in cost_line_text(one)
    assert two.cached_tokens == sb.completions[1].usage["prompt_tokens_details"]["cached_tokens"]
    assert two.cached_tokens == one.cache_write_tokens
    assert two.cache_saved_usd == pytest.approx(generation(sb, two.generation_id)["cache_discount"],
                                                abs=1e-15)
    # The saved conversation keeps its own text: the breakpoints are only in what was sent.
    assert [t.prompt for t in chat.history] == [("Here is the report. " + LONG).strip(), "What grew?"]


def test_without_cache_prompt_an_anthropic_prompt_is_not_cached(edge_env, sb):
    chat = edge.Chat(model=CLAUDE, name="plain")
    chat.ask("Here is the report. " + LONG)
    two = chat.ask("What grew?")
    assert all(not breakpoints(q.json) for q in chat_requests(sb))
    assert two.cached_tokens == 0 and two.cache_saved_usd is None


def test_at_most_four_breakpoints_the_longest_parts_first_and_none_for_models_that_cache_alone(
        edge_env, sb):
    chat = edge.Chat(model=CLAUDE, name="many", system="Be brief.", cache_prompt=True)
    for n in range(5):  # five long turns, each longer than the one before
        chat.ask(f"Part {n}. " + LONG + "more " * (40 * n))
    last = chat_requests(sb)[-1].json
    validate(last, "ChatRequest")
    marked = breakpoints(last)
    assert len(marked) == 4 and marked[0] == (0, "system")
    # the three longest user messages besides: the last three turns (9, 7, 5)
    assert [i for i, _ in marked[1:]] == [5, 7, 9]
    gpt = edge.Chat(model=MODEL, name="gpt", system="Be brief.", cache_prompt=True)
    gpt.ask("Here is the report. " + LONG)
    assert not breakpoints(chat_requests(sb)[-1].json)


# -- the magic: the flag and the config -----------------------------------------------------

def test_the_magic_flag_and_the_config_send_the_header_and_a_hit_shows_0(kernel, sandbox):
    sandbox.reset()
    sandbox.generation_ready_after = 0.2
    cell = "%%edge -m openai/gpt-4o-mini --or-cache\nName a planet"
    kernel.ok(cell, cell_id="c1")
    hit = kernel.ok(cell, cell_id="c1").all_text
    assert "$0 · OpenRouter cache" in hit
    kernel.ok("%config EdgeMagics.openrouter_cache = True")
    kernel.ok("%%edge -m openai/gpt-4o-mini\nName a moon", cell_id="c2")
    again = kernel.ok("%%edge -m openai/gpt-4o-mini\nName a moon", cell_id="c2").all_text
    assert "$0 · OpenRouter cache" in again
    kernel.ok("%config EdgeMagics.openrouter_cache = False")
    kernel.ok("%%edge -m openai/gpt-4o-mini\nName a moon", cell_id="c2")
    headers = [q.headers.get("X-OpenRouter-Cache") for q in chat_requests(sandbox)]
    assert headers == ["true", "true", "true", "true", None]
    costs = kernel.value("list(edge_jupyter.usage('all')['cost_usd'])")
    assert costs[1] == 0 and costs[3] == 0 and costs[0] > 0 and costs[4] > 0


def test_a_lost_usage_is_no_sign_of_a_hit() -> None:
    """An answer asked of the cache whose usage never came has the same zeros as a hit: it is
    not taken for one (its cost is found in /generation instead of being written down as 0)."""
    from edge_jupyter.calls._caches import is_response_cache_hit
    from edge_jupyter.record import CallRecord

    answered = CallRecord(model=MODEL, status="ok", text="An oak.")
    assert not is_response_cache_hit(answered, None, True, usage_seen=False)
    assert is_response_cache_hit(answered, None, True, usage_seen=True)
    assert is_response_cache_hit(answered, "HIT", True, usage_seen=False)
