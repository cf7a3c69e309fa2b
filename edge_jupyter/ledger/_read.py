"""The ledger's read path: sums for budgets, frames for ``usage()``, the columnar snapshot.

Reading.  ``frame()`` reads small scopes straight from SQLite; for large ones it keeps a
columnar snapshot beside the database (``_columns.py``) and reads only the rows changed
since, because turning a million SQLite rows into Python objects takes many seconds.
Writes (``_write.py``) and reads keep the snapshot current on the background worker, so
only a ledger filled by other means (or whose snapshot was deleted) is ever read cold.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from edge_jupyter.record import CallRecord

from ._context import current_context
from ._db import Database
from ._errors import LedgerError
from ._schema import FRAME_SCOPES, READ_SQL, SPEND_SQL, scope_where
from .budgets import Limit

if TYPE_CHECKING:
    import pandas as pd


class LedgerReads(Database):
    """Reading the ledger: ``spent``, ``remaining``, ``frame`` and the snapshot behind it."""

    #: Scopes with at most this many rows are read straight from SQLite.
    direct_max_rows = 20_000
    #: Rewrite the columnar snapshot (in the background) when a read finds at least this
    #: many rows changed since it.
    snapshot_min_delta = 5_000
    #: Writes keep it current too: on a process's first write and every
    #: ``snapshot_check_every`` after, the background worker compares the snapshot with
    #: the database and rewrites it once max(snapshot_min_delta, its rows ÷
    #: ``snapshot_refresh_fraction``) rows changed since.  So a ledger that grew through
    #: edge_jupyter (in one kernel or in many short ones) is never read cold, and a read
    #: has at most ~1 % of the rows to fetch from SQLite (at 1M rows: 10k, ≈ 0.1–0.2 s on
    #: top of the snapshot's ≈ 0.5 s).  The rewrites grow with the ledger, so they add up
    #: to O(n): ≈ 100 × the last one (≈ 2.5 s at 1M rows), in the background.
    snapshot_check_every = 1_000
    snapshot_refresh_fraction = 100
    _writes_since_check = -1  # -1: this process has not written yet
    _refresh_pending = False

    # -- the columnar snapshot ------------------------------------------------------------

    def _count_write(self) -> None:
        self._writes_since_check += 1
        if self._writes_since_check == 0 or self._writes_since_check >= self.snapshot_check_every:
            self._writes_since_check = 0
            from edge_jupyter import background

            background.submit(self._refresh_if_behind)

    def _refresh_if_behind(self) -> None:
        from ._snapshot_header import state as snapshot_state

        with self._private_read() as conn:  # never makes the user's reads wait
            state = snapshot_state(self.path.with_name(self.path.name + "-snapshot"),
                                   self.ledger_id)
            deletions = int(conn.execute(
                "SELECT value FROM meta WHERE key = 'deletions'").fetchone()[0])
            if state is None or state[2] != deletions:  # none yet, or stale
                changed = rows = conn.execute("SELECT count(*) FROM calls").fetchone()[0]
                if rows <= self.direct_max_rows:
                    return  # reads of a ledger this small never use a snapshot
            else:
                seq, rows, _ = state
                changed = conn.execute("SELECT count(*) FROM calls WHERE seq > ?",
                                       (seq,)).fetchone()[0]
        if changed >= max(self.snapshot_min_delta, rows // self.snapshot_refresh_fraction):
            self._refresh_later()

    def _refresh_later(self) -> None:
        from edge_jupyter import background

        with self._lock:  # one rewrite queued at a time
            if self._refresh_pending:
                return
            self._refresh_pending = True
        try:
            background.submit(self.refresh_snapshot)
        except BaseException:  # e.g. no thread can start at shutdown: try again next time
            self._refresh_pending = False
            raise

    def refresh_snapshot(self) -> int:
        """Bring the columnar snapshot up to date with every row; returns the row count.

        Runs on its own arrays (it re-reads the snapshot file), never on a frame's.
        """
        try:
            return len(self._all_columns(save=True)[0]["id"])
        finally:
            self._refresh_pending = False

    # -- sums (spending and limits) ---------------------------------------------------------

    def _scope(self, scope: str, notebook: str | None, session_id: str | None,
               **extra: Any) -> tuple[str, tuple[object, ...]]:
        context = current_context()
        return scope_where(scope, notebook=context.notebook if notebook is None else notebook,
                           session_id=context.session_id if session_id is None else session_id,
                           **extra)

    @staticmethod
    def _sum(conn: sqlite3.Connection, where: str, params: tuple[object, ...],
             exclude_id: int | None = None) -> float:
        if exclude_id is not None:
            where, params = f"({where}) AND id != ?", (*params, exclude_id)
        return float(conn.execute(f"SELECT total({SPEND_SQL}) FROM calls WHERE {where}",
                                  params).fetchone()[0])

    def spent(self, scope: str, *, notebook: str | None = None, session_id: str | None = None,
              now: datetime | None = None, cell_id: str = "",
              execution_count: int | None = None) -> float:
        """USD spent in a scope: settled costs plus what running calls hold.

        ``notebook`` and ``session_id`` default to :func:`current_context`; "day" and
        "month" are the UTC day and month of ``now``; for "cell" see :func:`scope_where`.
        """
        where, params = self._scope(scope, notebook, session_id, cell_id=cell_id,
                                    execution_count=execution_count, now=now)
        with self._read() as conn:
            return self._sum(conn, where, params)

    def _limit_spent(self, conn: sqlite3.Connection, limit: Limit, record: CallRecord,
                     notebook: str | None, session_id: str | None,
                     exclude_id: int | None = None) -> float:
        where, params = scope_where(
            limit.scope, notebook=record.notebook if notebook is None else notebook,
            session_id=record.session_id if session_id is None else session_id,
            cell_id=record.cell_id, execution_count=record.execution_count)
        return self._sum(conn, where, params, exclude_id) + limit.held_usd

    def remaining(self, limits: list[Limit], record: CallRecord, *, exclude_id: int | None = None,
                  notebook: str | None = None, session_id: str | None = None) -> float:
        """What is left of the tightest limit for this record's call (``inf`` without limits).

        Pass the call's own row as ``exclude_id`` so that its reservation does not count:
        the result is what a :class:`StreamGuard` for that call may spend.
        """
        if not limits:
            return float("inf")
        with self._read() as conn:
            return min(limit.limit_usd - self._limit_spent(conn, limit, record, notebook,
                                                           session_id, exclude_id)
                       for limit in limits)

    # -- frames -----------------------------------------------------------------------------

    def frame(self, scope: str = "notebook", since: Any = None, *, notebook: str | None = None,
              session_id: str | None = None, cell_id: str = "",
              now: datetime | None = None) -> pd.DataFrame:
        """The scope's rows as a DataFrame with the ledger's columns and proper dtypes.

        ``since``: a datetime or date (naive = UTC), an ISO-8601 string, or a duration
        ("7D", "12h", a timedelta) counted back from now.  ``notebook``/``session_id``
        default to :func:`current_context`; "cell" is every run of ``cell_id`` in the notebook.
        """
        from . import _columns, _frame

        if scope not in FRAME_SCOPES:
            raise LedgerError(f"unknown scope {scope!r}; use one of {', '.join(FRAME_SCOPES)}")
        now = now or datetime.now(timezone.utc)
        context = current_context()
        notebook = context.notebook if notebook is None else notebook
        session_id = context.session_id if session_id is None else session_id
        since_us = _frame.since_to_us(since, now)
        where, params = scope_where(scope, notebook=notebook, session_id=session_id,
                                    cell_id=cell_id, now=now)
        if since_us is not None:
            where, params = f"{where} AND timestamp >= ?", (*params, since_us)
        with self._read(bulk=True) as conn:
            count = conn.execute(f"SELECT count(*) FROM calls WHERE {where}", params).fetchone()[0]
            if count <= self.direct_max_rows:
                return _frame.build(_columns.fetch(conn.execute(
                    f"SELECT {READ_SQL} FROM calls WHERE {where} ORDER BY id", params)))
        everything, behind = self._all_columns()
        frame = _frame.build(_columns.take(everything, _columns.scope_mask(
            everything, scope, notebook=notebook, session_id=session_id, cell_id=cell_id,
            since_us=since_us, now=now)))
        if behind:  # rewriting 1M rows takes ~2 s: not while the user waits, and not
            self._refresh_later()  # competing for the GIL with the read above
        return frame

    def _all_columns(self, *, save: bool = False) -> tuple[dict[str, Any], bool]:
        """Every row, columnar: the snapshot beside the database plus the rows changed since;
        and whether the snapshot is far enough behind to be rewritten (if ``save`` is not set).

        The snapshot is read and written outside any transaction; the rows after its
        ``seq`` are read in one, so the two fit together exactly.
        """
        from . import _columns

        snapshot_path = self.path.with_name(self.path.name + "-snapshot")
        self.ensure_open()  # the ledger's id is known from here (a rewrite needs no bulk connection)
        base, base_seq, base_deletions = _columns.load(snapshot_path, self.ledger_id)
        # A rewrite (in the background) reads on a connection of its own: a cold one reads
        # every row, seconds at 1M rows, and the user's small reads must not wait for it.
        with self._private_read() if save else self._read(bulk=True) as conn:
            deletions = int(conn.execute(
                "SELECT value FROM meta WHERE key = 'deletions'").fetchone()[0])
            if base is None or base_deletions != deletions:
                base = None  # none yet, or rows were deleted since: read every row
                delta = _columns.fetch(conn.execute(f"SELECT {READ_SQL} FROM calls ORDER BY id"))
            else:  # by seq, so that SQLite walks the seq index instead of the whole table
                delta = _columns.fetch(conn.execute(
                    f"SELECT {READ_SQL} FROM calls WHERE seq > ? ORDER BY seq", (base_seq,)))
        columns = _columns.merge(base, delta) if base is not None else delta
        if base is None or (save and len(delta["id"])):
            _columns.save(snapshot_path, columns, self.ledger_id, deletions)
            return columns, False
        return columns, len(delta["id"]) >= self.snapshot_min_delta
