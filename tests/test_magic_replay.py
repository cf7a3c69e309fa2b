"""Free re-runs, model comparison as data, and code insertion, in a real kernel."""

from __future__ import annotations

from edge_jupyter.money import exact_usd
from edge_jupyter.untrusted_text import markdown_to_safe_html


def chat_calls(sb) -> int:
    return sum(1 for r in sb.requests if r.path.endswith("/chat/completions"))


def test_replay_answers_an_unchanged_cell_for_free_without_a_request(kernel, sb):
    kernel.ok("%%edge --replay -m openai/gpt-4o-mini\nReplay me")
    original = sb.completions[-1]
    calls = chat_calls(sb)
    run = kernel.ok("%%edge --replay -m openai/gpt-4o-mini\nReplay me")
    assert chat_calls(sb) == calls, "a replay makes no request"
    assert markdown_to_safe_html(original.text) in run.texts("text/html")
    assert original.text in run.texts("text/plain")  # not streamed: its plain twin
    line = next(t for t in run.texts() if t.startswith("💰"))
    assert f"replayed (saved {exact_usd(original.usage['cost'])})" in line
    status, cost, saved, text = kernel.value("[_edge.status, _edge.cost_usd, _edge.saved_usd, _edge.text]")
    assert (status, cost, saved, text) == ("replayed", 0.0, original.usage["cost"], original.text)
    last = kernel.value("edge_jupyter.usage('session').iloc[-1][['status','cost_usd']].tolist()")
    assert last == ["replayed", 0.0]


def test_a_changed_prompt_or_fresh_asks_again(kernel, sb):
    kernel.ok("%%edge --replay -m openai/gpt-4o-mini\nVersion one")
    calls = chat_calls(sb)
    kernel.ok("%%edge --replay -m openai/gpt-4o-mini\nVersion two")
    assert chat_calls(sb) == calls + 1
    kernel.ok("%%edge --replay --fresh -m openai/gpt-4o-mini\nVersion two")
    assert chat_calls(sb) == calls + 2
    kernel.ok("%%edge --replay -m openai/gpt-4o-mini -t 0.5\nVersion two")
    assert chat_calls(sb) == calls + 3, "other parameters are another question"


def test_replay_by_config_works_offline(kernel, sb):
    kernel.ok("%config EdgeMagics.replay = True")
    try:
        kernel.ok("%%edge -m anthropic/claude-3.5-haiku\nOffline later")
        calls = chat_calls(sb)
        kernel.ok("import os; _k = os.environ.pop('OPENROUTER_API_KEY')")
        try:
            run = kernel.ok("%%edge -m anthropic/claude-3.5-haiku\nOffline later")
            assert "replayed" in run.all_text and chat_calls(sb) == calls
        finally:
            kernel.ok("os.environ['OPENROUTER_API_KEY'] = _k")
    finally:
        kernel.ok("%config EdgeMagics.replay = False")


def test_cache_clear_forgets_stored_answers(kernel, sb):
    kernel.ok("%%edge --replay -m openai/gpt-4o-mini\nClear me")
    assert "stored answer" in kernel.ok("%edge cache").all_text
    assert "Removed" in kernel.ok("%edge cache clear").all_text
    calls = chat_calls(sb)
    kernel.ok("%%edge --replay -m openai/gpt-4o-mini\nClear me")
    assert chat_calls(sb) == calls + 1


def test_several_models_give_a_comparison_frame_equal_to_the_ledger(kernel, sb):
    kernel.ok("%%edge -m openai/gpt-4o-mini -m google/gemini-2.0-flash-001 -m deepseek/deepseek-r1\nCompare")
    table = kernel.value("_edge.comparison.reset_index().to_dict(orient='records')")
    ledger = kernel.value("edge_jupyter.usage('session').tail(3)[['model','cost_usd','completion_tokens',"
                          "'provider']].to_dict(orient='records')")
    assert {(r["model"], r["cost_usd"], r["completion_tokens"], r["provider"]) for r in table} == \
        {(r["model"], r["cost_usd"], r["completion_tokens"], r["provider"]) for r in ledger}
    r1 = next(r for r in table if r["model"] == "deepseek/deepseek-r1")
    assert r1["reasoning_tokens"] > 0 and r1["tokens_per_s"] > 0 and r1["finish_reason"] == "stop"


def test_code_format_inserts_a_cell_below(kernel, sb):
    run = kernel.ok("%%edge -m openai/gpt-4o-mini -f code --insert\nWrite code")
    payload = run.reply["content"]["payload"]
    inserted = [p for p in payload if p.get("source") == "set_next_input"]
    assert inserted and inserted[0]["replace"] is False
    assert inserted[0]["text"] == kernel.value("_edge.value")
    shown = [o["data"] for o in run.outputs
             if o.get("data", {}).get("text/html", "").startswith('<pre><code class="language-')]
    assert [d["text/plain"] for d in shown] == [kernel.value("_edge.value")]  # escaped code
