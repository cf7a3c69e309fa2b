"""``%%edge`` failure paths in a real kernel: a short clear message, partial text kept."""

from __future__ import annotations

import time

import pytest
from kernel_harness import once_streaming

from edge_jupyter.sandbox import Fault, answer_tokens
from edge_jupyter.untrusted_text import markdown_to_safe_html


def assert_short(run) -> None:
    assert run.status == "error"
    assert "Traceback (most recent call last)" not in run.error_text
    assert "site-packages" not in run.error_text and "edge_jupyter/" not in run.error_text


def test_unknown_model_suggests_close_ids(kernel, sb):
    run = kernel.run("%%edge -m openai/gpt-4o-mni\nHi")
    assert_short(run)
    assert "not a valid model ID" in run.all_text
    assert "Did you mean: openai/gpt-4o-mini" in run.all_text
    assert kernel.value("_edge.status") == "error"


@pytest.mark.parametrize("status,words", [
    (401, "%edge connect"),
    (402, "openrouter.ai/settings/credits"),
    (403, "not allowed"),
])
def test_account_errors_say_what_to_do(kernel, sb, status, words):
    sb.inject(Fault.http(status))
    run = kernel.run("%%edge -m openai/gpt-4o-mini\nHi")
    assert_short(run)
    assert f"OpenRouter error {status}" in run.all_text
    assert words in run.all_text


def test_rate_limit_and_server_errors_are_retried_before_the_first_token(kernel, sb):
    sb.inject(Fault.http(429, retry_after=0.2))
    sb.inject(Fault.http(503))
    run = kernel.ok("%%edge -m openai/gpt-4o-mini\nHi")
    assert markdown_to_safe_html(sb.completions[-1].text) in run.texts("text/html")
    assert sum(1 for r in sb.requests if r.path.endswith("/chat/completions")) == 3


def test_persistent_rate_limit_is_explained(kernel, sb):
    sb.inject(Fault.http(429, retry_after=0.05, times=5))
    run = kernel.run("%%edge -m openai/gpt-4o-mini\nHi")
    assert_short(run)
    assert "try again" in run.all_text


def test_midstream_error_keeps_the_partial_answer(kernel, sb):
    sb.answer_length = 40
    sb.inject(Fault.midstream(after_tokens=10, code=502))
    run = kernel.run("%%edge -m openai/gpt-4o-mini\nHi")
    assert_short(run)
    partial = kernel.value("_edge.text")
    assert partial and sb.completions[-1].text.startswith(partial)
    assert markdown_to_safe_html(partial) in run.texts("text/html")
    assert "during the answer" in run.all_text
    assert kernel.value("_edge.status") == "error"


def test_dropped_connection_keeps_the_partial_answer(kernel, sb):
    sb.answer_length = 40
    sb.inject(Fault.drop(after_tokens=8))
    run = kernel.run("%%edge -m openai/gpt-4o-mini\nHi")
    assert_short(run)
    assert "dropped" in run.all_text or "closed" in run.all_text
    partial = kernel.value("_edge.text")
    assert partial and markdown_to_safe_html(partial) in run.texts("text/html")


def test_interrupt_stops_the_stream_and_keeps_the_partial_text(kernel, sb):
    sb.answer_length = 2000
    sb.tokens_per_second = 40
    sb.generation_ready_after = 0.2
    streaming = once_streaming(sb)
    fired: list[float] = []

    def interrupt_now() -> bool:
        if streaming():
            fired.append(time.monotonic())
            return True
        return False

    run = kernel.run("%%edge -m openai/gpt-4o-mini\nA long story", interrupt_when=interrupt_now,
                     timeout=60)
    elapsed = time.monotonic() - fired[0]
    assert run.status == "error" and run.reply["content"]["ename"] == "EdgeInterrupted"
    assert elapsed < 5, "the stream must stop promptly (plus the /generation lookup)"
    assert "Interrupted" in run.all_text and "partial answer is kept" in run.all_text
    result = kernel.value("[_edge.status, _edge.text, _edge.cost_usd, _edge.generation_id]")
    status, text, cost, gen_id = result
    assert status == "interrupted"
    sent = sb.completions[-1]
    assert sent.cancelled, "closing the connection must cancel the generation"
    assert text and sent.text.startswith(text)
    assert len(text) < len("".join(answer_tokens(sent.model, sent.messages, 2000)))
    assert markdown_to_safe_html(text) in run.texts("text/html")
    assert gen_id == sent.id
    assert cost == sent.usage["cost"], "the exact cost of an interrupted call comes from /generation"


def test_without_a_key_the_message_says_connect(kernel, sb):
    kernel.ok("import os; _saved_key = os.environ.pop('OPENROUTER_API_KEY')")
    try:
        before = len(sb.requests)
        run = kernel.run("%%edge -m openai/gpt-4o-mini\nHi")
        assert_short(run)
        assert "Not connected" in run.all_text and "%edge connect" in run.all_text
        assert len(sb.requests) == before
    finally:
        kernel.ok("os.environ['OPENROUTER_API_KEY'] = _saved_key")


def test_the_key_never_appears_in_any_output(kernel, sb):
    runs = [kernel.run("%edge status"), kernel.run("%%edge -m nope/nope\nHi")]
    sb.inject(Fault.http(401))
    runs.append(kernel.run("%%edge -m openai/gpt-4o-mini\nHi"))
    runs.append(kernel.run("_edge"))
    for run in runs:
        for msg in run.messages:
            assert sb.key not in str(msg["content"])


def test_interrupt_stops_every_model_of_a_multi_model_cell(kernel, sb):
    sb.answer_length = 2000
    sb.tokens_per_second = 40
    sb.generation_ready_after = 0.0
    run = kernel.run("%%edge -m openai/gpt-4o-mini -m google/gemini-2.0-flash-001\nTwo stories",
                     interrupt_when=once_streaming(sb, requests=2), timeout=60)
    assert run.reply["content"]["ename"] == "EdgeInterrupted"
    statuses = kernel.value("[r.status for r in _edge]")
    assert statuses == ["interrupted", "interrupted"]
    sb.wait_for_completions(len(sb.completions))
    assert all(c.cancelled for c in sb.completions[-2:])
    texts = kernel.value("[r.text for r in _edge]")
    assert all(texts) and all(markdown_to_safe_html(t) in run.texts("text/html") for t in texts)
