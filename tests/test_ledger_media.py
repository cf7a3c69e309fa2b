"""What a call sent besides text (images, files, PDF pages) in the ledger and the receipts.

Real SQLite files throughout.  A ledger of schema 1 is built with the DDL that version
shipped (copied below as it was, not derived from today's code) and opened by today's
code, which must upgrade it in place: same rows, same ids, same ledger id.  The columnar
snapshot of an older format must never be read as if it had the new columns.
Reconciliation asks the real sandbox server.
"""

from __future__ import annotations

import json
import multiprocessing
import shutil
import sqlite3
import time
from datetime import datetime, timedelta, timezone
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from edge_jupyter import receipts
from edge_jupyter.answer_format import cost_line_text, receipt_metadata
from edge_jupyter.ledger import (
    FinishedCall,
    Ledger,
    StartingCall,
    _columns,
    export,
    group,
    read_export,
)
from edge_jupyter.ledger._db import Database
from edge_jupyter.ledger._schema import READ_SQL, SCHEMA_VERSION, to_us
from edge_jupyter.ledger._snapshot_header import FORMAT_VERSION, MAGIC
from edge_jupyter.openrouter import ModelInfo, OpenRouterClient
from edge_jupyter.panel._model import usage_view
from edge_jupyter.record import LEDGER_COLUMNS, CallRecord, sent_summary

MEDIA = ("images", "files", "pages")
#: Added by schema 3 (tool-loop steps, web searches; tests/test_ledger_steps.py): a schema-1
#: ledger is upgraded straight to today's table, these after the media columns.
STEPS = ("group_id", "step", "web_searches")
#: Added by schema 4 (the tier that served, what a call saved; tests/test_savings.py), after
#: these.
SAVED = ("service_tier", "saved_usd", "saved_by", "saved_exact")

# -- schema 1, exactly as edge_jupyter shipped it (user_version 1) ------------------------------

V1_DDL = (
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
        updated_at INTEGER NOT NULL
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
V1_COLUMNS = ("id", "seq", "timestamp", "notebook", "cell_id", "execution_count", "chat", "model",
              "provider", "generation_id", "prompt_tokens", "completion_tokens",
              "reasoning_tokens", "cached_tokens", "cost_usd", "upstream_cost_usd", "is_byok",
              "latency_s", "ttft_s", "status", "error", "session_id", "reserved_usd", "pid",
              "host", "updated_at")
#: The INSERT of schema-1 edge_jupyter (``_rows.INSERT_SQL`` then): an older kernel still
#: running beside an upgraded ledger writes exactly this.
V1_INSERT = (
    "INSERT INTO calls (seq, timestamp, notebook, cell_id, execution_count, chat, model, "
    "provider, generation_id, prompt_tokens, completion_tokens, reasoning_tokens, cached_tokens, "
    "cost_usd, upstream_cost_usd, is_byok, latency_s, ttft_s, status, error, session_id, "
    "reserved_usd, pid, host, updated_at) VALUES ((SELECT coalesce(max(seq), 0) + 1 FROM calls), "
    + ", ".join("?" * 24) + ")")
V1_LEDGER_ID = "0123456789abcdef0123456789abcdef"
BASE = datetime(2026, 1, 30, tzinfo=timezone.utc)


def make_v1_ledger(path: Path, rows: int = 30) -> None:
    """A schema-1 ledger file with ``rows`` varied rows (ids with a gap, one pending)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL").fetchone()
    for statement in V1_DDL:
        conn.execute(statement)
    conn.execute("INSERT INTO meta VALUES ('ledger_id', ?)", (V1_LEDGER_ID,))
    conn.execute("PRAGMA user_version = 1")
    conn.execute("BEGIN")
    for i in range(rows):
        row_id = i + 1 + (5 if i >= rows // 2 else 0)  # a gap: ids must be kept, not renumbered
        ts = to_us(BASE + timedelta(hours=5 * i))
        pending = i == rows - 1
        conn.execute(
            f"INSERT INTO calls ({', '.join(V1_COLUMNS)}) VALUES ({', '.join('?' * 26)})",
            (row_id, 10 * i + 3, ts, f"nb{i % 3}.ipynb", f"c{i % 4}", None if i % 7 == 0 else i,
             "chat é" if i % 5 == 0 else "", f"vendor/m{i % 2}", "Prov", f"gen-old-{i}",
             100 + i, 10 + i, i % 3, i % 4 * 5, None if pending else i * 1e-6,
             None if i % 3 else i * 2e-7, int(i % 3 == 0), 0.5 + i / 10, 0.1,
             "pending" if pending else "ok", "" if i % 6 else "boom", f"s{i % 2}",
             0.25 if pending else 0.0, 4242 if pending else None, "elsewhere", ts + 7))
    conn.execute("COMMIT")
    conn.close()


def raw_rows(path: Path, columns: tuple[str, ...] = V1_COLUMNS) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(f"SELECT {', '.join(columns)} FROM calls ORDER BY id").fetchall()


def table_columns(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [row[1] for row in conn.execute("PRAGMA table_info(calls)")]


def user_version(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute("PRAGMA user_version").fetchone()[0]


def media_record(i: int = 0, **changes: Any) -> CallRecord:
    values: dict[str, Any] = dict(
        model="openai/gpt-4o-mini", timestamp=BASE + timedelta(days=30, minutes=i),
        notebook="media.ipynb", cell_id="m1", execution_count=i, session_id="s-media",
        prompt_tokens=1_850 + i, completion_tokens=40, images=2 + i, files=1, pages=12 + i,
        cost_usd=1e-4, status="ok")
    values.update(changes)
    return CallRecord(**values)


# -- the upgrade --------------------------------------------------------------------------------

def test_a_schema_1_ledger_is_upgraded_in_place_keeping_every_row(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    make_v1_ledger(path)
    before = raw_rows(path)
    assert SCHEMA_VERSION == 4 and user_version(path) == 1 and "images" not in table_columns(path)

    with Ledger(path) as ledger:
        df = ledger.frame("all")
        assert ledger.ledger_id == V1_LEDGER_ID  # the same ledger: its snapshots stay its own
        assert user_version(path) == SCHEMA_VERSION
        # Appended, where ALTER TABLE puts them (a new ledger's table has the same order).
        assert table_columns(path) == [*V1_COLUMNS, *MEDIA, *STEPS, *SAVED]
        assert raw_rows(path) == before  # every row, id, seq, reservation and writer kept
        assert df["generation_id"].tolist() == [f"gen-old-{i}" for i in range(30)]
        for name in MEDIA:
            assert df[name].dtype == np.int64 and (df[name] == 0).all()
        settled = sum(i * 1e-6 + (i * 2e-7 if i % 3 == 0 else 0.0) for i in range(29))  # + BYOK
        assert ledger.spent("all") == pytest.approx(settled + 0.25)  # the pending row holds 0.25

        row = ledger.begin(media_record())
        ledger.complete(row, media_record())
        assert row == 36  # after the highest id kept, not after the row count
        new = ledger.frame("all").iloc[-1]
        assert (new["images"], new["files"], new["pages"]) == (2, 1, 12)

    with sqlite3.connect(path) as conn:  # people reading the file with sqlite3 see them too
        iso = conn.execute("SELECT images, pages FROM calls_iso WHERE id = 36").fetchone()
    assert iso == (2, 12)
    with Ledger(path) as again:  # a second opening finds it current and changes nothing
        assert len(again.frame("all")) == 31 and table_columns(path) == [*V1_COLUMNS, *MEDIA, *STEPS, *SAVED]


def test_a_new_ledger_has_the_upgraded_column_order(tmp_path: Path) -> None:
    with Ledger(tmp_path / "new.sqlite3") as ledger:
        ledger.ensure_open()
    assert table_columns(tmp_path / "new.sqlite3") == [*V1_COLUMNS, *MEDIA, *STEPS, *SAVED]
    assert user_version(tmp_path / "new.sqlite3") == SCHEMA_VERSION


def test_a_second_connection_that_saw_the_old_version_upgrades_nothing_twice(tmp_path: Path) -> None:
    """Two kernels both read user_version 1 before either took the write lock."""
    path = tmp_path / "ledger.sqlite3"
    make_v1_ledger(path)
    first = sqlite3.connect(path, isolation_level=None)
    second = sqlite3.connect(path, isolation_level=None)
    try:
        for conn in (first, second):
            assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
        Database._create(first)
        Database._create(second)  # must find it upgraded: no "duplicate column name"
    finally:
        first.close()
        second.close()
    assert table_columns(path) == [*V1_COLUMNS, *MEDIA, *STEPS, *SAVED] and user_version(path) == SCHEMA_VERSION
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'ledger_id'").fetchall() == [
            (V1_LEDGER_ID,)]


def open_and_write(path: str, worker: int, start: Event) -> None:
    """A kernel started on the old ledger: open it (upgrading it, or finding it upgraded)."""
    start.wait(30)
    with Ledger(path) as ledger:
        record = CallRecord(model="m", session_id=f"proc-{worker}", images=worker, files=1,
                            pages=worker * 10, status="ok", cost_usd=1e-6)
        ledger.complete(ledger.begin(record), record)


def test_kernels_opening_an_old_ledger_at_once_all_write(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    make_v1_ledger(path)
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    workers = [ctx.Process(target=open_and_write, args=(str(path), w, start)) for w in range(4)]
    for process in workers:
        process.start()
    start.set()
    for process in workers:
        process.join(120)
        assert process.exitcode == 0
    assert table_columns(path) == [*V1_COLUMNS, *MEDIA, *STEPS, *SAVED]
    with Ledger(path) as ledger:
        df = ledger.frame("all")
    assert len(df) == 34
    mine = df[df["session_id"].str.startswith("proc-")].sort_values("session_id")
    assert mine["images"].tolist() == [0, 1, 2, 3] and mine["pages"].tolist() == [0, 10, 20, 30]


def test_an_older_kernel_still_writes_to_an_upgraded_ledger(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    make_v1_ledger(path, rows=3)
    with Ledger(path) as ledger:
        ledger.ensure_open()  # upgraded
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute(V1_INSERT, (to_us(BASE), "", "", None, "", "old/model", "", "", 5, 6, 0, 0,
                                 1e-6, None, 0, None, None, "ok", "", "old-kernel", 0.0, None,
                                 "h", to_us(BASE)))
        conn.close()
        row = ledger.frame("all").iloc[-1]
    assert row["model"] == "old/model" and (row["images"], row["files"], row["pages"]) == (0, 0, 0)


# -- every write path carries the counts ---------------------------------------------------------

def counts(ledger: Ledger) -> list[tuple[int, int, int]]:
    df = ledger.frame("all")
    return list(zip(df["images"].tolist(), df["files"].tolist(), df["pages"].tolist(), strict=True))


def test_begin_reserve_and_complete_write_the_counts(tmp_path: Path) -> None:
    with Ledger(tmp_path / "ledger.sqlite3") as ledger:
        pending = media_record(0, status="pending", cost_usd=None)
        row = ledger.begin(pending, reserved_usd=0.1)
        assert counts(ledger) == [(2, 1, 12)]  # the pending row already says what is going
        done = media_record(0, images=3, pages=13)  # e.g. history attachments re-sent
        ledger.complete(row, done)
        assert counts(ledger) == [(3, 1, 13)]
        ledger.reserve(media_record(1, status="pending", cost_usd=None), 0.01, [])
        assert counts(ledger) == [(3, 1, 13), (3, 1, 13)]


def test_write_many_completes_and_begins_with_the_counts(tmp_path: Path) -> None:
    with Ledger(tmp_path / "ledger.sqlite3") as ledger:
        starting = [StartingCall(media_record(i, status="pending", cost_usd=None), 0.01)
                    for i in range(3)]
        begun, refusal = ledger.write_many([], starting)
        assert refusal is None and counts(ledger) == [(2, 1, 12), (3, 1, 13), (4, 1, 14)]
        finished = [FinishedCall(b.row_id, media_record(i, images=0, files=2, pages=7))
                    for i, b in enumerate(begun)]
        more = [StartingCall(media_record(9, status="pending", cost_usd=None), 0.01)]
        ledger.write_many(finished, more)
        assert counts(ledger) == [(0, 2, 7)] * 3 + [(11, 1, 21)]


def test_reconciling_a_row_keeps_its_counts(tmp_path: Path, sb) -> None:
    client = OpenRouterClient(sb.key, origin=sb.url)
    with Ledger(tmp_path / "ledger.sqlite3") as ledger:
        record = media_record(0, cost_usd=None, status="pending",
                              timestamp=datetime.now(timezone.utc))  # recent: reconciled
        row = ledger.begin(record, reserved_usd=0.2)
        stream = client.stream_chat({"model": "openai/gpt-4o-mini",
                                     "messages": [{"role": "user", "content": "hi"}]})
        for _event in stream:
            pass
        record.generation_id = stream.completion.generation_id or ""
        record.status = "ok"  # its usage chunk carried no cost: reconciled later
        ledger.complete(row, record)
        [(found, read_back)] = ledger.to_reconcile()
        assert found == row and (read_back.images, read_back.files, read_back.pages) == (2, 1, 12)
        deadline = time.monotonic() + 10
        while ledger.reconcile(client.generation) == 0:
            assert time.monotonic() < deadline, "the generation record never became ready"
            time.sleep(0.1)
        settled = ledger.frame("all").iloc[0]
        assert settled["cost_usd"] == stream.completion.usage.cost
        assert (settled["images"], settled["files"], settled["pages"]) == (2, 1, 12)


# -- reading: frames, exports, grouping, the panel -------------------------------------------------

def test_frames_exports_and_groups_have_the_columns(tmp_path: Path) -> None:
    with Ledger(tmp_path / "ledger.sqlite3") as ledger:
        for i in range(3):
            ledger.complete(ledger.begin(media_record(i)), media_record(i))
        text_only = CallRecord(model="vendor/text", status="ok", cost_usd=1e-6,
                               session_id="s-media", notebook="media.ipynb")
        ledger.complete(ledger.begin(text_only), text_only)
        df = ledger.frame("all")
    assert list(df.columns) == [*LEDGER_COLUMNS, "session_id"]
    at = list(df.columns).index("cached_tokens")
    assert list(df.columns)[at + 1:at + 4] == list(MEDIA)  # beside the token counts
    assert df["images"].tolist() == [2, 3, 4, 0] and df["pages"].tolist() == [12, 13, 14, 0]
    back = read_export(export(df, tmp_path / "usage.csv"))  # %edge usage --export
    for name in MEDIA:
        assert back[name].dtype == np.int64 and back[name].tolist() == df[name].tolist(), name
    by_model = group(df, "model").set_index("model")
    assert by_model.loc["openai/gpt-4o-mini", ["images", "files", "pages"]].tolist() == [9, 3, 39]
    assert by_model.loc["Total", "pages"] == 39 and by_model.loc["vendor/text", "images"] == 0

    titles = [r.title for r in usage_view(df).rows]  # the panel's hover text, newest first
    assert "4 images · 1 PDF (14 pages)" in titles[1]
    assert "image" not in titles[0] and "PDF" not in titles[0]  # the text-only call: as before


def test_sent_summary_wording() -> None:
    assert sent_summary(0, 0, 0) == ""
    assert sent_summary(1, 0, 0) == "1 image"
    assert sent_summary(2, 1, 12) == "2 images · 1 PDF (12 pages)"
    assert sent_summary(0, 2, 1) == "2 PDFs (1 page)"
    assert sent_summary(1_200, 3, 0) == "1,200 images · 3 PDFs"


# -- the columnar snapshot --------------------------------------------------------------------------

def write_v2_snapshot(path: Path, columns: dict[str, np.ndarray], ledger_id: str) -> None:
    """The snapshot file an edge_jupyter of schema 1 writes (format 2: no media columns,
    no list of fields), from ``columns`` minus the media ones."""
    arrays: dict[str, np.ndarray] = {}
    texts: dict[str, Any] = {}
    for name, values in columns.items():
        if name in MEDIA:
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
    header = json.dumps({"version": 2, "ledger_id": ledger_id, "seq": int(columns["seq"].max()),
                         "deletions": 0, "rows": len(columns["id"]), "texts": texts,
                         "arrays": layout}).encode()
    header += b" " * (-(len(MAGIC) + 8 + len(header)) % 64)
    with open(path, "wb") as f:
        f.write(MAGIC + len(header).to_bytes(8, "little") + header)
        for values in arrays.values():
            f.write(values.tobytes() + b"\0" * (-values.nbytes % 64))


def all_columns(path: Path) -> dict[str, np.ndarray]:
    with Ledger(path) as ledger, ledger._read() as conn:
        return _columns.fetch(conn.execute(f"SELECT {READ_SQL} FROM calls ORDER BY id"))


def snapshot_header(path: Path) -> dict[str, Any]:
    with open(path, "rb") as f:
        assert f.read(len(MAGIC)) == MAGIC
        return json.loads(f.read(int.from_bytes(f.read(8), "little")))


def test_a_snapshot_from_before_the_upgrade_is_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    make_v1_ledger(path)
    # What the schema-1 code would have snapshotted: the same rows, read from a copy.
    shutil.copy(path, tmp_path / "copy.sqlite3")
    old = all_columns(tmp_path / "copy.sqlite3")
    snapshot = path.with_name(path.name + "-snapshot")
    write_v2_snapshot(snapshot, old, V1_LEDGER_ID)
    direct = Ledger(path).frame("all")
    with Ledger(path) as ledger:
        ledger.direct_max_rows = 0  # read through the snapshot
        through = ledger.frame("all")
    pd.testing.assert_frame_equal(through, direct)
    header = snapshot_header(snapshot)  # rewritten in today's format, with the new columns
    assert header["version"] == FORMAT_VERSION == 5
    assert set(MEDIA) <= {entry["name"] for entry in header["arrays"]}


def test_an_older_kernels_snapshot_of_an_upgraded_ledger_is_not_misread(tmp_path: Path) -> None:
    """An edge_jupyter of schema 1, still running beside an upgraded ledger, snapshots rows
    that sent images without those columns: reading them as 0 would lose what they sent."""
    path = tmp_path / "ledger.sqlite3"
    make_v1_ledger(path, rows=10)
    with Ledger(path) as ledger:
        for i in range(3):
            ledger.complete(ledger.begin(media_record(i)), media_record(i))
    columns = all_columns(path)
    snapshot = path.with_name(path.name + "-snapshot")
    write_v2_snapshot(snapshot, columns, V1_LEDGER_ID)  # covers every row (its seq is the max)
    with Ledger(path) as ledger:
        ledger.direct_max_rows = 0
        df = ledger.frame("all")
    assert df["images"].tolist()[-3:] == [2, 3, 4] and df["pages"].tolist()[-3:] == [12, 13, 14]
    assert snapshot_header(snapshot)["version"] == FORMAT_VERSION


# -- receipts -------------------------------------------------------------------------------------

def notebook_of(*records: CallRecord) -> dict[str, Any]:
    cells = [{"cell_type": "code", "id": f"cell-{i}", "metadata": {}, "execution_count": i,
              "source": "%%edge\nWhat is in this plot? {fig}",
              "outputs": [{"output_type": "display_data", "data": {"text/plain": "answer"},
                           "metadata": receipt_metadata(record)}]}
             for i, record in enumerate(records, 1)]
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells}


def test_receipts_carry_and_show_what_a_call_sent(tmp_path: Path) -> None:
    sent = media_record(0, generation_id="gen-media", cost_usd=0.0123)
    plain = CallRecord(model="openai/gpt-4o-mini", generation_id="gen-text", prompt_tokens=9,
                       completion_tokens=3, cost_usd=1e-5, status="ok")
    assert {k: receipt_metadata(sent)["edge_jupyter"][k] for k in MEDIA} == {
        "images": 2, "files": 1, "pages": 12}
    assert not set(MEDIA) & set(receipt_metadata(plain)["edge_jupyter"])  # text only: as before
    assert "· 2 images · 1 PDF (12 pages) ·" in cost_line_text(sent)
    assert "image" not in cost_line_text(plain) and "PDF" not in cost_line_text(plain)

    path = tmp_path / "media.ipynb"
    path.write_text(json.dumps(notebook_of(sent, plain)), encoding="utf-8")
    found = receipts.collect(receipts.read_notebook(path))
    assert [(r.images, r.files, r.pages) for r in found] == [(2, 1, 12), (0, 0, 0)]
    assert [r.sent for r in found] == ["2 images · 1 PDF (12 pages)", ""]
    by_cell = receipts.totals(found, "cell")
    assert by_cell["sent"].tolist() == ["2 images · 1 PDF (12 pages)", "", "2 images · 1 PDF (12 pages)"]
    assert by_cell["pages"].tolist() == [12, 0, 12]

    text_only = tmp_path / "text.ipynb"
    text_only.write_text(json.dumps(notebook_of(plain)), encoding="utf-8")
    table = receipts.totals(receipts.collect(receipts.read_notebook(text_only)), "model")
    assert list(table.columns) == ["model", "calls", "prompt_tokens", "completion_tokens",
                                   "cost_usd"]  # nothing extra for text-only calls


def test_a_damaged_count_in_a_receipt_is_named(tmp_path: Path) -> None:
    notebook = notebook_of(media_record(0))
    notebook["cells"][0]["outputs"][0]["metadata"]["edge_jupyter"]["pages"] = "a dozen"
    path = tmp_path / "bad.ipynb"
    path.write_text(json.dumps(notebook), encoding="utf-8")
    with pytest.raises(receipts.ReceiptError) as refused:
        receipts.read_notebook(path)
    assert str(refused.value) == ("bad.ipynb: cell 1 has a damaged receipt (pages is 'a dozen', "
                                  "not a number of pages); re-run the cell, or clear its output, "
                                  "to replace it.")


def test_run_all_estimate_prices_recorded_images_where_the_model_prices_them() -> None:
    info = ModelInfo.from_json({"id": "openai/gpt-4o", "name": "GPT-4o", "context_length": 128000,
                                "pricing": {"prompt": "0.0000025", "completion": "0.00001",
                                            "image": "0.003613"}})
    notebook = notebook_of(media_record(0, model="openai/gpt-4o", prompt_tokens=1000,
                                        completion_tokens=100, images=2))
    [row] = receipts.estimate_run_all(notebook, {info.id: info}, "openai/gpt-4o").to_dict("records")
    assert row["estimate_usd"] == pytest.approx(1000 * 2.5e-6 + 100 * 1e-5 + 2 * 0.003613)
