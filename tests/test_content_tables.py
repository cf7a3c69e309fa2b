"""DataFrames and Series in a prompt: shape, dtypes and capped CSV (issue 15).

The caps are checked exactly as documented (first and last 10 rows, first and last 10
columns, 200 characters a cell) on a real 10,000-row frame, and the CSV is read back with
pandas to check it says what the frame holds.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from edge_jupyter.content import to_piece


@pytest.fixture
def frame() -> pd.DataFrame:
    rows = 10_000
    return pd.DataFrame({
        "id": np.arange(rows),
        "value": np.linspace(0.0, 1.0, rows),
        "name": [f"item {i}" for i in range(rows)],
        "when": pd.date_range("2024-01-01", periods=rows, freq="h"),
        "ok": np.arange(rows) % 2 == 0,
    })


def _csv(text: str) -> tuple[list[str], list[str]]:
    """The lines before the fenced block, and the lines inside it."""
    lines = text.split("\n")
    start = lines.index("```csv")
    assert lines[-1] == "```"
    return lines[:start], lines[start + 1:-1]


def _read(lines: list[str]) -> pd.DataFrame:
    return pd.read_csv(io.StringIO("\n".join(lines)))


def test_a_large_frame_is_capped_to_its_first_and_last_ten_rows(frame: pd.DataFrame) -> None:
    text = to_piece(frame)
    assert isinstance(text, str)
    head, body = _csv(text)
    assert head == ["DataFrame: 10,000 rows × 5 columns",
                    "dtypes: id int64, value float64, name str, when datetime64[us], ok bool"]
    assert body[0] == "id,value,name,when,ok"  # no column of row numbers for a 0, 1, 2… index
    assert body[11] == "… 9,980 rows omitted …"
    assert len(body) == 1 + 10 + 1 + 10
    top, bottom = _read(body[:11]), _read([body[0], *body[12:]])
    assert list(top["id"]) == list(range(10)) and list(bottom["id"]) == list(range(9_990, 10_000))
    assert list(top["name"]) == [f"item {i}" for i in range(10)]
    assert np.allclose(bottom["value"], frame["value"].iloc[-10:])  # every digit sent
    assert body[1] == "0,0.0,item 0,2024-01-01 00:00:00,True"


def test_full_sends_every_row(frame: pd.DataFrame) -> None:
    text = to_piece(frame, full=True)
    assert isinstance(text, str)
    head, body = _csv(text)
    assert head[0] == "DataFrame: 10,000 rows × 5 columns"
    assert "omitted" not in text
    back = _read(body)
    assert len(back) == 10_000
    assert list(back["id"]) == list(range(10_000))
    assert list(back["name"]) == list(frame["name"])


def test_a_small_frame_is_sent_whole_without_a_gap_line() -> None:
    small = pd.DataFrame({"a": range(20), "b": list("abcdefghijklmnopqrst")})
    head, body = _csv(str(to_piece(small)))
    assert head[0] == "DataFrame: 20 rows × 2 columns"
    assert len(body) == 21 and not any("omitted" in line for line in body)
    one_more = pd.DataFrame({"a": range(21)})
    assert _csv(str(to_piece(one_more)))[1][11] == "… 1 row omitted …"


def test_wide_frames_keep_their_first_and_last_ten_columns() -> None:
    wide = pd.DataFrame(np.arange(3 * 55).reshape(3, 55), columns=[f"c{i}" for i in range(55)])
    head, body = _csv(str(to_piece(wide)))
    assert head[0] == "DataFrame: 3 rows × 55 columns"
    assert head[1].startswith("dtypes: c0 int64, c1 int64,") and ", …, c45 int64," in head[1]
    assert head[2] == "… 35 columns omitted"
    header = body[0].split(",")
    assert header == [*(f"c{i}" for i in range(10)), "…", *(f"c{i}" for i in range(45, 55))]
    assert body[1].split(",")[10] == "…" and body[1].split(",")[11] == "45"
    full_head, full_body = _csv(str(to_piece(wide, full=True)))
    assert len(full_body[0].split(",")) == 55 and len(full_head) == 2


def test_long_cells_are_cut_to_200_characters() -> None:
    long = pd.DataFrame({"text": ["x" * 500, "short"], "n": [1, 2]})
    _, body = _csv(str(to_piece(long)))
    back = _read(body)
    assert back["text"].iloc[0] == "x" * 199 + "…" and len(back["text"].iloc[0]) == 200
    assert back["text"].iloc[1] == "short"
    _, whole = _csv(str(to_piece(long, full=True)))
    assert _read(whole)["text"].iloc[0] == "x" * 500


def test_commas_quotes_and_newlines_survive_as_csv() -> None:
    tricky = pd.DataFrame({"note": ['a, b', 'say "hi"', "two\nlines", "```fence```"]})
    text = str(to_piece(tricky))
    fence = text.split("\n")[2]
    assert fence == "````csv" and text.endswith("\n````")  # a longer fence than any in a cell
    body = text.split("\n", 3)[3].rsplit("\n", 1)[0]
    back = pd.read_csv(io.StringIO(body))
    assert list(back["note"]) == list(tricky["note"])


def test_a_series_says_its_name_length_and_dtype() -> None:
    series = pd.Series(np.arange(100, dtype="int32"), name="count")
    head, body = _csv(str(to_piece(series)))
    assert head == ['Series "count": 100 rows, dtype int32']
    assert body[0] == "count" and body[11] == "… 80 rows omitted …"
    unnamed = pd.Series(["a", "b"])
    head, body = _csv(str(to_piece(unnamed)))
    assert head == ["Series: 2 rows, dtype str"] and body == ["value", "a", "b"]


def test_an_empty_frame_still_says_its_shape() -> None:
    head, _ = _csv(str(to_piece(pd.DataFrame())))
    assert head == ["DataFrame: 0 rows × 0 columns", "dtypes: (no columns)"]
    head, _ = _csv(str(to_piece(pd.DataFrame({"a": []}))))
    assert head[0] == "DataFrame: 0 rows × 1 column"


def test_an_index_that_says_something_is_kept() -> None:
    """Only an unnamed 0, 1, 2… index is left out: labels, dates or a named index are data."""
    by_name = pd.DataFrame({"name": ["ann", "bo"], "n": [1, 2]}).set_index("name")
    assert _csv(str(to_piece(by_name)))[1] == ["name,n", "ann,1", "bo,2"]
    shifted = pd.DataFrame({"n": [1, 2]}, index=[5, 6])
    assert _csv(str(to_piece(shifted)))[1] == [",n", "5,1", "6,2"]
    dated = pd.Series([1.5], index=pd.to_datetime(["2024-01-01"]), name="x")
    assert _csv(str(to_piece(dated)))[1] == [",x", "2024-01-01,1.5"]


def test_full_syntax_hint_names_the_colon_form_only_for_the_bang_form() -> None:
    """``{df!full}`` is not format syntax: every front-end gives this one line instead."""
    from edge_jupyter.content import FULL_SPEC, full_syntax_hint

    assert FULL_SPEC == "full"
    hint = full_syntax_hint("Look at {df!full} please")
    assert hint == "The prompt has {…!full}: write {df:full} (a colon, not !) to send a table whole."
    assert full_syntax_hint("Look at {df:full}") is None  # valid: nothing to say
    assert full_syntax_hint("a lone { brace") is None  # another mistake: the caller's own message
    assert full_syntax_hint("Say !full out loud {x") is None  # '!full' outside a field
