"""Worker functions run in spawned processes by the ledger and budget tests (no tests here).

Kept apart so that a spawned child imports only this and the ledger, not pandas or pytest:
starting four children then takes a fraction of a second.
"""

from __future__ import annotations

from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event

from edge_jupyter.ledger import BudgetExceeded, Ledger, Limit
from edge_jupyter.record import CallRecord


def append_calls(path: str, worker: int, calls: int, start: Event) -> None:
    """``calls`` durable begin+complete pairs, as one kernel would write them."""
    ledger = Ledger(path)
    start.wait(30)
    for i in range(calls):
        record = CallRecord(model=f"model-{worker}", notebook=f"nb-{worker}.ipynb",
                            session_id=f"proc-{worker}", execution_count=i)
        row = ledger.begin(record, reserved_usd=0.01)
        record.status, record.cost_usd, record.prompt_tokens = "ok", (i + 1) * 1e-6, i
        ledger.complete(row, record)
    ledger.close()


def reserve_until_refused(path: str, worker: int, attempts: int, start: Event,
                          results: Queue) -> None:
    """Try to reserve $0.07 against $1.00 limits ``attempts`` times; puts the successes."""
    ledger = Ledger(path)
    start.wait(30)
    won = 0
    for i in range(attempts):
        record = CallRecord(model="m", session_id=f"proc-{worker}", execution_count=i)
        try:
            ledger.reserve(record, 0.07, [Limit("day", 1.00), Limit("all", 1.00)])
        except BudgetExceeded:
            continue
        won += 1
    ledger.close()
    results.put(won)
