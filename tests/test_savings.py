"""Savings, shown (issue 17): what replay, OpenRouter's response cache, prompt caching, the
Batch API and the flex tier saved, in the ledger's schema-4 columns (``saved_usd``,
``saved_by``, ``saved_exact``, ``service_tier``), in ``edge_jupyter.savings()`` and in
``%edge savings``; ``%edge advise``'s pointers at them.

Against the real sandbox over HTTP: every saving is checked against the sandbox's own
figures (the original bill, ``/generation``'s ``cache_discount`` and
``response_cache_source_id``, its catalogue's prices for batch and flex). One test runs the
magic in a real kernel.
"""

from __future__ import annotations

import sqlite3
import sys
from decimal import Decimal
from pathlib import Path

import httpx
import pandas as pd
import pytest
from sandbox_fixtures import generation

import edge_jupyter as edge
from edge_jupyter.ledger import Ledger
from edge_jupyter.ledger._schema import DDL, SCHEMA_VERSION
from edge_jupyter.record import CallRecord
from edge_jupyter.sandbox import MODELS, Fault
from edge_jupyter.savings_report import advice, headline, table

sys.path.insert(0, str(Path(__file__).resolve().parent))

MINI = "openai/gpt-4o-mini"
OPENAI = MODELS[MINI].endpoints[0]  # sells flex at 0.5x (tests/test_service_tiers.py)
LONG = "The quarterly report says revenue grew in every region. " * 90  # ≈ 5,000 characters
SAVED = ("service_tier", "saved_usd", "saved_by", "saved_exact")


def row_of(generation_id: str) -> dict:
    rows = edge.usage("all")
    found = rows[rows["generation_id"] == generation_id].to_dict("records")
    assert len(found) == 1, found
    return found[0]


def at_openai(prompt_tokens: int, completion_tokens: int, factor: str = "1") -> float:
    """The sandbox's OpenAI endpoint's price for these tokens (exact decimal arithmetic)."""
    f = Decimal(factor)
    return float(prompt_tokens * OPENAI.prompt_price * f + completion_tokens * OPENAI.completion_price * f)


# -- each kind, equal to the sandbox's own figures ------------------------------------------

def test_a_replayed_answer_saved_what_the_original_was_billed_exactly(edge_env, sb) -> None:
    first = edge.ask("Replay me", model=MINI, replay=True)
    again = edge.ask("Replay me", model=MINI, replay=True)
    billed = generation(sb, first.generation_id)["total_cost"]
    assert again.status == "replayed" and first.cost_usd == billed > 0
    rows = edge.usage("all")
    replayed = rows[rows["status"] == "replayed"].iloc[0]
    assert (replayed["saved_usd"], replayed["saved_by"], replayed["saved_exact"]) == (billed, "replay", True)
    assert rows[rows["status"] == "ok"]["saved_by"].tolist() == [""]  # the paid call saved nothing
    assert rows[rows["status"] == "ok"]["saved_usd"].isna().all()


def test_an_openrouter_cache_hit_saved_the_cost_of_the_generation_it_replays(edge_env, sb) -> None:
    first = edge.ask("Name a colour", model=MINI, or_cache=True)
    again = edge.ask("Name a colour", model=MINI, or_cache=True)
    assert again.openrouter_cache and again.cost_usd == 0
    source = generation(sb, again.generation_id)["response_cache_source_id"]
    assert source == first.generation_id
    row = row_of(again.generation_id)
    assert row["cost_usd"] == 0
    assert (row["saved_usd"], row["saved_by"], row["saved_exact"]) == (
        generation(sb, source)["total_cost"], "openrouter_cache", True)
    assert row["saved_usd"] > 0


def test_a_prompt_cache_read_saved_cache_discount_exactly_or_a_computed_figure(edge_env, sb) -> None:
    chat = edge.Chat(model=MINI, name="report")
    chat.ask("Here is the report. " + LONG)
    two = chat.ask("What grew?")
    discount = generation(sb, two.generation_id)["cache_discount"]
    assert two.cached_tokens > 1024 and discount > 0
    row = row_of(two.generation_id)
    assert (row["saved_usd"], row["saved_by"], row["saved_exact"]) == (discount, "prompt_cache", True)

    other = edge.Chat(model=MINI, name="computed")
    other.ask("Here is the report. " + LONG)
    sb.inject(Fault.usage(cache_discount=None, in_generation=True))  # /generation: no figure
    three = other.ask("What grew?")
    price = next(m for m in httpx.get(f"{sb.api_url}/models").json()["data"] if m["id"] == MINI)["pricing"]
    expected = three.cached_tokens * (float(price["prompt"]) - float(price["input_cache_read"]))
    row = row_of(three.generation_id)
    assert row["saved_by"] == "prompt_cache" and not row["saved_exact"]
    assert row["saved_usd"] == pytest.approx(expected, rel=1e-9)


def test_a_flex_call_saved_its_standard_price_minus_its_flex_price(edge_env, sb) -> None:
    result = edge.ask("Summarise flex", model=MINI, max_tokens=30, tier="flex")
    done = sb.completions[-1]
    assert done.service_tier == "flex" and result.cost_usd == pytest.approx(done.cost, abs=1e-15)
    standard = at_openai(result.prompt_tokens, result.completion_tokens)
    flex = at_openai(result.prompt_tokens, result.completion_tokens, "0.5")
    row = row_of(result.generation_id)
    assert row["service_tier"] == "flex"
    assert row["saved_by"] == "flex" and not row["saved_exact"]
    assert row["saved_usd"] == pytest.approx(standard - flex, rel=1e-9)
    assert row["saved_usd"] == pytest.approx(standard - done.cost, rel=1e-9)
    # the default tier saved nothing, and its row says which tier served
    plain = edge.ask("Summarise default", model=MINI, max_tokens=30)
    row = row_of(plain.generation_id)
    assert row["saved_by"] == "" and pd.isna(row["saved_usd"]) and row["service_tier"] != "flex"


def test_a_batch_row_saved_its_normal_price_minus_its_batch_price(edge_env, sb) -> None:
    texts = pd.Series([f"batch {i}" for i in range(4)], index=[f"k{i}" for i in range(4)], name="q")
    edge.map(texts, "Say {text}", MINI, max_tokens=20, batch=True, confirm_over=None)
    batch = sb.batches.mine(sb.key)[0]
    billed = {r["response"]["body"]["id"]: r["response"]["body"]["usage"] for r in batch.results}
    rows = edge.usage("all")
    assert len(rows) == 4
    for row in rows.to_dict("records"):
        usage = billed[row["generation_id"]]
        normal = at_openai(usage["prompt_tokens"], usage["completion_tokens"])
        assert row["cost_usd"] == usage["cost"]
        assert row["saved_by"] == "batch" and not row["saved_exact"]
        assert row["saved_usd"] == pytest.approx(normal - usage["cost"], rel=1e-9)


# -- the table, the magic, advise -----------------------------------------------------------

def test_savings_per_model_and_kind_with_exact_and_computed_labels_and_a_total(edge_env, sb) -> None:
    first = edge.ask("Replay me", model=MINI, replay=True)
    edge.ask("Replay me", model=MINI, replay=True)
    edge.ask("Replay me", model=MINI, replay=True)
    flex = edge.ask("Summarise flex", model=MINI, max_tokens=30, tier="flex")
    got = edge.savings("all")
    assert list(got.columns) == ["model", "kind", "calls", "saved_usd", "figures"]
    by_kind = got.set_index("kind")
    assert by_kind.loc["replay", "calls"] == 2 and by_kind.loc["replay", "figures"] == "exact"
    assert by_kind.loc["replay", "saved_usd"] == pytest.approx(2 * first.cost_usd, rel=1e-12)
    flex_saved = row_of(flex.generation_id)["saved_usd"]
    assert by_kind.loc["flex", "calls"] == 1 and by_kind.loc["flex", "figures"] == "computed"
    total = got.iloc[-1]
    assert (total["model"], total["kind"], total["calls"], total["figures"]) == ("Total", "", 3, "computed")
    assert total["saved_usd"] == pytest.approx(2 * first.cost_usd + flex_saved, rel=1e-12)
    assert got["calls"].dtype == "int64" and got["saved_usd"].dtype == "float64"
    kinds = edge.savings("all", by="kind")
    assert list(kinds.columns) == ["kind", "calls", "saved_usd", "figures"]
    assert set(kinds["kind"]) == {"replay", "flex", "Total"}
    assert edge.savings("all", by="model")["model"].tolist() == [MINI, "Total"]
    assert headline(got).startswith("Saved $") and "some figures computed" in headline(got)


def test_an_empty_ledger_saved_nothing_and_says_how_to_save() -> None:
    empty = pd.DataFrame({"model": pd.Series([], dtype=object), "saved_usd": pd.Series([], dtype=float),
                          "saved_by": pd.Series([], dtype=object), "saved_exact": pd.Series([], dtype=bool)})
    got = table(empty)
    assert got.to_dict("records") == [{"model": "Total", "kind": "", "calls": 0, "saved_usd": 0.0,
                                       "figures": ""}]
    assert headline(got).startswith("Nothing saved yet")
    with pytest.raises(ValueError, match="model or kind"):
        table(empty, "day")


def test_one_saving_per_row_the_largest() -> None:
    from edge_jupyter.calls._savings import note

    record = CallRecord(model=MINI)
    note(record, "prompt_cache", 0.002, exact=True)
    note(record, "flex", 0.001, exact=False)  # smaller: the prompt cache's stays
    assert (record.saved_usd, record.saved_by, record.saved_exact) == (0.002, "prompt_cache", True)
    note(record, "flex", 0.003, exact=False)
    assert (record.saved_usd, record.saved_by, record.saved_exact) == (0.003, "flex", False)
    note(record, "prompt_cache", -0.5, exact=True)  # writing the cache cost more: no saving
    assert record.saved_by == "flex"


def test_advise_points_at_batch_flex_and_prompt_caching_where_they_apply() -> None:
    n = 120
    df = pd.DataFrame({
        "model": [MINI] * n + ["anthropic/claude-3.5-haiku"] * 3,
        "chat": ["map"] * n + ["report"] * 3,
        "notebook": ["nb.ipynb"] * (n + 3), "cell_id": ["c1"] * n + ["c2"] * 3,
        "saved_by": [""] * (n + 3), "service_tier": [""] * (n + 3),
        "prompt_tokens": [50] * n + [3000] * 3, "cached_tokens": [0] * (n + 3),
    })
    lines = advice(df, {MINI})
    assert len(lines) == 3
    assert lines[0].startswith("Batch: 120 map rows") and "batch=True" in lines[0]
    assert lines[1].startswith(f"Flex: {MINI}") and "--tier flex" in lines[1]
    assert lines[2].startswith("Prompt caching: chat(s) report") and "--cache-prompt" in lines[2]
    # none of them where they do not apply: a small map, flex already used, a cache read
    small = df.iloc[n - 5:].assign(service_tier="flex", cached_tokens=100)
    assert advice(small, {MINI}) == []


# -- schema 4 on an older ledger ------------------------------------------------------------

def schema_3_ddl() -> tuple[str, ...]:
    """Schema 3's statements: today's, without the four columns schema 4 appended."""
    table_sql = DDL[0]
    for line in ("        service_tier TEXT NOT NULL DEFAULT '',\n", "        saved_usd REAL,\n",
                 "        saved_by TEXT NOT NULL DEFAULT '',\n",
                 "        saved_exact INTEGER NOT NULL DEFAULT 0\n"):
        assert line in table_sql
        table_sql = table_sql.replace(line, "")
    table_sql = table_sql.replace("web_searches INTEGER NOT NULL DEFAULT 0,\n",
                                  "web_searches INTEGER NOT NULL DEFAULT 0\n")
    return (table_sql, *DDL[1:])


def columns_of(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [row[1] for row in conn.execute("PRAGMA table_info(calls)")]


def test_a_schema_3_ledger_is_upgraded_in_place_and_takes_savings(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in schema_3_ddl():
        conn.execute(statement)
    conn.execute("INSERT INTO meta VALUES ('ledger_id', '0123456789abcdef0123456789abcdef')")
    conn.execute("PRAGMA user_version = 3")
    for i in range(5):
        conn.execute("INSERT INTO calls (id, seq, timestamp, model, status, cost_usd, step, "
                     "updated_at) VALUES (?, ?, ?, ?, 'ok', ?, ?, ?)",
                     (i * 2 + 1, i + 1, 1_780_000_000_000_000 + i, MINI, i * 1e-6, i % 2, 1))
    conn.close()
    before = columns_of(path)
    assert SCHEMA_VERSION == 4 and "saved_usd" not in before

    with Ledger(path) as ledger:
        df = ledger.frame("all")
        assert ledger.ledger_id == "0123456789abcdef0123456789abcdef"
        assert columns_of(path) == [*before, *SAVED]  # appended, where ALTER TABLE puts them
        assert df["step"].tolist() == [0, 1, 0, 1, 0]  # schema 3's columns intact
        assert (df["saved_by"] == "").all() and df["saved_usd"].isna().all()
        assert (df["service_tier"] == "").all() and not df["saved_exact"].any()
        assert df["saved_exact"].dtype == bool and df["saved_usd"].dtype == "float64"
        record = CallRecord(model=MINI, status="ok", cost_usd=1e-6, service_tier="flex",
                            saved_usd=1e-6, saved_by="flex", saved_exact=False)
        row = ledger.begin(record)
        ledger.complete(row, record)
        assert row == 10  # after the highest id kept
        last = ledger.frame("all").iloc[-1]
        assert (last["service_tier"], last["saved_usd"], last["saved_by"], last["saved_exact"]) == (
            "flex", 1e-6, "flex", False)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("SELECT saved_by, saved_usd FROM calls_iso WHERE id = 10").fetchone() == (
            "flex", 1e-6)
    with Ledger(path) as again:  # current now: nothing added twice
        assert len(again.frame("all")) == 6 and columns_of(path) == [*before, *SAVED]


# -- the magic, in a real kernel ------------------------------------------------------------

def test_the_savings_magic_in_a_real_kernel(sb, tmp_path) -> None:
    from kernel_harness import Kernel

    env = {"EDGE_OPENROUTER_URL": sb.url, "OPENROUTER_API_KEY": sb.key,
           "EDGE_DATA_DIR": str(tmp_path / "data"), "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
    k = Kernel(env)
    try:
        k.ok("%load_ext edge_jupyter\nimport edge_jupyter")
        empty = k.ok("%edge savings --all")
        assert "Nothing saved yet" in empty.all_text
        k.ok(f"%%edge -m {MINI} --replay\nSay hello")
        k.ok(f"%%edge -m {MINI} --replay\nSay hello")
        cost = k.value("float(edge_jupyter.usage('all')['cost_usd'].iloc[0])")
        shown = k.ok("%edge savings --all --by kind")
        assert "Saved $" in shown.all_text and "every figure OpenRouter's own" in shown.all_text
        assert "replay" in shown.all_text and "exact" in shown.all_text
        got = k.value("edge_jupyter.savings('all').to_dict('records')")
        assert got[0]["kind"] == "replay" and got[0]["calls"] == 1 and got[0]["figures"] == "exact"
        assert got[0]["saved_usd"] == cost > 0
        assert "savings" in k.ok("%edge help").all_text
        # advise: gpt-4o-mini has a flex tier (the sandbox's OpenAI endpoint) these calls did not use
        advised = k.ok("%edge advise --all")
        assert f"Flex: {MINI} has a flex tier" in advised.all_text and "--tier flex" in advised.all_text
        wrong = k.run("%edge savings --by day")
        assert "invalid choice" in wrong.all_text
    finally:
        k.shutdown()
