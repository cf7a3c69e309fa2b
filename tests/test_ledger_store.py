"""The usage ledger on real SQLite files: exact round trips, durability, concurrency, reconciling.

Nothing is mocked: each test gets its own database in a temporary folder; killed kernels
are real processes killed with ``os._exit``; reconciliation asks a real sandbox server.
"""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from processes import loaded_by
from test_ledger_workers import append_calls

import edge_jupyter
from edge_jupyter.ledger import Ledger, LedgerError, current_context, set_context, usage
from edge_jupyter.ledger._schema import to_us
from edge_jupyter.openrouter import OpenRouterClient, Started
from edge_jupyter.record import LEDGER_COLUMNS, CallRecord
from edge_jupyter.sandbox import Fault

FRAME_COLUMNS = [*LEDGER_COLUMNS, "session_id"]
DTYPES = {
    "timestamp": "datetime64[ns, UTC]", "execution_count": "Int64", "prompt_tokens": "int64",
    "completion_tokens": "int64", "reasoning_tokens": "int64", "cached_tokens": "int64",
    "cost_usd": "float64", "upstream_cost_usd": "float64", "is_byok": "bool",
    "latency_s": "float64", "ttft_s": "float64", "saved_usd": "float64", "saved_exact": "bool",
}
TEXT = ("notebook", "cell_id", "chat", "model", "provider", "generation_id", "status", "error",
        "session_id", "service_tier", "saved_by")


@pytest.fixture
def ledger(tmp_path: Path):
    with Ledger(tmp_path / "ledger.sqlite3") as ledger:
        yield ledger


@pytest.fixture
def restore_context():
    before = current_context()
    yield
    set_context(before.notebook, before.session_id)


def full_record(**changes) -> CallRecord:
    values = dict(
        model="anthropic/claude-3.5-sonnet", timestamp=datetime(2026, 3, 4, 5, 6, 7, 891234,
                                                                 tzinfo=timezone.utc),
        notebook="work/Ünïcode nb.ipynb", cell_id="a1b2-c3", execution_count=42, chat="review 🧪",
        provider="Anthropic", generation_id="gen-1731200404-o7j2EtP4m5Ti0YjZFoLz",
        prompt_tokens=194, completion_tokens=2, reasoning_tokens=1, cached_tokens=100,
        cost_usd=9.3e-05, upstream_cost_usd=1.234567890123e-07, is_byok=True, latency_s=1.2345,
        ttft_s=0.321, status="ok", error="x\x1fy, \"quoted\"\nsecond line", session_id="s-1",
        service_tier="flex", saved_usd=4.65e-05, saved_by="flex", saved_exact=False)
    values.update(changes)
    return CallRecord(**values)


def assert_dtypes(df: pd.DataFrame) -> None:
    assert list(df.columns) == FRAME_COLUMNS
    for name, dtype in DTYPES.items():
        assert str(df[name].dtype) == dtype, name
    for name in TEXT:
        assert pd.api.types.is_string_dtype(df[name].dtype) or df[name].dtype == object, name


# -- round trips ------------------------------------------------------------------------------

def test_every_column_round_trips_exactly(ledger: Ledger) -> None:
    record = full_record()
    row = ledger.begin(record, reserved_usd=0.5)
    ledger.complete(row, record)
    df = ledger.frame("all")
    assert len(df) == 1
    assert_dtypes(df)
    got = df.iloc[0]
    for name in LEDGER_COLUMNS:
        want = getattr(record, name)
        assert got[name] == want, name
    assert got["cost_usd"] == 9.3e-05 and got["session_id"] == "s-1"
    assert got["timestamp"].to_pydatetime() == record.timestamp


def test_missing_values_read_as_nan_and_na(ledger: Ledger) -> None:
    record = CallRecord(model="m", execution_count=None)
    ledger.begin(record)
    df = ledger.frame("all")
    assert df["execution_count"].isna().all() and df["cost_usd"].isna().all()
    assert df["latency_s"].isna().all() and df["status"].tolist() == ["pending"]
    assert df["notebook"].tolist() == [""]  # outside a notebook: empty, not a guess


def test_empty_ledger_gives_an_empty_frame_with_the_dtypes(ledger: Ledger) -> None:
    df = ledger.frame("all")
    assert len(df) == 0
    assert_dtypes(df)


def test_complete_needs_a_final_status_and_a_known_row(ledger: Ledger) -> None:
    record = CallRecord(model="m")
    with pytest.raises(LedgerError, match="final status"):
        ledger.complete(ledger.begin(record), record)
    record.status = "ok"
    with pytest.raises(LedgerError, match="no row 999"):
        ledger.complete(999, record)


def test_since_accepts_dates_strings_and_durations(ledger: Ledger) -> None:
    now = datetime(2026, 5, 10, 12, 0, tzinfo=timezone.utc)
    for days in (0, 1, 3, 10):
        record = CallRecord(model=f"m{days}", timestamp=now - timedelta(days=days), status="ok")
        ledger.complete(ledger.begin(record), record)
    count = lambda since: len(ledger.frame("all", since, now=now))  # noqa: E731
    assert count(None) == 4
    assert count("2D") == 2 and count(timedelta(hours=73)) == 3 and count("36h") == 2
    assert count(date(2026, 5, 7)) == 3 and count("2026-05-09") == 2
    assert count(datetime(2026, 5, 9, 12)) == 2  # naive = UTC
    assert count("2026-05-09T13:00:00+01:00") == 2
    with pytest.raises(LedgerError, match="since"):
        ledger.frame("all", "last tuesday")


def test_scopes_select_their_rows(ledger: Ledger) -> None:
    now = datetime(2026, 2, 28, 23, 30, tzinfo=timezone.utc)
    rows = [("a.ipynb", "s1", "c1", now), ("a.ipynb", "s2", "c2", now - timedelta(hours=1)),
            ("b.ipynb", "s1", "c1", now - timedelta(days=1)), ("", "s3", "", now - timedelta(days=40))]
    for notebook, session, cell, ts in rows:
        record = CallRecord(model="m", notebook=notebook, session_id=session, cell_id=cell,
                            timestamp=ts, status="ok", cost_usd=1.0)
        ledger.complete(ledger.begin(record), record)
    kw = dict(notebook="a.ipynb", session_id="s1", now=now)
    assert len(ledger.frame("notebook", **kw)) == 2
    assert len(ledger.frame("session", **kw)) == 2
    assert len(ledger.frame("cell", cell_id="c1", **kw)) == 1
    assert len(ledger.frame("day", **kw)) == 2 and len(ledger.frame("month", **kw)) == 3
    assert len(ledger.frame("notebook", notebook="", now=now)) == 1
    assert ledger.spent("day", now=now) == 2.0 and ledger.spent("month", now=now) == 3.0
    assert ledger.spent("all") == 4.0 and ledger.spent("call") == 0.0
    with pytest.raises(LedgerError, match="unknown scope"):
        ledger.frame("week")


def test_spent_counts_reservations_and_byok_provider_bills(ledger: Ledger) -> None:
    running = ledger.begin(CallRecord(model="m", session_id="s"), reserved_usd=0.25)
    byok = CallRecord(model="m", session_id="s", status="ok", cost_usd=0.001,
                      upstream_cost_usd=0.02, is_byok=True)
    ledger.complete(ledger.begin(byok, 0.5), byok)
    plain = CallRecord(model="m", session_id="s", status="ok", cost_usd=0.003,
                       upstream_cost_usd=0.003)
    ledger.complete(ledger.begin(plain, 0.5), plain)
    assert ledger.spent("session", session_id="s") == pytest.approx(0.25 + 0.021 + 0.003)
    # A stopped stream whose exact cost is unknown holds the guard's estimate until reconciled.
    stopped = CallRecord(model="m", session_id="s", status="stopped_budget", generation_id="gen-x")
    ledger.complete(running, stopped, estimated_usd=0.01)
    assert ledger.spent("session", session_id="s") == pytest.approx(0.01 + 0.021 + 0.003)
    # A failed call that never reached a model holds nothing.
    failed = CallRecord(model="m", session_id="s", status="error", error="402")
    ledger.complete(ledger.begin(failed, 0.5), failed)
    assert ledger.spent("session", session_id="s") == pytest.approx(0.034)


def test_usage_reads_the_default_ledger_in_the_current_context(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, restore_context: None) -> None:
    monkeypatch.setenv("EDGE_DATA_DIR", str(tmp_path / "data"))
    set_context("nb/here.ipynb", "session-here")
    ledger = Ledger.default()
    assert ledger.path == tmp_path / "data" / "ledger.sqlite3" and Ledger.default() is ledger
    for notebook in ("nb/here.ipynb", "nb/here.ipynb", "elsewhere.ipynb"):
        record = CallRecord(model="m", notebook=notebook, status="ok")
        ledger.complete(ledger.begin(record), record)
    assert len(usage()) == 2 and len(usage("session")) == 3 and len(usage("all")) == 3
    assert set(usage()["session_id"]) == {"session-here"}
    pd.testing.assert_frame_equal(edge_jupyter.usage("all", since="1D"), usage("all"))
    with pytest.raises(LedgerError):
        usage("everything")


def test_importing_the_ledger_stays_cheap() -> None:
    assert loaded_by("import edge_jupyter.ledger", ("pandas", "numpy", "IPython", "ipywidgets",
                                                    "tornado", "httpx")) == []


# -- durability and concurrency -----------------------------------------------------------------

KILLED_BEFORE_REPLY = """
import os, sys
from edge_jupyter.ledger import Ledger
from edge_jupyter.record import CallRecord
ledger = Ledger(sys.argv[1])
print(ledger.begin(CallRecord(model="m", notebook="nb.ipynb"), reserved_usd=0.3), flush=True)
os._exit(1)
"""


def test_a_killed_kernel_leaves_its_pending_row_and_reconcile_closes_it(ledger: Ledger) -> None:
    run = subprocess.run([sys.executable, "-c", KILLED_BEFORE_REPLY, str(ledger.path)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 1, run.stderr
    row_id = int(run.stdout)
    df = ledger.frame("all")
    assert df["status"].tolist() == ["pending"] and ledger.spent("all") == 0.3
    assert [r for r, _ in ledger.to_reconcile()] == [row_id]

    def fetch(generation_id: str):
        raise AssertionError("nothing to fetch: the call died before it had a generation id")

    assert ledger.reconcile(fetch) == 1
    assert ledger.frame("all")["status"].tolist() == ["interrupted"]
    assert ledger.spent("all") == 0.0 and ledger.to_reconcile() == []


def test_a_running_call_of_this_process_is_not_reconciled(ledger: Ledger) -> None:
    ledger.begin(CallRecord(model="m", generation_id="gen-1"), 0.1)
    assert ledger.to_reconcile() == []


KILLED_MID_STREAM = """
import os, sys
from edge_jupyter.ledger import Ledger
from edge_jupyter.openrouter import OpenRouterClient, Started, TextDelta
from edge_jupyter.record import CallRecord
path, url, key = sys.argv[1:]
ledger = Ledger(path)
row = ledger.begin(CallRecord(model="openai/gpt-4o-mini", notebook="nb.ipynb"), reserved_usd=0.5)
client = OpenRouterClient(key, origin=url)
deltas = 0
for event in client.stream_chat({"model": "openai/gpt-4o-mini",
                                 "messages": [{"role": "user", "content": "Tell me a story."}]}):
    if isinstance(event, Started):
        ledger.update_generation_id(row, event.generation_id)
    elif isinstance(event, TextDelta):
        deltas += 1
        if deltas == 5:
            print(row, flush=True)
            os._exit(1)
"""


def test_a_kernel_killed_mid_stream_is_reconciled_with_the_exact_cost(ledger: Ledger, sb) -> None:
    sb.tokens_per_second = 200.0
    sb.answer_length = 400
    sb.generation_ready_after = 0.3
    run = subprocess.run([sys.executable, "-c", KILLED_MID_STREAM, str(ledger.path), sb.url, sb.key],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 1, run.stderr
    row_id = int(run.stdout)
    [(found, record)] = ledger.to_reconcile()
    assert found == row_id and record.status == "pending" and record.generation_id.startswith("gen-")

    client = OpenRouterClient(sb.key, origin=sb.url)
    [completion] = sb.wait_for_completions(1, timeout=10)
    assert completion.cancelled and completion.id == record.generation_id
    deadline = time.monotonic() + 10
    while ledger.frame("all")["cost_usd"].isna().any():
        assert time.monotonic() < deadline, "the generation record never became ready"
        ledger.reconcile(client.generation)  # NotFound until ready: marks it interrupted, retries
        time.sleep(0.1)
    row = ledger.frame("all").iloc[0]
    assert row["status"] == "interrupted" and row["cost_usd"] == completion.cost > 0
    assert row["provider"] == completion.provider
    assert row["completion_tokens"] == completion.usage["completion_tokens"] >= 5
    assert ledger.spent("all") == completion.cost  # the reservation is gone
    assert ledger.to_reconcile() == []


def test_a_stream_that_lost_its_usage_holds_an_estimate_until_reconciled(ledger: Ledger, sb) -> None:
    client = OpenRouterClient(sb.key, origin=sb.url)
    record = CallRecord(model="openai/gpt-4o-mini")
    row = ledger.begin(record, reserved_usd=0.2)
    stream = client.stream_chat({"model": "openai/gpt-4o-mini",
                                 "messages": [{"role": "user", "content": "hi"}]})
    for _event in stream:
        pass
    record.generation_id = stream.completion.generation_id or ""
    record.status = "ok"  # as if the usage chunk had no cost (the old stream shape)
    ledger.complete(row, record)
    assert ledger.spent("all") == 0.2 and [r for r, _ in ledger.to_reconcile()] == [row]
    deadline = time.monotonic() + 10
    while ledger.reconcile(client.generation) == 0:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert ledger.spent("all") == stream.completion.usage.cost
    assert ledger.frame("all")["status"].tolist() == ["ok"]


def test_a_cancelled_byok_call_is_settled_with_both_costs(ledger: Ledger, sb) -> None:
    sb.tokens_per_second, sb.answer_length, sb.generation_ready_after = 200.0, 300, 0.1
    sb.inject(Fault.byok())
    client = OpenRouterClient(sb.key, origin=sb.url)
    record = CallRecord(model="openai/gpt-4o-mini")
    row = ledger.begin(record, reserved_usd=0.01)
    stream = client.stream_chat({"model": record.model,
                                 "messages": [{"role": "user", "content": "Go on."}]})
    with stream:
        for count, event in enumerate(stream):
            if isinstance(event, Started):
                ledger.update_generation_id(row, event.generation_id or "")
            if count == 6:
                stream.close()
                break
    record.status, record.generation_id = "interrupted", stream.completion.generation_id or ""
    ledger.complete(row, record)
    assert ledger.spent("all") == 0.01  # the reservation holds until the cost is known
    deadline = time.monotonic() + 10
    while ledger.reconcile(client.generation) == 0:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    got = ledger.frame("all").iloc[0]
    [billed] = sb.completions
    assert got["is_byok"] and got["cost_usd"] == billed.cost
    assert got["upstream_cost_usd"] > got["cost_usd"] > 0
    assert ledger.spent("all") == pytest.approx(got["cost_usd"] + got["upstream_cost_usd"])


def test_four_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"  # created by the workers themselves, all at once
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    workers = [ctx.Process(target=append_calls, args=(str(path), w, 250, start)) for w in range(4)]
    for process in workers:
        process.start()
    start.set()
    for process in workers:
        process.join(120)
        assert process.exitcode == 0
    df = Ledger(path).frame("all")
    assert len(df) == 1000 and (df["status"] == "ok").all()
    for w in range(4):
        mine = df[df["session_id"] == f"proc-{w}"]
        assert sorted(mine["execution_count"]) == list(range(250))
        assert mine["cost_usd"].sum() == pytest.approx(sum((i + 1) * 1e-6 for i in range(250)))
    assert Ledger(path).spent("all") == pytest.approx(4 * sum((i + 1) * 1e-6 for i in range(250)))


def test_threads_share_one_ledger(ledger: Ledger) -> None:
    def work(t: int) -> None:
        for i in range(40):
            record = CallRecord(model="m", chat=f"t{t}", execution_count=i)
            row = ledger.begin(record)
            record.status = "ok"
            ledger.complete(row, record)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    df = ledger.frame("all")
    assert len(df) == 240 and df.groupby("chat").size().tolist() == [40] * 6


def test_a_long_read_does_not_hold_up_other_threads_writes(ledger: Ledger) -> None:
    ledger.begin(CallRecord(model="m"))
    with ledger._read(bulk=True) as conn:  # what a frame() of a million rows holds for a while
        conn.execute("SELECT count(*) FROM calls").fetchone()
        writer = threading.Thread(target=ledger.begin, args=(CallRecord(model="m"),))
        writer.start()
        writer.join(5)
        assert not writer.is_alive()
    assert len(ledger.frame("all")) == 2


# -- the columnar snapshot (large scopes) ---------------------------------------------------------

def _fill(ledger: Ledger, n: int, start: int = 0) -> None:
    base = datetime(2026, 1, 30, tzinfo=timezone.utc)
    for i in range(start, start + n):
        record = CallRecord(
            model=f"vendor/m{i % 3}", notebook=f"nb{i % 4}.ipynb", cell_id=f"c{i % 5}",
            execution_count=None if i % 7 == 0 else i, chat="x\x1fy" if i % 11 == 0 else "",
            session_id=f"s{i % 2}", timestamp=base + timedelta(hours=7 * i),
            generation_id=f"gen-{i}", prompt_tokens=i, cost_usd=None if i % 6 == 0 else i * 1e-7,
            is_byok=i % 5 == 0, status="ok" if i % 6 else "interrupted", error="é" * (i % 3))
        row = ledger.begin(record, 0.001)
        if i % 9:
            ledger.complete(row, record)


def _frames(ledger: Ledger, now: datetime) -> list[pd.DataFrame]:
    kw = dict(notebook="nb1.ipynb", session_id="s0", now=now)
    return [ledger.frame("all", **kw), ledger.frame("notebook", **kw), ledger.frame("session", **kw),
            ledger.frame("cell", cell_id="c2", **kw), ledger.frame("day", **kw),
            ledger.frame("month", **kw), ledger.frame("all", "3D", **kw)]


def test_snapshot_reads_equal_direct_reads_through_updates_and_deletes(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    direct, snap = Ledger(path), Ledger(path)
    snap.direct_max_rows, snap.snapshot_min_delta = 0, 1
    now = datetime(2026, 2, 3, 12, tzinfo=timezone.utc)
    snapshot_file = path.with_name("ledger.sqlite3-snapshot")

    def check() -> None:
        for want, got in zip(_frames(direct, now), _frames(snap, now), strict=True):
            pd.testing.assert_frame_equal(got, want)
            assert_dtypes(got)

    _fill(direct, 60)
    check()
    assert snapshot_file.exists()
    _fill(direct, 30, start=60)  # new rows, and pending rows completed behind the snapshot
    pending = direct.frame("all").query("status == 'pending'")
    assert len(pending)
    for ts in pending["timestamp"]:
        with sqlite3.connect(path) as conn:
            row_id = conn.execute("SELECT id FROM calls WHERE timestamp = ?",
                                  (to_us(ts.to_pydatetime()),)).fetchone()[0]
        record = CallRecord(model="late", status="ok", cost_usd=0.5, timestamp=ts.to_pydatetime())
        direct.complete(row_id, record)
    check()
    with sqlite3.connect(path) as conn:  # someone deletes rows by hand
        conn.execute("DELETE FROM calls WHERE id % 10 = 3")
    check()
    snapshot_file.write_bytes(b"EDGE-LEDGER-SNAP garbage")  # a damaged cache is rebuilt
    check()
    # A snapshot of another ledger is never used for this one.
    other = Ledger(tmp_path / "other.sqlite3")
    other.direct_max_rows, other.snapshot_min_delta = 0, 1
    _fill(other, 5)
    other_file = tmp_path / "other.sqlite3-snapshot"
    other.frame("all")
    other_file.replace(snapshot_file)
    check()


def test_writes_keep_the_snapshot_current_even_from_many_short_kernels(tmp_path: Path) -> None:
    from edge_jupyter import background
    from edge_jupyter.ledger import _columns, _frame, _snapshot_header

    path = tmp_path / "ledger.sqlite3"
    snapshot = path.with_name("ledger.sqlite3-snapshot")

    def drain() -> None:
        # One worker, first in first out; twice, because the check queues the rewrite.
        for _ in range(2):
            done = threading.Event()
            background.submit(done.set)
            assert done.wait(30)

    # Four kernels write 8 rows each, fewer than a rewrite needs (25). Each kernel's first
    # write queues a check that sees between 8k + 1 and 8k + 8 rows: 2, 9-16 and 17-24 rows
    # are not enough, the fourth kernel's 25-32 are.
    for kernel in range(4):
        writer = Ledger(path)
        writer.snapshot_min_delta, writer.direct_max_rows = 25, 0
        _fill(writer, 8, start=8 * kernel)
        drain()
        writer.ensure_open()
        ledger_id = writer.ledger_id
        writer.close()
        if kernel < 3:
            assert _snapshot_header.state(snapshot, ledger_id) is None, kernel
    state = _snapshot_header.state(snapshot, ledger_id)
    assert state is not None, "the fourth kernel's first write should have rewritten it"
    assert 25 <= state[1] <= 32
    reader = Ledger(path)
    reader.direct_max_rows = 0  # read through the snapshot
    pd.testing.assert_frame_equal(reader.frame("all"), Ledger(path).frame("all"))
    columns, _, _ = _columns.load(snapshot, ledger_id)
    assert len(columns["id"]) == state[1]
    assert_dtypes(_frame.build(columns))


def test_snapshot_arrays_are_writable(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    ledger.direct_max_rows, ledger.snapshot_min_delta = 0, 1
    _fill(ledger, 10)
    ledger.frame("all")  # writes the snapshot
    fresh = Ledger(tmp_path / "ledger.sqlite3")
    fresh.direct_max_rows = 0
    df = fresh.frame("all")  # straight from the snapshot file's buffer
    df.loc[0, "prompt_tokens"] = 123456
    df.loc[1, "cost_usd"] = np.nan
    assert df.loc[0, "prompt_tokens"] == 123456


def test_pending_rows_of_another_host_become_stale_with_age(ledger: Ledger) -> None:
    row = ledger.begin(CallRecord(model="m", generation_id="gen-far"), 0.1)
    with sqlite3.connect(ledger.path) as conn:
        conn.execute("UPDATE calls SET host = 'elsewhere', updated_at = updated_at - ? WHERE id = ?",
                     (int(timedelta(minutes=30) / timedelta(microseconds=1)), row))
    assert ledger.to_reconcile() == []
    with sqlite3.connect(ledger.path) as conn:
        conn.execute("UPDATE calls SET updated_at = updated_at - ? WHERE id = ?",
                     (int(timedelta(hours=2) / timedelta(microseconds=1)), row))
    assert [r for r, _ in ledger.to_reconcile()] == [row]


def test_old_rows_are_not_reconciled(ledger: Ledger) -> None:
    record = CallRecord(model="m", generation_id="gen-old", status="interrupted",
                        timestamp=datetime.now(timezone.utc) - timedelta(days=8))
    ledger.complete(ledger.begin(record), record)
    assert ledger.to_reconcile() == [] and len(ledger.to_reconcile(max_age_days=9)) == 1


def test_the_database_is_in_wal_mode_with_a_busy_timeout(ledger: Ledger) -> None:
    ledger.begin(CallRecord(model="m"))
    conn = ledger._connect()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000
    assert os.path.exists(str(ledger.path) + "-wal")
    iso = sqlite3.connect(ledger.path).execute("SELECT timestamp_utc FROM calls_iso").fetchone()[0]
    assert iso.endswith("+00:00")
