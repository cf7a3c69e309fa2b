"""The snapshot file's header, readable without numpy (``_columns.py`` has the format).

The background check after a kernel's first write only needs the snapshot's ``seq`` and
row count; importing numpy for that would compete with the cell for the GIL.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, BinaryIO

#: 3: the ledger's ``images, files, pages`` columns (schema 2).  A snapshot of another
#: version is not read (it is rebuilt from the database): one from version 2 lacks those
#: columns, and reading its rows as "sent nothing" would hide what an older edge_jupyter,
#: still writing snapshots beside an upgraded ledger, left out.  4: ``group_id``, ``step``,
#: ``web_searches`` (schema 3), for the same reason.  5: ``service_tier``, ``saved_usd``,
#: ``saved_by``, ``saved_exact`` (schema 4), for the same reason.
FORMAT_VERSION = 5
MAGIC = b"EDGE-LEDGER-SNAP"  # 16 bytes, then the header's length (8 bytes LE), header, data


def read_header(f: BinaryIO, ledger_id: str) -> dict[str, Any] | None:
    """The header of an open snapshot file, or None if it is not a current one of this ledger."""
    if f.read(len(MAGIC)) != MAGIC:
        return None
    header = json.loads(f.read(int.from_bytes(f.read(8), "little")))
    if header.get("version") != FORMAT_VERSION or header.get("ledger_id") != ledger_id:
        return None
    return header


def state(path: Path, ledger_id: str) -> tuple[int, int, int] | None:
    """The snapshot's highest ``seq``, row count and deletion count, from its header only."""
    try:
        with open(path, "rb") as f:
            header = read_header(f, ledger_id)
        return None if header is None else (
            int(header["seq"]), int(header["rows"]), int(header["deletions"]))
    except Exception:
        return None
