"""The SQLite file under the ledger: connections, pragmas, schema, transactions.

Durability.  The database is in WAL mode with ``synchronous=NORMAL``: a commit is in the
WAL before it returns, so a killed kernel (the case that matters here) loses nothing;
only a power cut or OS crash may lose the last few commits, which ``FULL`` would prevent
at the price of an fsync per commit.  Pass ``synchronous="FULL"`` to choose that.

Concurrency.  Every write is one ``BEGIN IMMEDIATE`` transaction; other kernels wait for
it (``busy_timeout``) instead of failing, and the reads inside it cannot go stale.  In a
process, one connection serves writes and small reads for every thread behind a lock;
a second one serves large reads, so a long ``frame()`` does not hold up writes (in WAL
mode a reader never blocks a writer).

Creation and damage.  A new ledger is built complete (WAL mode, schema, ``ledger_id``) in a
temporary file beside it and then linked into place, and an existing one is opened with
SQLite's ``mode=rw``, which never creates a file.  So edge_jupyter never leaves a zero-byte
``ledger.sqlite3``, and one found is damage (a truncation by another program or a full
disk): SQLite would take it for a new, empty database, and budgets would count nothing
spent so far.  That, a file that is not a database or is malformed, and a folder that
cannot be written raise :class:`LedgerFileError`: one line with the file, the problem and
the fix, and no call is made without its row.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from edge_jupyter.storage import DataError, fix_for, locked, retry_while_busy

from ._errors import LedgerError
from ._schema import DDL, SCHEMA_VERSION, upgrade_statements

_D = TypeVar("_D", bound="Database")


class LedgerFileError(LedgerError, DataError):
    """The ledger's file is damaged, or it cannot be opened or written."""


#: SQLite's error names -> errno-like fixes (``storage.fix_for``) for files that cannot be used.
_SQLITE_ERRNO = {"SQLITE_READONLY": 30, "SQLITE_FULL": 28, "SQLITE_IOERR": 5, "SQLITE_PERM": 1}


def _damaged(path: Path, problem: str, *, recoverable: bool = True) -> LedgerFileError:
    recover = (f", or recover its rows: `sqlite3 {path}.damaged .recover | sqlite3 {path}`"
               if recoverable else "")
    return LedgerFileError(
        f"The usage ledger {path} is damaged ({problem}), so spending cannot be checked and no "
        f"call is made. Move it aside (`mv {path} {path}.damaged`) to start a new, empty ledger "
        f"(day and month budgets then count only calls from now on){recover}.")


#: SQLite's own messages for those errors, for Pythons whose exceptions do not carry
#: ``sqlite_errorname`` (3.10, which requires-python still allows).
_NAME_BY_MESSAGE = (
    ("file is not a database", "SQLITE_NOTADB"),
    ("database disk image is malformed", "SQLITE_CORRUPT"),
    ("readonly database", "SQLITE_READONLY"),
    ("disk is full", "SQLITE_FULL"),  # "database or disk is full"
    ("disk i/o error", "SQLITE_IOERR"),
    ("access permission denied", "SQLITE_PERM"),
    ("unable to open", "SQLITE_CANTOPEN"),
)


def _error_name(exc: sqlite3.Error) -> str:
    """SQLite's error name (``SQLITE_CORRUPT``…), from the exception or else its message."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name:
        return name
    message = str(exc).lower()
    return next((known for fragment, known in _NAME_BY_MESSAGE if fragment in message), "")


def translate(path: Path, exc: sqlite3.Error) -> LedgerFileError | None:
    """The one-line error for a SQLite failure that is about the file, else None."""
    name = _error_name(exc)
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
        return _damaged(path, str(exc))
    base = name.split("_", 2)
    base_name = "_".join(base[:2]) if len(base) >= 2 else name
    if base_name in _SQLITE_ERRNO:
        return LedgerFileError(f"Could not write the usage ledger {path}: {exc}. No call is made "
                               f"without its row; {fix_for(_SQLITE_ERRNO[base_name])}.")
    if base_name == "SQLITE_CANTOPEN":
        return LedgerFileError(f"Could not open the usage ledger {path}: {exc}. No call is made "
                               "without its row; check that the data folder exists and can be "
                               "written (or set EDGE_DATA_DIR to a folder that can).")
    return None


@contextmanager
def _file_errors(path: Path) -> Iterator[None]:
    """SQLite errors about the file become :class:`LedgerFileError`; others pass unchanged."""
    try:
        yield
    except sqlite3.Error as exc:
        translated = translate(path, exc)
        if translated is None:
            raise
        raise translated from None


class Database:
    """One SQLite file shared by threads (and, through SQLite's locks, by processes)."""

    def __init__(self, path: Path | str, *, synchronous: str = "NORMAL",
                 timeout: float = 60.0) -> None:
        if synchronous.upper() not in ("NORMAL", "FULL", "EXTRA"):
            raise ValueError("synchronous must be NORMAL, FULL or EXTRA")
        self.path = Path(path)
        self.synchronous = synchronous.upper()
        self.timeout = timeout
        self._lock = threading.RLock()
        self._bulk_lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._bulk: sqlite3.Connection | None = None
        self._pid = 0
        #: A random id made with the file: a snapshot of another ledger is never used.
        self.ledger_id = ""

    def _open(self) -> sqlite3.Connection:
        with _file_errors(self.path):
            return self._open_file()

    def _ensure_file(self) -> None:
        """Create the ledger complete, or find it; a zero-byte file is damage (module docstring)."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            size = self.path.stat().st_size
        except FileNotFoundError:
            self._create_file()
            return
        except OSError as exc:
            raise LedgerFileError(f"Could not open the usage ledger {self.path}: "
                                  f"{exc.strerror or exc}. No call is made without its row; "
                                  f"{fix_for(exc.errno)}.") from None
        if size == 0:
            raise _damaged(self.path, "it is empty, 0 bytes: edge_jupyter never leaves it so, "
                           "its rows were lost", recoverable=False)

    def _create_file(self) -> None:
        """Build a new ledger in a temporary file, then link it into place (never half made)."""
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.new-", dir=self.path.parent)
        except OSError as exc:
            raise LedgerFileError(f"Could not create the usage ledger {self.path}: "
                                  f"{exc.strerror or exc}. No call is made without its row; "
                                  f"{fix_for(exc.errno)}.") from None
        os.close(fd)
        try:
            conn = sqlite3.connect(tmp, isolation_level=None)
            try:
                conn.execute("PRAGMA journal_mode = WAL").fetchone()  # kept in the file's header
                self._create(conn)
            finally:
                conn.close()  # checkpoints: everything is in the main file now
            try:
                os.link(tmp, self.path)
            except FileExistsError:
                pass  # another kernel made it first: use that one
            except OSError:  # no hard links here: rename, unless one appeared meanwhile
                # Under the file's lock: two kernels checking at once would otherwise both
                # see no ledger, and the second rename would replace the first's new one.
                with locked(self.path):
                    if not self.path.exists():
                        os.replace(tmp, self.path)
        except OSError as exc:
            raise LedgerFileError(f"Could not create the usage ledger {self.path}: "
                                  f"{exc.strerror or exc}. No call is made without its row; "
                                  f"{fix_for(exc.errno)}.") from None
        finally:
            for leftover in (tmp, f"{tmp}-wal", f"{tmp}-shm"):
                try:
                    os.unlink(leftover)
                except OSError:
                    pass

    def _open_file(self) -> sqlite3.Connection:
        self._ensure_file()
        # mode=rw: SQLite never makes the file itself (only _create_file does, complete), so a
        # ledger truncated or removed after the check above is not taken for a new, empty one.
        uri = f"{self.path.resolve().as_uri()}?mode=rw"
        conn = sqlite3.connect(uri, uri=True, timeout=self.timeout, isolation_level=None,
                               check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            self._retry_busy(lambda: conn.execute("PRAGMA journal_mode = WAL").fetchone())
            conn.execute(f"PRAGMA synchronous = {self.synchronous}")
            if conn.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
                self._create(conn)
            row = conn.execute("SELECT value FROM meta WHERE key = 'ledger_id'").fetchone()
        except BaseException:
            conn.close()
            raise
        self.ledger_id = row[0] if row else ""
        return conn

    def _connect(self) -> sqlite3.Connection:
        """The connection for writes and small reads (callers hold ``_lock``)."""
        if self._pid != os.getpid():
            # After a fork the parent's connections must not be used (nor closed) by the child.
            self._conn = self._bulk = None
            self._pid = os.getpid()
        if self._conn is None:
            self._conn = self._open()
        return self._conn

    def _bulk_connect(self) -> sqlite3.Connection:
        """A second connection for large reads (reads on it hold ``_bulk_lock``).

        In WAL mode a reader never blocks a writer, so with its own connection a long
        ``frame()`` does not hold up the ``begin``/``complete`` of calls in other threads.
        """
        with self._lock:
            self._connect()
            if self._bulk is None:
                self._bulk = self._open()
            return self._bulk

    def _retry_busy(self, action: Callable[[], Any]) -> Any:
        """Run ``action``, retrying while another process holds a lock it cannot wait for."""
        return retry_while_busy(action, self.timeout)

    @staticmethod
    def _create(conn: sqlite3.Connection) -> None:
        """Make the schema, or upgrade an older one in place (``_schema.py``: versions).

        One ``BEGIN IMMEDIATE`` transaction, and the version is read again inside it: two
        kernels opening an old ledger at once both wait for the lock, and the second finds
        it upgraded and does nothing.  A failure rolls everything back (no half upgrade).
        """
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
                for statement in DDL:
                    conn.execute(statement)
                columns = {row[1] for row in conn.execute("PRAGMA table_info(calls)")}
                for statement in upgrade_statements(columns):
                    conn.execute(statement)
                conn.execute("INSERT OR IGNORE INTO meta VALUES ('ledger_id', ?)",
                             (uuid.uuid4().hex,))
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once so the reads inside it cannot go stale."""
        with self._lock, _file_errors(self.path):
            conn = self._connect()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:  # SQLite may have rolled back itself (disk full)
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def ensure_open(self) -> None:
        """Open (and if need be create) the file: ``ledger_id`` is known from here on."""
        with self._lock:
            self._connect()

    @contextmanager
    def _private_read(self) -> Iterator[sqlite3.Connection]:
        """One read transaction on a connection of its own, opened and closed here.

        For long background reads: in WAL mode readers never wait for each other, so the
        user's own reads (and writes) go on while it runs, whatever its length.
        """
        self.ensure_open()
        conn = self._open()
        try:
            with _file_errors(self.path):
                conn.execute("BEGIN")
                try:
                    yield conn
                finally:
                    conn.execute("COMMIT")
        finally:
            conn.close()

    @contextmanager
    def _read(self, *, bulk: bool = False) -> Iterator[sqlite3.Connection]:
        """One read transaction: every SELECT inside sees the same state."""
        with self._bulk_lock if bulk else self._lock, _file_errors(self.path):
            conn = self._bulk_connect() if bulk else self._connect()
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("COMMIT")

    def close(self) -> None:
        with self._bulk_lock, self._lock:  # the order bulk reads take them in
            if self._pid == os.getpid():
                for conn in (self._conn, self._bulk):
                    if conn is not None:
                        conn.close()
            self._conn = self._bulk = None

    def __enter__(self: _D) -> _D:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
