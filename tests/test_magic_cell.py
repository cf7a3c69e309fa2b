"""``%%edge`` in a real kernel against the sandbox: streaming, cost, models, results."""

from __future__ import annotations

import pytest

from edge_jupyter.money import exact_usd
from edge_jupyter.untrusted_text import markdown_to_safe_html


def last_user_message(sb) -> str:
    return sb.completions[-1].messages[-1]["content"]


def test_streams_the_exact_text_and_shows_the_exact_cost(kernel, sb):
    sb.answer_length = 60
    run = kernel.ok("%%edge -m openai/gpt-4o-mini\nSay hello")
    sent = sb.completions[-1]
    # rendered in the kernel and sanitised (answers are untrusted), and nothing else
    assert run.output_with("text/html")["data"] == {"text/html": markdown_to_safe_html(sent.text)}
    assert run.texts("text/markdown") == []
    # what text frontends show: the answer, its line ended, and no text/plain twin repeating it
    assert run.streamed == sent.text + ("" if sent.text.endswith("\n") else "\n")
    cost_line = next(t for t in run.texts() if t.startswith("💰"))
    assert exact_usd(sent.usage["cost"]) in cost_line
    assert f"{sent.usage['prompt_tokens']} prompt + {sent.usage['completion_tokens']} completion" in cost_line
    assert "openai/gpt-4o-mini via OpenAI" in cost_line
    result = kernel.value("{k: getattr(_edge, k) for k in ('text','cost_usd','prompt_tokens',"
                          "'completion_tokens','generation_id','provider','status','finish_reason',"
                          "'model','is_byok','upstream_cost_usd')}")
    assert result["text"] == sent.text
    assert result["cost_usd"] == sent.usage["cost"]
    assert result["completion_tokens"] == sent.usage["completion_tokens"]
    assert result["generation_id"] == sent.id
    assert result["status"] == "ok" and result["finish_reason"] == "stop"
    assert kernel.value("[_edge.ttft_s is not None, _edge.latency_s >= _edge.ttft_s]") == [True, True]


def test_text_arrives_while_streaming_with_a_waiting_indicator(kernel, sb):
    sb.answer_length = 80
    sb.tokens_per_second = 100
    run = kernel.ok("%%edge -m openai/gpt-4o-mini\nStream slowly")
    first_display = next(m for m in run.messages if m["msg_type"] == "display_data")
    assert "waiting for first token" in first_display["content"]["data"]["text/plain"]
    assert run.streamed.rstrip("\n") == sb.completions[-1].text.rstrip("\n")
    assert run.count("stream") >= 5, "the answer should arrive in several pieces"
    assert run.count("clear_output") == 1


def test_display_traffic_is_linear_in_the_answer(kernel, sb):
    """Bytes sent to the frontend stay a small multiple of the answer (O(n), not O(n²))."""
    sb.answer_length = 3000
    sb.tokens_per_second = 1500  # two seconds: ~30 throttled updates
    run = kernel.ok("%%edge -m openai/gpt-4o-mini\nA long one please")
    answer = len(sb.completions[-1].text.encode())
    rendered = len(markdown_to_safe_html(sb.completions[-1].text).encode())
    assert run.count("stream") >= 10
    assert rendered <= 1.5 * answer  # the HTML's tags are a small share of it
    # the streamed text once, the final HTML once, the status and cost lines (< 1 KB)
    assert run.display_bytes() <= answer + rendered + 1024
    # re-sending the whole text on every update would be ~count/2 times the answer
    assert run.display_bytes(include_stream=False) <= rendered + 1024


def test_interpolation_fills_python_values(kernel, sb):
    kernel.ok("who = 'world'; n = 3")
    kernel.ok("%%edge -m openai/gpt-4o-mini\nHello {who}, {n * 2} times, {{literal}} {who!r}")
    assert last_user_message(sb) == "Hello world, 6 times, {literal} 'world'"


def test_unknown_name_in_prompt_is_a_clear_error_and_sends_nothing(kernel, sb):
    before = len(sb.completions)
    run = kernel.run("%%edge -m openai/gpt-4o-mini\nHello {nobody_defined_this}")
    assert run.status == "error"
    assert "nobody_defined_this" in run.error_text and "not defined" in run.error_text
    assert "Traceback" not in run.error_text
    assert len(sb.completions) == before


def test_several_models_answer_side_by_side_with_a_total(kernel, sb):
    run = kernel.ok("%%edge -m openai/gpt-4o-mini -m anthropic/claude-3.5-haiku\nCompare yourselves")
    sent = {c.model: c for c in sb.completions[-2:]}
    assert set(sent) == {"openai/gpt-4o-mini", "anthropic/claude-3.5-haiku"}
    grid = [m for m in run.messages if m["msg_type"] == "display_data"
            and "edge-grid" in m["content"]["data"].get("text/html", "")]
    assert grid, "a side-by-side grid is shown while they stream"
    answers = run.texts("text/html")
    for completion in sent.values():
        assert markdown_to_safe_html(completion.text) in answers
        assert completion.text in run.texts("text/plain")  # did not stream: a plain twin
    total = sum(c.usage["cost"] for c in sent.values())
    total_line = next(t for t in run.texts() if t.startswith("Σ"))
    assert exact_usd(round(total, 12)) in total_line
    results = kernel.value("[(r.model, r.cost_usd, r.text) for r in _edge]")
    assert {tuple(r[:2]) for r in results} == {(m, c.usage["cost"]) for m, c in sent.items()}


def test_output_variable_and_formats(kernel, sb):
    kernel.ok("%%edge -m openai/gpt-4o-mini -o answer\nHi")
    assert kernel.value("answer.text") == sb.completions[-1].text
    assert kernel.value("str(answer) == answer.text") is True
    run = kernel.ok("%%edge -m openai/gpt-4o-mini -f text\nPlain please")
    assert run.texts("text/markdown") == [] and not any("<p>" in t for t in run.texts("text/html"))
    assert sb.completions[-1].text in run.texts("text/plain")


def test_system_temperature_and_max_tokens_reach_the_request(kernel, sb):
    kernel.ok('%%edge -m openai/gpt-4o-mini -s "You are terse." -t 0.2 --max-tokens 5\nHi')
    body = sb.completions[-1].request
    assert body["messages"][0] == {"role": "system", "content": "You are terse."}
    assert body["temperature"] == 0.2 and body["max_tokens"] == 5
    assert kernel.value("_edge.finish_reason") == "length"
    assert kernel.value("_edge.completion_tokens") == 5


def test_no_stream_gives_the_same_answer(kernel, sb):
    run = kernel.ok("%%edge -m openai/gpt-4o-mini --no-stream\nAt once")
    sent = sb.completions[-1]
    assert sent.stream is False
    assert markdown_to_safe_html(sent.text) in run.texts("text/html")
    assert kernel.value("_edge.cost_usd") == sent.usage["cost"]


@pytest.mark.parametrize("flags,expected", [
    ("--temperature 5", "must be a finite number from 0 to 2, not 5"),
    ("--nope", "unrecognized arguments"),
    ("-f yaml", "invalid choice"),
    ("-o 1x", "not a valid Python variable"),
    ("--insert", "only works with -f code"),
    ("--max-tokens 0", "must be a whole number of tokens from 1 to"),
])
def test_bad_flags_are_one_clear_line(kernel, sb, flags, expected):
    before = len(sb.requests)
    run = kernel.run(f"%%edge {flags}\nHi")
    assert run.status == "error"
    assert expected in run.error_text
    assert "Traceback" not in run.error_text and ".py" not in run.error_text
    assert len(sb.requests) == before


def test_help_lists_every_flag(kernel):
    run = kernel.ok("%%edge --help\nignored")
    text = run.all_text
    for flag in ("--model", "--chat", "--system", "--temperature", "--max-tokens", "--format",
                 "--output", "--budget", "--no-stream"):
        assert flag in text
