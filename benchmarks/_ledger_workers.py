"""The writer run in each spawned process of the ledger benchmark (kept tiny to import)."""

from __future__ import annotations

import time
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event

from edge_jupyter.ledger import Ledger
from edge_jupyter.record import CallRecord


def append_calls(path: str, worker: int, calls: int, start: Event) -> float:
    """``calls`` durable begin+complete pairs, as one kernel writes them; returns seconds."""
    ledger = Ledger(path)
    ledger.spent("all")  # open the file before the start line
    start.wait(60)
    began = time.perf_counter()
    for i in range(calls):
        record = CallRecord(model=f"vendor/model-{worker}", notebook=f"nb-{worker}.ipynb",
                            session_id=f"proc-{worker}", execution_count=i,
                            generation_id=f"gen-{worker}-{i}")
        row = ledger.begin(record, reserved_usd=0.01)
        record.status, record.cost_usd, record.prompt_tokens = "ok", (i + 1) * 1e-6, i
        ledger.complete(row, record)
    seconds = time.perf_counter() - began
    ledger.close()
    return seconds


def append_and_report(path: str, worker: int, calls: int, start: Event, results: Queue) -> None:
    """:func:`append_calls` in a spawned process: puts ``(worker, seconds)`` on ``results``."""
    results.put((worker, append_calls(path, worker, calls, start)))
