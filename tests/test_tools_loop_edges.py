"""The tool loop's edges, in this process against the sandbox, through the engine's public API
(``calls.plan`` → ``calls.CallRun``): a cancel before the first step, an interrupt after a
later step's row was written, a call cut off by the token cap, a ``--max-steps`` stop in a
chat, a function that leaks the key or exits, the functions' schemas in the worst case, web
search on a model without tools, and a replayed web answer keeping its sources."""

from __future__ import annotations

from typing import Any

import pytest
from media_files import asked

import edge_jupyter as edge
from edge_jupyter import calls
from edge_jupyter.answer_format import cost_line_text
from edge_jupyter.errors import EdgeError
from edge_jupyter.money import total_usd

MINI = "openai/gpt-4o-mini"


def add(a: int, b: int) -> int:
    """Add two whole numbers."""
    return a + b


def rows(group: str) -> list[tuple[int, str, float]]:
    frame = edge.usage("all")
    mine = frame[frame["group_id"] == group]
    return [(int(r.step), r.status, float(r.cost_usd)) for r in mine.itertuples()]


def run_plan(prompt: str, listener: Any = None, **options: Any) -> Any:
    request = calls.Request(prompt=prompt, models=[MINI], tools=[add], **options)
    return calls.CallRun(calls.plan(request), listener)


def test_a_cancel_before_the_first_step_sends_nothing(edge_env, sb) -> None:
    run = run_plan("Add.")
    run.cancel()
    before = len(asked(sb))
    with pytest.raises(calls.EdgeInterrupted, match="nothing was spent"):
        run.execute()
    assert len(asked(sb)) == before


def test_an_interrupt_after_a_later_steps_row_keeps_that_step_in_the_sum(edge_env, sb) -> None:
    """The interrupt lands once step 2 has ended (its answer paid): the engine completes its
    row and raises; the loop's summary still holds step 2, so its cost is the rows' sum."""
    sb.script_tools([[("add", {"a": 1, "b": 2})]])

    def listener(event: Any) -> None:
        if isinstance(event, calls.Ended) and getattr(listener, "step", 0) == 2:
            raise KeyboardInterrupt
        if isinstance(event, calls.Began):
            listener.step = event.step  # type: ignore[attr-defined]

    outcome = run_plan("Add.", listener).execute()
    summary = outcome.records[0]
    assert outcome.interrupted and summary.status == "interrupted"
    assert len(summary.steps) == 2
    assert [s for s, _, _ in rows(summary.group_id)] == [1, 2]
    assert summary.cost_usd == total_usd([c for _, _, c in rows(summary.group_id)])


def test_a_call_cut_off_by_the_token_cap_does_not_run(edge_env, sb) -> None:
    ran: list[int] = []

    def counted(a: int, b: int) -> int:
        """Add, counting the calls."""
        ran.append(1)
        return a + b

    request = calls.Request(prompt="Add. [sandbox:tools=1]", models=[MINI], tools=[counted],
                            max_tokens=2)
    outcome = calls.CallRun(calls.plan(request)).execute()
    summary = outcome.records[0]
    assert not ran and summary.status == "error"
    assert "cut off by the token cap" in summary.error and "--max-tokens" in summary.error
    assert len(summary.steps) == 1 and summary.steps[0].finish_reason == "length"


def test_a_max_steps_stop_in_a_chat_saves_no_empty_turn(edge_env, sb) -> None:
    chat = edge.Chat(MINI, tools=[add], max_steps=1)
    sb.script_tools([[("add", {"a": 1, "b": 1})]])
    stopped = chat.ask("Add.")
    assert stopped.status == "stopped_steps" and stopped.text == ""
    assert chat.history == []  # nothing to continue from: the next turn starts afresh
    sb.script_tools([])
    chat.ask("Now just answer.")
    assert [m["role"] for m in asked(sb)[-1].json["messages"]] == ["user"]


def test_a_function_that_leaks_the_key_or_exits_is_an_error_result(edge_env, sb) -> None:
    key = sb.key

    def leaky() -> str:
        """Fails, quoting a secret."""
        raise RuntimeError(f"auth failed for {key}")

    def exits() -> str:
        """Exits, as argparse does on bad input."""
        raise SystemExit(2)

    sb.script_tools([[("leaky", {}), ("exits", {})]])
    result = edge.ask("Go.", MINI, tools=[leaky, exits])
    sent = [m["content"] for m in asked(sb)[-1].json["messages"] if m["role"] == "tool"]
    assert key not in "".join(sent) and key not in result.tool_calls[0].line()
    assert "RuntimeError: auth failed for" in sent[0]
    assert sent[1] == "Error: SystemExit: 2"
    assert result.status == "ok"


def test_the_functions_schemas_are_priced_in_the_worst_case(edge_env, sb) -> None:
    """A function with a 100 kB docstring is ~25,000 prompt tokens the model is billed for:
    under a budget they count before anything is sent."""
    def big(x: int) -> int:
        return x

    big.__doc__ = "A long description. " + "word " * 20_000
    before = len(asked(sb))
    with pytest.raises(calls.CallRefused, match="Refused before sending"):
        edge.ask("hi", MINI, tools=[big], max_tokens=20, budget=0.001)
    assert len(asked(sb)) == before


def test_web_search_on_a_model_without_tools_is_refused(edge_env, sb) -> None:
    before = len(asked(sb))
    with pytest.raises(calls.CallRefused, match="cannot search the web"):
        edge.ask("News?", "meta-llama/llama-3.1-8b-instruct:free", web=True)
    assert len(asked(sb)) == before


def test_a_replayed_web_answer_keeps_its_sources_and_searches(edge_env, sb) -> None:
    first = edge.ask("News? [sandbox:searches=2]", "openai/gpt-4o", web=True, replay=True)
    again = edge.ask("News? [sandbox:searches=2]", "openai/gpt-4o", web=True, replay=True)
    assert again.status == "replayed" and again.cost_usd == 0
    assert [c.url for c in again.citations] == [c.url for c in first.citations] != []
    assert again.web_searches == 2 and "incl. 2 web searches" in cost_line_text(again)


def test_a_tool_loop_is_never_replayed(edge_env, sb) -> None:
    ran: list[int] = []

    def counted(a: int, b: int) -> int:
        """Add, counting the calls."""
        ran.append(1)
        return a + b

    for _ in range(2):
        sb.script_tools([[("counted", {"a": 1, "b": 1})]])
        result = edge.ask("Add.", MINI, tools=[counted], replay=True)
        assert result.status == "ok" and result.cost_usd > 0
    assert len(ran) == 2  # the function ran again: its result may differ each time


def test_cancelling_an_aask_tool_loop_stops_it_and_completes_every_row(edge_env, sb) -> None:
    import asyncio
    import threading

    started = threading.Event()

    def slow(seconds: int) -> str:
        """Sleep a while."""
        started.set()
        threading.Event().wait(seconds)
        return "woke"

    async def main() -> None:
        sb.script_tools([[("slow", {"seconds": 3})], [("slow", {"seconds": 3})]])
        task = asyncio.ensure_future(edge.aask("Wait.", MINI, tools=[slow]))
        while not started.is_set():
            await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    before = len(asked(sb))
    asyncio.run(main())
    frame = edge.usage("all")
    assert (frame["status"] == "pending").sum() == 0
    assert len(asked(sb)) == before + 1  # the step after the cancelled tool was never sent


@pytest.mark.parametrize("budget", [0.0100, 0.0101, 0.0105, 0.011, 0.02, 0.05])
def test_a_web_search_never_costs_more_than_the_budget_it_was_sent_under(edge_env, sb, budget) -> None:
    """gpt-4o bills $0.01 a search (its pricing.web_search), more than Exa's documented $0.007:
    the estimate takes the dearer, so a call it lets through stays within the budget."""
    before = len(sb.completions)
    try:
        result = edge.ask("News? [sandbox:searches=1]", "openai/gpt-4o", web=True, web_searches=1,
                          web_results=1, max_tokens=1, budget=budget)
    except calls.CallRefused:
        assert len(sb.completions) == before
        return
    assert result.cost_usd <= budget, (result.cost_usd, budget)


def test_an_online_model_is_refused_under_a_budget(edge_env, sb) -> None:
    before = len(asked(sb))
    with pytest.raises(calls.CallRefused, match="':online' model searches the web"):
        edge.ask("News?", "openai/gpt-4o:online", max_tokens=20, budget=0.5)
    assert len(asked(sb)) == before


def test_an_interrupt_once_a_steps_row_is_complete_keeps_that_step(edge_env, sb) -> None:
    """A view of the finished calls (the panel's) that is interrupted after step 1's row was
    complete: the loop stops, and step 1 — paid — is in the summary and its cost."""
    from edge_jupyter import events

    sb.script_tools([[("add", {"a": 1, "b": 2})]])
    fired: list[int] = []

    def listener(event: str, payload: Any) -> None:
        if event == events.CALLS_FINISHED and not fired:
            fired.append(1)
            raise KeyboardInterrupt

    unsubscribe = events.subscribe(listener)
    try:
        outcome = run_plan("Add.").execute()
    finally:
        unsubscribe()
    summary = outcome.records[0]
    assert fired and outcome.interrupted and len(summary.steps) == 1
    assert rows(summary.group_id) == [(1, "ok", summary.cost_usd)]


def test_a_search_is_priced_at_the_dearer_of_the_engine_and_the_model(edge_env, sb) -> None:
    client = calls.connected_client()

    def per_search(model: str, engine: str) -> float:
        body = {"model": model, "messages": [], "tools": [calls.web_tool(engine=engine)]}
        return calls.web_bound(client, body).usd_per_search

    assert per_search("openai/gpt-4o", "exa") == 0.01  # its pricing.web_search, over Exa's 0.007
    assert per_search("mistralai/mistral-small-3.1-24b-instruct", "exa") == 0.007  # 0.004 < Exa
    assert per_search("openai/gpt-4o-mini", "perplexity") == 0.005  # no price of its own


def test_firecrawl_is_refused_under_a_budget_and_results_are_capped_at_ten(edge_env, sb) -> None:
    before = len(asked(sb))
    with pytest.raises(calls.CallRefused, match="does not cap the text of its results"):
        edge.ask("News?", "openai/gpt-4o", web=True, web_engine="firecrawl", max_tokens=20, budget=1)
    with pytest.raises(EdgeError, match="at most 10"):
        edge.ask("News?", "openai/gpt-4o", web=True, web_results=11)
    assert len(asked(sb)) == before
