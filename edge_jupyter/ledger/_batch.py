"""Group commits: the rows of many calls completed and begun in one transaction.

A batch of calls (``edge_jupyter.map``) would otherwise pay two commits per row
(``begin`` before the request, ``complete`` after), each a ``BEGIN IMMEDIATE`` under the
ledger's lock.  :meth:`LedgerBatches.write_many` does both for a group: it completes the
rows of the calls that finished, then checks the limits and inserts the pending rows of
the calls about to be sent, all in one transaction.  The durability rule is the
single-call one (``_write.py``): every row is committed ``pending`` before its request
is sent, because the caller sends only the rows this returns, after it returned.

Limits hold as for :meth:`LedgerWrites.reserve` called once per row in order: the scope
sums are read once inside the transaction, and each row's worst case is added to them
before the next row is checked, so two kernels (each in its own transaction) can never
both take the last dollar.  The first row that does not fit stops the group; the rows
before it are written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from edge_jupyter.record import CallRecord

from ._context import current_context
from ._errors import BudgetExceeded, LedgerError
from ._rows import NEXT_SEQ, now_us, to_row
from ._schema import WRITE_COLUMNS
from ._write import LedgerWrites
from .budgets import Limit

_ASSIGNMENTS = ", ".join(f"{name} = ?" for name in WRITE_COLUMNS)
#: The UPDATE of ``LedgerWrites.complete``: a known cost releases the reservation; an
#: unknown one keeps ``estimated`` (or, with a generation id, the reservation) until reconciled.
_COMPLETE_SQL = (
    f"UPDATE calls SET {_ASSIGNMENTS}, seq = {NEXT_SEQ}, updated_at = ?, "
    "reserved_usd = coalesce(?, CASE WHEN ? != '' THEN reserved_usd ELSE 0 END) "
    "WHERE id = ?")


@dataclass(frozen=True)
class FinishedCall:
    """A call to complete: its row, its final record, what an unpriced one keeps holding."""

    row_id: int
    record: CallRecord
    estimated_usd: float | None = None


@dataclass(frozen=True)
class StartingCall:
    """A call about to be sent: its record and the worst case it must reserve."""

    record: CallRecord
    worst_case_usd: float = 0.0


@dataclass(frozen=True)
class BegunRow:
    """A row written ``pending``; ``left_usd`` is what its stream guard may spend."""

    row_id: int
    left_usd: float


class LedgerBatches(LedgerWrites):
    """``write_many``: complete and begin the rows of many calls in one transaction."""

    def write_many(self, finished: Sequence[FinishedCall], starting: Sequence[StartingCall],
                   limits: Sequence[Limit] = (), *,
                   generation_ids: Sequence[tuple[int, str]] = ()
                   ) -> tuple[list[BegunRow], BudgetExceeded | None]:
        """Complete ``finished``, then begin as many of ``starting`` (in order) as fit.

        ``generation_ids``: (row, id) of running calls whose generation id became known,
        so that a row left pending by a killed kernel can still be priced from
        ``/generation`` (as :meth:`update_generation_id`; a row completed meanwhile is
        left as it is).

        Returns the rows begun (one per record of ``starting`` up to the first that did
        not fit) and the :class:`BudgetExceeded` of that one, or None when all fit.  Every
        record in ``starting`` must share one notebook, session and cell (a batch's do):
        the scope sums are read once, for the first.
        """
        for done in finished:
            if done.record.status == "pending":
                raise LedgerError("complete() needs the call's final status, not 'pending'")
        session = current_context().session_id
        for start in starting:
            if not start.record.session_id:
                start.record.session_id = session
        begun: list[BegunRow] = []
        refusal: BudgetExceeded | None = None
        with self._write() as conn:
            for row_id, generation_id in generation_ids:
                conn.execute(f"UPDATE calls SET generation_id = ?, seq = {NEXT_SEQ}, updated_at = ? "
                             "WHERE id = ? AND status = 'pending'", (generation_id, now_us(), row_id))
            self._complete_all_in(conn, finished)
            spent = self._spent_now(conn, limits, starting)
            for start in starting:
                refusal = self._refusal(limits, spent, start.worst_case_usd)
                if refusal is not None:
                    break
                left = min((limit.limit_usd - s for limit, s in zip(limits, spent, strict=True)),
                           default=float("inf"))
                row_id = self._insert(conn, start.record, start.worst_case_usd)
                begun.append(BegunRow(row_id, left))
                spent = [s + start.worst_case_usd for s in spent]
        for _ in finished:
            self._count_write()
        return begun, refusal

    def _spent_now(self, conn: Any, limits: Sequence[Limit],
                   starting: Sequence[StartingCall]) -> list[float]:
        if not limits or not starting:
            return [0.0 for _ in limits]
        first = starting[0].record
        return [self._limit_spent(conn, limit, first, first.notebook, first.session_id)
                for limit in limits]

    @staticmethod
    def _refusal(limits: Sequence[Limit], spent: Sequence[float],
                 worst_case_usd: float) -> BudgetExceeded | None:
        """The refusal of the limit with the least left, as :meth:`reserve` raises it."""
        refusals = [BudgetExceeded(scope=limit.scope, limit_usd=limit.limit_usd, spent_usd=s,
                                   worst_case_usd=worst_case_usd)
                    for limit, s in zip(limits, spent, strict=True)
                    if limit.limit_usd - s < worst_case_usd]
        return min(refusals, key=lambda e: e.limit_usd - e.spent_usd) if refusals else None

    @classmethod
    def _complete_all_in(cls, conn: Any, finished: Sequence[FinishedCall]) -> None:
        """Complete every row of ``finished`` in one ``executemany`` (a batch of 10,000 rows
        pays one statement's overhead, not 10,000); a row the ledger does not have fails the
        whole transaction, naming it."""
        if not finished:
            return
        now = now_us()
        params = [cls._complete_params(done, now) for done in finished]
        cursor = conn.executemany(_COMPLETE_SQL, params)
        if cursor.rowcount == len(params):
            return
        ids = [done.row_id for done in finished]
        present: set[int] = set()
        for start in range(0, len(ids), 500):  # SQLite's limit on host parameters
            chunk = ids[start:start + 500]
            present |= {row for (row,) in conn.execute(
                f"SELECT id FROM calls WHERE id IN ({','.join('?' * len(chunk))})", chunk)}
        missing = next((i for i in ids if i not in present), ids[0])
        raise LedgerError(f"the ledger has no row {missing}")

    @staticmethod
    def _complete_params(done: FinishedCall, now: int) -> tuple[Any, ...]:
        record = done.record
        if record.cost_usd is not None:
            reserved: Any = 0.0
        elif done.estimated_usd is not None:
            reserved = float(done.estimated_usd)
        else:
            reserved = None  # kept if there is a generation id, else released
        return (*to_row(record), now, reserved, record.generation_id, done.row_id)
