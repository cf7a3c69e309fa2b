"""Small files: where edge_jupyter keeps things, locked read-modify-writes, damage, errors.

Design (issue 13, "lost settings and lost turns"):

* **Writes are atomic.**  A new version goes to a temporary file in the same folder, is
  fsync'ed, then renamed over the old one, so a reader (another kernel, the panel, the
  server extension) sees the old file or the new one, never half of one.  Plain reads
  therefore need no lock.
* **Read-modify-writes are locked.**  :func:`update_json` holds a per-file lock for the
  whole read → change → write: a thread lock (threads of one kernel) and an exclusive
  ``flock`` on a hidden sibling ``.NAME.lock`` (other kernels, the server extension).  The
  file is re-read *inside* the lock and the change is applied to what is on disk then, so
  two kernels adding a favourite, or appending a ``--chat`` turn, at the same moment both
  keep theirs.  The lock is ``fcntl.flock`` on Linux/macOS and ``msvcrt.locking`` on
  Windows.  We chose these over the ``filelock`` package: our need is one blocking
  exclusive lock held for a few milliseconds, which the OS gives in a dozen lines that
  are released by the kernel when a process dies; ``filelock`` 4 adds polling, soft
  (marker-file) fallbacks that can outlive a crashed process, and a dependency.
* **Only damage is damage.**  A missing file is the default.  A file that cannot be read
  for any other reason (too many open files, permission denied, an I/O error, a folder
  where the file should be) raises :class:`DataFileError` naming the file, the problem
  and what to do, and the file is left exactly where it is.  Only content that is not
  valid JSON (a truncated write by another program, a hand edit) or has the wrong shape
  (a list where an object belongs, a field of the wrong type: each owner passes a
  ``check``) is damage.
* **Damage is kept and reported, never silently reset.**  Under the lock the file is
  re-read (another process may have repaired it meanwhile); if it is still damaged a
  copy is kept as ``NAME.damaged-<UTC time>-<random>`` (a hard link, or a copy), so a
  second corruption never overwrites the first, and the owner decides what happens next
  (:class:`DamagedFile` says which file, what is wrong and where the copy is):
  ``preferences.py`` writes the defaults with a *damage notice* in the same atomic step
  (so there is never a moment without a file that another kernel could take as "no
  budgets") and refuses to spend until the notice has been shown once (see its
  docstring); ``conversations.py`` removes the damaged chat and fails the cell with the
  message, so no answer is paid for without the context the user expected.
* Every error here is one line: what happened, with the path, and what to do.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import settings
from .errors import EdgeError


class DataError(EdgeError):
    """A file or folder under ``EDGE_DATA_DIR`` cannot be used; the message says why and what to do."""


_FIXES = {
    errno.EMFILE: "too many files are open in this process: close some (or restart the kernel) "
                  "and try again",
    errno.ENFILE: "the system has too many files open: close some programs and try again",
    errno.EACCES: "check the permissions of the file and of its folder",
    errno.EPERM: "check the permissions (and immutable attributes) of the file and of its folder",
    errno.EROFS: "the data folder is on a read-only file system: make it writable, or set "
                 "EDGE_DATA_DIR to a writable folder",
    errno.ENOSPC: "the disk is full: free some space and try again",
    errno.EDQUOT: "your disk quota is used up: free some space and try again",
    errno.EISDIR: "a folder is where this file should be: move the folder aside",
    errno.ENOTDIR: "a file is where a folder should be: move that file aside, or set "
                   "EDGE_DATA_DIR to another folder",
    errno.EEXIST: "a file is where a folder should be: move that file aside, or set "
                  "EDGE_DATA_DIR to another folder",
    errno.EIO: "the disk reported an input/output error: check the disk",
    errno.ELOOP: "too many symbolic links: check the path",
    errno.ENAMETOOLONG: "the path is too long: set EDGE_DATA_DIR to a shorter one",
}


def fix_for(code: int | None) -> str:
    """What to do about an ``errno``, in words."""
    return _FIXES.get(code or 0, "check the file and its folder, then try again")


class DataFileError(DataError):
    """A data file could not be read or written (an ``OSError`` other than "not found")."""

    def __init__(self, path: Path | str, action: str, exc: OSError) -> None:
        self.path = Path(path)
        self.action = action
        self.errno = exc.errno
        reason = exc.strerror or str(exc) or type(exc).__name__
        super().__init__(f"Could not {action} {self.path}: {reason}. Nothing was changed; "
                         f"{fix_for(exc.errno)}.")


class DamagedFile(DataError):
    """A data file holds invalid JSON or the wrong shape; ``kept_as`` is the copy kept (if any)."""

    def __init__(self, path: Path, problem: str, kept_as: Path | None = None) -> None:
        self.path = path
        self.problem = problem
        self.kept_as = kept_as
        kept = f"; the damaged file is kept as {kept_as}" if kept_as else ""
        super().__init__(f"{path} is damaged ({problem}){kept}.")


def data_dir() -> Path:
    """``EDGE_DATA_DIR`` (or the platform's user data dir), created on first use."""
    path = settings.current().data_dir
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataFileError(path, "create the data folder", exc) from None
    return path


# -- reading ------------------------------------------------------------------------------

Check = Callable[[Any], "str | None"]


def load_json(path: Path, default: Any, check: Check | None = None) -> Any:
    """The file's content, ``default`` if it does not exist; no side effects.

    Raises :class:`DataFileError` when it cannot be read, :class:`DamagedFile` (without a
    kept copy) when its content is not valid JSON or ``check(content)`` names a problem.
    """
    try:
        with path.open("rb") as f:
            blob = f.read()
    except FileNotFoundError:
        return default
    except OSError as exc:
        raise DataFileError(path, "read", exc) from None
    try:
        data = json.loads(blob.decode("utf-8"))
    except UnicodeDecodeError:
        raise DamagedFile(path, "not UTF-8 text") from None
    except ValueError as exc:
        why = "empty" if not blob.strip() else f"not valid JSON: {exc}"
        raise DamagedFile(path, why) from None
    problem = check(data) if check is not None else None
    if problem:
        raise DamagedFile(path, problem)
    return data


def read_json(path: Path, default: Any, *, check: Check | None = None,
              repair: Callable[[DamagedFile], Any] | None = None) -> Any:
    """:func:`load_json`, handling damage under the lock (see the module docstring).

    On damage a copy is kept; then ``repair(damage)`` gives the content that replaces the
    file (written atomically, and returned).  Without ``repair`` the damaged file is
    removed and :class:`DamagedFile` raised.
    """
    try:
        return load_json(path, default, check)
    except DamagedFile:
        pass
    with locked(path):
        return _load_or_repair(path, default, check, repair)


def _load_or_repair(path: Path, default: Any, check: Check | None,
                    repair: Callable[[DamagedFile], Any] | None) -> Any:
    """Inside the lock: the content, or the damage handled (copy kept, then repaired or removed)."""
    try:
        return load_json(path, default, check)  # another process may have repaired it
    except DamagedFile as exc:
        damage = DamagedFile(path, exc.problem, keep_damaged_copy(path))
    if repair is None:
        remove_file(path, "remove the damaged file")
        raise damage
    replacement = repair(damage)
    write_json_atomic(path, replacement)
    return replacement


def keep_damaged_copy(path: Path) -> Path:
    """Keep the damaged file as ``NAME.damaged-<UTC time>-<random>``; the original stays.

    A hard link is instant and atomic; where links are not possible, a copy.  The random
    part makes every copy's name new, so a later corruption never overwrites an earlier one.
    """
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    while True:
        kept = path.with_name(f"{path.name}.damaged-{stamp}-{secrets.token_hex(4)}")
        try:
            os.link(path, kept)
            return kept
        except FileExistsError:
            continue
        except OSError:
            pass  # no hard links here (some network and FAT file systems): copy instead
        try:
            with path.open("rb") as src, open(kept, "xb") as dst:
                shutil.copyfileobj(src, dst)
            return kept
        except FileExistsError:
            continue
        except OSError as exc:
            raise DataFileError(kept, "keep a copy of the damaged file as", exc) from None


# -- locking ------------------------------------------------------------------------------

class _PathLock:
    """A thread lock plus, while held, the open lock file of one data file."""

    def __init__(self) -> None:
        self.thread_lock = threading.RLock()
        self.depth = 0  # how deep the owning thread holds it (the flock is taken once)


_locks: dict[str, _PathLock] = {}
_locks_guard = threading.Lock()


def _path_lock(path: Path) -> _PathLock:
    key = os.path.abspath(path)
    with _locks_guard:
        lock = _locks.get(key)
        if lock is None:
            lock = _locks[key] = _PathLock()
        return lock


def lock_path(path: Path) -> Path:
    """The hidden sibling whose ``flock`` guards ``path``."""
    return path.with_name(f".{path.name}.lock")


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _lock_fd(fd: int) -> None:
        while True:
            try:  # LK_LOCK retries for ~10 s, then raises: keep waiting, like flock does
                msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
                return
            except OSError as exc:
                if exc.errno != errno.EDEADLK:
                    raise

    def _unlock_fd(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
else:
    import fcntl

    def _lock_fd(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX)  # blocks; released by the OS if the process dies

    def _unlock_fd(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold ``path``'s lock against other threads and other processes (re-entrant per thread)."""
    lock = _path_lock(path)
    with lock.thread_lock:
        if lock.depth:
            lock.depth += 1
            try:
                yield
            finally:
                lock.depth -= 1
            return
        guard = lock_path(path)
        try:
            guard.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(guard, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise DataFileError(guard, "create the lock file", exc) from None
        try:
            try:
                _lock_fd(fd)
            except OSError as exc:
                raise DataFileError(guard, "lock", exc) from None
            lock.depth = 1
            try:
                yield
            finally:
                lock.depth = 0
                try:
                    _unlock_fd(fd)
                except OSError:
                    pass  # closing the descriptor below releases it anyway
        finally:
            os.close(fd)


def update_json(path: Path, change: Callable[[Any], Any], default: Any, *,
                check: Check | None = None,
                repair: Callable[[DamagedFile], Any] | None = None) -> Any:
    """Locked read-modify-write: ``change(current)`` returns the new content, which is written.

    ``current`` is re-read inside the lock, so a change made meanwhile by another kernel is
    kept.  Damage is handled as in :func:`read_json`.
    """
    with locked(path):
        current = _load_or_repair(path, default, check, repair)
        new = change(current)
        write_json_atomic(path, new)
        return new


# -- writing ------------------------------------------------------------------------------

def write_json_atomic(path: Path, data: Any) -> None:
    """:func:`write_bytes_atomic` of ``data`` as JSON (UTF-8, one-space indent, sorted keys).

    Serialised first: a value JSON cannot hold raises its ``TypeError`` with nothing written.
    """
    text = json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True)
    write_bytes_atomic(path, text.encode("utf-8"))


def remove_file(path: Path, action: str = "delete") -> bool:
    """Delete ``path``; False when it was not there. Any other failure is a
    :class:`DataFileError` naming ``action`` ("remove the damaged file")."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise DataFileError(path, action, exc) from None
    return True


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, fsync it, then rename over the target.

    Readers (another kernel, the panel) see the old or the new file, never half of one. The
    temporary file is removed on any failure; an OSError is a :class:`DataFileError`.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise DataFileError(path, "write", exc) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise DataFileError(path, "write", exc) from None
        raise


def retry_while_busy(action: Callable[[], Any], timeout: float) -> Any:
    """Run a SQLite ``action``, retrying for up to ``timeout`` seconds while another process
    holds a lock SQLite does not wait for (``PRAGMA journal_mode = WAL`` on a file another
    connection is opening answers "database is locked" at once, whatever ``busy_timeout``)."""
    import sqlite3  # here, not at the top: %load_ext must not import sqlite3
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            return action()
        except sqlite3.OperationalError as exc:
            if not any(word in str(exc) for word in ("locked", "busy")) \
                    or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def check_writable(folder: Path) -> str | None:
    """None if a file can be created in ``folder``, else the problem and the fix (for status).

    Tries it for real: as root, or on a read-only mount, permission bits say nothing.
    """
    try:
        fd, tmp = tempfile.mkstemp(prefix=".edge-write-check.", dir=folder)
        try:
            os.write(fd, b"x")
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(tmp)
    except OSError as exc:
        return f"not writable ({exc.strerror or exc}): {fix_for(exc.errno)}"
    return None
