"""The Python API in real kernels against the sandbox: display, streaming, ``await``,
named chats across a restart (continued by the magic and back), budgets, interrupts."""

from __future__ import annotations

import pytest
from kernel_harness import once_streaming

from edge_jupyter.money import exact_usd, total_usd
from edge_jupyter.untrusted_text import markdown_to_safe_html

MODEL = "openai/gpt-4o-mini"
OTHER = "google/gemini-2.0-flash-001"


@pytest.fixture(scope="module")
def api(kernel):
    kernel.ok("import asyncio\nimport edge_jupyter as edge")
    return kernel


def ledger(kernel, column: str = "status") -> list:
    return kernel.value(f"edge.usage('all')['{column}'].tolist()")


def html_of(run) -> str:
    return "".join(run.texts("text/html"))


def test_ask_displays_like_a_cell_answer_with_cost_line_and_receipt(api, sb):
    before = len(ledger(api))
    run = api.ok(f"edge.ask('Say hello', model='{MODEL}')", cell_id="cell-ask")
    sent = sb.completions[-1]
    out = run.output_with("text/html")
    assert out["output_type"] == "execute_result"
    assert markdown_to_safe_html(sent.text) in out["data"]["text/html"]
    assert exact_usd(sent.usage["cost"]) in out["data"]["text/html"]
    assert "💰" in out["data"]["text/plain"]
    receipt = out["metadata"]["edge_jupyter"]
    assert receipt["generation_id"] == sent.id and receipt["cost_usd"] == sent.usage["cost"]
    assert run.streamed == "", "not streamed unless asked"
    statuses = ledger(api)
    assert len(statuses) == before + 1 and statuses[-1] == "ok"
    assert ledger(api, "cell_id")[-1] == "cell-ask"
    assert api.value("_.cost_usd") == sent.usage["cost"]


def test_stream_true_streams_into_the_cell_once(api, sb):
    sb.answer_length = 60
    run = api.ok(f"r = edge.ask('Stream please', model='{MODEL}', stream=True)\nr")
    sent = sb.completions[-1]
    assert run.streamed == sent.text + ("" if sent.text.endswith("\n") else "\n")
    rendered = markdown_to_safe_html(sent.text)
    assert html_of(run).count(rendered) == 1, "the answer is displayed once, not twice"
    final = [o for o in run.outputs if o["output_type"] == "execute_result"]
    assert final and final[0]["data"] == {"text/plain": final[0]["data"]["text/plain"]}
    assert final[0]["data"]["text/plain"].startswith("💰")
    receipt = run.output_with("text/html")["metadata"].get("edge_jupyter") or next(
        o["metadata"]["edge_jupyter"] for o in run.outputs if "edge_jupyter" in o.get("metadata", {}))
    assert receipt["generation_id"] == sent.id


def test_aask_with_gather_over_three_prompts(api, sb):
    before = len(ledger(api))
    api.ok("qs = ['one?', 'two?', 'three?']\n"
           f"rs = await asyncio.gather(*(edge.aask(q, model='{MODEL}') for q in qs))")
    texts = api.value("[r.text for r in rs]")
    by_prompt = {c.messages[-1]["content"]: c.text for c in sb.completions}
    assert texts == [by_prompt[q] for q in ("one?", "two?", "three?")]
    assert ledger(api)[before:] == ["ok", "ok", "ok"]


def test_several_models_and_their_comparison(api, sb):
    run = api.ok(f"both = edge.ask('Define entropy.', models=['{MODEL}', '{OTHER}'])\nboth")
    out = run.output_with("text/html")
    assert [r["model"] for r in out["metadata"]["edge_jupyter"]["receipts"]] == [MODEL, OTHER]
    assert "Σ 2 models" in out["data"]["text/html"]
    table = api.value("both.comparison.reset_index()[['model', 'cost_usd']].values.tolist()")
    sent = {c.model: c.usage["cost"] for c in sb.completions[-2:]}
    assert table == [[MODEL, sent[MODEL]], [OTHER, sent[OTHER]]]


def test_a_budget_refuses_an_ask_and_nothing_is_sent(api, sb):
    before = len(sb.completions)
    run = api.run(f"edge.ask('Write a long essay', model='{MODEL}', budget=0.000001)")
    assert run.status == "error" and run.reply["content"]["ename"] == "CallRefused"
    assert "Refused before sending to openai/gpt-4o-mini" in run.reply["content"]["evalue"]
    assert len(sb.completions) == before
    assert "pending" not in ledger(api)


@pytest.mark.parametrize(("call", "expected"), [
    ("edge.ask('Hi', max_tokens=0)", "max_tokens must be"),
    ("edge.ask('Hi', temperature=9)", "temperature must be"),
    ("edge.ask('Hi', sort='cheap')", "sort must be one of"),
    ("edge.Chat(name='a b')", "is not allowed"),
])
def test_bad_arguments_are_one_clear_error_and_nothing_is_sent(api, sb, call, expected):
    before = len(sb.completions)
    run = api.run(call)
    assert run.status == "error"
    assert expected in run.reply["content"]["evalue"]
    assert len(sb.completions) == before


def test_replay_in_a_kernel(api, sb):
    api.ok(f"a = edge.ask('Replay this one', model='{MODEL}', replay=True)")
    before = len(sb.completions)
    api.ok(f"b = edge.ask('Replay this one', model='{MODEL}', replay=True)")
    assert len(sb.completions) == before
    assert api.value("[b.status, b.text == a.text]") == ["replayed", True]


def test_a_chat_without_a_name_stays_in_memory(api, sb, kernel_env):
    from pathlib import Path

    chats = Path(kernel_env["EDGE_DATA_DIR"]) / "chats"
    saved = sorted(p.name for p in chats.iterdir()) if chats.exists() else []
    api.ok(f"mem = edge.Chat('{MODEL}')\nmem.ask('first')\nmem.ask('second')", cell_id="cell-mem")
    assert api.value("[t.prompt for t in mem.history]") == ["first", "second"], \
        "two asks in one cell are two turns"
    assert sb.completions[-1].messages[-3]["content"] == "first"
    now = sorted(p.name for p in chats.iterdir()) if chats.exists() else []
    assert now == saved, "nothing on disk"


def test_a_named_chat_survives_a_restart_and_the_magic_continues_it(api, sb):
    api.ok(f"chat = edge.Chat('{MODEL}', name='review', system='You review code.')\n"
           "chat.ask('Here is my function')", cell_id="cell-chat")
    first = sb.completions[-1]
    api.restart()
    api.ok("%load_ext edge_jupyter\nimport asyncio\nimport edge_jupyter as edge")
    api.ok(f"chat = edge.Chat('{MODEL}', name='review', system='You review code.')\n"
           "r = chat.ask('Make it faster.')", cell_id="cell-chat")
    assert sb.completions[-1].messages == [
        {"role": "system", "content": "You review code."},
        {"role": "user", "content": "Here is my function"},
        {"role": "assistant", "content": first.text},
        {"role": "user", "content": "Make it faster."}]
    second = sb.completions[-1]
    api.ok(f"%%edge --chat review -m {MODEL}\nAnd shorter?")
    assert [m["content"] for m in sb.completions[-1].messages[1:]] == [
        "Here is my function", first.text, "Make it faster.", second.text, "And shorter?"]
    magic = sb.completions[-1]
    assert api.value("[t.prompt for t in chat.history]") == [
        "Here is my function", "Make it faster.", "And shorter?"]
    api.ok("chat.ask('Thanks')")
    assert sb.completions[-1].messages[-2:] == [{"role": "assistant", "content": magic.text},
                                                {"role": "user", "content": "Thanks"}]
    # this object's asks since the restart, summed exactly
    assert api.value("chat.cost_usd") == total_usd([second.usage["cost"],
                                                    sb.completions[-1].usage["cost"]])


def test_an_interrupt_during_aask_ends_the_row_interrupted(api, sb):
    sb.answer_length = 2000
    sb.tokens_per_second = 20
    sb.generation_ready_after = 0.2
    before = len(ledger(api))
    run = api.run(f"r = await edge.aask('A long story', model='{MODEL}')",
                  interrupt_when=once_streaming(sb), timeout=60)
    assert run.status == "error" and run.reply["content"]["ename"] == "CancelledError"
    sb.wait_for_completions(len(sb.completions))
    assert sb.completions[-1].cancelled, "the stream was closed"
    statuses = ledger(api)[before:]
    assert statuses == ["interrupted"], "nothing left pending"
    # the kernel goes on: the next ask works
    sb.answer_length, sb.tokens_per_second = 24, 0.0
    api.ok(f"edge.ask('Still there?', model='{MODEL}')")
    assert ledger(api)[-1] == "ok"


def test_an_interrupt_during_ask_raises_edge_interrupted_and_keeps_the_streamed_text(api, sb):
    sb.answer_length = 2000
    sb.tokens_per_second = 20
    before = len(ledger(api))
    run = api.run(f"edge.ask('A long story', model='{MODEL}', stream=True)",
                  interrupt_when=once_streaming(sb), timeout=60)
    assert run.status == "error" and run.reply["content"]["ename"] == "EdgeInterrupted"
    assert "Interrupted: the partial answer is kept above" in run.all_text
    sent = sb.completions[-1]
    assert sent.cancelled and run.streamed and sent.text.startswith(run.streamed.rstrip("\n"))
    assert ledger(api)[before:] == ["interrupted"]
    sb.answer_length, sb.tokens_per_second = 24, 0.0


def test_several_models_streamed_are_shown_once(api, sb):
    run = api.ok(f"edge.ask('Two views', models=['{MODEL}', '{OTHER}'], stream=True)")
    html = html_of(run)
    for c in sb.completions[-2:]:
        assert html.count(markdown_to_safe_html(c.text)) == 1
    final = [o for o in run.outputs if o["output_type"] == "execute_result"]
    assert final[0]["data"] == {"text/plain": final[0]["data"]["text/plain"]}
    assert final[0]["data"]["text/plain"].startswith("Σ 2 models")
