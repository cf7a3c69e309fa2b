"""The ledger, budgets and balance seen from a real kernel: rows, limits, alerts, reconciliation."""

from __future__ import annotations

import time

import pytest

from edge_jupyter.sandbox import Fault


def frame(kernel, expr: str = "edge_jupyter.usage('session')") -> dict:
    kernel.ok("import edge_jupyter")
    return kernel.value(f"{expr}.astype(str).to_dict(orient='list')")


def test_every_call_is_a_ledger_row_with_the_exact_cost(kernel, sb):
    kernel.ok("import os; os.environ['JPY_SESSION_NAME'] = 'work/analysis.ipynb'")
    kernel.ok("%%edge -m openai/gpt-4o-mini\nFirst", cell_id="cell-a")
    first = sb.completions[-1]
    kernel.ok("%%edge -m openai/gpt-4o-mini -m anthropic/claude-3.5-haiku --chat money\nSecond",
              cell_id="cell-b")
    rows = kernel.value(
        "[(r.cell_id, r.model, r.cost_usd, r.prompt_tokens, r.completion_tokens, r.generation_id,"
        " r.status, r.notebook, r.chat) for r in edge_jupyter.usage('notebook').itertuples()]")
    by_id = {r[5]: r for r in rows}
    assert len(rows) == 3
    assert by_id[first.id][:5] == ["cell-a", "openai/gpt-4o-mini", first.usage["cost"],
                                   first.usage["prompt_tokens"], first.usage["completion_tokens"]]
    for completion in sb.completions[-2:]:
        row = by_id[completion.id]
        assert row[0] == "cell-b" and row[2] == completion.usage["cost"] and row[8] == "money"
    assert {r[6] for r in rows} == {"ok"} and {r[7] for r in rows} == {"work/analysis.ipynb"}
    dtypes = kernel.value("edge_jupyter.usage('notebook').dtypes.astype(str).to_dict()")
    assert dtypes["timestamp"].startswith("datetime64") and dtypes["cost_usd"] == "float64"
    assert dtypes["is_byok"] == "bool" and dtypes["prompt_tokens"] in ("int64", "Int64")


def test_usage_groups_with_totals_and_exports_round_trip(kernel, sb, tmp_path):
    kernel.ok("%%edge -m openai/gpt-4o-mini\nFor the ledger")
    grouped = kernel.value("get_ipython().run_line_magic('edge', 'usage --all --by model')"
                           ".astype(str).to_dict(orient='list')")
    assert grouped["model"][-1] == "Total"
    total = kernel.value("float(edge_jupyter.usage('all')['cost_usd'].sum())")
    assert float(grouped["cost_usd"][-1]) == pytest.approx(total, rel=1e-12)
    path = tmp_path / "ledger.csv"
    run = kernel.ok(f"%edge usage --all --export {path}")
    assert "Wrote" in run.all_text and path.exists()
    same = kernel.value(f"bool(edge_jupyter.ledger.read_export(r'{path}').equals(edge_jupyter.usage('all')))")
    assert same is True
    run = kernel.run(f"%edge usage --export {tmp_path / 'x.parquet'}")
    assert run.status == "ok" or "pyarrow" in run.all_text


def test_a_budget_refuses_a_call_that_could_overspend(kernel, sb):
    before = len(sb.completions)
    kernel.ok("%edge budget set 0.00002 --scope session")
    try:
        run = kernel.run("%%edge -m openai/gpt-4o\nWrite an essay")  # no --max-tokens: huge worst case
        assert run.status == "error"
        text = run.all_text
        assert "Refused before sending" in text and "--max-tokens" in text
        assert len(sb.completions) == before
        status = kernel.ok("%edge budget").all_text
        assert "session" in status and "left" in status
    finally:
        kernel.ok("%edge budget clear")


def test_cell_budget_covers_all_models_of_the_cell(kernel, sb):
    before = len(sb.completions)
    # one small model fits, the second's worst case does not: nothing is sent at all
    run = kernel.run("%%edge -m openai/gpt-4o-mini -m openai/gpt-4o --max-tokens 50 --budget 0.0001\nHi")
    assert run.status == "error" and "Refused before sending" in run.all_text
    assert len(sb.completions) == before
    pending = kernel.value("int((edge_jupyter.usage('all')['status'] == 'pending').sum())")
    assert pending == 0, "a refused cell must not leave reservations behind"
    kernel.ok("%%edge -m openai/gpt-4o-mini --max-tokens 20 --budget 0.001\nHi")
    assert len(sb.completions) == before + 1


def test_low_balance_alert_shows_above_the_answer(kernel, sb):
    capped = sb.issue_key(limit=0.5)
    kernel.ok(f"import os; _k = os.environ['OPENROUTER_API_KEY']; os.environ['OPENROUTER_API_KEY'] = '{capped}'")
    try:
        kernel.ok("%edge alert 1")
        run = kernel.ok("%%edge -m openai/gpt-4o-mini\nHi")
        warnings = [t for t in run.texts() if t.startswith("⚠️")]
        assert warnings and "Low balance" in warnings[0] and "key limit" in warnings[0]
        assert run.outputs[0]["data"]["text/plain"].startswith("⚠️"), "the alert comes first"
        kernel.ok("%edge alert 0.1")
        run = kernel.ok("%%edge -m openai/gpt-4o-mini\nHi")
        assert not [t for t in run.texts() if t.startswith("⚠️")]
    finally:
        kernel.ok("os.environ['OPENROUTER_API_KEY'] = _k")
        kernel.ok("%edge alert 1")


def test_balance_shows_the_key_and_says_the_account_is_hidden(kernel, sb):
    kernel.ok("%%edge -m openai/gpt-4o-mini\nSpend a little")
    text = kernel.ok("%edge balance").all_text
    assert "key limit" in text and "no limit" in text
    assert "not visible to this key" in text and "--management-key" in text
    assert "spent (this machine)" in text


def test_a_killed_kernel_loses_nothing_and_is_reconciled(kernel, kernel_env, sb):
    from kernel_harness import Kernel

    sb.answer_length = 4000
    sb.tokens_per_second = 50
    sb.generation_ready_after = 0.0
    victim = Kernel(kernel_env)
    before = len(sb.completions)
    asked = sum(r.path.endswith("/chat/completions") for r in sb.requests)
    try:
        victim.ok("%load_ext edge_jupyter")
        victim.kc.execute("%%edge -m openai/gpt-4o-mini\nLong story")
        # Killed once the answer streams, however long a loaded machine takes to get there
        # (the whole answer takes 80 s at this pace).
        deadline = time.monotonic() + 60
        while sum(r.path.endswith("/chat/completions") for r in sb.requests) == asked:
            assert time.monotonic() < deadline, "the victim never sent its request"
            time.sleep(0.05)
        time.sleep(0.5)
    finally:
        victim.km.shutdown_kernel(now=True)  # SIGKILL: no chance to finish the row
        victim.kc.stop_channels()
    sb.wait_for_completions(before + 1, timeout=30)  # the sandbox sees the connection drop
    sent = sb.completions[-1]
    assert sent.cancelled
    sb.tokens_per_second = 0
    rows = kernel.value(f"[(r.status, bool(r.cost_usd != r.cost_usd)) for r in edge_jupyter.usage('all')"
                        f".query('generation_id == \"{sent.id}\"').itertuples()]")
    assert rows == [["pending", True]], "the row was written before the request, its cost unknown"
    text = kernel.ok("%edge usage --reconcile --all").all_text
    assert "Reconciled" in text
    status, cost = kernel.value(f"edge_jupyter.usage('all').query('generation_id == \"{sent.id}\"')"
                                "[['status','cost_usd']].values.tolist()[0]")
    assert status == "interrupted" and cost == sent.usage["cost"]


def test_byok_cost_is_shown_and_recorded_apart(kernel, sb):
    sb.inject(Fault.byok())
    run = kernel.ok("%%edge -m openai/gpt-4o-mini\nOn my own key")
    line = next(t for t in run.texts() if t.startswith("💰"))
    assert "OpenRouter fee (BYOK)" in line and "billed by the provider" in line
    is_byok, upstream = kernel.value("[_edge.is_byok, _edge.upstream_cost_usd]")
    assert is_byok is True and upstream == sb.completions[-1].usage["cost_details"]["upstream_inference_cost"]


def test_the_stream_guard_stops_a_provider_that_ignores_max_tokens(kernel, sb):
    """The reservation covers --max-tokens; a provider that sends far more is cut off mid-stream,
    the partial answer stays, and the ledger ends with the exact (small) cost of what was sent."""
    sb.answer_length = 3000
    sb.tokens_per_second = 200  # the whole answer would take 15 s and cost ≈ $0.0018
    sb.inject(Fault.overrun())
    run = kernel.run("%%edge -m openai/gpt-4o-mini --max-tokens 50 --budget 0.0002\nTell me all")
    sent = sb.completions[-1]
    status, text, cost, tokens = kernel.value(
        "[_edge.status, _edge.text, _edge.cost_usd, _edge.completion_tokens]")
    assert run.status == "ok" and status == "stopped_budget"
    assert "stopped before crossing the spending limit; the partial answer is kept" in run.all_text
    assert sent.cancelled and 0 < tokens < 750, "cut off early, not after the whole answer"
    assert text and sent.text.startswith(text)  # what arrived is kept (a little more may be in flight)
    assert cost == sent.usage["cost"] <= 0.0002  # the exact cost, fetched from /generation
    row = frame(kernel)
    assert (row["status"][-1], float(row["cost_usd"][-1])) == ("stopped_budget", cost)
