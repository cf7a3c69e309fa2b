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

from edge_jupyter import calls, conversations, storage
from edge_jupyter.ledger import Ledger
from edge_jupyter.ledger._db import translate
from edge_jupyter.openrouter import OpenRouterClient
from edge_jupyter.record import CallRecord
from edge_jupyter.routing import RoutePrefs
from edge_jupyter.sandbox import Fault

MODEL = "openai/gpt-4o-mini"


def body(model: str = MODEL) -> dict:
    return {"model": model, "messages": [{"role": "user", "content": "hello"}]}


def ledger_rows() -> dict[int, tuple[str, str, float | None]]:
    """id -> (status, error, cost_usd), read from the file itself."""
    Ledger.default().spent("all")  # opens (creates) the ledger: no rows is then {}
    with sqlite3.connect(Ledger.default().path) as conn:
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

def test_calls_breaking_after_one_model_answered_keep_that_answer_ok(edge_env, sb) -> None:
    # Three models of one cell; the view breaks as the short first answer ends (a display
    # that fails, a bug) while the long third one still streams. The model that answered
    # keeps its "ok" row, the unknown model its own error, the one still running is the
    # view's error — and nothing else stays reserved.
    sb.tokens_per_second, sb.answer_length = 50, 40
    models = [f"{MODEL} max_tokens=3", "nobody/no-such-model", "anthropic/claude-3.5-haiku"]

    def view(event: calls.Event) -> None:
        if isinstance(event, calls.Ended) and event.index == 0:
            raise RuntimeError("the view broke")

    plan = calls.plan(calls.Request(prompt="hello", models=models))
    with pytest.raises(calls.CallsBroke, match=r"unexpected error: RuntimeError: the view broke"):
        calls.CallRun(plan, view).execute()
    ok, own, stopped = ledger_rows().values()  # in plan order (row ids)
    assert ok[:2] == ("ok", "") and ok[2] is not None and ok[2] > 0
    assert own[0] == "error" and own[1] and "the view broke" not in own[1]
    assert stopped[:2] == ("error", "RuntimeError: the view broke")
    assert Ledger.default().spent("all") == pytest.approx(ok[2])  # nothing else held


# -- 11 and 13: calls that stop before sending ------------------------------------------------

def test_a_route_that_cannot_be_used_is_refused_before_any_row_is_written(edge_env, sb) -> None:
    request = calls.Request(prompt="hello", models=[MODEL],
                            route=RoutePrefs(only=["openai"], ignore=["openai"]))
    with pytest.raises(Exception, match="openai is both allowed"):
        calls.plan(request)
    assert ledger_rows() == {} and sb.completions == []


def test_rows_already_reserved_are_released_when_a_later_model_is_refused(edge_env, sb) -> None:
    # The first model's row is written and reserved, then the dear second one is refused by
    # the cell budget: the first row is completed ("not sent"), holding nothing.
    request = calls.Request(prompt="hello", models=[MODEL, "pricey/opus"], budget=0.01,
                            max_tokens=2000)
    with pytest.raises(calls.CallRefused, match="Refused before sending to pricey/opus"):
        calls.CallRun(calls.plan(request)).execute()
    [(status, error, _cost)] = ledger_rows().values()  # a refused reservation writes no row
    assert status == "error" and error.startswith("not sent: Refused before sending to pricey/opus")
    assert Ledger.default().spent("all") == 0.0 and sb.completions == []


def test_a_damaged_ledger_stops_the_calls_with_its_own_sentence(edge_env, sb) -> None:
    path = Path(edge_env["EDGE_DATA_DIR"]) / "ledger.sqlite3"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not a database, it is a shopping list\n" * 200)
    with pytest.raises(calls.NothingSent) as info:
        calls.CallRun(calls.plan(calls.Request(prompt="hello", models=[MODEL]))).execute()
    assert str(info.value).startswith(f"Nothing was sent: The usage ledger {path} is damaged")
    assert "LedgerFileError" not in str(info.value)


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
