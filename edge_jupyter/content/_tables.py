"""pandas DataFrames and Series as prompt text: shape and dtypes, then the rows as CSV.

Why CSV and not a Markdown table:

* fewest tokens per cell — one comma between cells, no padding, no ``|`` on both sides and
  no ``|---|`` ruler line;
* unambiguous: a comma, quote or newline inside a cell is quoted by the CSV rules, which
  every model has read billions of times; a Markdown table has no escape for a newline in a
  cell and needs ``|`` escaped by hand (or the optional ``tabulate`` package);
* written by pandas' own fast ``to_csv``, so it is exact (every digit of a float, as pandas
  would save it) and costs a millisecond for the capped form.

The text, e.g. for a 10,000-row frame::

    DataFrame: 10,000 rows × 5 columns
    dtypes: a int64, b float64, c object, d datetime64[us], e bool
    ```csv
    ,a,b,c,d,e
    0,…              ← the first 10 rows
    … 9,980 rows omitted …
    9990,…           ← the last 10 rows
    ```

Capped by default (:class:`~edge_jupyter.content.Settings`): the first and last 10 rows when
there are more than 20, the first and last 10 columns when there are more than 20 (a ``…``
column stands for the others, and a line says how many), each cell, index value and column
name cut to 200 characters with ``…``. ``full=True`` (``{df:full}`` in a cell) sends it whole.
pandas is never imported here: a value only reaches this module when it is a frame already.
"""

from __future__ import annotations

import string
from typing import Any

from ._settings import Settings

ELLIPSIS = "…"


def table_text(value: Any, config: Settings, *, full: bool = False) -> str:
    """A DataFrame or Series as the text above; ``full`` lifts every cap."""
    import pandas as pd  # already imported: ``value`` is one of its objects

    if isinstance(value, pd.Series):
        frame = value.to_frame(name=value.name if value.name is not None else "value")
        name = f' "{_cut(str(value.name), config.cell_chars)}"' if value.name is not None else ""
        head = [f"Series{name}: {_count(len(value), 'row')}, dtype {value.dtype}"]
    else:
        frame = value
        rows, columns = frame.shape
        head = [f"DataFrame: {_count(rows, 'row')} × {_count(columns, 'column')}"]
    index = not _default_index(frame)
    pieces = ([frame.to_csv(index=index, lineterminator="\n")] if full
              else _capped(frame, config, index=index))
    if not isinstance(value, pd.Series):
        head.append(_dtypes(frame, None if full else config))
        if not full and frame.shape[1] > 2 * config.table_columns:
            omitted = _count(frame.shape[1] - 2 * config.table_columns, "column")
            head.append(f"{ELLIPSIS} {omitted} omitted")
    body = "".join(pieces).rstrip("\n")
    fence = "```"
    while fence in body:  # a cell holding a fence must not end the block early
        fence += "`"
    return "\n".join([*head, fence + "csv", body, fence])


def _default_index(frame: Any) -> bool:
    """An unnamed 0, 1, 2… index says nothing the row order does not: it is not sent (a
    column of row numbers would cost a token or more a row)."""
    import pandas as pd

    index = frame.index
    return (isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1
            and index.name is None)


def _capped(frame: Any, config: Settings, *, index: bool) -> list[str]:
    """The CSV of the frame's first and last rows and columns, cells cut, and the gap lines."""
    rows = frame.shape[0]
    keep = config.table_rows
    if rows <= 2 * keep:
        return [_narrow(frame, config).to_csv(index=index, lineterminator="\n")]
    top = _narrow(frame.iloc[:keep], config)
    bottom = _narrow(frame.iloc[rows - keep:], config)
    return [top.to_csv(index=index, lineterminator="\n"),
            f"{ELLIPSIS} {_count(rows - 2 * keep, 'row')} omitted {ELLIPSIS}\n",
            bottom.to_csv(index=index, header=False, lineterminator="\n")]


def _narrow(part: Any, config: Settings) -> Any:
    """A few rows with only the first and last columns (a "…" column between) and cells cut."""
    import pandas as pd

    columns, keep = part.shape[1], config.table_columns
    if columns > 2 * keep:
        gap = pd.DataFrame({ELLIPSIS: [ELLIPSIS] * len(part)}, index=part.index)
        part = pd.concat([part.iloc[:, :keep], gap, part.iloc[:, columns - keep:]], axis=1)
    return _cells(part, config.cell_chars)


def _dtypes(frame: Any, config: Settings | None) -> str:
    """``dtypes: a int64, b str, …`` for the columns shown (all of them when ``config`` is None)."""
    names, dtypes = list(frame.columns), [str(d) for d in frame.dtypes]
    if not names:
        return "dtypes: (no columns)"
    if config is None:
        return "dtypes: " + ", ".join(f"{n} {d}" for n, d in zip(names, dtypes, strict=True))
    pairs = [f"{_cut(str(n), config.cell_chars)} {d}" for n, d in zip(names, dtypes, strict=True)]
    keep = config.table_columns
    if len(pairs) > 2 * keep:
        pairs = [*pairs[:keep], ELLIPSIS, *pairs[len(pairs) - keep:]]
    return "dtypes: " + ", ".join(pairs)


def _text_like(dtype: Any) -> bool:
    import pandas as pd

    return not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_datetime64_any_dtype(dtype)
                or isinstance(dtype, pd.DatetimeTZDtype))


def _cells(frame: Any, limit: int) -> Any:
    """Every text cell, index value and column name cut to ``limit`` characters."""
    import pandas as pd

    out = frame.copy()
    for position in range(out.shape[1]):
        column = out.iloc[:, position]
        if _text_like(column.dtype):
            out.isetitem(position, column.map(lambda cell: _cut_cell(cell, limit)))
    if not isinstance(out.columns, pd.MultiIndex):
        out.columns = pd.Index([_cut_cell(name, limit) for name in out.columns], dtype=object)
    if not isinstance(out.index, pd.MultiIndex) and _text_like(out.index.dtype):
        out.index = pd.Index([_cut_cell(label, limit) for label in out.index], dtype=object,
                             name=out.index.name)
    return out


def _cut_cell(cell: Any, limit: int) -> Any:
    """A cell whose text is longer than ``limit`` as its first ``limit - 1`` characters + "…"."""
    text = cell if isinstance(cell, str) else str(cell)
    return _cut(text, limit) if len(text) > limit else cell


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


#: the format spec that sends a table whole: ``{df:full}`` (a cell, an API template, map's)
FULL_SPEC = "full"


def full_syntax_hint(template: str) -> str | None:
    """The one-line fix when ``template`` fails to parse because of ``{…!full}``, else None.

    ``{df!full}`` reads like a conversion, which Python's format syntax cannot have (only
    ``!r``, ``!s``, ``!a``), so ``str.format`` stops with a bare "expected ':' after conversion
    specifier". Every front-end that parses a template says the same thing instead.
    """
    if "!" + FULL_SPEC not in template:
        return None
    try:
        for _ in string.Formatter().parse(template):
            pass
    except ValueError as exc:
        if "conversion" in str(exc):
            return "The prompt has {…!full}: write {df:full} (a colon, not !) to send a table whole."
    return None
