"""Which store holds the key, on every read: the environment, then the OS keyring or the file.

Order: ``OPENROUTER_API_KEY`` (or ``OPENROUTER_MANAGEMENT_KEY``) in the environment,
then the store; except that an API key a JupyterHub provisioned (``EDGE_KEY_PROVISIONED``
set beside it) comes after the store, so a user's own ``%edge connect`` wins over it.
The store is the OS keyring (service ``edge_jupyter``) unless the user opted in to a
plain file with ``EDGE_KEY_STORE=file``.  The stores themselves
(:mod:`._env`, :mod:`._keyring`, :mod:`._file`) each do one job; this module only
chooses between them and turns "no usable store" into a ``problem`` sentence for
reads (which never raise) or a :class:`KeyStoreError` for writes.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from ._advice import no_store
from ._env import ENV_STORE, env_key, provisioned_by, store_setting
from ._errors import KeyStoreError
from ._file import FileKeyStore, file_path
from ._keyring import keyring_delete, keyring_get, keyring_set, secure_keyring

API_KEY_USERNAME = "openrouter-api-key"
MANAGEMENT_KEY_USERNAME = "openrouter-management-key"


@dataclass(frozen=True)
class ResolvedKey:
    """The key in use (if any) and where it came from.  ``repr`` never shows the key."""

    key: str | None = field(repr=False)
    #: "environment" | "keyring" | "file" | "none"
    source: str
    #: The store's display name, e.g. "SecretService Keyring" (never a secret).
    backend: str = ""
    #: Why there is no key although one may be stored (locked keyring, no secure store…).
    problem: str = ""
    #: Who provisioned an environment key ("jupyterhub"), "" when the user set it.
    provisioned: str = ""

    @property
    def connected(self) -> bool:
        return bool(self.key)


@dataclass(frozen=True)
class StoreInfo:
    """The store that :func:`store_api_key` would write to, and whether it can."""

    #: "keyring" | "file"
    kind: str
    backend: str
    secure: bool
    problem: str = ""


def store_kind() -> str:
    value = store_setting()
    if value not in ("keyring", "file"):
        raise KeyStoreError(f"{ENV_STORE} must be 'keyring' (the default) or 'file', not {value!r}.")
    return value


def describe_store() -> StoreInfo:
    """Which store would be used, without touching any secret (cheap, never raises)."""
    try:
        kind = store_kind()
    except KeyStoreError as exc:
        return StoreInfo("keyring", "none", False, str(exc))
    if kind == "file":
        return StoreInfo("file", f"{FileKeyStore.name} ({file_path()})", True)
    backend, name, why = secure_keyring()
    if backend is None:
        return StoreInfo("keyring", name, False, str(no_store(why, "A key cannot be stored.")))
    return StoreInfo("keyring", name, True)


def check_store() -> StoreInfo:
    """Raise now if storing a key would fail, before the user approves anything.

    Reads one entry so that a locked keyring shows itself (a Secret Service that
    cannot unlock raises on reads as on writes).
    """
    kind = store_kind()
    if kind == "file":
        return describe_store()
    backend, name, why = secure_keyring()
    if backend is None:
        raise no_store(why, "Connecting was not started, as the key could not be kept.")
    keyring_get(backend, name, API_KEY_USERNAME)
    return StoreInfo("keyring", name, True)


def resolve(username: str, env_var: str) -> ResolvedKey:
    """The environment's key, else the chosen store's; never raises.

    A provisioned API key (JupyterHub's) is the fallback instead: the stored key first.
    """
    env = env_key(env_var)
    by = provisioned_by() if username == API_KEY_USERNAME else ""
    if env and not by:
        return ResolvedKey(env, "environment", env_var)
    stored = _resolve_store(username)
    if env and not stored.key:  # a store that cannot be read is no problem: the hub's key works
        return ResolvedKey(env, "environment", env_var, provisioned=by)
    return stored


def _resolve_store(username: str) -> ResolvedKey:
    try:
        kind = store_kind()
    except KeyStoreError as exc:
        return ResolvedKey(None, "none", "none", str(exc))
    if kind == "file":
        store = FileKeyStore()
        try:
            value = store.get(username)
        except KeyStoreError as exc:
            return ResolvedKey(None, "none", FileKeyStore.name, str(exc))
        return ResolvedKey(value, "file" if value else "none", FileKeyStore.name)
    backend, name, why = secure_keyring()
    if backend is None:
        return ResolvedKey(None, "none", name,
                           str(no_store(why, "No key can be kept between sessions.")))
    try:
        value = keyring_get(backend, name, username)
    except KeyStoreError as exc:
        return ResolvedKey(None, "none", name, str(exc))
    return ResolvedKey(value or None, "keyring" if value else "none", name)


def store(username: str, secret: str) -> str:
    """Write to the chosen store; returns "keyring" or "file"."""
    if not secret or not isinstance(secret, str):
        raise KeyStoreError("There is no key to store.")
    kind = store_kind()
    if kind == "file":
        try:
            FileKeyStore().set(username, secret)
        except OSError as exc:
            raise KeyStoreError(
                f"The key file {file_path()} could not be written ({type(exc).__name__}). "
                "Check that EDGE_DATA_DIR is writable.") from None
        return "file"
    backend, name, why = secure_keyring()
    if backend is None:
        raise no_store(why)
    keyring_set(backend, name, username, secret)
    return "keyring"


def delete(username: str) -> bool:
    """Remove the stored key; in keyring mode also a file-store copy left from earlier.

    Why the file too: a user who switched from ``EDGE_KEY_STORE=file`` back to the
    keyring and then disconnects expects no copy left anywhere edge_jupyter put one.
    The other way round is not done: in file mode the keyring is never touched, as
    reading a locked desktop keyring would pop up an unlock prompt.
    """
    kind = store_kind()
    file_store = FileKeyStore()
    if kind == "file":
        try:
            return file_store.delete(username)
        except OSError as exc:
            raise KeyStoreError(f"The key file {file_store.path} could not be changed "
                                f"({type(exc).__name__}).") from None
    removed = False
    with contextlib.suppress(KeyStoreError, OSError):
        removed = file_store.delete(username)
    backend, name, _why = secure_keyring()
    if backend is None:
        return removed
    return keyring_delete(backend, name, username) or removed
