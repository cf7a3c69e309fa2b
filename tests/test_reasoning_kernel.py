"""Reasoning in a real kernel against the sandbox, read from the kernel's own messages: the
reasoning streams in an open, dimmed section above the answer; the final render keeps it
collapsed (closed ``<details>``) above the answer, sanitised; ``--hide-reasoning`` shows
none; the display traffic stays within 3× the text shown plus 1 KB."""

from __future__ import annotations

import html
from typing import Any

import httpx
from media_files import asked

R1 = "deepseek/deepseek-r1"
LIVE = '<details open class="edge-reasoning"'
DONE = '<details class="edge-reasoning"'


def displays(run: Any) -> list[str]:
    """The text/html of every display and update, in order (also those cleared later)."""
    return [m["content"]["data"].get("text/html", "") for m in run.messages
            if m["msg_type"] in ("display_data", "update_display_data")]


def reasoning_of(sandbox: Any) -> str:
    """The sandbox's reasoning for the last request it was sent, asked again unstreamed
    (its text is a function of the messages: the same as the kernel received)."""
    body = {**asked(sandbox)[-1].json, "stream": False}
    reply = httpx.post(f"{sandbox.url}/api/v1/chat/completions", json=body,
                       headers={"Authorization": f"Bearer {sandbox.key}"}, timeout=30)
    reply.raise_for_status()
    return reply.json()["choices"][0]["message"]["reasoning"]


def test_reasoning_streams_open_then_stays_collapsed_above_the_answer(kernel, sandbox) -> None:
    sandbox.reset()
    sandbox.tokens_per_second = 0.0
    run = kernel.ok(f"%%edge -m {R1} --reasoning high\nWhy is the sky blue? [sandbox:tokens=400]")
    sent = asked(sandbox)[-1].json
    assert sent["reasoning"] == {"effort": "high"}
    reasoning = reasoning_of(sandbox)
    assert len(reasoning) > 200
    shown = displays(run)
    live = [h for h in shown if h.startswith(LIVE)]
    assert live, "the reasoning was not shown while it streamed"
    # the last live draw holds the end of the reasoning, escaped (model text)
    assert html.escape(reasoning[-40:]) in live[-1]
    assert run.streamed.strip()  # the answer streamed as usual, after it
    # The final outputs: the collapsed reasoning, then the answer, then the cost line.
    final = [o["data"].get("text/html", "") for o in run.outputs if "data" in o]
    assert not any(h.startswith(LIVE) for h in final)
    at = next(i for i, h in enumerate(final) if h.startswith(DONE))
    answer = kernel.value("_edge.text")
    assert kernel.value("_edge.reasoning") == reasoning  # kept on the result, whole
    assert answer.split()[0] in final[at + 1]  # the answer comes right below it
    assert "reasoning" in final[-1] and "edge-cost" in final[-1]
    # Display traffic: bytes of everything shown ≤ 3 × the text shown + 1 KB.
    text_bytes = len(answer.encode()) + len(reasoning.encode())
    assert run.display_bytes() <= 3 * text_bytes + 1024, (run.display_bytes(), text_bytes)


def test_hide_reasoning_shows_none_but_the_model_still_reasons(kernel, sandbox) -> None:
    sandbox.reset()
    sandbox.tokens_per_second = 0.0
    run = kernel.ok(f"%%edge -m {R1} --hide-reasoning\nWhy? [sandbox:tokens=80]")
    assert not any("edge-reasoning" in h for h in displays(run))
    assert "reasoning" not in asked(sandbox)[-1].json  # display only: nothing sent for it
    assert kernel.value("_edge.reasoning_tokens") > 0


def test_a_model_that_does_not_reason_is_refused_in_the_cell(kernel, sandbox) -> None:
    before = len(asked(sandbox))
    run = kernel.run("%%edge -m openai/gpt-4o-mini --reasoning low\nWhy?")
    assert "does not reason" in run.all_text and R1 in run.all_text
    assert "Traceback" not in run.all_text
    assert len(asked(sandbox)) == before


def test_reasoning_details_round_trip_in_a_chat(kernel, sandbox) -> None:
    sandbox.reset()
    kernel.ok(f"%%edge -m {R1} --chat deep\nThink about it [sandbox:tokens=60]")
    first = kernel.value("_edge.text")
    kernel.ok(f"%%edge -m {R1} --chat deep\nAnd so?")
    answer = next(m for m in asked(sandbox)[-1].json["messages"] if m["role"] == "assistant")
    assert answer["content"] == first
    assert answer["reasoning_details"][0]["text"]
    assert sandbox.reasoning_details_checked == [True]  # the sandbox found them unmodified


def test_the_grid_says_a_model_is_reasoning(kernel, sandbox) -> None:
    """Several models: a reasoning model's lane says it thinks (not "waiting for first
    token") until its answer starts. Paced so the grid redraws while it reasons."""
    sandbox.reset()
    sandbox.tokens_per_second = 40.0
    run = kernel.ok(f"%%edge -m {R1} -m openai/gpt-4o-mini\nWhy? [sandbox:tokens=120]")
    grids = [h for h in displays(run) if 'class="edge-grid"' in h]
    assert any("💭 reasoning…" in h for h in grids)
    sandbox.tokens_per_second = 0.0
