"""Numbers and names from users, refused where they are typed; no ledger row is ever left
pending by a failure between its start and its finish.

Every entry point that takes a number (``%%edge`` flags, per-participant options,
``--max-price``, each ``%edge`` subcommand, ``map()``, ``edge-jupyter ask``) is given NaN,
infinities, negatives, zero where zero is meaningless, huge values and text: each must be
refused at parse time with one line naming the flag and the allowed range, and nothing may
be written (no ledger row, preferences unchanged) or sent.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from edge_jupyter.magics._args import UsageError, parse_cell_line
from edge_jupyter.participants import ParticipantError, parse_participant
from edge_jupyter.routing import RoutingError, parse_max_price
from edge_jupyter.user_numbers import TOKENS, USD, NumberError

#: What a person may mistype, or paste from a computed value, anywhere a number goes.
NOT_FINITE = ["nan", "NaN", "inf", "-inf", "1e999"]
NOT_NUMBERS = ["abc", "", "1,5"]


def assert_one_line(run, *words: str) -> None:
    """The cell failed (a Run All stops) with one line, no traceback, naming ``words``."""
    assert run.status == "error", run.all_text
    text = run.error_text
    assert "Traceback (most recent call last)" not in text and "edge_jupyter/" not in text
    assert len([x for x in text.splitlines() if x.strip()]) == 1, text
    for word in words:
        assert word in text, text


def ledger_rows(kernel_env: dict[str, str]) -> list[tuple]:
    """(status, reserved_usd, error) of every row, read from the file as another process would."""
    path = Path(kernel_env["EDGE_DATA_DIR"]) / "ledger.sqlite3"
    if not path.exists():
        return []
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT status, reserved_usd, error FROM calls ORDER BY id").fetchall()


def prefs_bytes(kernel_env: dict[str, str]) -> bytes:
    path = Path(kernel_env["EDGE_DATA_DIR"]) / "preferences.json"
    return path.read_bytes() if path.exists() else b""


# -- the one rule, pure ------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [*NOT_FINITE, *NOT_NUMBERS, "-1", "-0.01",
                                 float("nan"), float("inf"), -1, True, None, "5 USD"])
def test_usd_refuses_what_is_not_a_finite_amount(raw):
    with pytest.raises(NumberError) as refused:
        USD.read(raw, "--budget")
    message = str(refused.value)
    assert message.startswith("--budget must be a finite amount of USD ≥ 0, not ")
    assert "\n" not in message


@pytest.mark.parametrize(("raw", "value"), [("0", 0.0), ("2.5", 2.5), ("$5", 5.0), (" 1_000 ", 1000.0),
                                            (3, 3.0), (0.25, 0.25)])
def test_usd_reads_what_people_write(raw, value):
    assert USD.read(raw, "--budget") == value


@pytest.mark.parametrize("raw", ["0", "-1", "1.5", "5.0", "nan", "1e999", "10000000000", 0, -1, 2.0,
                                 True, float("nan")])
def test_token_counts_are_whole_and_in_range(raw):
    with pytest.raises(NumberError, match=r"^max_tokens must be a whole number of tokens from 1 to "
                                          r"100,000,000, not "):
        TOKENS.read(raw, "max_tokens")


# -- the %%edge line, per-participant options and --max-price: refused while parsing ------------


CELL_FLAGS = {
    "--temperature": ["-1", "2.5", *NOT_FINITE, *NOT_NUMBERS],
    "--max-tokens": ["0", "-1", "1.5", "1000000000", *NOT_FINITE, *NOT_NUMBERS],
    "--budget": ["-1", *NOT_FINITE, *NOT_NUMBERS],
}


@pytest.mark.parametrize(("flag", "raw"), [(f, r) for f, values in CELL_FLAGS.items() for r in values])
def test_cell_flags_refuse_bad_numbers_naming_the_flag(flag, raw):
    with pytest.raises(UsageError) as refused:
        parse_cell_line(f"{flag}='{raw}'")  # with "=": argparse takes "-inf" for a flag otherwise
    message = str(refused.value)
    assert message.startswith("%%edge: ") and f"{flag}" in message and "must be " in message
    assert "\n" not in message


OPTIONS = {
    "temperature": ["-1", "2.5", *NOT_FINITE, "abc"],
    "top_p": ["-0.1", "1.5", *NOT_FINITE, "abc"],
    "max_tokens": ["0", "-1", "1.5", *NOT_FINITE, "abc"],
    "seed": ["1.5", "nan", "1e999", str(2**64)],
}


@pytest.mark.parametrize(("key", "raw"), [(k, r) for k, values in OPTIONS.items() for r in values])
def test_participant_options_refuse_bad_numbers(key, raw):
    with pytest.raises(ParticipantError) as refused:
        parse_participant(f"openai/gpt-4o-mini {key}={raw}")
    assert str(refused.value).startswith(f"openai/gpt-4o-mini: {key} must be ")


@pytest.mark.parametrize("raw", ["nan/1", "1/nan", "inf/", "/-inf", "-1/2", "1e999/1", "abc/1"])
def test_max_price_refuses_bad_prices(raw):
    with pytest.raises(RoutingError, match=r"^--max-price: (prompt|completion) price must be a finite "):
        parse_max_price(raw)


def test_the_same_value_gets_the_same_words_everywhere():
    """``-t nan`` and ``temperature=nan`` and ``map(temperature=nan)`` say the same."""
    from edge_jupyter.batch import BatchError, _checked_numbers

    with pytest.raises(UsageError) as flag:
        parse_cell_line("-t nan")
    with pytest.raises(ParticipantError) as option:
        parse_participant("openai/gpt-4o-mini temperature=nan")
    with pytest.raises(BatchError) as keyword:
        _checked_numbers(20, float("nan"), 4, None, None)
    tail = "must be a finite number from 0 to 2, not nan"
    assert tail in str(flag.value) and tail in str(option.value) and tail in str(keyword.value)


# -- -o NAME ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["get_ipython", "In", "Out", "exit", "quit", "_", "__", "___", "_i",
                                  "_ii", "_iii", "_oh", "_dh", "_ih", "_7", "_i12", "_edge",
                                  "class", "lambda", "match", "case", "print", "1x", "a-b"])
def test_output_names_that_would_break_the_session_are_refused(name):
    with pytest.raises(UsageError, match="pick another name"):
        parse_cell_line(f"-o {name}")


@pytest.mark.parametrize("name", ["answer", "summary_1", "_private", "ideas", "r"])
def test_ordinary_output_names_are_fine(name):
    assert parse_cell_line(f"-o {name}").output == name


# -- in a real kernel: nothing written, nothing sent -------------------------------------------


SUBCOMMANDS = {
    "budget set {} --scope day": ["-1", *NOT_FINITE, "abc"],
    "alert {}": ["-1", *NOT_FINITE, "abc"],
    "models --max-price {}": ["-1", *NOT_FINITE, "abc"],
    "models --min-context {}": ["-1", "1.5", *NOT_FINITE, "abc"],
    "advise --top {}": ["0", "-1", "100000", *NOT_FINITE, "abc"],
    "connect --limit {}": ["-1", *NOT_FINITE, "abc"],
    "connect --timeout {}": ["0", "-1", *NOT_FINITE, "abc"],
    "limit {}": ["-1", *NOT_FINITE, "abc"],
}


@pytest.mark.parametrize("command", list(SUBCOMMANDS))
def test_every_subcommand_refuses_bad_numbers_and_writes_nothing(kernel, kernel_env, sb, command):
    flag = command.split()[1] if command.split()[1].startswith("--") else command.split()[0]
    for raw in SUBCOMMANDS[command]:
        prefs, rows, requests = prefs_bytes(kernel_env), ledger_rows(kernel_env), len(sb.requests)
        run = kernel.run(f"%edge {command.format(repr(raw))}")
        assert_one_line(run, "must be ")
        assert flag.upper() in run.error_text.upper() or "LIMIT" in run.error_text \
            or "THRESHOLD" in run.error_text, run.error_text
        assert prefs_bytes(kernel_env) == prefs, f"{command} {raw} changed the preferences"
        assert ledger_rows(kernel_env) == rows and len(sb.requests) == requests


@pytest.mark.parametrize("line", ["-t nan", "-t inf", "--max-tokens 0", "--max-tokens -1",
                                  "--budget nan", "--budget -inf", "--max-price nan/1",
                                  '-m "openai/gpt-4o-mini temperature=nan"',
                                  '-m "openai/gpt-4o-mini max_tokens=-1"'])
def test_a_bad_cell_number_is_refused_before_any_row_or_request(kernel, kernel_env, sb, line):
    kernel.ok("%edge budget set 1 --scope session")  # so a row would hold a reservation
    try:
        rows, requests = ledger_rows(kernel_env), len(sb.requests)
        run = kernel.run(f"%%edge {line}\nHi")
        assert_one_line(run, "must be ")
        assert ledger_rows(kernel_env) == rows, "nothing may be written for a refused flag"
        assert len(sb.requests) == requests
    finally:
        kernel.ok("%edge budget clear")
    assert not [r for r in ledger_rows(kernel_env) if r[0] == "pending"]


def test_map_refuses_exactly_what_the_magic_refuses(kernel, kernel_env, sb):
    kernel.ok("import pandas as pd, edge_jupyter; _s = pd.Series(['a', 'b'])")
    rows, requests = ledger_rows(kernel_env), len(sb.requests)
    for kwargs, words in [("max_tokens=-1", "max_tokens must be a whole number of tokens from 1"),
                          ("max_tokens=0", "max_tokens must be a whole number of tokens from 1"),
                          ("max_tokens=2.5", "max_tokens must be a whole number"),
                          ("budget=float('nan')", "budget must be a finite amount of USD ≥ 0, not nan"),
                          ("budget=-1", "budget must be a finite amount of USD ≥ 0, not -1"),
                          ("confirm_over=float('inf')", "confirm_over must be a finite amount of USD"),
                          ("temperature=float('nan')", "temperature must be a finite number from 0 to 2"),
                          ("concurrency=0", "concurrency must be a whole number from 1 to 64"),
                          ("concurrency=10**6", "concurrency must be a whole number from 1 to 64")]:
        run = kernel.run(f"edge_jupyter.map(_s, 'Say {{text}}', 'openai/gpt-4o-mini', {kwargs})")
        assert_one_line(run, words)
    assert ledger_rows(kernel_env) == rows and len(sb.requests) == requests


def test_the_command_line_refuses_bad_numbers(sb, edge_env, capsys):
    from edge_jupyter.cli import main

    for raw in ["0", "-1", "nan", "abc", "1e999"]:
        requests = len(sb.requests)
        with pytest.raises(SystemExit) as stopped:
            main(["ask", "--max-tokens", raw, "Hi"])
        assert stopped.value.code == 2 and len(sb.requests) == requests
        assert "--max-tokens: must be a whole number of tokens from 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["demo", "--tokens-per-second", "nan"])
    assert "must be a finite number ≥ 0, not nan" in capsys.readouterr().err


def test_minus_o_get_ipython_is_refused_and_the_session_keeps_working(kernel, sb):
    requests = len(sb.requests)
    run = kernel.run("%%edge -o get_ipython\nHi")
    assert_one_line(run, "-o 'get_ipython' is a name IPython uses itself")
    assert len(sb.requests) == requests
    kernel.ok("%edge status")  # every magic still works


# -- any failure between a row's start and its finish completes the row ------------------------


def test_a_prompt_that_cannot_be_sent_completes_its_row_and_releases_the_reservation(
        kernel, kernel_env, sb):
    """A file name read from a non-UTF-8 disk (``os.fsdecode`` keeps the bad byte as a lone
    surrogate) cannot be encoded into the request: the failure comes after the row and its
    reservation are written, and before this fix left them ``pending`` for the kernel's life."""
    kernel.ok("import os; name = os.fsdecode(b'caf\\xe9.csv')")
    kernel.ok("%edge budget set 1 --scope session")
    try:
        before = len(ledger_rows(kernel_env))
        run = kernel.run("%%edge -m openai/gpt-4o-mini --max-tokens 20\nSummarise {name}")
        assert_one_line(run)
        assert "UnicodeEncodeError" in run.all_text
        rows = ledger_rows(kernel_env)[before:]
        assert len(rows) == 1
        status, reserved, error = rows[0]
        assert status == "error" and reserved == 0 and error.startswith("UnicodeEncodeError: ")
        assert kernel.value("_edge.status") == "error"

        # several models at once: each worker thread's failure is its row's error (it was
        # "ok" with no text before), and no row is left pending
        before = len(rows) + before
        run = kernel.run("%%edge -m openai/gpt-4o-mini -m anthropic/claude-3.5-haiku --max-tokens 20\n"
                         "Summarise {name}")
        assert run.status == "error" and "Traceback (most recent call last)" not in run.error_text
        rows = ledger_rows(kernel_env)[before:]
        assert [(r[0], r[1]) for r in rows] == [("error", 0), ("error", 0)]
        assert kernel.value("[r.status for r in _edge]") == ["error", "error"]
    finally:
        kernel.ok("%edge budget clear")
    assert not [r for r in ledger_rows(kernel_env) if r[0] == "pending"]


def test_a_damaged_replay_entry_releases_the_rows_already_reserved(kernel, kernel_env, sb):
    """The second model's stored answer is damaged: reading it fails after the first model's
    row and reservation are written. Both are completed; the cell says so in one line."""
    cell = ("%%edge -m openai/gpt-4o-mini -m anthropic/claude-3.5-haiku --max-tokens 20 --replay\n"
            "Name a colour for the damaged replay test")
    kernel.ok(cell)
    store = Path(kernel_env["EDGE_DATA_DIR"]) / "replay"
    entries = {json.loads(p.read_text())["model"].split("/")[0]: p for p in store.glob("*/*.json")}
    assert {"openai", "anthropic"} <= set(entries)
    entries["openai"].unlink()  # the first model asks again: its row reserves first
    damaged = {**json.loads(entries["anthropic"].read_text()), "cost_usd": "a lot"}
    entries["anthropic"].write_text(json.dumps(damaged))
    kernel.ok("%edge budget set 1 --scope session")
    try:
        before = len(ledger_rows(kernel_env))
        requests = len(sb.requests)
        run = kernel.run(cell)
        assert_one_line(run, "Nothing was sent")
        rows = ledger_rows(kernel_env)[before:]
        assert rows and all(status == "error" and reserved == 0 for status, reserved, _ in rows)
        assert len([r for r in sb.requests if r.path.endswith("/chat/completions")]) == \
            len([r for r in sb.requests[:requests] if r.path.endswith("/chat/completions")])
    finally:
        kernel.ok("%edge budget clear")
        kernel.ok("%edge cache clear")
    assert not [r for r in ledger_rows(kernel_env) if r[0] == "pending"]


# -- small edges: --export, --since, connect --limit -------------------------------------------


def test_export_never_overwrites_or_creates_folders_unless_forced(kernel, sb, tmp_path):
    kernel.ok("%%edge -m openai/gpt-4o-mini --max-tokens 10\nFor the export")
    target = tmp_path / "usage.csv"
    target.write_text("my own file\n")
    run = kernel.run(f"%edge usage --all --export {target}")
    assert_one_line(run, "already exists", "--force")
    assert target.read_text() == "my own file\n"
    kernel.ok(f"%edge usage --all --export {target} --force")
    assert target.read_text() != "my own file\n"

    deep = tmp_path / "new" / "folder" / "usage.csv"
    run = kernel.run(f"%edge usage --all --export {deep}")
    assert_one_line(run, "does not exist", "--force")
    assert not (tmp_path / "new").exists()
    kernel.ok(f"%edge usage --all --export {deep} --force")
    assert deep.exists()

    run = kernel.run(f"%edge usage --all --export {tmp_path}")
    assert_one_line(run, "that is a folder")


@pytest.mark.parametrize("since", ["notadate", "2026-13-45", "yesterdayish"])
def test_since_that_is_not_a_date_is_one_line(kernel, since):
    run = kernel.run(f"%edge usage --since {since}")
    assert_one_line(run, "--since takes a date like 2026-12-01 or 2026-12-01T10:00")


@pytest.mark.parametrize("since", ["2026-11-01", "2026-11-01T10:00", "7D", "12h"])
def test_since_keeps_taking_dates_and_spans(kernel, since):
    kernel.ok(f"_u = get_ipython().run_line_magic('edge', 'usage --all --since {since}')")


def test_connect_with_a_bad_limit_fails_the_cell(kernel, kernel_env):
    prefs = prefs_bytes(kernel_env)
    run = kernel.run("%edge connect --limit nan")
    assert run.reply["content"]["status"] == "error"
    assert_one_line(run, "%edge connect: --limit must be a finite amount of USD ≥ 0, not nan")
    assert prefs_bytes(kernel_env) == prefs


def test_map_with_a_row_that_cannot_be_sent_answers_the_others_and_leaves_nothing_pending(
        kernel, kernel_env, sb):
    kernel.ok("import os, pandas as pd, edge_jupyter\n"
              "_files = pd.Series(['notes.csv', os.fsdecode(b'caf\\xe9.csv'), 'plan.csv'])")
    kernel.ok("%edge budget set 1 --scope session")
    try:
        before = len(ledger_rows(kernel_env))
        kernel.ok("_out = edge_jupyter.map(_files, 'Describe {text}', 'openai/gpt-4o-mini', "
                  "max_tokens=10, confirm_over=None, progress=False)")
        assert kernel.value("list(_out['status'])") == ["ok", "error", "ok"]
        assert kernel.value("_out['error'].iloc[1]").startswith("UnicodeEncodeError: ")
        rows = ledger_rows(kernel_env)[before:]
        assert sorted(r[0] for r in rows) == ["error", "ok", "ok"]
        assert all(reserved == 0 for _, reserved, _ in rows)
    finally:
        kernel.ok("%edge budget clear")


def test_a_nan_budget_left_in_the_preferences_is_one_line_not_a_traceback(kernel, kernel_env, sb):
    """An older version could write ``NaN`` into preferences.json: every cell failed with a
    traceback. Now it is damage the cell reports in one line (preferences.py's check)."""
    path = Path(kernel_env["EDGE_DATA_DIR"]) / "preferences.json"
    saved = path.read_bytes() if path.exists() else None
    path.write_text('{"budgets": {"day": NaN}, "alert_threshold_usd": NaN}')
    try:
        run = kernel.run("%%edge -m openai/gpt-4o-mini --max-tokens 10\nHi")
        assert "Traceback (most recent call last)" not in run.error_text
        assert "preferences" in run.all_text
        assert not [r for r in ledger_rows(kernel_env) if r[0] == "pending"]
    finally:
        if saved is None:
            path.unlink(missing_ok=True)
        else:
            path.write_bytes(saved)
        for aside in path.parent.glob("preferences.json.*"):
            aside.unlink()
        kernel.run("%%edge -m openai/gpt-4o-mini --max-tokens 5\nacknowledge")  # clears the notice


def test_the_panel_export_never_overwrites_a_file(edge_env, tmp_path):
    import pandas as pd

    from edge_jupyter.panel._source import Source

    day = pd.Timestamp("2026-12-01").date()
    mine = tmp_path / "edge-usage-2026-12-01.csv"
    mine.write_text("the user's own file\n")
    frame = pd.DataFrame({"model": ["openai/gpt-4o-mini"], "cost_usd": [0.001]})
    first = Source().export_csv(frame, tmp_path, today=day)
    second = Source().export_csv(frame, tmp_path, today=day)
    assert mine.read_text() == "the user's own file\n"
    assert (first.name, second.name) == ("edge-usage-2026-12-01-2.csv", "edge-usage-2026-12-01-3.csv")
