"""Pure pandas over a ledger DataFrame: grouped totals, export, and reading an export back.

pandas is imported inside each function, so importing the ledger stays cheap.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._errors import LedgerError

if TYPE_CHECKING:
    import pandas as pd

#: ``group(df, by)``: the key column(s) of each grouping.  A cell is named by its notebook
#: and its id (cell ids are only unique within a notebook).
GROUP_KEYS: dict[str, tuple[str, ...]] = {
    "model": ("model",), "provider": ("provider",), "day": ("day",),
    "notebook": ("notebook",), "chat": ("chat",), "cell": ("notebook", "cell_id"),
}
#: The counts summed per group: tokens, what the calls sent besides text, and the web
#: searches they paid for.
_SUMMED = ("prompt_tokens", "completion_tokens", "reasoning_tokens", "cached_tokens",
           "images", "files", "pages", "web_searches")
#: The figures of each group, after its key(s).
GROUP_FIGURES = ("calls", *_SUMMED, "cost_usd", "byok_upstream_usd", "cost_unknown")
TOTAL = "Total"

_TEXT = ("notebook", "cell_id", "chat", "group_id", "model", "provider", "service_tier",
         "generation_id", "status", "error", "session_id", "day", "saved_by")
_INTS = (*_SUMMED, "step", "calls", "cost_unknown")
_FLOATS = ("cost_usd", "upstream_cost_usd", "saved_usd", "latency_s", "ttft_s", "byok_upstream_usd")


def group(df: pd.DataFrame, by: str) -> pd.DataFrame:
    """Totals per model, provider, day (UTC), notebook, chat or cell, then a "Total" row.

    ``cost_usd`` is what OpenRouter charged (credits); ``byok_upstream_usd`` is what your
    own provider keys were billed directly (BYOK calls only -- for other calls the upstream
    cost is part of ``cost_usd`` and must not be added again); ``cost_unknown`` counts calls
    whose exact cost is not known yet (:func:`unsettled`: running, or interrupted and not
    reconciled; a call refused before any token cost $0 and is not counted).
    Groups are ordered by cost (days by date).
    """
    import numpy as np
    import pandas as pd

    if by not in GROUP_KEYS:
        raise LedgerError(f"cannot group by {by!r}; use one of {', '.join(GROUP_KEYS)}")
    keys = list(GROUP_KEYS[by])
    work = pd.DataFrame({
        "calls": np.ones(len(df), dtype=np.int64),
        **{name: df[name].to_numpy(dtype=np.int64) for name in _SUMMED},
        "cost_usd": df["cost_usd"].to_numpy(dtype=np.float64),
        "byok_upstream_usd": byok_upstream_usd(df),
        # a call refused before any token has no cost and never will: it cost $0, not "unknown"
        "cost_unknown": unsettled(df).astype(np.int64),
    })
    if by == "day":  # whole UTC days as numpy datetime64[D]: a cast, not a per-row floor
        utc = pd.DatetimeIndex(df["timestamp"]).tz_convert("UTC").tz_localize(None)
        work["day"] = utc.to_numpy().astype("datetime64[D]")
    else:
        for key in keys:
            work[key] = df[key].to_numpy(dtype=object)
    sums = work.groupby(keys, sort=False, dropna=False).sum(min_count=0)
    if by == "day":
        sums = sums.sort_index()
        sums.index = pd.Index(sums.index.to_numpy().astype("datetime64[D]").astype(str),
                              name="day", dtype=object)
    else:
        sums = sums.sort_values(["cost_usd", "calls"], ascending=False, kind="stable")
    result = sums.reset_index()
    total = {key: "" for key in keys}
    total[keys[0]] = TOTAL
    total.update({name: work[name].sum() for name in GROUP_FIGURES})
    result = pd.concat([result, pd.DataFrame([total])], ignore_index=True)
    return restore_dtypes(result[[*keys, *GROUP_FIGURES]])



def byok_upstream_usd(df: pd.DataFrame) -> Any:
    """Per row, what the call's own provider key was billed directly: the upstream cost of
    a BYOK call, 0.0 for every other call (its upstream cost is already in ``cost_usd``,
    and adding it again would count it twice).  A numpy float64 array."""
    import numpy as np

    return np.where(df["is_byok"].to_numpy(dtype=bool),
                    df["upstream_cost_usd"].fillna(0.0).to_numpy(dtype=np.float64), 0.0)


def unsettled(df: pd.DataFrame) -> Any:
    """Per row, True where the call's cost is not known YET: what
    :meth:`Ledger.to_reconcile` looks for (``cost_usd IS NULL AND status != 'replayed'
    AND (generation_id != '' OR status = 'pending')``), read from a frame, whatever the
    row's age.  Running calls count too (to_reconcile waits for their process to end).
    A failed call with no generation id and no cost was refused before any token:
    OpenRouter billed nothing and nothing can ever settle it, so it is not unsettled; it
    cost $0.  A numpy bool array."""
    status = df["status"].to_numpy(dtype=object)
    return (df["cost_usd"].isna().to_numpy(dtype=bool) & (status != "replayed")
            & ((df["generation_id"].to_numpy(dtype=object) != "") | (status == "pending")))


def spend_usd(df: pd.DataFrame) -> Any:
    """Per row, what the call spent, as budgets, the Usage tab and ``group`` count it:
    ``cost_usd`` plus, for a BYOK call, what its own provider key was billed
    (:func:`byok_upstream_usd`; the ``SPEND_SQL`` rule without a pending row's
    reservation).  NaN where the cost is still to come (:func:`unsettled`), 0.0 for a
    call that cost nothing.  A numpy float64 array."""
    import numpy as np

    from ..money import total_usd

    spent = np.nan_to_num(df["cost_usd"].to_numpy(dtype=np.float64), nan=0.0)
    upstream = byok_upstream_usd(df)
    # Exact sums (0.1 + 0.2 is 0.3 here), only where there is something to add: a ledger
    # of a million rows has few BYOK ones.
    for i in np.flatnonzero(upstream).tolist():
        spent[i] = total_usd([float(spent[i]), float(upstream[i])])
    return np.where(unsettled(df), np.nan, spent)


# OWASP's CSV injection list: a spreadsheet runs a cell that starts with one of these as a
# formula (`=HYPERLINK(...)` in a model id or an error message a server chose).  Such a
# cell is written with a leading "'", which spreadsheets show as text.  Cells that
# already start with quotes before such a character get one more, so that
# :func:`read_export` can take exactly one off and give back the text as it was.
_FORMULA = re.compile(r"'*[=+\-@\t\r]")
_QUOTED_FORMULA = re.compile(r"'+[=+\-@\t\r]")


def _defuse(value: Any) -> Any:
    return "'" + value if isinstance(value, str) and _FORMULA.match(value) else value


def _restore(value: Any) -> Any:
    return value[1:] if isinstance(value, str) and _QUOTED_FORMULA.match(value) else value


def _text_columns(df: pd.DataFrame) -> list[str]:
    """Columns holding text: numbers (a negative figure starts with "-") are never touched."""
    import pandas as pd

    return [name for name in df.columns
            if pd.api.types.is_object_dtype(df[name]) or pd.api.types.is_string_dtype(df[name])]


def _map_text(df: pd.DataFrame, fn: Any) -> pd.DataFrame:
    columns = _text_columns(df)
    if not columns:
        return df
    out = df.copy()
    for name in columns:
        out[name] = out[name].map(fn)
    return out


def _need(module: str, what: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise LedgerError(f"Writing {what} needs the `{module}` package: run "
                          f"`pip install {module}` and export again (a .csv path always works).")


def export(df: pd.DataFrame, path: str | Path) -> Path:
    """Write ``df`` to ``path``: .csv always; .parquet with pyarrow; .xlsx with openpyxl.

    CSV and Parquet read back (:func:`read_export`) exactly equal.  Times are in UTC; Excel
    has no time zones (they are plain UTC times there) and keeps them to the millisecond.
    In CSV and Excel files a text cell that a spreadsheet would run as a formula (it starts
    with ``= + - @``, a tab or a CR) starts with ``'`` instead; :func:`read_export` takes
    it off again.  Returns the absolute path written.
    """
    target = Path(path).expanduser().resolve()
    suffix = target.suffix.lower()
    if suffix not in (".csv", ".parquet", ".xlsx"):
        raise LedgerError(f"Cannot export to {target.name!r}: use a .csv, .parquet or .xlsx path.")
    if suffix == ".parquet":
        _need("pyarrow", "Parquet")
    elif suffix == ".xlsx":
        _need("openpyxl", "Excel files")
    target.parent.mkdir(parents=True, exist_ok=True)
    if suffix in (".csv", ".xlsx"):  # Parquet is typed data: no spreadsheet evaluates it
        df = _map_text(df, _defuse)
    if suffix == ".csv":
        # CRLF, as RFC 4180 says: a CR inside a cell is then quoted too (with "\n" only, a
        # CR in an error message was written bare and read back as the end of a row).
        df.to_csv(target, index=False, lineterminator="\r\n")
    elif suffix == ".parquet":
        df.to_parquet(target, index=False)
    else:
        plain = df.copy()
        for name in plain.columns:
            if hasattr(plain[name].dtype, "tz"):
                plain[name] = plain[name].dt.tz_convert("UTC").dt.tz_localize(None)
        plain.to_excel(target, index=False, sheet_name="usage")
    return target


def read_export(path: str | Path) -> pd.DataFrame:
    """Read a file written by :func:`export` back, with the ledger's dtypes (and the text
    as it was before :func:`export` guarded it against formulas)."""
    import pandas as pd

    source = Path(path).expanduser()
    suffix = source.suffix.lower()
    # Empty cells mean "unknown" only in the number columns; "NA" or "null" in a chat
    # name is text.
    text_as_text: dict[str, Any] = {
        "keep_default_na": False, "dtype": {name: str for name in _TEXT},
        "na_values": {name: [""] for name in (*_FLOATS, "execution_count")},
    }
    if suffix == ".csv":  # round_trip: the exact floats written, not the nearest 15 digits
        df = pd.read_csv(source, float_precision="round_trip", **text_as_text)
    elif suffix == ".parquet":
        df = pd.read_parquet(source)
    elif suffix == ".xlsx":
        df = pd.read_excel(source, sheet_name="usage", **text_as_text)
    else:
        raise LedgerError(f"Cannot read {source.name!r}: use a .csv, .parquet or .xlsx path.")
    if suffix != ".parquet":
        df = _map_text(df, _restore)
    return restore_dtypes(df)


def restore_dtypes(df: pd.DataFrame) -> pd.DataFrame:
    """Give the known ledger (and ``group``) columns the dtypes ``usage()`` uses."""
    import pandas as pd

    df = df.copy()
    for name in df.columns:
        column = df[name]
        if name == "timestamp":
            df[name] = pd.to_datetime(column, utc=True, format="ISO8601").dt.as_unit("ns")
        elif name == "execution_count":
            df[name] = pd.to_numeric(column).astype("Int64")
        elif name in _INTS:
            df[name] = pd.to_numeric(column).astype("int64")
        elif name in _FLOATS:
            df[name] = pd.to_numeric(column).astype("float64")
        elif name in ("is_byok", "saved_exact"):
            df[name] = column.map(lambda v: v if isinstance(v, bool) else str(v) == "True") \
                if column.dtype != bool else column
            df[name] = df[name].astype(bool)
        elif name in _TEXT:
            df[name] = pd.Series(column.fillna("").astype(str).to_numpy(dtype=object),
                                 index=df.index)
    return df
