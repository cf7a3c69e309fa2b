"""The usage ledger: one SQLite row per model call, safe across threads and kernels.

:class:`Ledger` is the one public class, made of three parts over the SQLite file
(``_db.py``): the write path (``_write.py``: ``begin``/``reserve`` before a request,
``complete`` after), the read path (``_read.py``: ``spent``, ``remaining``, ``frame``
and the columnar snapshot) and reconciliation (``_reconcile.py``: settling the rows
whose cost is unknown from ``/generation``).  :meth:`Ledger.default` is the one
instance per data folder that every front-end writes and reads through, so they share
one connection, one lock and one snapshot counter.
"""

from __future__ import annotations

import threading
from pathlib import Path

from ._batch import LedgerBatches
from ._reconcile import LedgerReconciliation


class Ledger(LedgerBatches, LedgerReconciliation):
    """The usage ledger in one SQLite file (see the module's docstring)."""

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


_defaults: dict[Path, Ledger] = {}
_defaults_lock = threading.Lock()
