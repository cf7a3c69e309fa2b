"""5. The usage ledger: durable appends, four writer processes, ``usage()`` and grouping.

Reuses ``ledger_bench.py`` (its append benchmark, record factory and bulk fill):

* append: one call written durably the way the magic writes it (``begin`` before the
  request + ``complete`` after: two commits), per call, against a raw ``sqlite3`` INSERT
  of the same row with the same WAL/``synchronous`` settings (one commit);
* four spawned processes append at the same moment; every row must be there, complete;
* ``edge_jupyter.usage("all")`` over ``rows`` rows (1,000,000 by default), made by one bulk
  INSERT: cold (first read ever: the columnar snapshot is built) and warm (a new
  ``Ledger``, as in a new kernel), against ``pandas.read_sql`` of the same rows; then
  warm again after as many more rows as the snapshot can lag behind a ledger that grows
  through edge_jupyter (writes refresh it every ``rows ÷ snapshot_refresh_fraction``
  calls, in the background), also added by one INSERT;
* ``group(df, "model")`` and ``group(df, "day")`` on that frame.
"""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import tempfile
import time
from pathlib import Path

from . import ledger_bench
from ._common import Row, median, timed

NAME = "ledger"


def concurrent_appends(folder: Path, workers: int, calls: int) -> tuple[int, int, float]:
    """``workers`` processes × ``calls`` calls at once: (rows expected, rows found complete,
    median seconds per call in a worker)."""
    from ._ledger_workers import append_and_report

    path = folder / "shared.sqlite3"
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=append_and_report, args=(str(path), w, calls, start, results))
             for w in range(workers)]
    for proc in procs:
        proc.start()
    time.sleep(0.5)  # let every worker open the file and wait at the start line
    start.set()
    seconds = [results.get(timeout=600)[1] for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
        if proc.exitcode != 0:
            raise RuntimeError(f"a ledger writer process failed (exit code {proc.exitcode})")
    conn = sqlite3.connect(path)
    complete = conn.execute("SELECT count(DISTINCT generation_id) FROM calls "
                            "WHERE status = 'ok' AND cost_usd IS NOT NULL").fetchone()[0]
    conn.close()
    return workers * calls, int(complete), median(seconds) / calls


def run(rows: int = 1_000_000, appends: int = 2_000, workers: int = 4,
        worker_calls: int = 500) -> list[Row]:
    from edge_jupyter import ledger as ledger_pkg
    from edge_jupyter.ledger import Ledger, group

    out: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="edge-bench-ledger-") as tmp:
        folder = Path(tmp)
        ours_ms, raw_ms = ledger_bench.bench_append(folder, appends)
        out.append(Row(NAME, "append: durable call (begin + complete, 2 commits)", ours_ms, "ms",
                       raw_ms, "ms raw INSERT", ours_ms / raw_ms, "<= 1 ms per call",
                       ours_ms <= 1.0, f"{appends:,} calls; baseline: 1 commit per row"))

        expected, found, per_call = concurrent_appends(folder, workers, worker_calls)
        out.append(Row(NAME, f"{workers} processes appending at once: rows lost",
                       float(expected - found), "rows", float(expected), "rows written", None,
                       "0 lost", found == expected,
                       f"{per_call * 1000:.2f} ms per call in each worker while the "
                       f"{workers} contend"))

        import pandas as pd  # imported before timing: the figures are the ledger's own work

        data = folder / "data"
        data.mkdir()
        book = Ledger(data / "ledger.sqlite3")
        fill, _ = timed(lambda: ledger_bench.bulk_fill(book, rows))
        book.close()
        previous = os.environ.get("EDGE_DATA_DIR")
        os.environ["EDGE_DATA_DIR"] = str(data)
        try:
            cold, df = timed(lambda: ledger_pkg.usage("all"))
            assert len(df) == rows, f"usage() returned {len(df):,} rows, not {rows:,}"
            warm = []
            for _ in range(3):
                ledger_pkg._ledger._defaults.clear()  # a new kernel: no Ledger object yet
                seconds, df = timed(lambda: ledger_pkg.usage("all"))
                warm.append(seconds)
            lag = rows // Ledger.snapshot_refresh_fraction - 1  # one short of a refresh
            book = Ledger(data / "ledger.sqlite3")
            ledger_bench.bulk_fill(book, lag, first=rows + 1)
            book.close()
            ledger_pkg._ledger._defaults.clear()
            lagging, lagged_df = timed(lambda: ledger_pkg.usage("all"))
            assert len(lagged_df) == rows + lag
            del lagged_df
        finally:
            if previous is None:
                os.environ.pop("EDGE_DATA_DIR", None)
            else:
                os.environ["EDGE_DATA_DIR"] = previous
            for book in ledger_pkg._ledger._defaults.values():
                book.close()
            ledger_pkg._ledger._defaults.clear()

        conn = sqlite3.connect(data / "ledger.sqlite3")
        read_sql, _ = timed(lambda: pd.read_sql(
            f"SELECT {ledger_bench.READ_SQL} FROM calls", conn))
        conn.close()
        w = median(warm)
        out.append(Row(NAME, f'usage("all") on {rows:,} rows, warm (new kernel)', w, "s",
                       read_sql, "s pandas.read_sql", w / read_sql, "<= 1 s", w <= 1.0,
                       f"median of 3; bulk fill took {fill:.1f} s"))
        out.append(Row(NAME, f'usage("all"), {rows:,} rows + {lag:,} since the snapshot',
                       lagging, "s", w, "s warm", lagging / w, "<= 1 s", lagging <= 1.0,
                       "the most a snapshot kept current by the writes lags behind; "
                       "that read also starts a refresh in the background"))
        out.append(Row(NAME, f'usage("all") on {rows:,} rows, cold (first read ever)', cold, "s",
                       read_sql, "s pandas.read_sql", cold / read_sql,
                       "info (once, for a ledger filled by other means)", None,
                       "builds the columnar snapshot that later reads use (pandas already "
                       "imported); a ledger written by edge_jupyter never starts cold"))
        for by in ("model", "day"):
            times = []
            for _ in range(3):
                seconds, grouped = timed(lambda by=by: group(df, by))
                times.append(seconds)
            g = median(times)
            out.append(Row(NAME, f'group(df, "{by}") on {rows:,} rows', g, "s", None, "", None,
                           "<= 1 s", g <= 1.0, f"{len(grouped) - 1} groups; median of 3"))
    return out
