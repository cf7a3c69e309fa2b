"""How fast is the usage ledger?  ``python benchmarks/ledger_bench.py [--rows N] [--append N]``

Measures, in a temporary directory:

* append: one durable call (``begin`` + ``complete``, two commits) in ms, against a raw
  sqlite3 INSERT of the same row (one commit, same WAL/synchronous settings);
* ``frame("all")`` over ``--rows`` rows (target: about a second for 1,000,000), cold (no
  snapshot yet), warm (snapshot on disk, as in a new kernel) and after one more call,
  against ``pandas.read_sql`` and a raw ``fetchall`` of the same rows;
* ``frame("notebook")`` (one notebook's rows), ``group`` by model and by day, and the
  limit checks on the hot path (``spent``, ``reserve``).

The rows are made by one INSERT ... SELECT over a recursive CTE (fast bulk insert).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge_jupyter.ledger import Ledger, Limit, group
from edge_jupyter.ledger._schema import READ_SQL, to_us
from edge_jupyter.record import CallRecord

MODELS = 24
NOTEBOOKS = 50
DAYS = 90


def timed(action: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    """Median seconds of ``repeat`` runs, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def sample_record(i: int) -> CallRecord:
    return CallRecord(model=f"vendor/model-{i % MODELS}", notebook=f"work/nb-{i % NOTEBOOKS}.ipynb",
                      cell_id=f"cell-{i % 400:04d}", execution_count=i % 97 + 1, chat="default",
                      provider="OpenAI", generation_id=f"gen-{1_700_000_000 + i}-abcdefghijklmnop",
                      prompt_tokens=120 + i % 50, completion_tokens=30 + i % 70,
                      cost_usd=(i % 997) * 1.3e-07, upstream_cost_usd=(i % 997) * 1.3e-07,
                      latency_s=1.25, ttft_s=0.31, status="ok", session_id="bench")


def bench_append(folder: Path, n: int) -> tuple[float, float]:
    ledger = Ledger(folder / "append.sqlite3")
    records = [sample_record(i) for i in range(n)]

    def ours() -> None:
        for record in records:
            row = ledger.begin(record, 0.01)
            ledger.complete(row, record)

    seconds, _ = timed(ours)
    ledger.close()

    raw = sqlite3.connect(folder / "raw.sqlite3", isolation_level=None)
    raw.execute("PRAGMA journal_mode = WAL")
    raw.execute("PRAGMA synchronous = NORMAL")
    names = [*records[0].ledger_row()]
    raw.execute(f"CREATE TABLE calls (id INTEGER PRIMARY KEY, {', '.join(names)})")
    insert = f"INSERT INTO calls ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"

    def baseline() -> None:
        for record in records:
            row = record.ledger_row()
            row["timestamp"] = to_us(record.timestamp)
            raw.execute(insert, list(row.values()))

    raw_seconds, _ = timed(baseline)
    raw.close()
    return seconds / n * 1000, raw_seconds / n * 1000


def bulk_fill(ledger: Ledger, rows: int, first: int = 1) -> None:
    """``rows`` completed calls over the last DAYS days, in one statement; ids and ``seq``
    from ``first`` (a later fill with ``first`` above the last id adds newer rows)."""
    now = to_us(datetime.now(timezone.utc))
    start = now - DAYS * 86_400_000_000
    step = max((now - start) // max(rows, 1), 1)
    conn = ledger._connect()
    conn.execute("BEGIN IMMEDIATE")
    conn.execute(
        f"""WITH RECURSIVE n(i) AS (SELECT ? UNION ALL SELECT i + 1 FROM n LIMIT ?)
        INSERT INTO calls (seq, timestamp, notebook, cell_id, execution_count, chat, model,
            provider, generation_id, prompt_tokens, completion_tokens, reasoning_tokens,
            cached_tokens, cost_usd, upstream_cost_usd, is_byok, latency_s, ttft_s, status,
            error, session_id, reserved_usd, pid, host, updated_at)
        SELECT i, ? + i * ?, 'work/nb-' || (i % {NOTEBOOKS}) || '.ipynb',
            printf('cell-%04d', i % 400), CASE WHEN i % 10 = 0 THEN NULL ELSE i % 97 END,
            'chat-' || (i % 7), 'vendor/model-' || (i % {MODELS}), 'Provider' || (i % 9),
            'gen-' || (1700000000 + i) || '-abcdefghijklmnop', 100 + i % 900, 10 + i % 400,
            i % 3 * 10, i % 5 * 20,
            CASE WHEN i % 50 = 0 THEN NULL ELSE (i % 9973) * 1.3e-07 END,
            (i % 9973) * 1.1e-07, i % 20 = 0, 0.5 + (i % 100) / 37.0, 0.1 + (i % 10) / 13.0,
            CASE WHEN i % 50 = 0 THEN 'interrupted' ELSE 'ok' END,
            CASE WHEN i % 200 = 0 THEN 'ProviderError: upstream 502' ELSE '' END,
            'session-' || (i / 5000), 0, 1, 'bench', ? FROM n""",
        (first, rows, start - (first - 1) * step, step, now))
    conn.execute("COMMIT")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--append", type=int, default=2_000, help="calls for the append test")
    parser.add_argument("--dir", type=Path, default=None, help="work here instead of a temp dir")
    args = parser.parse_args(argv)

    results: list[tuple[str, float, str]] = []

    def report(name: str, seconds: float, note: str = "") -> None:
        results.append((name, seconds, note))
        print(f"  {name:<46} {seconds * 1000:10.1f} ms  {note}", flush=True)

    with tempfile.TemporaryDirectory(prefix="ledger-bench-", dir=args.dir) as tmp:
        folder = Path(tmp)
        print(f"ledger benchmark: {args.rows:,} rows, {args.append:,} appends, in {folder}")
        ours_ms, raw_ms = bench_append(folder, args.append)
        results.append(("append: begin+complete per call", ours_ms / 1000, ""))
        print(f"  {'append: begin+complete (2 commits) per call':<46} {ours_ms:10.3f} ms")
        print(f"  {'append: raw sqlite3 INSERT (1 commit) per row':<46} {raw_ms:10.3f} ms"
              f"  ratio {ours_ms / raw_ms:.1f}x")

        ledger = Ledger(folder / "ledger.sqlite3")
        seconds, _ = timed(lambda: bulk_fill(ledger, args.rows))
        report(f"bulk insert of {args.rows:,} rows", seconds)
        size = sum(f.stat().st_size for f in folder.glob("ledger.sqlite3*")) / 1e6
        print(f"  {'database size':<46} {size:10.1f} MB")

        seconds, df = timed(lambda: ledger.frame("all"))
        report('frame("all") cold (builds the snapshot)', seconds, f"{len(df):,} rows")
        snap = folder / "ledger.sqlite3-snapshot"
        if snap.exists():
            print(f"  {'snapshot size':<46} {snap.stat().st_size / 1e6:10.1f} MB")
        fresh = Ledger(folder / "ledger.sqlite3")  # as a new kernel would
        seconds, df = timed(lambda: fresh.frame("all"), repeat=3)
        report('frame("all") warm (new Ledger, snapshot)', seconds, "target <= 1 s")
        record = sample_record(7)
        fresh.complete(fresh.begin(record), record)
        seconds, df = timed(lambda: fresh.frame("all"), repeat=3)
        report('frame("all") after one more call', seconds, f"{len(df):,} rows")
        seconds, nb = timed(lambda: fresh.frame("notebook", notebook="work/nb-3.ipynb"), repeat=3)
        report('frame("notebook") one notebook', seconds, f"{len(nb):,} rows")
        seconds, recent = timed(lambda: fresh.frame("all", since="1D"), repeat=3)
        report('frame("all", since="1D")', seconds, f"{len(recent):,} rows")

        seconds, by_model = timed(lambda: group(df, "model"), repeat=3)
        report("group(df, 'model')", seconds, f"{len(by_model) - 1} groups, target <= 1 s")
        seconds, by_day = timed(lambda: group(df, "day"), repeat=3)
        report("group(df, 'day')", seconds, f"{len(by_day) - 1} groups, target <= 1 s")

        seconds, _ = timed(lambda: fresh.spent("day"), repeat=3)
        report('spent("day")', seconds)
        seconds, _ = timed(lambda: fresh.spent("month"), repeat=3)
        report('spent("month")', seconds)
        seconds, _ = timed(lambda: fresh.spent("session", session_id="bench"), repeat=3)
        report('spent("session")', seconds)
        limits = [Limit("day", 1e9), Limit("session", 1e9)]
        seconds, _ = timed(lambda: fresh.reserve(CallRecord(model="m"), 0.01, limits), repeat=3)
        report("reserve() with day + session limits", seconds)

        import pandas as pd

        conn = sqlite3.connect(folder / "ledger.sqlite3")
        seconds, _ = timed(lambda: pd.read_sql(f"SELECT {READ_SQL} FROM calls", conn))
        report("baseline: pandas.read_sql of all rows", seconds)
        seconds, _ = timed(lambda: conn.execute(f"SELECT {READ_SQL} FROM calls").fetchall())
        report("baseline: sqlite3 fetchall of all rows", seconds)
        conn.close()
        ledger.close()
        fresh.close()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    raise SystemExit(main())
