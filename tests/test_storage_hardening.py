"""Small files under EDGE_DATA_DIR: locked read-modify-writes across real processes, damage
kept under unique names and reported, read errors that are errors (issue 13, finding 3).

The concurrent tests start real Python processes that run the real ``%edge`` magics in an
IPython shell (or the real module functions), released together by a start file, so their
read-modify-writes overlap as two kernels' would.  On the old code (no lock, re-read outside
it) the issue measured 54 of 120 favourites lost.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from edge_jupyter import conversations, preferences, storage

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def data(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "edge-data"
    monkeypatch.setenv("EDGE_DATA_DIR", str(folder))
    return folder


# -- many processes at once --------------------------------------------------------------------

_WORKER = textwrap.dedent('''
    import os, sys, time, json
    from pathlib import Path
    sys.path.insert(0, {root!r})
    start, ready = Path(sys.argv[1]), Path(sys.argv[2])
    {setup}
    ready.touch()
    while not start.exists():
        time.sleep(0.005)
    {work}
''')


def _run_together(tmp_path: Path, env_dir: Path, workers: list[tuple[str, str]],
                  timeout: float = 120) -> list[str]:
    """Start one process per (setup, work) code pair, release them at once, return their stdout."""
    start = tmp_path / "start"
    env = {**os.environ, "EDGE_DATA_DIR": str(env_dir),
           "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
    procs, readies = [], []
    for i, (setup, work) in enumerate(workers):
        ready = tmp_path / f"ready-{i}"
        code = _WORKER.format(root=str(ROOT), setup=_one_block(setup), work=_one_block(work))
        procs.append(subprocess.Popen([sys.executable, "-c", code, str(start), str(ready)],
                                      env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True))
        readies.append(ready)
    deadline = time.monotonic() + 60
    while not all(r.exists() for r in readies):
        if any(p.poll() not in (None, 0) for p in procs) or time.monotonic() > deadline:
            outs = [p.communicate(timeout=10) for p in procs]
            raise AssertionError(f"a worker did not get ready: {outs}")
        time.sleep(0.01)
    start.touch()
    outputs = []
    for p in procs:
        out, err = p.communicate(timeout=timeout)
        assert p.returncode == 0, err
        outputs.append(out)
    return outputs


def _one_block(code: str) -> str:
    """Indent-free code for the worker template (its placeholders sit at column 0)."""
    return textwrap.dedent(code).strip()


_SHELL = '''
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
shell.run_line_magic("load_ext", "edge_jupyter")
'''


def test_two_processes_adding_favourites_lose_none(tmp_path, data):
    n = 60
    workers = [(_SHELL, f'for i in range({n}):\n    shell.run_line_magic("edge", "fav add p{w}/m%d" % i)')
               for w in range(2)]
    _run_together(tmp_path, data, workers)
    favourites = preferences.load().favourites
    expected = {f"p{w}/m{i}" for w in range(2) for i in range(n)}
    assert set(favourites) == expected, f"{len(expected - set(favourites))} of {2 * n} lost"
    assert len(favourites) == 2 * n


def test_a_budget_set_in_one_process_is_not_reverted_by_another_s_favourites(tmp_path, data):
    # Process A adds favourites without pause; process B sets a new day budget each time
    # and reads it straight back, then A goes on: nothing B set may come undone.
    a = (_SHELL, 'for i in range(80):\n    shell.run_line_magic("edge", "fav add a/m%d" % i)')
    b = (_SHELL + "from edge_jupyter import preferences\n",
         'seen = []\n'
         'for k in range(1, 41):\n'
         '    shell.run_line_magic("edge", "budget set %d --scope day" % k)\n'
         '    shell.run_line_magic("edge", "budget set %d --scope month" % (100 + k))\n'
         '    seen.append(preferences.load().budgets.get("day"))\n'
         'print(json.dumps(seen))')
    outputs = _run_together(tmp_path, data, [a, b])
    prefs = preferences.load()
    assert prefs.budgets == {"day": 40, "month": 140}
    assert len(prefs.favourites) == 80
    seen = json.loads(outputs[1].strip().splitlines()[-1])
    assert seen == list(range(1, 41)), "a budget set was reverted by the other process"


def test_two_processes_appending_to_one_chat_keep_every_turn(tmp_path, data):
    setup = "from edge_jupyter import conversations\n"
    workers = [(setup, f'for i in range(40):\n'
                       f'    conversations.record_turn("shared", "k{w}-%d" % i, "q{w}-%d" % i, '
                       f'{{"m": "a{w}-%d" % i}})') for w in range(2)]
    _run_together(tmp_path, data, workers)
    turns = conversations.load("shared").turns
    assert sorted(t.key for t in turns) == sorted(f"k{w}-{i}" for w in range(2) for i in range(40))
    for w in range(2):  # each process's turns stay in the order it wrote them
        mine = [t.prompt for t in turns if t.key.startswith(f"k{w}-")]
        assert mine == [f"q{w}-{i}" for i in range(40)]


def test_threads_of_one_process_lose_no_update(data):
    def add(w: int) -> None:
        for i in range(25):
            preferences.edit(lambda p, w=w, i=i: p.favourites.append(f"t{w}/m{i}"))

    threads = [threading.Thread(target=add, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(preferences.load().favourites)) == 150


def test_the_lock_is_a_hidden_sibling_and_is_re_entrant(data):
    target = storage.data_dir() / "x.json"
    with storage.locked(target), storage.locked(target):  # the same thread may nest
        storage.write_json_atomic(target, {"a": 1})
    assert storage.lock_path(target) == target.with_name(".x.json.lock")
    assert storage.lock_path(target).exists()
    assert storage.update_json(target, lambda d: {**d, "b": 2}, {}) == {"a": 1, "b": 2}


# -- read errors are errors, not damage ---------------------------------------------------------

def _with_budgets(folder: Path) -> Path:
    preferences.update(budgets={"day": 5.0}, favourites=["x/y"])
    path = folder / "preferences.json"
    assert path.is_file()
    return path


def test_a_folder_where_preferences_should_be_is_an_error_and_nothing_moves(data):
    # IsADirectoryError is a real OSError that is not "not found" (EACCES cannot be made as root).
    path = storage.data_dir() / "preferences.json"
    path.mkdir()
    (path / "keep").write_text("mine")
    with pytest.raises(storage.DataFileError) as info:
        preferences.load()
    message = str(info.value)
    assert str(path) in message and "Is a directory" in message and "move the folder aside" in message
    assert "\n" not in message
    assert (path / "keep").read_text() == "mine"  # not renamed, not touched
    assert not list(path.parent.glob("preferences.json.damaged*"))


_EMFILE = textwrap.dedent('''
    import json, os, resource, sys
    sys.path.insert(0, {root!r})
    from edge_jupyter import preferences, storage
    preferences.path()  # the data folder exists before the descriptors run out
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))
    held = []
    try:
        while True:
            held.append(os.open(os.devnull, os.O_RDONLY))
    except OSError:
        pass
    try:
        preferences.load()
        outcome = "loaded"
    except storage.DataFileError as exc:
        outcome = str(exc)
    for fd in held:
        os.close(fd)
    print(json.dumps({{"outcome": outcome, "after": preferences.load().budgets}}))
''')


def test_too_many_open_files_while_reading_is_an_error_and_budgets_stay(data):
    path = _with_budgets(data)
    env = {**os.environ, "EDGE_DATA_DIR": str(data)}
    done = subprocess.run([sys.executable, "-c", _EMFILE.format(root=str(ROOT))], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert "Too many open files" in result["outcome"] and str(path) in result["outcome"]
    assert "restart the kernel" in result["outcome"]
    assert result["after"] == {"day": 5.0}
    assert not list(data.glob("preferences.json.damaged*"))


# -- damage -------------------------------------------------------------------------------------

def test_truncated_preferences_are_kept_under_a_unique_name_each_time(data):
    path = _with_budgets(data)
    first = path.read_bytes()[:25]
    path.write_bytes(first)  # a truncated write by another program
    prefs = preferences.load()
    assert prefs.budgets == {} and prefs.damage is not None
    kept = Path(prefs.damage["kept_as"])
    assert kept.read_bytes() == first and kept.name.startswith("preferences.json.damaged-")
    assert "not valid JSON" in prefs.damage["problem"]
    # the file in place is valid again: the defaults, carrying the notice
    assert json.loads(path.read_text())["damage"]["kept_as"] == str(kept)

    preferences.update(budgets={"day": 7.0})
    second = b'{"budgets": {"day": 7.0'
    path.write_bytes(second)
    again = preferences.load()
    copies = sorted(data.glob("preferences.json.damaged-*"))
    assert len(copies) == 2 and kept in copies  # the first copy is not overwritten
    assert kept.read_bytes() == first
    assert Path(again.damage["kept_as"]).read_bytes() == second


@pytest.mark.parametrize("content, problem", [
    ("[1, 2]", "a JSON object was expected, not list"),
    ('{"budgets": "five"}', "'budgets' should be"),
    ('{"budgets": {"day": NaN}}', "'budgets' should be"),
    ('{"favourites": "openai/gpt-4o"}', "'favourites' should be a list"),
    ('{"alert_threshold_usd": true}', "'alert_threshold_usd' should be"),
    ("", "empty"),
    (b"\xff\xfe{}", "not UTF-8"),
])
def test_wrong_shapes_are_damage(data, content, problem):
    path = storage.data_dir() / "preferences.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    prefs = preferences.load()
    assert problem in prefs.damage["problem"]
    assert prefs == preferences.Preferences(damage=prefs.damage)


def test_damage_refuses_the_first_spending_call_once(data):
    path = _with_budgets(data)
    path.write_text('{"budgets": {"day": 5')
    with pytest.raises(preferences.PreferencesDamaged) as info:
        preferences.load_for_spending()
    message = str(info.value)
    kept = preferences.load().damage["kept_as"]
    assert message.startswith("Nothing was sent:") and str(path) in message and kept in message
    assert "budgets" in message and "\n" not in message
    assert preferences.load_for_spending().budgets == {}  # shown once: the next call proceeds
    assert preferences.damage_status(preferences.load()) is not None  # status still tells
    os.unlink(kept)
    assert preferences.damage_status(preferences.load()) is None


def test_a_damaged_chat_is_kept_removed_and_reported(data):
    conversations.record_turn("trip", "k1", "hi", {"m": "hello"})
    path = storage.data_dir() / "chats" / "trip.json"
    path.write_text('{"turns": [{"key": "k1", "prompt": 3}]}')
    with pytest.raises(conversations.ConversationError) as info:
        conversations.load("trip")
    message = str(info.value)
    kept = next(path.parent.glob("trip.json.damaged-*"))
    assert str(path) in message and str(kept) in message and "turn 1" in message
    assert not path.exists() and conversations.load("trip").turns == []


def test_replay_entries_that_are_damaged_are_misses(data):
    from edge_jupyter import replay

    body = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
    entry = storage.data_dir() / "replay"
    key = replay.request_key(body)
    entry = entry / key[:2] / f"{key}.json"
    entry.parent.mkdir(parents=True)
    entry.write_text('{"text": "half')
    assert replay.lookup(body) is None


# -- chat names ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["trip\n", ".", "..", ".hidden", "a/b", "a\\b", "tab\there",
                                  "", "x" * 65, "-flag", "nul\x00"])
def test_chat_names_that_could_hide_or_escape_files_are_refused(data, name):
    with pytest.raises(conversations.ConversationError) as info:
        conversations.check_name(name)
    assert "letters, digits, '_', '.' or '-'" in str(info.value)


@pytest.mark.parametrize("name", ["trip", "trip-2026", "été", "_draft", "v1.2", "x" * 64])
def test_ordinary_chat_names_are_accepted(data, name):
    assert conversations.check_name(name) == name
