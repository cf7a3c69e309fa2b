"""The usage ledger: one SQLite row per model call, safe across threads and kernels.

Durability.  A row is inserted (``pending``) and committed before the request is sent,
and completed after (WAL, ``synchronous=NORMAL``: see ``_db.py`` for why that is enough
for a killed kernel).

Limits.  :meth:`Ledger.reserve` checks the limits and inserts the row in the same
``BEGIN IMMEDIATE`` transaction, so two kernels can never both take the last dollar.

Reading.  ``frame()`` reads small scopes straight from SQLite; for large ones it keeps a
columnar snapshot beside the database (``_columns.py``) and reads only the rows changed
since, because turning a million SQLite rows into Python objects takes many seconds.
Writes and reads keep the snapshot current on the background worker, so only a ledger
filled by other means (or whose snapshot was deleted) is ever read cold.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge_jupyter.record import CallRecord

from ._context import current_context
from ._db import Database
from ._errors import BudgetExceeded, LedgerError
from ._reconcile import HOST, is_stale
from ._schema import (
    FRAME_SCOPES,
    READ_SQL,
    SPEND_SQL,
    WRITE_COLUMNS,
    from_us,
    scope_where,
    to_us,
)
from .budgets import Limit

if TYPE_CHECKING:
    import pandas as pd

    from edge_jupyter.openrouter import Generation

_INSERT_SQL = (
    f"INSERT INTO calls (seq, {', '.join(WRITE_COLUMNS)}, reserved_usd, pid, host, updated_at) "
    f"VALUES ((SELECT coalesce(max(seq), 0) + 1 FROM calls), "
    f"{', '.join('?' * len(WRITE_COLUMNS))}, ?, ?, ?, ?)"
)
_NEXT_SEQ = "(SELECT coalesce(max(seq), 0) + 1 FROM calls)"


def _now_us() -> int:
    return time.time_ns() // 1000


def _values(record: CallRecord) -> list[Any]:
    """The record's WRITE_COLUMNS as SQLite values."""
    row = record.ledger_row()
    row["timestamp"] = to_us(record.timestamp)
    row["is_byok"] = int(bool(record.is_byok))
    return [row[name] for name in WRITE_COLUMNS]


def _record(values: tuple[Any, ...]) -> CallRecord:
    """A CallRecord from WRITE_COLUMNS values read back."""
    data = dict(zip(WRITE_COLUMNS, values, strict=True))
    data["timestamp"] = from_us(data["timestamp"])
    data["is_byok"] = bool(data["is_byok"])
    return CallRecord(**data)


class Ledger(Database):
    """The usage ledger in one SQLite file (see the module's docstring)."""

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

    @classmethod
    def default(cls) -> Ledger:
        """The ledger at ``data_dir() / "ledger.sqlite3"`` (one shared instance per path)."""
        from edge_jupyter.storage import data_dir

        path = data_dir() / "ledger.sqlite3"
        with _defaults_lock:
            ledger = _defaults.get(path)
            if ledger is None:
                ledger = _defaults[path] = cls(path)
            return ledger

    def __repr__(self) -> str:
        return f"Ledger('{self.path}')"

    # -- writing --------------------------------------------------------------------------

    @staticmethod
    def _insert(conn: sqlite3.Connection, record: CallRecord, reserved_usd: float) -> int:
        if not record.session_id:
            record.session_id = current_context().session_id
        values = _values(record)
        values[WRITE_COLUMNS.index("status")] = "pending"
        cursor = conn.execute(_INSERT_SQL, (*values, float(reserved_usd), os.getpid(), HOST,
                                            _now_us()))
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def begin(self, record: CallRecord, reserved_usd: float = 0.0) -> int:
        """Insert the call as ``pending`` and commit it; returns the row id.

        Call it before the request is sent.  An empty ``record.session_id`` is filled in
        from :func:`current_context`.
        """
        with self._write() as conn:
            return self._insert(conn, record, reserved_usd)

    def complete(self, row_id: int, record: CallRecord, *,
                 estimated_usd: float | None = None) -> None:
        """Write the call's final figures.

        The reservation is released when the cost is known.  While it is not (a cancelled
        or failed stream that reached a model), the row keeps holding ``estimated_usd``
        (e.g. :attr:`StreamGuard.cost_usd`) or else its reservation, until ``reconcile``
        fills in the exact cost; a call that never got a generation id holds nothing.
        """
        if record.status == "pending":
            raise LedgerError("complete() needs the call's final status, not 'pending'")
        if record.cost_usd is not None:
            reserved: Any = 0.0
        elif estimated_usd is not None:
            reserved = float(estimated_usd)
        else:
            reserved = None  # keep it if there is a generation id, else release it
        assignments = ", ".join(f"{name} = ?" for name in WRITE_COLUMNS)
        with self._write() as conn:
            cursor = conn.execute(
                f"UPDATE calls SET {assignments}, seq = {_NEXT_SEQ}, updated_at = ?, "
                "reserved_usd = coalesce(?, CASE WHEN ? != '' THEN reserved_usd ELSE 0 END) "
                "WHERE id = ?",
                (*_values(record), _now_us(), reserved, record.generation_id, row_id))
            if cursor.rowcount != 1:
                raise LedgerError(f"the ledger has no row {row_id}")
        self._count_write()

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

    def update_generation_id(self, row_id: int, generation_id: str) -> None:
        """Record the generation id as soon as it is known, so a lost call can be reconciled."""
        with self._write() as conn:
            conn.execute(f"UPDATE calls SET generation_id = ?, seq = {_NEXT_SEQ}, updated_at = ? "
                         "WHERE id = ?", (generation_id, _now_us(), row_id))

    # -- limits ---------------------------------------------------------------------------

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
        return self._sum(conn, where, params, exclude_id)

    def reserve(self, record: CallRecord, worst_case_usd: float, limits: list[Limit], *,
                notebook: str | None = None, session_id: str | None = None) -> int:
        """Check every limit and insert the pending row holding ``worst_case_usd``, atomically.

        Raises :class:`BudgetExceeded` (for the limit with the least left) when the worst
        case does not fit; nothing is written then.  The scopes are those of the record
        (its notebook, session, cell) unless ``notebook``/``session_id`` are given.
        """
        if not record.session_id:
            record.session_id = current_context().session_id
        with self._write() as conn:
            refusals = []
            for limit in limits:
                spent = self._limit_spent(conn, limit, record, notebook, session_id)
                if limit.limit_usd - spent < worst_case_usd:
                    refusals.append(BudgetExceeded(scope=limit.scope, limit_usd=limit.limit_usd,
                                                   spent_usd=spent, worst_case_usd=worst_case_usd))
            if refusals:
                raise min(refusals, key=lambda e: e.limit_usd - e.spent_usd)
            return self._insert(conn, record, worst_case_usd)

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

    # -- reconciliation -------------------------------------------------------------------

    def to_reconcile(self, max_age_days: float = 7) -> list[tuple[int, CallRecord]]:
        """Rows whose cost is still unknown and that ``reconcile`` can settle.

        Ended calls (interrupted, stopped, failed, or without an inline cost) that have a
        generation id, and pending rows whose process is gone.  Rows older than
        ``max_age_days`` are left alone.  Least recently touched first: a row that could
        not be settled goes behind the others (:meth:`_tried`).
        """
        now = _now_us()
        oldest = now - int(max_age_days * 86_400e6)
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT id, {', '.join(WRITE_COLUMNS)}, pid, host, updated_at FROM calls "
                "WHERE cost_usd IS NULL AND timestamp >= ? AND status != 'replayed' "
                "AND (generation_id != '' OR status = 'pending') ORDER BY updated_at, id",
                (oldest,)).fetchall()
        found = []
        for row in rows:
            record = _record(row[1:-3])
            if record.status != "pending" or is_stale(*row[-3:], now_us=now):
                found.append((row[0], record))
        return found

    def reconcile(self, fetch: Callable[[str], Generation], *, max_age_days: float = 7,
                  limit: int | None = None) -> int:
        """Settle the rows of :meth:`to_reconcile` with ``fetch(generation_id)``.

        ``fetch`` is ``OpenRouterClient.generation``.  A record not ready yet (NotFound) is
        tried again next time; any other OpenRouter error (offline, bad key) ends the pass.
        A pending row of a dead process becomes ``interrupted``.  Returns the rows changed.
        """
        from edge_jupyter.openrouter import MalformedResponse, NotFound, OpenRouterError

        fixed = 0
        for row_id, record in self.to_reconcile(max_age_days)[:limit]:
            if not record.generation_id:  # died before the first chunk: nothing to fetch
                self._interrupt(row_id, release=True)
                fixed += 1
                continue
            try:
                generation = fetch(record.generation_id)
            except NotFound:
                if record.status == "pending":
                    self._interrupt(row_id, release=False)
                    fixed += 1
                else:
                    self._tried(row_id)
                continue
            except MalformedResponse:  # an impossible record (e.g. cost inf) never settles a
                self._tried(row_id)    # row; it is tried again later, after the others
                continue
            except OpenRouterError:
                break
            fixed += self._settle(row_id, generation)
        return fixed

    def _tried(self, row_id: int) -> None:
        """Move a row that could not be settled behind the others (:meth:`to_reconcile`
        reads the least recently touched first), so rows a hostile or lagging server never
        settles cannot fill every pass's ``limit`` and starve the rest.  Only ``updated_at``
        changes: nothing anyone reads (so no ``seq``); a pending row of another host is
        then taken as stale that much later, which is what a retry back-off wants too."""
        with self._write() as conn:
            conn.execute("UPDATE calls SET updated_at = ? WHERE id = ? AND cost_usd IS NULL",
                         (_now_us(), row_id))

    def _interrupt(self, row_id: int, *, release: bool) -> None:
        with self._write() as conn:
            conn.execute(
                f"UPDATE calls SET status = 'interrupted', seq = {_NEXT_SEQ}, updated_at = ?, "
                "reserved_usd = CASE WHEN ? THEN 0 ELSE reserved_usd END "
                "WHERE id = ? AND status = 'pending'", (_now_us(), release, row_id))

    def _settle(self, row_id: int, g: Generation) -> int:
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE calls SET cost_usd = ?5, upstream_cost_usd = ?6, is_byok = ?7, "
                "provider = CASE WHEN ?8 != '' THEN ?8 ELSE provider END, "
                # The generation's native token counts are the billing basis: they win
                # wherever OpenRouter reports them.
                "prompt_tokens = CASE WHEN ?1 > 0 THEN ?1 ELSE prompt_tokens END, "
                "completion_tokens = CASE WHEN ?2 > 0 THEN ?2 ELSE completion_tokens END, "
                "reasoning_tokens = CASE WHEN ?3 > 0 THEN ?3 ELSE reasoning_tokens END, "
                "cached_tokens = CASE WHEN ?4 > 0 THEN ?4 ELSE cached_tokens END, "
                "status = CASE WHEN status = 'pending' THEN 'interrupted' ELSE status END, "
                f"reserved_usd = 0, seq = {_NEXT_SEQ}, updated_at = ?9 "
                "WHERE id = ?10 AND cost_usd IS NULL",
                (g.prompt_tokens, g.completion_tokens, g.reasoning_tokens, g.cached_tokens,
                 g.total_cost, g.upstream_cost, int(g.is_byok), g.provider or "", _now_us(),
                 row_id))
            return cursor.rowcount

    # -- reading --------------------------------------------------------------------------

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


_defaults: dict[Path, Ledger] = {}
_defaults_lock = threading.Lock()
