"""The attachments of saved conversations, each stored once by its content hash.

``EDGE_DATA_DIR/attachments/<sha[:2]>/<sha256>`` holds the bytes as they were sent and
nothing else: the file's name is the SHA-256 of its content.  So a turn refers to an
attachment by hash, and the same figure sent in three turns (or three chats) is one file.

Everything else that describes an attachment (kind, MIME type, file name, pixel size,
pages) lives in the turn that refers to it (``conversations.py``), not here: the store
then holds nothing that could disagree with its name, the same bytes attached under two
file names are still one file, and a chat file alone says what each turn sent.

* **Written once, atomically** (``storage.write_bytes_atomic``): a file already present
  with the right size is never rewritten (same hash, same bytes); one of another size
  (cut short by another program) is written again.
* **Read back with the hash checked.**  A missing file, or one whose bytes no longer hash
  to its name, raises :class:`AttachmentGone`; a damaged one is first kept aside as
  ``<sha256>.damaged-<UTC time>-<random>`` (``storage.keep_damaged_copy``) and removed, so
  storing the same attachment again repairs it.  Any other read failure is a
  ``DataFileError`` naming the file.
* **Collected under a lock.**  :func:`collect_attachments` removes the files no
  conversation refers to any more (``%edge forget``).  It holds the store's lock, which a
  conversation also holds from storing a turn's bytes until the turn that refers to them is
  written (:func:`attachments_lock`), so a collection never removes what a turn is being
  saved with.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..storage import (
    DataError,
    DataFileError,
    data_dir,
    keep_damaged_copy,
    locked,
    remove_file,
    write_bytes_atomic,
)
from ._prompt import Attachment

#: A stored attachment's name: the lowercase hex SHA-256 of its bytes.
SHA256 = re.compile(r"[0-9a-f]{64}")


class AttachmentGone(DataError):
    """A saved conversation's attachment is missing from the store, or its bytes changed."""

    def __init__(self, sha256: str, path: Path, problem: str) -> None:
        self.sha256 = sha256
        self.path = path
        self.problem = problem
        super().__init__(f"The stored attachment {path} is {problem}; run the cell that sent it "
                         "again to store it again.")


def attachments_folder() -> Path:
    return data_dir() / "attachments"


def attachment_path(sha256: str) -> Path:
    if not SHA256.fullmatch(sha256):
        raise ValueError(f"not a SHA-256 in lowercase hex: {sha256!r}")
    return attachments_folder() / sha256[:2] / sha256


@contextmanager
def attachments_lock() -> Iterator[None]:
    """The store's lock (re-entrant per thread): held while storing a turn's attachments and
    writing the turn, and while collecting (the lock file is ``.attachments.lock`` beside
    the folder)."""
    with locked(attachments_folder()):
        yield


def store_attachment(attachment: Attachment) -> Path:
    """Keep ``attachment``'s bytes (once: a file present with their size is left alone)."""
    path = attachment_path(attachment.sha256)
    if _size(path) == len(attachment.data):
        return path
    with attachments_lock():  # not while a damaged copy is being moved aside
        if _size(path) != len(attachment.data):
            write_bytes_atomic(path, attachment.data)
    return path


def read_attachment(sha256: str) -> bytes:
    """The stored bytes whose hash is ``sha256``; :class:`AttachmentGone` if missing or damaged."""
    path = attachment_path(sha256)
    data = _read(path, sha256)
    if _sha256(data) == sha256:
        return data
    with attachments_lock():  # re-read: another process may have stored it again meanwhile
        data = _read(path, sha256)
        if _sha256(data) == sha256:
            return data
        kept = keep_damaged_copy(path)
        remove_file(path, "remove the damaged attachment")
    raise AttachmentGone(sha256, path, f"damaged (its bytes no longer match their hash; the "
                                       f"damaged file is kept as {kept})")


def stored_attachments() -> list[str]:
    """The hashes of every attachment in the store."""
    folder = attachments_folder()
    try:
        subfolders = sorted(p for p in folder.iterdir() if p.is_dir())
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise DataFileError(folder, "read", exc) from None
    found = []
    for sub in subfolders:
        try:
            found += sorted(n for n in os.listdir(sub) if SHA256.fullmatch(n) and n[:2] == sub.name)
        except OSError as exc:
            raise DataFileError(sub, "read", exc) from None
    return found


def collect_attachments(referenced: Callable[[], set[str]]) -> int:
    """Remove the stored attachments not in ``referenced()`` (called under the store's lock,
    so no turn being saved meanwhile is missed); returns how many were removed."""
    removed = 0
    with attachments_lock():
        keep = referenced()
        for sha256 in stored_attachments():
            if sha256 in keep:
                continue
            removed += remove_file(attachment_path(sha256), "remove")
    return removed


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise DataFileError(path, "read", exc) from None


def _read(path: Path, sha256: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise AttachmentGone(sha256, path, "missing") from None
    except OSError as exc:
        raise DataFileError(path, "read", exc) from None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
