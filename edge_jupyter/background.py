"""One long-lived worker thread for best-effort work after a cell (reconcile, balance).

Starting two threads per cell cost ~2 ms and competed with the cell for the GIL
(benchmarks/README.md); one idle worker costs nothing.  Failures are swallowed:
the work is retried on the next cell.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

_jobs: queue.SimpleQueue[Callable[[], object]] = queue.SimpleQueue()
_lock = threading.Lock()
_worker: threading.Thread | None = None


def _run() -> None:
    while True:
        job = _jobs.get()
        try:
            job()
        except Exception:
            pass


def submit(job: Callable[[], object]) -> None:
    """Run ``job`` soon, off the cell's thread."""
    global _worker
    with _lock:
        if _worker is None or not _worker.is_alive():
            _worker = threading.Thread(target=_run, name="edge-background", daemon=True)
            _worker.start()
    _jobs.put(job)
