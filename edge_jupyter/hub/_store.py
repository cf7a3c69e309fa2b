"""The hub's record of each user's OpenRouter key: one SQLite file, readable by the hub only.

Why a file of its own rather than JupyterHub's database: the key must be usable before
the user's first server starts (``pre_spawn_hook``), by this package alone, and must
survive a hub upgrade or a ``jupyterhub.sqlite`` reset.  Protection at rest:

- the folder is made ``0700`` and the file kept ``0600`` (its ``-wal``/``-shm`` companions
  get the same mode from SQLite), so only the hub's own user can open it;
- each key is encrypted with Fernet under ``JUPYTERHUB_CRYPT_KEY`` (or
  ``EDGE_HUB_CRYPT_KEY``; :mod:`._crypt`).  Without either, keys are kept as plain text
  in that 0600 file, and the hub log says so once (the log line holds no key);
- a row that cannot be decrypted (another crypt key, damage) is an error saying what to
  do; it is never replaced by a new key in silence, which would leave the old key
  working on OpenRouter with nobody holding it.

One row per user: ``username, hash, name, secret, scheme, created_at, state``.  ``state``
is ``pending`` from just before ``POST /keys`` until its answer is stored (a row still
pending later means an answer was lost: see :mod:`._provision`), then ``active``.

Concurrent processes (the hub, an admin's CLI, a second hub worker) are safe: WAL
journal, a busy timeout, and each change one short ``BEGIN IMMEDIATE`` transaction.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import stat
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ._crypt import ENV_HUB_CRYPT_KEY, HOW_TO_MAKE, Cipher, cipher_from_env
from ._errors import HubStoreError

SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 10.0
STATES = ("pending", "active")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS keys (
    username   TEXT PRIMARY KEY,
    hash       TEXT,
    name       TEXT NOT NULL,
    secret     TEXT,
    scheme     TEXT,
    created_at TEXT NOT NULL,
    state      TEXT NOT NULL
)
"""

#: Paths whose "kept unencrypted" line was logged already (once per process and file).
_warned_plain: set[str] = set()
_warned_lock = threading.Lock()


@dataclass(frozen=True)
class StoredKey:
    """One user's row.  ``key`` is the plaintext API key (None while pending); never in a repr."""

    username: str
    name: str
    state: str
    created_at: str
    hash: str | None = None
    key: str | None = field(default=None, repr=False)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class HubKeyStore:
    """The SQLite file at ``path``; every method opens, works and closes (thread and process safe)."""

    def __init__(self, path: str | os.PathLike[str], *, cipher: Cipher | bool | None = True,
                 log: logging.Logger | None = None) -> None:
        """``cipher=True`` reads the crypt key from the environment now (a malformed one
        raises :class:`HubStoreError` at once); None/False keeps keys unencrypted."""
        self.path = Path(path).expanduser()
        self.cipher: Cipher | None = cipher_from_env() if cipher is True else (cipher or None)
        self.log = log or logging.getLogger("edge_jupyter.hub")
        self._ready = False
        self._ready_lock = threading.Lock()

    def __repr__(self) -> str:
        how = f"encrypted under {self.cipher.variable}" if self.cipher else "unencrypted"
        return f"HubKeyStore({str(self.path)!r}, {how})"

    @property
    def encrypted(self) -> bool:
        return self.cipher is not None

    # -- the file ---------------------------------------------------------------------------

    def _prepare(self) -> None:
        """Folder 0700 (made if missing), file 0600 (made empty if missing), the table."""
        folder = self.path.parent
        if not folder.exists():
            try:
                folder.mkdir(mode=0o700, parents=True, exist_ok=True)
                os.chmod(folder, 0o700)  # mkdir's mode is masked by the umask
            except OSError as exc:
                raise HubStoreError(f"The folder for the hub's key store, {folder}, cannot be "
                                    f"made ({exc.strerror or type(exc).__name__}): make it "
                                    "(owned by the hub's user, mode 0700) or set another "
                                    "store_path.") from None
        try:
            # O_CREAT with 0600 before SQLite opens it: the file never exists with wider rights.
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            os.close(fd)
            if stat.S_IMODE(os.stat(self.path).st_mode) != 0o600:
                os.chmod(self.path, 0o600)
        except OSError as exc:
            raise HubStoreError(f"The hub's key store {self.path} cannot be opened "
                                f"({exc.strerror or type(exc).__name__}): check that the hub's "
                                "user owns it and its folder.") from None
        with self._connect() as con:
            con.execute(_SCHEMA)
            version = con.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise HubStoreError(f"The hub's key store {self.path} was written by a newer "
                                    "edge_jupyter: upgrade edge_jupyter on the hub.")
            if version < SCHEMA_VERSION:
                con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        con: sqlite3.Connection | None = None
        try:
            con = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
            con.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            con.execute("PRAGMA journal_mode = WAL")
            yield con
        except sqlite3.DatabaseError as exc:
            raise HubStoreError(
                f"The hub's key store {self.path} cannot be used ({exc}): if it is damaged, "
                "move it aside and restart the hub; each user then gets a new key at their "
                "next spawn (disable the old ones: `edge-jupyter hub usage` lists them).") from None
        finally:
            if con is not None:
                con.close()

    def _open(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        if not self._ready:
            with self._ready_lock:
                if not self._ready:
                    self._prepare()
                    self._ready = True
        return self._connect()

    # -- rows -------------------------------------------------------------------------------

    def get(self, username: str) -> StoredKey | None:
        """The user's row with the key decrypted, or None.  Raises on a row it cannot read."""
        with self._open() as con:
            row = con.execute("SELECT username, hash, name, secret, scheme, created_at, state "
                              "FROM keys WHERE username = ?", (username,)).fetchone()
        if row is None:
            return None
        _, key_hash, name, secret, scheme, created_at, state = row
        if state not in STATES or not isinstance(name, str):
            raise self._damaged(username, "its state is unknown")
        if state == "pending":
            return StoredKey(username, name, state, str(created_at), key_hash)
        if not isinstance(secret, str) or not secret or not isinstance(key_hash, str):
            raise self._damaged(username, "it holds no key")
        key = self._reveal(username, secret, scheme)
        if scheme == "plain" and self.cipher is not None:
            self._write(username, key_hash, name, key, "active", str(created_at))  # encrypt it now
        return StoredKey(username, name, state, str(created_at), key_hash, key)

    def _reveal(self, username: str, secret: str, scheme: str | None) -> str:
        if scheme == "plain":
            return secret
        if scheme != "fernet":
            raise self._damaged(username, f"its encryption ({scheme!r}) is unknown")
        if self.cipher is None:
            raise HubStoreError(
                f"The OpenRouter key of {username!r} in {self.path} is encrypted, and no crypt "
                f"key is set now: start the hub with the {ENV_HUB_CRYPT_KEY} (or "
                "EDGE_HUB_CRYPT_KEY) it was stored with.")
        key = self.cipher.decrypt(secret)
        if key is None:
            raise HubStoreError(
                f"The OpenRouter key of {username!r} in {self.path} cannot be decrypted with "
                f"{self.cipher.variable} (another crypt key, or a damaged file): set the crypt "
                "key it was stored with (several may be given, ';'-separated, the newest first). "
                "If that key is lost, disable the user's key on OpenRouter and delete their row "
                f"(sqlite3 {self.path} \"DELETE FROM keys WHERE username = '{username}'\"); "
                "their next spawn makes a new key.")
        return key

    def _damaged(self, username: str, why: str) -> HubStoreError:
        return HubStoreError(
            f"The row of {username!r} in the hub's key store {self.path} is damaged ({why}): "
            "disable the user's key on OpenRouter, then delete the row (sqlite3 "
            f"{self.path} \"DELETE FROM keys WHERE username = '{username}'\").")

    def mark_pending(self, username: str, name: str) -> None:
        """Written before ``POST /keys``: if its answer is lost, the next spawn knows."""
        self._write(username, None, name, None, "pending", _now())

    def save(self, username: str, key_hash: str, name: str, key: str) -> StoredKey:
        created = _now()
        self._write(username, key_hash, name, key, "active", created)
        return StoredKey(username, name, "active", created, key_hash, key)

    def _write(self, username: str, key_hash: str | None, name: str, key: str | None,
               state: str, created_at: str) -> None:
        secret: str | None = None
        scheme: str | None = None
        if key is not None:
            if self.cipher is not None:
                secret, scheme = self.cipher.encrypt(key), "fernet"
            else:
                secret, scheme = key, "plain"
                self._say_unencrypted_once()
        with self._open() as con:
            con.execute("BEGIN IMMEDIATE")
            con.execute("INSERT OR REPLACE INTO keys (username, hash, name, secret, scheme, "
                        "created_at, state) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (username, key_hash, name, secret, scheme, created_at, state))
            con.execute("COMMIT")

    def drop(self, username: str) -> bool:
        with self._open() as con:
            con.execute("BEGIN IMMEDIATE")
            gone = con.execute("DELETE FROM keys WHERE username = ?", (username,)).rowcount
            con.execute("COMMIT")
        return bool(gone)

    def usernames(self) -> list[str]:
        with self._open() as con:
            return [row[0] for row in con.execute("SELECT username FROM keys ORDER BY username")]

    def _say_unencrypted_once(self) -> None:
        where = str(self.path)
        with _warned_lock:
            if where in _warned_plain:
                return
            _warned_plain.add(where)
        self.log.warning(
            "edge_jupyter: no %s (or EDGE_HUB_CRYPT_KEY) is set, so users' OpenRouter keys are "
            "kept unencrypted in %s (mode 0600: readable by the hub's user only). To encrypt "
            "them, %s and set it as %s.", ENV_HUB_CRYPT_KEY, where, HOW_TO_MAKE,
            ENV_HUB_CRYPT_KEY)
