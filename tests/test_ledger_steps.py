"""A tool loop's steps and web searches in the ledger: ``group_id``, ``step``, ``web_searches``.

Real SQLite files throughout.  A ledger of schema 2 is built with the DDL that version
shipped (copied below as it was, not derived from today's code) and opened by today's
code, which must upgrade it in place to schema 3: same rows, same ids, same ledger id,
and several kernels opening it at once all write.  A columnar snapshot of format 3 (which
has no step columns) must never be read as if step rows were plain calls.
"""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
from datetime import datetime, timedelta, timezone
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import edge_jupyter
from edge_jupyter.ledger import (
    FinishedCall,
    Ledger,
    StartingCall,
    _columns,
    current_context,
    export,
    group,
    read_export,
    set_context,
)
from edge_jupyter.ledger._db import Database
from edge_jupyter.ledger._schema import READ_SQL, SCHEMA_VERSION, to_us
from edge_jupyter.ledger._snapshot_header import FORMAT_VERSION, MAGIC
from edge_jupyter.record import LEDGER_COLUMNS, CallRecord

STEPS = ("group_id", "step", "web_searches")
#: Added by schema 4 (the tier that served, what a call saved; tests/test_savings.py), after
#: these.
SAVED = ("service_tier", "saved_usd", "saved_by", "saved_exact")

# -- schema 2, exactly as edge_jupyter shipped it (user_version 2) ------------------------------

V2_DDL = (
    """CREATE TABLE IF NOT EXISTS calls (
        id INTEGER PRIMARY KEY,
        seq INTEGER NOT NULL,
        timestamp INTEGER NOT NULL,
        notebook TEXT NOT NULL DEFAULT '',
        cell_id TEXT NOT NULL DEFAULT '',
        execution_count INTEGER,
        chat TEXT NOT NULL DEFAULT '',
        model TEXT NOT NULL DEFAULT '',
        provider TEXT NOT NULL DEFAULT '',
        generation_id TEXT NOT NULL DEFAULT '',
        prompt_tokens INTEGER NOT NULL DEFAULT 0,
        completion_tokens INTEGER NOT NULL DEFAULT 0,
        reasoning_tokens INTEGER NOT NULL DEFAULT 0,
        cached_tokens INTEGER NOT NULL DEFAULT 0,
        cost_usd REAL,
        upstream_cost_usd REAL,
        is_byok INTEGER NOT NULL DEFAULT 0,
        latency_s REAL,
        ttft_s REAL,
        status TEXT NOT NULL DEFAULT 'pending',
        error TEXT NOT NULL DEFAULT '',
        session_id TEXT NOT NULL DEFAULT '',
        reserved_usd REAL NOT NULL DEFAULT 0,
        pid INTEGER,
        host TEXT NOT NULL DEFAULT '',
        updated_at INTEGER NOT NULL,
        images INTEGER NOT NULL DEFAULT 0,
        files INTEGER NOT NULL DEFAULT 0,
        pages INTEGER NOT NULL DEFAULT 0
    )""",
    "CREATE UNIQUE INDEX IF NOT EXISTS calls_seq ON calls(seq)",
    "CREATE INDEX IF NOT EXISTS calls_timestamp ON calls(timestamp)",
    "CREATE INDEX IF NOT EXISTS calls_notebook ON calls(notebook, timestamp)",
    "CREATE INDEX IF NOT EXISTS calls_session ON calls(session_id, timestamp)",
    "CREATE INDEX IF NOT EXISTS calls_open ON calls(timestamp) WHERE cost_usd IS NULL",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "INSERT OR IGNORE INTO meta VALUES ('deletions', '0')",
    """CREATE TRIGGER IF NOT EXISTS calls_deleted AFTER DELETE ON calls BEGIN
        UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'deletions';
    END""",
    """CREATE VIEW IF NOT EXISTS calls_iso AS SELECT
        strftime('%Y-%m-%dT%H:%M:%f+00:00', timestamp / 1e6, 'unixepoch') AS timestamp_utc, *
        FROM calls""",
)
V2_COLUMNS = ("id", "seq", "timestamp", "notebook", "cell_id", "execution_count", "chat", "model",
              "provider", "generation_id", "prompt_tokens", "completion_tokens",
              "reasoning_tokens", "cached_tokens", "cost_usd", "upstream_cost_usd", "is_byok",
              "latency_s", "ttft_s", "status", "error", "session_id", "reserved_usd", "pid",
              "host", "updated_at", "images", "files", "pages")
#: The INSERT of schema-2 edge_jupyter (``_rows.INSERT_SQL`` then, its WRITE_COLUMNS in
#: that version's LEDGER_COLUMNS order): an older kernel still running beside an upgraded
#: ledger writes exactly this.
V2_INSERT = (
    "INSERT INTO calls (seq, timestamp, notebook, cell_id, execution_count, chat, model, "
    "provider, generation_id, prompt_tokens, completion_tokens, reasoning_tokens, cached_tokens, "
    "images, files, pages, cost_usd, upstream_cost_usd, is_byok, latency_s, ttft_s, status, "
    "error, session_id, reserved_usd, pid, host, updated_at) VALUES "
    "((SELECT coalesce(max(seq), 0) + 1 FROM calls), " + ", ".join("?" * 27) + ")")
V2_LEDGER_ID = "fedcba9876543210fedcba9876543210"
BASE = datetime(2026, 6, 1, tzinfo=timezone.utc)


def make_v2_ledger(path: Path, rows: int = 24) -> None:
    """A schema-2 ledger file with ``rows`` varied rows (ids with a gap, one pending)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL").fetchone()
    for statement in V2_DDL:
        conn.execute(statement)
    conn.execute("INSERT INTO meta VALUES ('ledger_id', ?)", (V2_LEDGER_ID,))
    conn.execute("PRAGMA user_version = 2")
    conn.execute("BEGIN")
    for i in range(rows):
        row_id = i + 1 + (9 if i >= rows // 2 else 0)  # a gap: ids must be kept, not renumbered
        ts = to_us(BASE + timedelta(hours=3 * i))
        pending = i == rows - 1
        conn.execute(
            f"INSERT INTO calls ({', '.join(V2_COLUMNS)}) VALUES ({', '.join('?' * 29)})",
            (row_id, 7 * i + 2, ts, f"nb{i % 2}.ipynb", f"c{i % 3}", None if i % 5 == 0 else i,
             "" if i % 4 else "chat ü", f"vendor/m{i % 2}", "Prov", f"gen-v2-{i}", 50 + i, 5 + i,
             i % 2, i % 3, None if pending else i * 1e-6, None, 0, 0.2 + i / 10, 0.05,
             "pending" if pending else "ok", "", f"s{i % 2}", 0.5 if pending else 0.0,
             4343 if pending else None, "elsewhere", ts + 3, i % 3, i % 2, 4 * (i % 2)))
    conn.execute("COMMIT")
    conn.close()


def raw_rows(path: Path, columns: tuple[str, ...] = V2_COLUMNS) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(f"SELECT {', '.join(columns)} FROM calls ORDER BY id").fetchall()


def table_columns(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [row[1] for row in conn.execute("PRAGMA table_info(calls)")]


def user_version(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute("PRAGMA user_version").fetchone()[0]


def step_record(step: int, **changes: Any) -> CallRecord:
    """One step of a tool loop of cell t1 (group "loop-abc")."""
    values: dict[str, Any] = dict(
        model="openai/gpt-4o", timestamp=BASE + timedelta(days=10, seconds=step),
        notebook="tools.ipynb", cell_id="t1", execution_count=3, session_id="s-tools",
        group_id="loop-abc", step=step, web_searches=step % 2 * 2, prompt_tokens=300 * step,
        completion_tokens=20, cost_usd=step * 1e-4, status="ok")
    values.update(changes)
    return CallRecord(**values)


def steps_of(ledger: Ledger) -> list[tuple[str, int, int]]:
    df = ledger.frame("all")
    return list(zip(df["group_id"].tolist(), df["step"].tolist(), df["web_searches"].tolist(),
                    strict=True))


# -- the upgrade --------------------------------------------------------------------------------

def test_a_schema_2_ledger_is_upgraded_in_place_keeping_every_row(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    make_v2_ledger(path)
    before = raw_rows(path)
    assert SCHEMA_VERSION == 4 and user_version(path) == 2 and "step" not in table_columns(path)

    with Ledger(path) as ledger:
        df = ledger.frame("all")
        assert ledger.ledger_id == V2_LEDGER_ID  # the same ledger: its snapshots stay its own
        assert user_version(path) == SCHEMA_VERSION
        assert table_columns(path) == [*V2_COLUMNS, *STEPS, *SAVED]  # appended, where ALTER TABLE puts them
        assert raw_rows(path) == before  # every row, id, seq, reservation, media count kept
        assert df["generation_id"].tolist() == [f"gen-v2-{i}" for i in range(24)]
        assert df["images"].tolist() == [i % 3 for i in range(24)]  # schema 2's columns intact
        assert df["step"].dtype == np.int64 and df["web_searches"].dtype == np.int64
        assert pd.api.types.is_string_dtype(df["group_id"])
        assert (df["step"] == 0).all() and (df["web_searches"] == 0).all()
        assert (df["group_id"] == "").all()  # earlier calls are no steps
        assert ledger.spent("all") == pytest.approx(sum(i * 1e-6 for i in range(23)) + 0.5)

        row = ledger.begin(step_record(1))
        ledger.complete(row, step_record(1))
        assert row == 34  # after the highest id kept, not after the row count
        assert steps_of(ledger)[-1] == ("loop-abc", 1, 2)

    with sqlite3.connect(path) as conn:  # people reading the file with sqlite3 see them too
        iso = conn.execute("SELECT group_id, step, web_searches FROM calls_iso WHERE id = 34"
                           ).fetchone()
    assert iso == ("loop-abc", 1, 2)
    with Ledger(path) as again:  # a second opening finds it current and changes nothing
        assert len(again.frame("all")) == 25 and table_columns(path) == [*V2_COLUMNS, *STEPS, *SAVED]


def test_a_new_ledger_has_the_upgraded_column_order(tmp_path: Path) -> None:
    with Ledger(tmp_path / "new.sqlite3") as ledger:
        ledger.ensure_open()
    assert table_columns(tmp_path / "new.sqlite3") == [*V2_COLUMNS, *STEPS, *SAVED]
    assert user_version(tmp_path / "new.sqlite3") == SCHEMA_VERSION


def test_a_second_connection_that_saw_version_2_upgrades_nothing_twice(tmp_path: Path) -> None:
    """Two kernels both read user_version 2 before either took the write lock."""
    path = tmp_path / "ledger.sqlite3"
    make_v2_ledger(path)
    first = sqlite3.connect(path, isolation_level=None)
    second = sqlite3.connect(path, isolation_level=None)
    try:
        for conn in (first, second):
            assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
        Database._create(first)
        Database._create(second)  # must find it upgraded: no "duplicate column name"
    finally:
        first.close()
        second.close()
    assert table_columns(path) == [*V2_COLUMNS, *STEPS, *SAVED] and user_version(path) == SCHEMA_VERSION
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'ledger_id'").fetchall() == [
            (V2_LEDGER_ID,)]


def open_and_write(path: str, worker: int, start: Event) -> None:
    """A kernel started on the schema-2 ledger: open it (upgrading it, or finding it upgraded)
    and write one step of its own loop."""
    start.wait(30)
    with Ledger(path) as ledger:
        record = CallRecord(model="m", session_id=f"proc-{worker}", group_id=f"loop-{worker}",
                            step=worker + 1, web_searches=worker, status="ok", cost_usd=1e-6)
        ledger.complete(ledger.begin(record), record)


def test_kernels_opening_a_schema_2_ledger_at_once_all_write(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    make_v2_ledger(path)
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    workers = [ctx.Process(target=open_and_write, args=(str(path), w, start)) for w in range(4)]
    for process in workers:
        process.start()
    start.set()
    for process in workers:
        process.join(120)
        assert process.exitcode == 0
    assert table_columns(path) == [*V2_COLUMNS, *STEPS, *SAVED] and user_version(path) == SCHEMA_VERSION
    with Ledger(path) as ledger:
        df = ledger.frame("all")
    assert len(df) == 28
    mine = df[df["session_id"].str.startswith("proc-")].sort_values("session_id")
    assert mine["group_id"].tolist() == ["loop-0", "loop-1", "loop-2", "loop-3"]
    assert mine["step"].tolist() == [1, 2, 3, 4] and mine["web_searches"].tolist() == [0, 1, 2, 3]


def test_a_schema_2_kernel_still_writes_to_an_upgraded_ledger(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    make_v2_ledger(path, rows=3)
    with Ledger(path) as ledger:
        ledger.ensure_open()  # upgraded
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute(V2_INSERT, (to_us(BASE), "", "", None, "", "old/model", "", "", 5, 6, 0, 0,
                                 1, 0, 0, 1e-6, None, 0, None, None, "ok", "", "old-kernel", 0.0,
                                 None, "h", to_us(BASE)))
        conn.close()
        row = ledger.frame("all").iloc[-1]
    assert row["model"] == "old/model" and row["images"] == 1
    assert (row["group_id"], row["step"], row["web_searches"]) == ("", 0, 0)


# -- every write path carries the step columns ----------------------------------------------------

def test_begin_reserve_complete_and_reconcile_keep_the_step(tmp_path: Path) -> None:
    with Ledger(tmp_path / "ledger.sqlite3") as ledger:
        row = ledger.begin(step_record(1, status="pending", cost_usd=None), reserved_usd=0.1)
        assert steps_of(ledger) == [("loop-abc", 1, 2)]  # the pending row already says so
        ledger.complete(row, step_record(1, web_searches=3))  # the searches the usage reported
        assert steps_of(ledger) == [("loop-abc", 1, 3)]
        ledger.reserve(step_record(2, status="pending", cost_usd=None), 0.01, [])
        assert steps_of(ledger) == [("loop-abc", 1, 3), ("loop-abc", 2, 0)]
        # A row whose cost is left to reconciliation reads back as the same step.
        unsettled = step_record(3, status="ok", cost_usd=None, generation_id="gen-3",
                                timestamp=datetime.now(timezone.utc))
        ledger.complete(ledger.begin(unsettled), unsettled)
        [(_, found)] = ledger.to_reconcile()
        assert (found.group_id, found.step, found.web_searches) == ("loop-abc", 3, 2)


def test_write_many_writes_the_step_columns(tmp_path: Path) -> None:
    with Ledger(tmp_path / "ledger.sqlite3") as ledger:
        starting = [StartingCall(step_record(i + 1, status="pending", cost_usd=None), 0.01)
                    for i in range(3)]
        begun, refusal = ledger.write_many([], starting)
        assert refusal is None
        assert steps_of(ledger) == [("loop-abc", 1, 2), ("loop-abc", 2, 0), ("loop-abc", 3, 2)]
        finished = [FinishedCall(b.row_id, step_record(i + 1, group_id="loop-z", web_searches=5))
                    for i, b in enumerate(begun)]
        ledger.write_many(finished, [])
        assert steps_of(ledger) == [("loop-z", 1, 5), ("loop-z", 2, 5), ("loop-z", 3, 5)]


# -- reading: frames, usage(), exports, grouping ----------------------------------------------------

def _usage_of_a_loop_and_a_plain_call() -> pd.DataFrame:
    """``edge.usage()`` of this notebook after a 3-step loop and one plain call."""
    ledger = Ledger.default()
    for step in (1, 2, 3):
        ledger.complete(ledger.begin(step_record(step)), step_record(step))
    plain = CallRecord(model="vendor/plain", status="ok", cost_usd=1e-6, notebook="tools.ipynb",
                       session_id="s-tools")
    ledger.complete(ledger.begin(plain), plain)
    return edge_jupyter.usage()


def test_frames_usage_exports_and_groups_have_the_columns(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGE_DATA_DIR", str(tmp_path / "data"))
    before = current_context()
    set_context("tools.ipynb", "s-tools")
    try:
        df = _usage_of_a_loop_and_a_plain_call()
    finally:
        set_context(before.notebook, before.session_id)
    assert list(df.columns) == [*LEDGER_COLUMNS, "session_id"]
    at = list(df.columns).index("chat")
    assert list(df.columns)[at + 1:at + 3] == ["group_id", "step"]  # beside cell and chat
    assert list(df.columns)[list(df.columns).index("pages") + 1] == "web_searches"
    assert df["step"].dtype == np.int64 and df["web_searches"].dtype == np.int64
    assert pd.api.types.is_string_dtype(df["group_id"])
    assert df["group_id"].tolist() == ["loop-abc"] * 3 + [""]
    assert df["step"].tolist() == [1, 2, 3, 0] and df["web_searches"].tolist() == [2, 0, 2, 0]
    # The loop's total is the sum of its step rows.
    loop = df[df["group_id"] == "loop-abc"]
    assert loop["cost_usd"].sum() == pytest.approx(6e-4)

    back = read_export(export(df, tmp_path / "usage.csv"))  # %edge usage --export
    for name in ("step", "web_searches"):
        assert back[name].dtype == np.int64 and back[name].tolist() == df[name].tolist(), name
    assert back["group_id"].tolist() == df["group_id"].tolist()

    by_model = group(df, "model").set_index("model")
    assert by_model.loc["openai/gpt-4o", "web_searches"] == 4
    assert by_model.loc["Total", "web_searches"] == 4
    assert by_model["web_searches"].dtype == np.int64
    by_cell = group(df, "cell")
    assert by_cell.loc[by_cell["cell_id"] == "t1", "calls"].tolist() == [3]


# -- the columnar snapshot --------------------------------------------------------------------------

def write_format_3_snapshot(path: Path, columns: dict[str, np.ndarray], ledger_id: str) -> None:
    """The snapshot file an edge_jupyter of schema 2 writes (format 3: no step columns), from
    ``columns`` minus the step ones."""
    arrays: dict[str, np.ndarray] = {}
    texts: dict[str, Any] = {}
    for name, values in columns.items():
        if name in STEPS:
            continue
        if values.dtype == object:
            codes, arrays[f"{name}.text"], texts[name] = _columns._encode_text(values)
            if codes is not None:
                arrays[f"{name}.codes"] = codes
        else:
            arrays[name] = values
    layout, offset = [], 0
    for name, values in arrays.items():
        layout.append({"name": name, "dtype": values.dtype.str, "offset": offset,
                       "count": len(values)})
        offset += -(-values.nbytes // 64) * 64
    header = json.dumps({"version": 3, "ledger_id": ledger_id, "seq": int(columns["seq"].max()),
                         "deletions": 0, "rows": len(columns["id"]), "texts": texts,
                         "arrays": layout}).encode()
    header += b" " * (-(len(MAGIC) + 8 + len(header)) % 64)
    with open(path, "wb") as f:
        f.write(MAGIC + len(header).to_bytes(8, "little") + header)
        for values in arrays.values():
            f.write(values.tobytes() + b"\0" * (-values.nbytes % 64))


def snapshot_version(path: Path) -> int:
    with open(path, "rb") as f:
        assert f.read(len(MAGIC)) == MAGIC
        return int(json.loads(f.read(int.from_bytes(f.read(8), "little")))["version"])


def test_a_format_3_snapshot_of_an_upgraded_ledger_is_not_misread(tmp_path: Path) -> None:
    """An edge_jupyter of schema 2, still running beside an upgraded ledger, snapshots step
    rows without the step columns: reading them as plain calls would lose the loop."""
    path = tmp_path / "ledger.sqlite3"
    make_v2_ledger(path, rows=8)
    with Ledger(path) as ledger:
        for step in (1, 2, 3):
            ledger.complete(ledger.begin(step_record(step)), step_record(step))
        with ledger._read() as conn:
            columns = _columns.fetch(conn.execute(f"SELECT {READ_SQL} FROM calls ORDER BY id"))
    direct = Ledger(path).frame("all")
    snapshot = path.with_name(path.name + "-snapshot")
    write_format_3_snapshot(snapshot, columns, V2_LEDGER_ID)  # covers every row (seq is the max)
    with Ledger(path) as ledger:
        ledger.direct_max_rows = 0  # read through the snapshot
        through = ledger.frame("all")
    pd.testing.assert_frame_equal(through, direct)
    assert through["step"].tolist()[-3:] == [1, 2, 3]
    assert through["web_searches"].tolist()[-3:] == [2, 0, 2]
    assert snapshot_version(snapshot) == FORMAT_VERSION == 5  # rebuilt in today's format
