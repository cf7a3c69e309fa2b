"""The one seam between a call and the usage ledger.

A call is written as ``pending`` (with its worst-case reservation when a budget
applies) before the request is sent, and completed afterwards, so a killed
kernel loses nothing and concurrent kernels see each other's reservations.
Every write goes to ``Ledger.default()``: one instance per data folder, shared
with ``usage()``, ``%edge`` and the panel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..ledger import Ledger
from ..record import CallRecord

if TYPE_CHECKING:
    from ..ledger import Limit


def ledger() -> Ledger:
    """The ledger of the current EDGE_DATA_DIR (another one if it changed)."""
    return Ledger.default()


def begin(record: CallRecord, *, worst_case_usd: float = 0.0, limits: list[Limit] | None = None) -> int:
    """Write the pending row; with limits, reserve the worst case atomically or raise BudgetExceeded."""
    book = ledger()
    if limits:
        return book.reserve(record, worst_case_usd, limits,
                            notebook=record.notebook, session_id=record.session_id)
    return book.begin(record, reserved_usd=0.0)


def note_generation(row_id: int, generation_id: str) -> None:
    ledger().update_generation_id(row_id, generation_id)


def finish(row_id: int, record: CallRecord, *, estimated_usd: float | None = None) -> None:
    """Write the final figures (an unknown cost keeps holding ``estimated_usd`` until reconciled)."""
    ledger().complete(row_id, record, estimated_usd=estimated_usd)


def fail(row_id: int, record: CallRecord, why: str, *, estimated_usd: float | None = None) -> None:
    """Complete the row of a call that failed or was never sent: ``error``, with ``why``.

    The one way every path that stops a call between its row's start and finish closes the
    row (calls that stop before sending, calls that break mid-way, a failed ``map`` row,
    a budget check that breaks after reserving), so none is left ``pending`` holding its
    reservation. ``estimated_usd``: what a call that reached a model keeps reserved until
    reconciled from ``/generation``; ``None`` releases it.
    """
    record.status, record.error = "error", why
    finish(row_id, record, estimated_usd=estimated_usd)


def reconcile_in_background(fetch: Any) -> None:
    """Price earlier pending/interrupted rows from ``/generation`` without delaying the call."""
    from ..background import submit

    submit(lambda: ledger().reconcile(fetch, limit=50))
