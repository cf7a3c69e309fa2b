"""A :class:`CallRecord` as a row of the ``calls`` table, and back; the row clock and ``seq``.

Shared by the write path (``_write.py``) and reconciliation (``_reconcile.py``), which
both stamp the rows they change with :func:`now_us` and :data:`NEXT_SEQ`.
"""

from __future__ import annotations

import time
from typing import Any

from edge_jupyter.record import CallRecord

from ._schema import WRITE_COLUMNS, from_us, to_us

#: Every change anyone reads takes the next ``seq``: the columnar snapshot reads the rows
#: changed since its own ``seq`` (``_read.py``).
NEXT_SEQ = "(SELECT coalesce(max(seq), 0) + 1 FROM calls)"

INSERT_SQL = (
    f"INSERT INTO calls (seq, {', '.join(WRITE_COLUMNS)}, reserved_usd, pid, host, updated_at) "
    f"VALUES ({NEXT_SEQ}, "
    f"{', '.join('?' * len(WRITE_COLUMNS))}, ?, ?, ?, ?)"
)


def now_us() -> int:
    return time.time_ns() // 1000


def to_row(record: CallRecord) -> list[Any]:
    """The record's WRITE_COLUMNS as SQLite values."""
    row = record.ledger_row()
    row["timestamp"] = to_us(record.timestamp)
    row["is_byok"] = int(bool(record.is_byok))
    row["saved_exact"] = int(bool(record.saved_exact))
    return [row[name] for name in WRITE_COLUMNS]


def from_row(row: tuple[Any, ...]) -> CallRecord:
    """A CallRecord from WRITE_COLUMNS values read back."""
    data = dict(zip(WRITE_COLUMNS, row, strict=True))
    data["timestamp"] = from_us(data["timestamp"])
    data["is_byok"] = bool(data["is_byok"])
    data["saved_exact"] = bool(data["saved_exact"])
    return CallRecord(**data)
