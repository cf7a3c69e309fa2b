"""The usage ledger and spending limits.

* :class:`Ledger` -- one SQLite row per model call (``_ledger.py``: the write path in
  ``_write.py``, the read path in ``_read.py``, reconciliation in ``_reconcile.py``),
  written ``pending`` before the request and completed after; safe across threads and
  kernels.  ``Ledger.default()`` is the one instance per data folder.
* :mod:`.budgets` -- pure arithmetic: prompt estimates, worst-case cost, :class:`Limit`,
  :class:`StreamGuard`.
* :func:`group` / :func:`export` -- pandas over a ledger frame (``_queries.py``), with
  :func:`spend_usd` (each call's spend, BYOK upstream included) and :func:`unsettled`
  (rows whose cost is still to come) per row.
* :func:`usage` -- the ledger of this notebook/session as a DataFrame.

Importing this package does not import pandas, numpy, IPython or httpx.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._batch import BegunRow, FinishedCall, StartingCall
from ._context import Context, current_context, set_context
from ._errors import BudgetExceeded, LedgerError
from ._ledger import Ledger
from ._queries import (
    byok_upstream_usd,
    export,
    group,
    read_export,
    restore_dtypes,
    spend_usd,
    unsettled,
)
from .budgets import (
    Limit,
    StreamGuard,
    completion_ceiling,
    count_images,
    estimate_body_tokens,
    estimate_prompt_tokens,
    estimate_text_tokens,
    left_usd,
    worst_case_cost,
)

if TYPE_CHECKING:
    from datetime import datetime

    import pandas as pd

__all__ = [
    "BegunRow", "BudgetExceeded", "Context", "FinishedCall", "Ledger", "LedgerError", "Limit",
    "StartingCall", "StreamGuard",
    "byok_upstream_usd", "completion_ceiling", "count_images", "current_context",
    "estimate_body_tokens", "estimate_prompt_tokens",
    "estimate_text_tokens", "export", "group", "left_usd", "read_export", "restore_dtypes",
    "set_context", "since_to_us", "spend_usd", "unsettled", "usage", "worst_case_cost",
]

USAGE_SCOPES = ("notebook", "session", "all")


def since_to_us(since: Any, now: datetime) -> int | None:
    """``since`` (a date, datetime, ISO-8601 string or span back from ``now`` such as "7D")
    as microseconds since the epoch, None for no bound; :class:`LedgerError` for anything else.

    Here so a front-end can check a ``--since`` before reading the ledger; pandas is
    imported only when it is called.
    """
    from ._frame import since_to_us as convert

    return convert(since, now)


def usage(scope: str = "notebook", since: Any = None) -> pd.DataFrame:
    """The usage ledger as a DataFrame, one row per model call.

    ``scope``: "notebook" (this notebook's calls, in any kernel), "session" (this kernel's)
    or "all".  ``since``: a date, datetime, ISO-8601 string or duration such as "7D".
    Columns and dtypes: see :meth:`Ledger.frame`.
    """
    if scope not in USAGE_SCOPES:
        raise LedgerError(f"unknown scope {scope!r}; use one of {', '.join(USAGE_SCOPES)}")
    return Ledger.default().frame(scope, since)
