"""Python functions as tools, and web search, in a real kernel against the sandbox.

The money of a tool loop is checked three ways: the cell's cost line, the sum of the loop's
ledger rows (one per step, tied by a group id), and what the sandbox billed. Stops — a budget
the next step would cross, an interrupt inside a tool, a tool that raises, nobody to confirm —
keep everything done so far, and say so in one line, never a traceback.
"""

from __future__ import annotations

from typing import Any

import pytest
from kernel_harness import once_streaming
from media_files import asked

from edge_jupyter.money import exact_usd, total_usd
from edge_jupyter.sandbox import Fault

MINI = "openai/gpt-4o-mini"
DEAR = "openai/gpt-4o"  # $2.50/$10 per million, $0.01 a web search in the sandbox's catalogue

TOOLS = '''
import time
def add(a: int, b: int) -> int:
    """Add two whole numbers.

    Args:
        a: the first number
        b: the second number
    """
    return a + b

def boom(x: int) -> float:
    """Always fails."""
    return x / 0

def big(n: int) -> str:
    """A long text."""
    return "word " * n

def echo(text: str) -> str:
    """Say it back."""
    return text

def slow(seconds: int) -> str:
    """Sleep a while."""
    time.sleep(seconds)
    return "woke up"
'''


@pytest.fixture(scope="module", autouse=True)
def functions(kernel) -> None:
    kernel.ok(TOOLS)


def group_rows(kernel, group: str) -> list[dict[str, Any]]:
    return kernel.value(
        f"edge_jupyter.usage('all').query('group_id == \"{group}\"')"
        "[['step', 'status', 'cost_usd', 'group_id']].to_dict(orient='records')")


def chats(sb) -> list[Any]:
    return [r for r in sb.requests if r.path.endswith("/chat/completions")]


def test_three_steps_cost_the_sum_of_their_rows_and_of_the_sandbox_billing(kernel, sb) -> None:
    sb.script_tools([[("add", {"a": 1, "b": 2})], [("add", {"a": 3, "b": 4})]])
    before = len(sb.completions)
    run = kernel.ok(f"%%edge -m {MINI} --tools add\nAdd things up.")
    billed = sb.completions[before:]
    assert len(billed) == 3
    assert [c.finish_reason for c in billed] == ["tool_calls", "tool_calls", "stop"]
    # what went back to the model: each result after its call, by id
    third = chats(sb)[-1].json["messages"]
    tool_messages = [m for m in third if m["role"] == "tool"]
    assert [m["content"] for m in tool_messages] == ["3", "7"]
    assistant = [m for m in third if m["role"] == "assistant"]
    assert [m["tool_calls"][0]["id"] for m in assistant] == [m["tool_call_id"] for m in tool_messages]
    # the ledger: three rows of one group, numbered, their sum the cell's cost and the billing
    group = kernel.value("_edge.group_id")
    rows = group_rows(kernel, group)
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert {r["status"] for r in rows} == {"ok"}
    sandbox_total = total_usd([c.cost for c in billed])
    assert total_usd([r["cost_usd"] for r in rows]) == sandbox_total
    assert kernel.value("_edge.cost_usd") == sandbox_total
    assert kernel.value("[s.cost_usd for s in _edge.steps]") == [c.cost for c in billed]
    # the output: each call, the answer with the results, the cost line with the steps
    text = run.all_text
    assert "add(a=1, b=2)" in text and "→ 3" in text and "add(a=3, b=4)" in text
    assert kernel.value("_edge.text").startswith("Tool results: 3; 7")
    assert "3 steps" in text and exact_usd(sandbox_total) in text
    assert kernel.value("[(c.name, c.content) for c in _edge.tool_calls]") == [["add", "3"], ["add", "7"]]


def test_a_tool_that_raises_sends_its_error_to_the_model_and_shows_it(kernel, sb) -> None:
    sb.script_tools([[("boom", {"x": 1})]])
    run = kernel.ok(f"%%edge -m {MINI} --tools boom,add\nTry it.")
    assert "ZeroDivisionError" in run.all_text and "Traceback" not in run.all_text
    sent = [m for m in chats(sb)[-1].json["messages"] if m["role"] == "tool"]
    assert "ZeroDivisionError: division by zero" in sent[0]["content"]
    assert "ZeroDivisionError" in kernel.value("_edge.text")  # the model saw it, and answered
    assert kernel.value("_edge.tool_calls[0].error").startswith("ZeroDivisionError")


def test_a_budget_stops_the_loop_before_a_step_that_would_cross_it(kernel, sb) -> None:
    # Step 1 is cheap; its tool returns ~20,000 characters, so step 2's prompt alone would
    # cost more than the cell's budget at gpt-4o's price: it is refused before it is sent.
    sb.script_tools([[("big", {"n": 4000})], [("add", {"a": 1, "b": 1})]])
    before = len(sb.completions)
    run = kernel.ok(f"%%edge -m {DEAR} --tools big,add --max-tokens 50 --budget 0.005\nGo.")
    assert len(sb.completions) == before + 1, "step 2 was sent"
    assert "Step 2 was not sent" in run.all_text and "Traceback" not in run.all_text
    group = kernel.value("_edge.group_id")
    rows = group_rows(kernel, group)
    assert [(r["step"], r["status"]) for r in rows] == [(1, "ok")]
    assert rows[0]["cost_usd"] == sb.completions[-1].cost == kernel.value("_edge.cost_usd")
    assert kernel.value("_edge.status") == "stopped_budget"
    # what was done is kept: the tool's result, on the result
    assert kernel.value("len(_edge.tool_calls[0].content)") == len("word " * 4000)


def test_an_interrupt_inside_a_tool_stops_the_loop_and_keeps_the_paid_step(kernel, sb) -> None:
    sb.script_tools([[("slow", {"seconds": 30})], [("add", {"a": 1, "b": 1})]])
    before = len(sb.completions)
    run = kernel.run(f"%%edge -m {MINI} --tools slow,add\nWait.",
                     interrupt_when=once_streaming(sb, requests=1, after=1.0), timeout=60)
    assert "Interrupted" in run.all_text and "Traceback" not in run.all_text
    assert len(sb.completions) == before + 1  # no step after the interrupt
    assert kernel.value("_edge.status") == "interrupted"
    assert kernel.value("_edge.tool_calls[0].error") == "interrupted"
    rows = group_rows(kernel, kernel.value("_edge.group_id"))
    assert [(r["step"], r["status"]) for r in rows] == [(1, "ok")]
    assert rows[0]["cost_usd"] == sb.completions[-1].cost
    pending = kernel.value("int((edge_jupyter.usage('all')['status'] == 'pending').sum())")
    assert pending == 0


def test_max_steps_stops_a_model_that_keeps_calling(kernel, sb) -> None:
    before = len(sb.completions)
    run = kernel.ok(f"%%edge -m {MINI} --tools add --max-steps 2\nAgain and again. [sandbox:tools=5]")
    assert len(sb.completions) == before + 2
    assert "Stopped after 2 steps (--max-steps 2)" in run.all_text
    assert kernel.value("len(_edge.steps)") == 2


def test_confirm_tools_refuses_where_nobody_can_answer(kernel, sb) -> None:
    before = len(chats(sb))
    run = kernel.run(f"%%edge -m {MINI} --tools add --confirm-tools\nAdd.")
    assert "--confirm-tools" in run.all_text and "nobody" in run.all_text
    assert "Traceback" not in run.all_text
    assert len(chats(sb)) == before


def test_confirm_tools_asks_before_each_call_and_a_no_is_told_to_the_model(kernel, sb) -> None:
    sb.script_tools([[("add", {"a": 2, "b": 2})], [("add", {"a": 5, "b": 5})]])
    kernel.ok(f"%%edge -m {MINI} --tools add --confirm-tools\nAdd.", answers=["y", "n"])
    assert len(kernel.prompts) == 2 and "add" in kernel.prompts[0]
    results = [m["content"] for m in chats(sb)[-1].json["messages"] if m["role"] == "tool"]
    assert results[0] == "4" and "declined" in results[1]


def test_a_name_that_is_not_a_function_is_named_before_anything_is_sent(kernel, sb) -> None:
    before = len(chats(sb))
    run = kernel.run(f"%%edge -m {MINI} --tools add,nosuch\nAdd.")
    assert "nosuch" in run.all_text and "Traceback" not in run.all_text
    assert len(chats(sb)) == before


def test_web_search_citations_and_their_cost(kernel, sb) -> None:
    before = len(sb.completions)
    run = kernel.ok(f"%%edge -m {DEAR} --web --web-results 4\nWhat happened? [sandbox:searches=2]")
    billed = sb.completions[before]
    assert billed.web_searches == 2
    tool = asked(sb)[-1].json["tools"][0]
    assert tool == {"type": "openrouter:web_search",
                    "parameters": {"max_uses": 3, "engine": "exa", "max_characters": 2000,
                                   "max_results": 4}}
    citations = kernel.value("[(c.url, c.title) for c in _edge.citations]")
    assert [u for u, _ in citations] == [c["url_citation"]["url"] for c in billed.citations]
    html_out = "".join(o["data"].get("text/html", "") for o in run.outputs if "data" in o)
    assert f'href="{citations[0][0]}"' in html_out and "[1]" in html_out
    assert kernel.value("_edge.cost_usd") == billed.cost
    assert kernel.value("_edge.web_searches") == 2
    assert "incl. 2 web searches" in run.all_text


def test_the_web_searches_count_in_the_estimate_a_budget_checks(kernel, sb) -> None:
    # gpt-4o: $0.01 a search (its pricing.web_search, dearer than Exa's $0.007), and each
    # search a round more of the model, its output and its 5 results (2,000 characters each,
    # a token a character on the safe side) prompt after it: 3 searches come to $0.18, 1 to
    # $0.035 — though the tokens of the question alone would fit in a tenth of a cent.
    before = len(chats(sb))
    run = kernel.run(f"%%edge -m {DEAR} --web --max-tokens 20 --budget 0.05\nNews?")
    assert "Refused before sending" in run.all_text and "Traceback" not in run.all_text
    assert len(chats(sb)) == before
    kernel.ok(f"%%edge -m {DEAR} --web --web-searches 1 --max-tokens 20 --budget 0.05\nNews?")
    assert len(chats(sb)) == before + 1


def test_the_providers_own_search_is_refused_under_a_budget(kernel, sb) -> None:
    before = len(chats(sb))
    run = kernel.run(f"%%edge -m {DEAR} --web --web-engine auto --budget 1\nNews?")
    assert "provider's own search" in run.all_text and "--web-engine exa" in run.all_text
    assert len(chats(sb)) == before
    kernel.ok(f"%%edge -m {DEAR} --web --web-engine auto --max-tokens 20\nNews?")  # no budget: sent
    assert len(chats(sb)) == before + 1


def test_an_interrupt_during_a_later_step_keeps_every_step_and_its_cost(kernel, sb) -> None:
    sb.script_tools([[("add", {"a": 1, "b": 2})]])
    sb.tokens_per_second = 20.0  # step 2's answer streams slowly: the interrupt lands in it
    before = len(sb.completions)
    run = kernel.run(f"%%edge -m {MINI} --tools add\nA long story. [sandbox:tokens=400]",
                     interrupt_when=once_streaming(sb, requests=2, after=0.5), timeout=60)
    assert "Interrupted" in run.all_text and "Traceback" not in run.all_text
    billed = sb.wait_for_completions(before + 2)[before:]
    assert billed[1].cancelled
    rows = group_rows(kernel, kernel.value("_edge.group_id"))
    assert [(r["step"], r["status"]) for r in rows] == [(1, "ok"), (2, "interrupted")]
    assert kernel.value("_edge.tool_calls[0].content") == "3"
    assert kernel.value("_edge.text")  # the partial answer of step 2 is kept


def test_a_model_without_tools_is_refused_naming_models_that_have_them(kernel, sb) -> None:
    before = len(chats(sb))
    run = kernel.run("%%edge -m meta-llama/llama-3.1-8b-instruct:free --tools add\nAdd.")
    assert "does not call functions" in run.all_text and "Models that do:" in run.all_text
    assert "Traceback" not in run.all_text
    assert len(chats(sb)) == before


def test_the_stream_guard_counts_a_calls_arguments(kernel, sb) -> None:
    # A provider that ignores --max-tokens streams a call with ~15,000 characters of
    # arguments: the guard counts them as the completion tokens they are, and cuts it off.
    sb.script_tools([[("echo", {"text": "word " * 3000})]])
    sb.tokens_per_second = 400
    sb.inject(Fault.overrun())
    run = kernel.run(f"%%edge -m {MINI} --tools echo --max-tokens 50 --budget 0.0002\nSay it.")
    assert "Traceback" not in run.all_text
    sent = sb.completions[-1]
    assert sent.cancelled, "the call's arguments streamed to the end past the budget"
    assert kernel.value("_edge.status") == "stopped_budget"
    assert kernel.value("len(_edge.steps)") == 1 and kernel.value("len(_edge.tool_calls)") == 0
