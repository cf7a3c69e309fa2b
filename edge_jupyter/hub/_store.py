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

One row per JupyterHub user, keyed by the user's stable identity (:func:`identity_of`:
JupyterHub's user id and creation time; two readings of one user are matched by
:func:`same_user`, because MySQL keeps that time in whole seconds), never by the name alone:
JupyterHub renames a user by changing the name only, and a freed name can be given to
somebody else, who must never get the first user's key.  Columns ``identity, username, hash, name, secret,
scheme, created_at, state``.  ``state`` is ``pending`` from just before ``POST /keys``
until its answer is stored (a row still pending later means an answer was lost: see
:mod:`._provision`), then ``active``.

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
from datetime import datetime, timedelta, timezone
from pathlib import Path

from ..storage import retry_while_busy
from ._crypt import ENV_HUB_CRYPT_KEY, HOW_TO_MAKE, Cipher, cipher_from_env
from ._errors import HubStoreError

SCHEMA_VERSION = 2
BUSY_TIMEOUT_S = 10.0
STATES = ("pending", "active")
FORGET_HINT = "edge-jupyter hub forget"

_TABLE = """(
    identity   TEXT PRIMARY KEY,
    username   TEXT NOT NULL,
    hash       TEXT,
    name       TEXT NOT NULL,
    secret     TEXT,
    scheme     TEXT,
    created_at TEXT NOT NULL,
    state      TEXT NOT NULL
)"""
_SCHEMA = f"CREATE TABLE IF NOT EXISTS keys {_TABLE}"
# Version 1 rows were keyed by the username: kept under an identity no JupyterHub user
# has, so the next spawn of that name treats them as another person's (disabled, replaced).
_FROM_V1 = f"""
ALTER TABLE keys RENAME TO keys_v1;
CREATE TABLE keys {_TABLE};
INSERT INTO keys SELECT 'v1:' || username, username, hash, name, secret, scheme, created_at,
    state FROM keys_v1;
DROP TABLE keys_v1;
"""
_COLUMNS = "identity, username, hash, name, secret, scheme, created_at, state"
#: How far two readings of one user's ``created`` may differ: MySQL/MariaDB keep JupyterHub's
#: ``users.created`` as a whole-second DATETIME (rounded, not truncated), while the hub that
#: created the user holds it to the microsecond until it restarts.
CREATED_TOLERANCE = timedelta(seconds=1)

#: Paths whose "kept unencrypted" line was logged already (once per process and file).
_warned_plain: set[str] = set()
_warned_lock = threading.Lock()


def identity_of(user: object) -> str:
    """A JupyterHub user's stable identity: ``{id}@{created}`` of JupyterHub's ``User``.

    The id alone is not enough: a new ``jupyterhub.sqlite`` numbers its users from 1
    again; the creation time tells those apart.  The name is no identity at all (renames).
    """
    uid = getattr(user, "id", None)
    if not isinstance(uid, int) or isinstance(uid, bool):
        raise HubStoreError(f"edge_jupyter.hub needs JupyterHub's User object (with its id), "
                            f"not {type(user).__name__}: call the hook as JupyterHub does.")
    created = getattr(user, "created", None)
    return f"{uid}@{created.isoformat() if isinstance(created, datetime) else ''}"


def split_identity(identity: str) -> tuple[int, datetime | None] | None:
    """``(id, created)`` of an identity; None for one no JupyterHub user has (``v1:name``)."""
    uid, sep, when = identity.partition("@")
    if not sep or not uid.isdigit():
        return None
    if not when:
        return int(uid), None
    try:
        created = datetime.fromisoformat(when)
    except ValueError:
        return None
    return int(uid), created if created.tzinfo else created.replace(tzinfo=timezone.utc)


def same_user(one: str, other: str) -> bool:
    """Whether two identities are one JupyterHub user: the same id, and ``created`` within
    :data:`CREATED_TOLERANCE` (a NULL ``created`` on either side: the id alone)."""
    if one == other:
        return True
    a, b = split_identity(one), split_identity(other)
    if a is None or b is None or a[0] != b[0]:
        return False
    if a[1] is None or b[1] is None:
        return True
    return abs(a[1] - b[1]) <= CREATED_TOLERANCE


def is_v1(identity: str) -> bool:
    """A row carried over from the name-keyed store (version 1): its owner is unknown."""
    return identity.startswith("v1:")


@dataclass(frozen=True)
class StoredKey:
    """One user's row.  ``key`` is the plaintext API key (None while pending or not read);
    never in a repr."""

    identity: str
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
            version = con.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise HubStoreError(f"The hub's key store {self.path} was written by a newer "
                                    "edge_jupyter: upgrade edge_jupyter on the hub.")
            if version < SCHEMA_VERSION:
                con.execute("BEGIN IMMEDIATE")
                # again inside the lock: another process may have upgraded it meanwhile (and
                # renaming an upgraded table as if it were version 1 would lose every row)
                # by the table's shape, not the version alone: version 1 set user_version
                # apart from its CREATE TABLE, so a v1 file may still say 0
                columns = {row[1] for row in con.execute("PRAGMA table_info(keys)")}
                if columns and "identity" not in columns:
                    for statement in _FROM_V1.split(";"):
                        if statement.strip():
                            con.execute(statement)
                con.execute(_SCHEMA)
                con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                con.execute("COMMIT")

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        con: sqlite3.Connection | None = None
        try:
            con = opened = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
            con.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            # Another process creating the file at the same moment makes this answer "database
            # is locked" at once, whatever busy_timeout says: wait for it instead.
            retry_while_busy(lambda: opened.execute("PRAGMA journal_mode = WAL"), BUSY_TIMEOUT_S)
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

    def get(self, identity: str, *, reveal: bool = True) -> StoredKey | None:
        """The user's row (:func:`same_user`: its ``identity`` may differ from the one asked
        for; write back under the row's) with the key decrypted (``reveal``), or None.
        Raises on a row it cannot read."""
        parts = split_identity(identity)
        with self._open() as con:
            row = con.execute(f"SELECT {_COLUMNS} FROM keys WHERE identity = ?",
                              (identity,)).fetchone()
            if row is None and parts is not None:
                # the same user read back with another precision of ``created`` (MySQL)
                rows = con.execute(f"SELECT {_COLUMNS} FROM keys WHERE identity LIKE ? "
                                   "ORDER BY created_at", (f"{parts[0]}@%",)).fetchall()
                row = next((r for r in rows if same_user(str(r[0]), identity)), None)
        return None if row is None else self._stored(row, reveal)

    def named(self, username: str) -> list[StoredKey]:
        """Every row that carries ``username`` (keys not read): the user's own, and any
        left by an earlier user of that name (renamed, or removed past ``delete_user``)."""
        with self._open() as con:
            rows = con.execute(f"SELECT {_COLUMNS} FROM keys WHERE username = ? ORDER BY "
                               "created_at", (username,)).fetchall()
        return [self._stored(row, False) for row in rows]

    def called(self, name: str) -> list[StoredKey]:
        """Every row whose key is called ``name`` on OpenRouter (keys not read): a renamed
        user's row whose key's new name was not set yet carries the old one."""
        with self._open() as con:
            rows = con.execute(f"SELECT {_COLUMNS} FROM keys WHERE name = ? ORDER BY "
                               "created_at", (name,)).fetchall()
        return [self._stored(row, False) for row in rows]

    def _stored(self, row: tuple[object, ...], reveal: bool) -> StoredKey:
        identity, username, key_hash, name, secret, scheme, created_at, state = row
        user = str(username)
        if state not in STATES or not isinstance(name, str):
            raise self._damaged(user, "its state is unknown")
        stored = StoredKey(str(identity), user, name, str(state), str(created_at),
                           key_hash if isinstance(key_hash, str) else None)
        if state == "pending" or not reveal:
            return stored
        if not isinstance(secret, str) or not secret or not isinstance(key_hash, str):
            raise self._damaged(user, "it holds no key")
        key = self._reveal(user, secret, str(scheme) if scheme is not None else None)
        if scheme == "plain" and self.cipher is not None:  # encrypt it now
            self._encrypt_in_place(stored.identity, key_hash, key)
        return StoredKey(stored.identity, user, name, "active", stored.created_at, key_hash, key)

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
                f"If that key is lost, run `{FORGET_HINT} {_quoted(username)} --store "
                f"{_quoted(str(self.path))}` (it disables the key on OpenRouter and drops the "
                "row): the user's next spawn makes a new key.")
        return key

    def _damaged(self, username: str, why: str) -> HubStoreError:
        return HubStoreError(
            f"The row of {username!r} in the hub's key store {self.path} is damaged ({why}): "
            f"run `{FORGET_HINT} {_quoted(username)} --store {_quoted(str(self.path))}` (it "
            "disables the user's key on OpenRouter and drops the row); their next spawn makes "
            "a new key.")

    def mark_pending(self, identity: str, username: str, name: str) -> None:
        """Written before ``POST /keys``: if its answer is lost, the next spawn knows."""
        self._write(identity, username, None, name, None, "pending", _now())

    def save(self, identity: str, username: str, key_hash: str, name: str, key: str
             ) -> StoredKey:
        created = _now()
        self._write(identity, username, key_hash, name, key, "active", created)
        return StoredKey(identity, username, name, "active", created, key_hash, key)

    def rename(self, identity: str, username: str, name: str) -> None:
        """The user's row under their new JupyterHub name (and the key's name on OpenRouter)."""
        with self._open() as con:
            con.execute("BEGIN IMMEDIATE")
            con.execute("UPDATE keys SET username = ?, name = ? WHERE identity = ?",
                        (username, name, identity))
            con.execute("COMMIT")

    def _encrypt_in_place(self, identity: str, key_hash: str, key: str) -> None:
        """The plain row as read, encrypted: an UPDATE of that very row, never a write of
        what was read (``hub forget`` in another process may have dropped it meanwhile, and
        must not see it come back)."""
        assert self.cipher is not None
        with self._open() as con:
            con.execute("BEGIN IMMEDIATE")
            con.execute("UPDATE keys SET secret = ?, scheme = 'fernet' WHERE identity = ? AND "
                        "scheme = 'plain' AND hash = ?", (self.cipher.encrypt(key), identity,
                                                          key_hash))
            con.execute("COMMIT")

    def _write(self, identity: str, username: str, key_hash: str | None, name: str,
               key: str | None, state: str, created_at: str) -> None:
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
            con.execute(f"INSERT OR REPLACE INTO keys ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (identity, username, key_hash, name, secret, scheme, created_at, state))
            con.execute("COMMIT")

    def drop(self, identity: str) -> bool:
        with self._open() as con:
            con.execute("BEGIN IMMEDIATE")
            gone = con.execute("DELETE FROM keys WHERE identity = ?", (identity,)).rowcount
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


def _quoted(text: str) -> str:
    """``text`` as one shell word (a username may hold a quote: JupyterHub accepts it)."""
    import shlex

    return shlex.quote(text)
