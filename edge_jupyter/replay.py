"""Free, deterministic re-runs: answers stored by what was asked (opt-in).

The key is a hash of the model, the messages and the parameters, so a changed
prompt, model, system prompt, temperature or conversation history asks again.
Attachments (images, PDFs: ``data:`` URLs in content parts, this turn's and the history's)
are part of the key by their bytes: each data URL counts as the SHA-256 of its text (its
MIME type and base64 bytes), so an unchanged figure replays for $0 and a figure whose
bytes changed by one pixel is a new call.  Hashing each URL alone, instead of passing
megabytes of base64 through ``json.dumps``, keeps a key cheap: 20 MB of attachment took
232 ms to key as JSON text, 29 ms this way.  A body without content parts is keyed
exactly as before (the stored answers of text prompts stay valid).
Entries live next to the conversations (``EDGE_DATA_DIR/replay``), one JSON file
each, written atomically; ``%edge cache clear`` removes them.  Entries are never
read-modify-written (each is written whole, once), so they need no lock; a damaged entry
is a miss (the next complete answer overwrites it), while a file that cannot be read at
all is an error (``storage.py``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
from pathlib import Path
from typing import Any

from .record import CallRecord
from .storage import DamagedFile, DataFileError, data_dir, load_json, write_json_atomic

_FIELDS = ("text", "model", "provider", "generation_id", "prompt_tokens", "completion_tokens",
           "reasoning_tokens", "cached_tokens", "cost_usd", "upstream_cost_usd", "is_byok",
           "finish_reason", "web_searches")


def request_key(body: dict[str, Any]) -> str:
    """A stable hash of everything that shapes the answer."""
    relevant = {k: v for k, v in body.items() if k not in ("stream", "usage", "stream_options")}
    messages = relevant.get("messages")
    if isinstance(messages, list) and any(isinstance(m, dict) and isinstance(m.get("content"), list)
                                          for m in messages):
        relevant["messages"] = [_hashed_message(m) for m in messages]
    blob = json.dumps(relevant, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    # surrogatepass: text decoded with surrogateescape (a non-UTF-8 file name) still has a
    # key; the request itself then fails and its row is completed as an error.
    return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()


#: The content parts that carry data URLs, and the field of each that holds it.
_DATA_FIELDS = {"image_url": "url", "file": "file_data"}


def _hashed_message(message: Any) -> Any:
    """The message with each data URL of its content parts replaced by that URL's hash."""
    if not isinstance(message, dict) or not isinstance(message.get("content"), list):
        return message
    return {**message, "content": [_hashed_part(p) for p in message["content"]]}


def _hashed_part(part: Any) -> Any:
    name = part.get("type") if isinstance(part, dict) else None
    if not isinstance(name, str) or name not in _DATA_FIELDS:
        return part
    field, inner = _DATA_FIELDS[name], part.get(name)
    url = inner.get(field) if isinstance(inner, dict) else None
    if not isinstance(url, str) or not url.startswith("data:"):
        return part
    digest = hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()
    return {**part, name: {**inner, field: f"sha256:{digest}"}}


def _folder() -> Path:
    return data_dir() / "replay"


def _path(key: str) -> Path:
    return _folder() / key[:2] / f"{key}.json"


def lookup(body: dict[str, Any]) -> dict[str, Any] | None:
    try:
        entry = load_json(_path(request_key(body)), None)
    except DamagedFile:
        return None  # a half-written entry of another program: ask again, which overwrites it
    return entry if isinstance(entry, dict) and isinstance(entry.get("text"), str) else None


def store(body: dict[str, Any], record: CallRecord) -> None:
    """Keep a complete answer (never a partial or failed one)."""
    if record.status != "ok":
        return
    entry = {name: getattr(record, name) for name in _FIELDS}
    citations = getattr(record, "citations", ())
    if citations:  # a web search's sources: the answer's [1] markers point at them
        entry["citations"] = [{"url": c.url, "title": c.title, "content": c.content}
                              for c in citations]
    write_json_atomic(_path(request_key(body)), entry)


def lookup_many(keys: list[str]) -> list[dict[str, Any] | None]:
    """:func:`lookup` for many :func:`request_key` keys (a ``map``), reading the folders once.

    Only the entries that exist are opened: a folder listing per key prefix tells which,
    so a first run of 20,000 rows costs a few hundred listings instead of 20,000 opens.
    """
    folder = _folder()
    present: dict[str, set[str]] = {}
    found: list[dict[str, Any] | None] = []
    for key in keys:
        names = present.get(key[:2])
        if names is None:
            try:
                names = present[key[:2]] = set(os.listdir(folder / key[:2]))
            except FileNotFoundError:
                names = present[key[:2]] = set()
            except OSError as exc:
                raise DataFileError(folder / key[:2], "read", exc) from None
        if f"{key}.json" not in names:
            found.append(None)
            continue
        try:
            entry = load_json(folder / key[:2] / f"{key}.json", None)
        except DamagedFile:
            entry = None
        found.append(entry if isinstance(entry, dict) and isinstance(entry.get("text"), str) else None)
    return found


def store_many(answers: list[tuple[str, CallRecord]]) -> None:
    """:func:`store` for many (:func:`request_key`, record) pairs (a ``map``), without an
    ``fsync`` per entry.

    Each entry is still written whole to a file of its own and renamed into place, so a
    killed kernel leaves every stored entry complete (the page cache outlives the
    process).  Only a power cut could leave one empty or cut short, and such an entry is
    a miss (:func:`lookup`): the row is asked again, never answered wrong.  An fsync per
    row would be most of a fast batch's own time.
    """
    made: set[str] = set()
    tmp_tag = f"{os.getpid()}-{threading.get_ident()}"  # one writer per thread: no clash
    folder = _folder()  # once: it reads the settings and makes the data folder
    for key, record in answers:
        if record.status != "ok":
            continue
        path = folder / key[:2] / f"{key}.json"
        # ASCII escapes: any text (even a lone surrogate) is valid JSON that reads back exactly
        blob = json.dumps({name: getattr(record, name) for name in _FIELDS},
                          sort_keys=True).encode("ascii")
        tmp = path.with_name(f".{path.name}.{tmp_tag}")
        try:
            if key[:2] not in made:
                path.parent.mkdir(parents=True, exist_ok=True)
                made.add(key[:2])
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                view = memoryview(blob)
                while view:
                    view = view[os.write(fd, view):]
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except OSError as exc:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise DataFileError(path, "write", exc) from None


def apply(entry: dict[str, Any], record: CallRecord) -> float:
    """Fill ``record`` from a stored answer; returns what the original call cost."""
    for name in _FIELDS:
        if name in entry and name != "model":
            setattr(record, name, entry[name])
    if entry.get("citations") and hasattr(record, "citations"):
        from .openrouter import Citation

        record.citations = tuple(
            Citation(str(c.get("url", "")), str(c.get("title", "")), str(c.get("content", "")))
            for c in entry["citations"] if isinstance(c, dict))
    saved = float(entry.get("cost_usd") or 0.0) + (
        float(entry.get("upstream_cost_usd") or 0.0) if entry.get("is_byok") else 0.0)
    record.cost_usd = 0.0
    record.upstream_cost_usd = 0.0 if entry.get("is_byok") else None
    record.status = "replayed"
    record.latency_s = 0.0
    record.ttft_s = 0.0
    return saved


def count() -> int:
    folder = _folder()
    return sum(1 for _ in folder.glob("*/*.json")) if folder.is_dir() else 0


def clear() -> int:
    n = count()
    shutil.rmtree(_folder(), ignore_errors=True)
    return n
