"""Review findings on ledger rows and stored files: each test fails on the code before its fix.

Real parts only: the sandbox over HTTP for model calls and ``/generation``, real SQLite files,
real chat files, a real second process racing for the ledger's creation, a real IPython shell
for planning a cell.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from edge_jupyter import conversations, storage
from edge_jupyter.ledger import Ledger
from edge_jupyter.ledger._db import translate
from edge_jupyter.magics import _cell, _recorder
from edge_jupyter.magics._call import Participant
from edge_jupyter.magics._errors import EdgeCellError
from edge_jupyter.openrouter import OpenRouterClient
from edge_jupyter.record import CallRecord
from edge_jupyter.routing import RoutePrefs
from edge_jupyter.sandbox import Fault

MODEL = "openai/gpt-4o-mini"


def body(model: str = MODEL) -> dict:
    return {"model": model, "messages": [{"role": "user", "content": "hello"}]}


def ledger_rows() -> dict[int, tuple[str, str, float | None]]:
    """id -> (status, error, cost_usd), read from the file itself."""
    with sqlite3.connect(_recorder.ledger().path) as conn:
        return {i: (status, error, cost) for i, status, error, cost in
                conn.execute("SELECT id, status, error, cost_usd FROM calls")}


# -- 5: Python 3.10's sqlite3 errors carry no sqlite_errorname ---------------------------------

def test_a_damaged_ledger_error_without_an_error_name_is_still_one_line(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    plain = sqlite3.DatabaseError("file is not a database")  # what Python 3.10 raises
    assert not hasattr(plain, "sqlite_errorname")
    damaged = translate(path, plain)
    assert damaged is not None and str(damaged) == (
        f"The usage ledger {path} is damaged (file is not a database), so spending cannot be "
        f"checked and no call is made. Move it aside (`mv {path} {path}.damaged`) to start a "
        "new, empty ledger (day and month budgets then count only calls from now on), or "
        f"recover its rows: `sqlite3 {path}.damaged .recover | sqlite3 {path}`.")
    malformed = translate(path, sqlite3.DatabaseError("database disk image is malformed"))
    assert malformed is not None and "is damaged (database disk image is malformed)" in str(malformed)
    readonly = translate(path, sqlite3.OperationalError("attempt to write a readonly database"))
    assert readonly is not None and str(readonly).startswith(
        f"Could not write the usage ledger {path}: attempt to write a readonly database. "
        "No call is made without its row; ")
    full = translate(path, sqlite3.OperationalError("database or disk is full"))
    assert full is not None and str(full).startswith(f"Could not write the usage ledger {path}")
    cannot = translate(path, sqlite3.OperationalError("unable to open database file"))
    assert cannot is not None and str(cannot).startswith(f"Could not open the usage ledger {path}")
    # Not about the file: left to the caller, as before.
    assert translate(path, sqlite3.OperationalError("no such table: calls")) is None


# -- 10: a model that answered stays ok when the cell then breaks -------------------------------

def test_a_cell_breaking_after_one_model_answered_keeps_that_answer_ok(edge_env, sb) -> None:
    client = OpenRouterClient(sb.key, origin=sb.url)
    answered = Participant(CallRecord(model=MODEL), body())
    failed = Participant(CallRecord(model="nobody/no-such-model"), body("nobody/no-such-model"))
    waiting = Participant(CallRecord(model=MODEL), body())
    participants = [answered, failed, waiting]
    rows = {id(p): _recorder.begin(p.record) for p in participants}
    answered.run(client)
    failed.run(client)
    assert answered.error is None and answered.done and failed.error is not None
    # `waiting` never ran: the cell broke (a display, a bug) before it was finished.
    with pytest.raises(EdgeCellError, match=r"unexpected error: RuntimeError: the view broke"):
        _cell._abandon(participants, rows, set(), RuntimeError("the view broke"))
    found = ledger_rows()
    ok, own, stopped = (found[rows[id(p)]] for p in participants)
    assert ok[:2] == ("ok", "") and ok[2] is not None and ok[2] > 0
    assert own[0] == "error" and own[1] and "the view broke" not in own[1]
    assert stopped[:2] == ("error", "RuntimeError: the view broke")
    assert _recorder.ledger().spent("all") == pytest.approx(ok[2])  # nothing else held


# -- 11 and 13: a cell that stops before sending ----------------------------------------------

def _plan(line: str = f"-m {MODEL}"):
    from IPython.core.interactiveshell import InteractiveShell

    return _cell.plan_cell(InteractiveShell.instance(), line, "hello")


def test_a_row_is_completed_when_the_route_fails_right_after_its_budget_check(edge_env, sb) -> None:
    plan = _plan()
    # A route that cannot be used, met only after pre_call wrote the row.
    plan.route = RoutePrefs(only=["openai"], ignore=["openai"])
    client = OpenRouterClient(sb.key, origin=sb.url)
    with pytest.raises(EdgeCellError) as info:
        _cell._prepare(plan, client, {}, "session-1")
    [(status, error, _cost)] = ledger_rows().values()
    assert status == "error", "the row is left pending, holding its reservation"
    assert error.startswith(f"not sent: {MODEL}: openai is both allowed")
    assert info.value.message.startswith(f"Nothing was sent: {MODEL}: openai is both allowed")
    assert _recorder.ledger().spent("all") == 0.0 and sb.completions == []


def test_a_damaged_ledger_stops_the_cell_with_its_own_sentence(edge_env, sb) -> None:
    path = Path(edge_env["EDGE_DATA_DIR"]) / "ledger.sqlite3"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not a database, it is a shopping list\n" * 200)
    client = OpenRouterClient(sb.key, origin=sb.url)
    with pytest.raises(EdgeCellError) as info:
        _cell._prepare(_plan(), client, {}, "session-1")
    assert info.value.message.startswith(f"Nothing was sent: The usage ledger {path} is damaged")
    assert "LedgerFileError" not in info.value.message


# -- 14: rows a hostile server never settles do not starve the others ---------------------------

def test_an_unsettleable_row_goes_behind_the_others(sb, tmp_path: Path) -> None:
    client = OpenRouterClient(sb.key, origin=sb.url)
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    gen_ids = []
    for fault in (True, False):
        if fault:  # /generation answers with an impossible cost for this call, forever
            sb.inject(Fault.usage(cost=float("inf"), in_generation=True))
        stream = client.stream_chat(body())
        list(stream)
        gen_ids.append(stream.completion.generation_id)
        row = ledger.begin(CallRecord(model=MODEL, generation_id=gen_ids[-1]))
        ledger.complete(row, CallRecord(model=MODEL, generation_id=gen_ids[-1], status="ok",
                                        cost_usd=None))
    bad_id, good_id = gen_ids
    client.wait_for_generation(good_id)
    assert ledger.reconcile(client.generation, limit=1) == 0  # tried the impossible one first
    assert ledger.reconcile(client.generation, limit=1) == 1  # then the next one, not it again
    costs = dict(zip(ledger.frame("all")["generation_id"], ledger.frame("all")["cost_usd"],
                     strict=True))
    assert costs[good_id] > 0 and costs[bad_id] != costs[bad_id]  # NaN: still unknown
    assert [r.generation_id for _, r in ledger.to_reconcile()] == [bad_id]  # tried again later


# -- 15: a chat file written by a newer version -------------------------------------------------

def test_a_chat_file_from_a_newer_version_is_read_and_its_keys_kept(edge_env) -> None:
    folder = Path(edge_env["EDGE_DATA_DIR"]) / "chats"
    folder.mkdir(parents=True)
    path = folder / "trip.json"
    newer = {"name": "trip", "system": None, "format": 2,
             "turns": [{"key": "k1", "prompt": "Where to?", "answers": {MODEL: "Lisbon."},
                        "timestamp": 1.0, "rating": 5}]}
    path.write_text(json.dumps(newer))
    assert conversations.diagnose("trip") is None
    chat = conversations.load("trip")
    assert [(t.key, t.prompt, t.answers) for t in chat.turns] == [("k1", "Where to?",
                                                                   {MODEL: "Lisbon."})]
    conversations.record_turn("trip", "k2", "And then?", {MODEL: "Porto."})
    saved = json.loads(path.read_text())
    assert saved["format"] == 2 and saved["turns"][0]["rating"] == 5  # written back unchanged
    assert [t["key"] for t in saved["turns"]] == ["k1", "k2"]
    assert [p.name for p in folder.iterdir() if "trip" in p.name and p != path
            and not p.name.endswith(".lock")] == []  # nothing kept aside as damaged


# -- 16: creating the ledger where hard links are not available ---------------------------------

NO_HARD_LINKS = textwrap.dedent("""
    import errno, os, sys
    from pathlib import Path

    def no_links(src, dst, *args, **kwargs):  # a file system without hard links
        print("linking", flush=True)
        raise OSError(errno.EPERM, "Operation not permitted")

    os.link = no_links
    from edge_jupyter.ledger import Ledger

    book = Ledger(Path(sys.argv[1]))
    book.ensure_open()
    print(book.ledger_id, flush=True)
""")


def test_without_hard_links_a_new_ledger_never_replaces_another_kernels(tmp_path: Path) -> None:
    theirs_path = tmp_path / "other" / "ledger.sqlite3"
    theirs = Ledger(theirs_path)
    theirs.ensure_open()
    their_id = theirs.ledger_id
    theirs.close()
    path = tmp_path / "data" / "ledger.sqlite3"
    path.parent.mkdir()
    with storage.locked(path):
        proc = subprocess.Popen([sys.executable, "-c", NO_HARD_LINKS, str(path)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=dict(os.environ))
        try:
            assert proc.stdout is not None and proc.stdout.readline() == "linking\n"
            # Meanwhile another kernel's new ledger lands in place.
            os.link(theirs_path, path)
        except BaseException:
            proc.kill()
            raise
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert out.strip() == their_id  # the first ledger was kept, and used
    mine = Ledger(path)
    mine.ensure_open()
    assert mine.ledger_id == their_id
    mine.close()
