"""Columns to a pandas DataFrame with the ledger's dtypes, and ``since`` parsing."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pandas as pd

from edge_jupyter.record import LEDGER_COLUMNS

from ._columns import Columns
from ._errors import LedgerError
from ._schema import to_us

FRAME_COLUMNS: tuple[str, ...] = (*LEDGER_COLUMNS, "session_id")
TEXT_COLUMNS = ("notebook", "cell_id", "chat", "group_id", "model", "provider", "service_tier",
                "generation_id", "status", "error", "session_id", "saved_by")
INT_COLUMNS = ("prompt_tokens", "completion_tokens", "reasoning_tokens", "cached_tokens",
               "images", "files", "pages", "step", "web_searches")
FLOAT_COLUMNS = ("cost_usd", "upstream_cost_usd", "saved_usd", "latency_s", "ttft_s")


def build(columns: Columns) -> pd.DataFrame:
    """The DataFrame ``usage()`` returns.

    ``timestamp`` datetime64[ns, UTC]; ``execution_count`` Int64 (missing outside IPython);
    token counts, ``images, files, pages``, ``step`` and ``web_searches`` int64; costs and
    times float64 (NaN while unknown), ``saved_usd`` too (NaN: nothing saved); ``is_byok`` and
    ``saved_exact`` bool; text in pandas' default string dtype (``str`` in pandas 3,
    object before), "" when empty.
    """
    micro = columns["timestamp"].astype("datetime64[us]").astype("datetime64[ns]")
    data: dict[str, Any] = {
        "timestamp": pd.DatetimeIndex(micro).tz_localize(timezone.utc),
        "execution_count": pd.arrays.IntegerArray(columns["execution_count"],
                                                  columns["execution_count_na"].copy()),
        "is_byok": columns["is_byok"],
        "saved_exact": columns["saved_exact"],
    }
    for name in TEXT_COLUMNS:
        data[name] = pd.Series(columns[name], copy=False)
    for name in (*INT_COLUMNS, *FLOAT_COLUMNS):
        data[name] = columns[name]
    # copy=False: the arrays are fresh and the frame's own; pandas need not copy them again.
    return pd.DataFrame({name: data[name] for name in FRAME_COLUMNS}, copy=False)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]+)\s*$")


def since_to_us(since: Any, now: datetime) -> int | None:
    """``since`` as microseconds since the epoch (None: no bound).

    Accepts a datetime (naive = UTC), a date (midnight UTC), an ISO-8601 string, or a
    duration back from ``now``: a timedelta or a string such as "7D", "12h", "30min".
    """
    if since is None:
        return None
    if isinstance(since, datetime):  # pandas.Timestamp too
        return to_us(since)
    if isinstance(since, date):
        return to_us(datetime(since.year, since.month, since.day, tzinfo=timezone.utc))
    if isinstance(since, (timedelta, np.timedelta64)):
        return to_us(now - pd.Timedelta(since).to_pytimedelta())
    if isinstance(since, str):
        text = since.strip()
        if _DURATION.match(text):
            try:
                return to_us(now - pd.Timedelta(text).to_pytimedelta())
            except ValueError:
                pass
        try:
            return to_us(pd.Timestamp(text).to_pydatetime())
        except ValueError:
            pass
    raise LedgerError(f"`since` must be a date, a datetime, an ISO-8601 string or a duration "
                      f"such as '7D' or '12h', not {since!r}")
