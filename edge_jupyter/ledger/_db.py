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
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from ._schema import DDL, SCHEMA_VERSION

_BUSY = ("locked", "busy")
_D = TypeVar("_D", bound="Database")


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
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None,
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
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                return action()
            except sqlite3.OperationalError as exc:
                if not any(w in str(exc) for w in _BUSY) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    @staticmethod
    def _create(conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
                for statement in DDL:
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
        with self._lock:
            conn = self._connect()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
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
        with self._bulk_lock if bulk else self._lock:
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
