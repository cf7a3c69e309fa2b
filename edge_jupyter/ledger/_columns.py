"""The ledger's rows as columns (numpy arrays), and the snapshot file that keeps them.

SQLite hands rows to Python one value at a time; for a million rows of twenty columns
that is twenty million Python objects and many seconds.  So ``frame()`` on a large scope
reads a columnar snapshot kept beside the database (``ledger.sqlite3-snapshot``) and
asks SQLite only for the rows changed since it was written (``seq`` greater than the
snapshot's).  The snapshot is a cache: deleting it costs one slow read, never data.

Format (no pickles, no zip: one read and zero-copy views): a 16-byte magic, the length
of a JSON header, the header, then each array's raw bytes at 64-byte aligned offsets.
Integers are stored in the narrowest dtype that holds them; each text column is
dictionary-encoded (codes plus its distinct values joined by U+001F, or as JSON when a
value contains that character; a column whose values are all distinct, like generation
ids, has no codes).  The header holds the ledger's id and deletion count (a snapshot of
another database, or from before a deletion, is ignored), the format version (a snapshot
of another version is rebuilt: ``_snapshot_header.FORMAT_VERSION``) and the highest ``seq``
it holds.  Writes go to a temporary file renamed over the old one, so
readers in other kernels see a whole snapshot or none.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from ._schema import READ_FIELDS, period
from ._snapshot_header import FORMAT_VERSION, MAGIC, read_header

SEPARATOR = "\x1f"
CHUNK_ROWS = 100_000

Columns = dict[str, np.ndarray]

_INTS = ("id", "seq", "timestamp", "execution_count", "prompt_tokens", "completion_tokens",
         "reasoning_tokens", "cached_tokens", "images", "files", "pages", "step", "web_searches")
_FLOATS = ("cost_usd", "upstream_cost_usd", "saved_usd", "latency_s", "ttft_s")
_BOOLS = ("execution_count_na", "is_byok", "saved_exact")
DTYPES: dict[str, Any] = {
    name: np.int64 if name in _INTS else np.float64 if name in _FLOATS
    else np.bool_ if name in _BOOLS else object
    for name in READ_FIELDS
}


def empty() -> Columns:
    return {name: np.empty(0, dtype=DTYPES[name]) for name in READ_FIELDS}


def _from_rows(rows: list[tuple[Any, ...]]) -> Columns:
    if not rows:
        return empty()
    # zip(*rows) transposes in C; np.array then converts each column in C (None -> NaN
    # for the float columns, which is how an unknown cost should read).
    return {name: np.array(values, dtype=DTYPES[name])
            for name, values in zip(READ_FIELDS, zip(*rows, strict=True), strict=True)}


def concat(parts: list[Columns]) -> Columns:
    if not parts:
        return empty()
    if len(parts) == 1:
        return parts[0]
    return {name: np.concatenate([part[name] for part in parts]) for name in READ_FIELDS}


def fetch(cursor: sqlite3.Cursor) -> Columns:
    """Columns from a cursor over ``SELECT {READ_SQL}``, read in chunks to bound memory."""
    parts = []
    while True:
        rows = cursor.fetchmany(CHUNK_ROWS)
        if not rows:
            break
        parts.append(_from_rows(rows))
    return concat(parts)


def take(columns: Columns, selector: np.ndarray | slice) -> Columns:
    return {name: values[selector] for name, values in columns.items()}


def merge(base: Columns, delta: Columns) -> Columns:
    """``base`` with the rows of ``delta`` replacing or joining it, ordered by id."""
    if len(delta["id"]) == 0:
        return base
    if len(delta["id"]) > 1 and (np.diff(delta["id"]) < 0).any():
        delta = take(delta, np.argsort(delta["id"], kind="stable"))
    base_ids = base["id"]
    pos = np.searchsorted(base_ids, delta["id"])
    clipped = np.minimum(pos, max(len(base_ids) - 1, 0))
    known = (pos < len(base_ids)) & (base_ids[clipped] == delta["id"]) if len(base_ids) \
        else np.zeros(len(pos), dtype=bool)
    merged = {}
    for name in READ_FIELDS:
        values = base[name].copy() if known.any() else base[name]
        values[pos[known]] = delta[name][known]
        merged[name] = np.concatenate([values, delta[name][~known]])
    new_ids = delta["id"][~known]
    if len(new_ids) and len(base_ids) and new_ids[0] < base_ids[-1]:
        merged = take(merged, np.argsort(merged["id"], kind="stable"))
    return merged


def scope_mask(columns: Columns, scope: str, *, notebook: str, session_id: str, cell_id: str,
               since_us: int | None, now: datetime) -> np.ndarray | slice:
    """The rows of a scope: the same selection as ``_schema.scope_where`` (frame scopes)."""
    ts = columns["timestamp"]
    mask: Any = slice(None)
    if scope == "notebook":
        mask = columns["notebook"] == notebook
    elif scope == "session":
        mask = columns["session_id"] == session_id
    elif scope == "cell":
        mask = (columns["notebook"] == notebook) & (columns["cell_id"] == cell_id)
    elif scope in ("day", "month"):
        start, end = period(scope, now)
        mask = (ts >= start) & (ts < end)
    if since_us is not None:
        after = ts >= since_us
        mask = after if isinstance(mask, slice) else mask & after
    return mask


# -- the snapshot file ------------------------------------------------------------------------

_ALIGN = 64


def _small_int(values: np.ndarray) -> np.ndarray:
    """The narrowest integer dtype that holds ``values`` exactly (halves the file, mostly)."""
    if values.dtype.kind not in "iu" or not len(values):
        return values
    low, high = int(values.min()), int(values.max())
    for dtype in (np.int8, np.int16, np.int32):
        info = np.iinfo(dtype)
        if info.min <= low and high <= info.max:
            return values.astype(dtype)
    return values


def _encode_text(values: np.ndarray) -> tuple[np.ndarray | None, np.ndarray, dict[str, Any]]:
    """(codes or None, utf-8 bytes of the distinct values, how to read them back)."""
    import pandas as pd

    codes, uniques = pd.factorize(values)
    plain = len(uniques) == len(values)  # every value distinct (generation ids): no codes
    strings = values.tolist() if plain else uniques.tolist()
    joined = SEPARATOR.join(strings)
    how = "sep" if joined.count(SEPARATOR) == max(len(strings) - 1, 0) else "json"
    if how == "json":
        joined = json.dumps(strings, ensure_ascii=False)
    blob = np.frombuffer(joined.encode("utf-8", "surrogatepass"), dtype=np.uint8)
    return (None if plain else _small_int(codes)), blob, {"how": how, "count": len(strings)}


def _decode_text(codes: np.ndarray | None, blob: np.ndarray, info: dict[str, Any]) -> np.ndarray:
    text = blob.tobytes().decode("utf-8", "surrogatepass")
    if info["count"] == 0:
        strings: list[str] = []
    elif info["how"] == "sep":
        strings = text.split(SEPARATOR)
    else:
        strings = json.loads(text)
    if len(strings) != info["count"]:
        raise ValueError("damaged text column")
    values = np.empty(len(strings), dtype=object)
    values[:] = strings
    return values if codes is None else values.take(codes)


def save(path: Path, columns: Columns, ledger_id: str, deletions: int) -> bool:
    """Write the snapshot (atomically); False if it could not be written (it is only a cache)."""
    arrays: dict[str, np.ndarray] = {}
    texts: dict[str, Any] = {}
    for name in READ_FIELDS:
        values = columns[name]
        if values.dtype == object:
            codes, arrays[f"{name}.text"], texts[name] = _encode_text(values)
            if codes is not None:
                arrays[f"{name}.codes"] = codes
        else:
            arrays[name] = _small_int(values)
    seq = int(columns["seq"].max()) if len(columns["seq"]) else 0
    layout, offset = [], 0
    for name, values in arrays.items():
        layout.append({"name": name, "dtype": values.dtype.str, "offset": offset,
                       "count": len(values)})
        offset += -(-values.nbytes // _ALIGN) * _ALIGN
    header = json.dumps({"version": FORMAT_VERSION, "ledger_id": ledger_id, "seq": seq,
                         "deletions": deletions, "rows": len(columns["id"]), "texts": texts,
                         "arrays": layout}).encode()
    header += b" " * (-(len(MAGIC) + 8 + len(header)) % _ALIGN)
    tmp = ""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            f.write(MAGIC + len(header).to_bytes(8, "little") + header)
            for entry, values in zip(layout, arrays.values(), strict=True):
                f.write(values.tobytes())
                f.write(b"\0" * (-values.nbytes % _ALIGN))
                assert entry["count"] == len(values)
        os.replace(tmp, path)
    except OSError:
        if tmp:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        return False
    return True


def load(path: Path, ledger_id: str) -> tuple[Columns | None, int, int]:
    """The snapshot's columns, highest ``seq`` and deletion count.

    ``(None, 0, 0)`` if it is missing, damaged or of another database.  The caller compares
    the deletion count with the database's: a snapshot from before a deletion is stale.
    """
    try:
        with open(path, "rb") as f:
            header = read_header(f, ledger_id)
            if header is None:
                return None, 0, 0
            size = os.fstat(f.fileno()).st_size - f.tell()
            buffer = bytearray(size)  # writable, so the frame's arrays are too
            if f.readinto(buffer) != size:
                return None, 0, 0
        raw = {entry["name"]: np.frombuffer(buffer, dtype=np.dtype(entry["dtype"]),
                                            count=entry["count"], offset=entry["offset"])
               for entry in header["arrays"]}
        columns = {}
        for name in READ_FIELDS:
            if DTYPES[name] is object:
                columns[name] = _decode_text(raw.get(f"{name}.codes"), raw[f"{name}.text"],
                                             header["texts"][name])
            else:
                columns[name] = raw[name].astype(DTYPES[name], copy=False)
        if any(len(v) != header["rows"] for v in columns.values()):
            return None, 0, 0
        return columns, int(header["seq"]), int(header["deletions"])
    except Exception:  # missing, damaged, truncated: it is only a cache, read the rows again
        return None, 0, 0
