"""Damaged or unwritable data, seen from a real kernel (issue 13, findings 3 and 7).

Each case gives one line naming the file, the problem and the fix, from every magic; no
model call is sent (the sandbox counts them); and ``%edge status`` keeps working and says
what is wrong with which file.

Tests run as root, where ``chmod`` stops nothing.  So the read-only folder is a real
read-only bind mount and the full disk a real 512 kB tmpfs (both need mount rights; the
tests are skipped without them), and an unreadable preferences file is a folder in its place
(``IsADirectoryError``, an OSError that is not "not found").
"""

from __future__ import annotations

import errno
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

CALL = "%%edge -m openai/gpt-4o-mini\nSay hi"


@pytest.fixture
def folder(kernel, tmp_path) -> Path:
    """A fresh data folder for this test, in the module's kernel."""
    path = tmp_path / "data"
    kernel.ok(f"import os; os.environ['EDGE_DATA_DIR'] = {str(path)!r}")
    return path


def one_line_error(run) -> str:
    """The cell failed with edge's one line (no traceback); returns the message."""
    assert run.status == "error", run.all_text
    lines = [line for line in run.error_text.splitlines() if line.strip()]
    assert len(lines) == 1 and "edge:" in lines[0], run.error_text
    assert "Traceback" not in run.all_text
    return lines[0]


def refused(kernel, sb, code: str = CALL) -> str:
    """The cell failed and sent nothing; returns everything it showed."""
    before = len(sb.completions)
    run = kernel.run(code)
    assert run.status == "error", run.all_text
    assert "Traceback" not in run.all_text
    assert len(sb.completions) == before, "a model call was sent"
    return run.all_text


def status_text(kernel) -> str:
    return kernel.ok("%edge status").all_text


def write_prefs(folder: Path, **values) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "preferences.json"
    path.write_text(json.dumps(values))
    return path


# -- preferences --------------------------------------------------------------------------------

def test_truncated_preferences_refuse_the_first_call_then_go_on(kernel, sb, folder):
    kernel.ok("%edge budget set 5 --scope day")
    path = folder / "preferences.json"
    path.write_bytes(path.read_bytes()[:20])  # truncated by another program
    shown = refused(kernel, sb)
    kept = next(folder.glob("preferences.json.damaged-*"))
    assert "Nothing was sent" in shown and str(path) in shown and str(kept) in shown
    assert "budgets" in shown
    # seen once: the next call goes on, without the lost budget
    kernel.ok(CALL)
    assert "Spending limits" not in kernel.ok("%edge budget").all_text
    status = status_text(kernel)
    assert str(kept) in status and "was damaged" in status


def test_a_second_corruption_keeps_a_second_copy(kernel, sb, folder):
    path = write_prefs(folder, budgets={"day": 1})
    path.write_text('{"budgets": ')
    refused(kernel, sb)
    kernel.ok("%edge budget set 2 --scope day")
    path.write_text('{"budgets": {"day": 2')
    refused(kernel, sb)
    copies = sorted(folder.glob("preferences.json.damaged-*"))
    assert [c.read_text() for c in copies].count('{"budgets": ') == 1
    assert len(copies) == 2 and {c.read_text() for c in copies} == {'{"budgets": ', '{"budgets": {"day": 2'}


def test_a_line_command_warns_of_damage_once_and_that_counts_as_seen(kernel, sb, folder):
    path = write_prefs(folder, budgets={"day": 5}, favourites=["a/b"])
    path.write_text('{"favourites": "a/b"}')  # the wrong shape
    first = kernel.ok("%edge fav list").all_text
    kept = next(folder.glob("preferences.json.damaged-*"))
    assert str(path) in first and str(kept) in first and "'favourites' should be a list" in first
    second = kernel.ok("%edge fav list").all_text
    assert "damaged" not in second
    kernel.ok(CALL)  # the user has seen it: the call goes on


def test_unreadable_preferences_are_one_line_everywhere_and_nothing_moves(kernel, sb, folder):
    path = folder / "preferences.json"
    path.mkdir(parents=True)
    shown = refused(kernel, sb)
    assert str(path) in shown and "Is a directory" in shown and "move the folder aside" in shown
    message = one_line_error(kernel.run("%edge budget set 3 --scope day"))
    assert str(path) in message and "Is a directory" in message
    one_line_error(kernel.run("%edge fav add x/y"))
    status = status_text(kernel)
    assert "preferences" in status and "Is a directory" in status
    assert path.is_dir() and not list(folder.glob("preferences.json.damaged*"))


# -- the ledger ---------------------------------------------------------------------------------

def test_a_malformed_ledger_is_one_line_and_status_names_it(kernel, sb, folder):
    write_prefs(folder, budgets={"day": 5})
    ledger = folder / "ledger.sqlite3"
    ledger.write_bytes(b"this is not a database " * 200)
    shown = refused(kernel, sb)
    assert f"The usage ledger {ledger} is damaged (file is not a database)" in shown
    assert "Move it aside" in shown
    message = one_line_error(kernel.run("%edge budget"))
    assert "is damaged" in message
    status = status_text(kernel)
    assert "ledger" in status and "file is not a database" in status
    assert ledger.read_bytes().startswith(b"this is not a database")  # left for the user


def test_a_truncated_ledger_is_damage(kernel, sb, folder):
    kernel.ok(CALL)  # a real ledger with a row
    kernel.ok("from edge_jupyter.ledger import Ledger; Ledger.default().close()")
    copy = folder.with_name(folder.name + "-copy")
    copy.mkdir()
    kernel.ok(f"import os; os.environ['EDGE_DATA_DIR'] = {str(copy)!r}")
    data = (folder / "ledger.sqlite3").read_bytes()
    assert len(data) > 4096
    (copy / "ledger.sqlite3").write_bytes(data[:len(data) // 2 + 100])
    shown = refused(kernel, sb)
    assert "is damaged" in shown and "Move it aside" in shown


def test_a_zero_byte_ledger_is_not_recreated_as_if_nothing_was_spent(kernel, sb, folder):
    write_prefs(folder, budgets={"day": 5})
    ledger = folder / "ledger.sqlite3"
    ledger.write_bytes(b"")
    shown = refused(kernel, sb)
    assert f"The usage ledger {ledger} is damaged" in shown and "0 bytes" in shown
    assert ledger.stat().st_size == 0 and not (folder / "ledger.sqlite3-wal").exists()
    assert "0 bytes" in status_text(kernel)
    # moving it aside, as the message says, starts a new ledger knowingly
    ledger.rename(folder / "ledger.sqlite3.damaged")
    kernel.ok(CALL)
    assert ledger.stat().st_size > 0


def test_a_new_ledger_is_never_seen_half_made(kernel, sb, folder):
    kernel.ok(CALL)
    assert not list(folder.glob(".ledger.sqlite3.new-*"))  # the temporary one is gone
    row = kernel.value("[r for r in edge_jupyter.usage('session')['status']][-1:]")
    assert row == ["ok"]


# -- chats ---------------------------------------------------------------------------------------

def test_a_wrong_shaped_chat_file_is_kept_and_the_cell_refused(kernel, sb, folder):
    kernel.ok("%%edge -m openai/gpt-4o-mini --chat other\nHi", cell_id="o1")
    chats = folder / "chats"
    (chats / "trip.json").write_text('{"turns": {"not": "a list"}}')
    listed = kernel.value("list(get_ipython().run_line_magic('edge', 'chats')['chat'])")
    assert listed == ["other"]  # listed without it, and with a warning
    assert "'turns' should be a list" in status_text(kernel)
    shown = refused(kernel, sb, "%%edge -m openai/gpt-4o-mini --chat trip\nGo on")
    kept = next(chats.glob("trip.json.damaged-*"))
    assert str(chats / "trip.json") in shown and str(kept) in shown
    kernel.ok("%%edge -m openai/gpt-4o-mini --chat trip\nGo on")  # starts afresh, as it said
    assert sb.completions[-1].messages == [{"role": "user", "content": "Go on"}]


# -- read-only and full folders (real mounts) ---------------------------------------------------

def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True, text=True)


@pytest.fixture
def mounts(tmp_path) -> Iterator[list[Path]]:
    made: list[Path] = []
    yield made
    for point in reversed(made):
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


def _try_mount(mounts: list[Path], point: Path, *args: str) -> None:
    point.mkdir(parents=True, exist_ok=True)
    try:
        _mount(*args, str(point))
    except (subprocess.CalledProcessError, FileNotFoundError) as exc:
        pytest.skip(f"cannot mount here ({getattr(exc, 'stderr', exc)}): needs mount rights")
    mounts.append(point)


def test_a_read_only_data_folder_is_one_line_and_status_says_so(kernel, sb, tmp_path, mounts):
    source, view = tmp_path / "rw", tmp_path / "ro"
    kernel.ok(f"import os; os.environ['EDGE_DATA_DIR'] = {str(source)!r}")
    kernel.ok("%edge budget set 5 --scope day")
    kernel.ok(CALL)
    _try_mount(mounts, view, "--bind", str(source))
    _mount("-o", "remount,bind,ro", str(view))
    kernel.ok(f"import os; os.environ['EDGE_DATA_DIR'] = {str(view)!r}")

    message = one_line_error(kernel.run("%edge fav add x/y"))
    assert "Read-only file system" in message and "make it writable" in message
    shown = refused(kernel, sb)
    assert "usage ledger" in shown and str(view / "ledger.sqlite3") in shown
    status = status_text(kernel)
    assert "not writable (Read-only file system)" in status
    assert "day: $5" in status  # preferences are still read


def test_a_full_disk_is_one_line_and_nothing_is_sent(kernel, sb, tmp_path, mounts):
    disk = tmp_path / "disk"
    _try_mount(mounts, disk, "-t", "tmpfs", "-o", "size=512k", "tmpfs")
    folder = disk / "data"
    kernel.ok(f"import os; os.environ['EDGE_DATA_DIR'] = {str(folder)!r}")
    write_prefs(folder, budgets={"day": 5})
    with open(disk / "filler", "wb", buffering=0) as f:  # fill the disk
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    message = one_line_error(kernel.run("%edge fav add x/y"))
    assert "No space left on device" in message and "the disk is full" in message
    shown = refused(kernel, sb)  # a new ledger cannot be made: no row, no call
    assert "usage ledger" in shown and "the disk is full" in shown
    assert "day: $5" in status_text(kernel)
    assert json.loads((folder / "preferences.json").read_text()) == {"budgets": {"day": 5}}
