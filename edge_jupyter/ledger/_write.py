"""The ledger's write path: a call's row from ``pending`` to its final figures.

Durability.  A row is inserted (``pending``) and committed before the request is sent,
and completed after (WAL, ``synchronous=NORMAL``: see ``_db.py`` for why that is enough
for a killed kernel).

Limits.  :meth:`LedgerWrites.reserve` checks the limits and inserts the row in the same
``BEGIN IMMEDIATE`` transaction, so two kernels can never both take the last dollar.
It sums the scopes with the read path's queries, and every completed row counts towards
keeping the columnar snapshot current (``_read.py``): hence it builds on
:class:`LedgerReads`.
"""

from __future__ import annotations

import os
import sqlite3
from typing import Any

from edge_jupyter.record import CallRecord

from ._context import current_context
from ._errors import BudgetExceeded, LedgerError
from ._read import LedgerReads
from ._reconcile import HOST
from ._rows import INSERT_SQL, NEXT_SEQ, now_us, to_row
from ._schema import WRITE_COLUMNS
from .budgets import Limit


class LedgerWrites(LedgerReads):
    """Writing a call's row: ``begin``/``reserve`` before the request, ``complete`` after."""

    @staticmethod
    def _insert(conn: sqlite3.Connection, record: CallRecord, reserved_usd: float) -> int:
        if not record.session_id:
            record.session_id = current_context().session_id
        row = to_row(record)
        row[WRITE_COLUMNS.index("status")] = "pending"
        cursor = conn.execute(INSERT_SQL, (*row, float(reserved_usd), os.getpid(), HOST,
                                           now_us()))
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
                f"UPDATE calls SET {assignments}, seq = {NEXT_SEQ}, updated_at = ?, "
                "reserved_usd = coalesce(?, CASE WHEN ? != '' THEN reserved_usd ELSE 0 END) "
                "WHERE id = ?",
                (*to_row(record), now_us(), reserved, record.generation_id, row_id))
            if cursor.rowcount != 1:
                raise LedgerError(f"the ledger has no row {row_id}")
        self._count_write()

    def update_generation_id(self, row_id: int, generation_id: str) -> None:
        """Record the generation id as soon as it is known, so a lost call can be reconciled."""
        with self._write() as conn:
            conn.execute(f"UPDATE calls SET generation_id = ?, seq = {NEXT_SEQ}, updated_at = ? "
                         "WHERE id = ?", (generation_id, now_us(), row_id))

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
