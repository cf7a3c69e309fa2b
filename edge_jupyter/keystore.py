"""Where the OpenRouter key lives: the environment, the OS keyring, or an opt-in file.

Order, on every read: ``OPENROUTER_API_KEY`` in the environment, then the store.
The store is the OS keyring (service ``edge_jupyter``) unless the user opted in to
a plain file with ``EDGE_KEY_STORE=file``.

A keyring backend that is not a secure store counts as *no store at all*: keyring's
``fail`` and ``null`` backends, a chainer with nothing to chain, and plain-text
backends such as keyrings.alt's (keyring's own rule of thumb: priority below 1).
Storing then raises :class:`NoSecureStore` whose message says what to do, instead
of silently writing the key in clear text somewhere the user never chose.

Why a chainer is unwrapped: with a Secret Service *and* keyrings.alt installed,
keyring's chainer would fall back to the plain-text file when the Secret Service is
locked.  We talk to the best secure backend directly so that a locked keyring is
reported as locked (:class:`KeyringLocked`), never papered over.

The key never appears in an exception message, a repr or a log line; nothing here
writes to ``os.environ``.  This module must not import IPython or tornado: the
server extension and the kernel both use it.

::

    KeyStoreError          something went wrong with the store (message: what + what to do)
    ├── NoSecureStore      no secure OS keyring (and no opt-in file store)
    └── KeyringLocked      the OS keyring exists but is locked
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import settings
from .scrub import scrub  # a backend's own error text must never carry the key

if TYPE_CHECKING:
    from collections.abc import Sequence

    from keyring.backend import KeyringBackend

SERVICE = "edge_jupyter"
API_KEY_USERNAME = "openrouter-api-key"
MANAGEMENT_KEY_USERNAME = "openrouter-management-key"
ENV_API_KEY = "OPENROUTER_API_KEY"
ENV_MANAGEMENT_KEY = "OPENROUTER_MANAGEMENT_KEY"
ENV_STORE = "EDGE_KEY_STORE"
FILE_NAME = "keys.json"
_KEYS_PAGE = "https://openrouter.ai/settings/keys"

#: keyring's documented threshold: "a priority of one or greater is recommended".
SECURE_PRIORITY = 1.0

__all__ = [
    "API_KEY_USERNAME", "MANAGEMENT_KEY_USERNAME", "SERVICE", "FileKeyStore", "KeyStoreError",
    "KeyringLocked", "NoSecureStore", "ResolvedKey", "StoreInfo", "check_store",
    "delete_api_key", "delete_management_key", "describe_store", "disconnect_message", "resolve_api_key",
    "resolve_management_key", "store_api_key", "store_management_key",
]


class KeyStoreError(Exception):
    """The key store failed; the message says what happened and what to do.

    ``summary`` is what happened and ``steps`` the options, kept apart so that a
    page can show them as a list; ``str()`` joins them into one paragraph.
    """

    def __init__(self, summary: str, steps: Sequence[str] = ()) -> None:
        self.summary = summary
        self.steps = list(steps)
        super().__init__(self.__str__())

    def __str__(self) -> str:
        if not self.steps:
            return self.summary
        if len(self.steps) == 1:
            return f"{self.summary} {self.steps[0]}"
        options = "; ".join(f"({chr(ord('a') + i)}) {step}" for i, step in enumerate(self.steps))
        return f"{self.summary} Do one of these, then connect again: {options}."


class NoSecureStore(KeyStoreError):
    """No secure OS keyring is available and the file store was not chosen."""


class KeyringLocked(KeyStoreError):
    """The OS keyring is there but locked."""


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


# -- messages ------------------------------------------------------------------------------------


def _options() -> list[str]:
    return [
        f"set `{ENV_API_KEY}` in the environment that starts Jupyter (JupyterHub: the "
        "spawner's environment; Docker: `docker run -e OPENROUTER_API_KEY=...`)",
        "run a Secret Service (for example gnome-keyring in your desktop or D-Bus session) "
        "and restart Jupyter",
        f"opt in to an unencrypted file: set `{ENV_STORE}=file` where Jupyter starts (the key "
        f"is then kept in {_file_path()}, readable only by you, mode 600)",
    ]


def _no_store(reason: str, action: str = "Your key was not stored.") -> NoSecureStore:
    return NoSecureStore(f"No secure key store is available: {reason}. {action}", _options())


def _locked(backend: str, action: str) -> KeyringLocked:
    return KeyringLocked(
        f"Your OS keyring ({backend}) is locked, so the key could not be {action}.",
        ["unlock it (log in to the desktop session, or unlock the 'login' keyring) and try again",
         *_options()[::2]])


def _not_set_up(backend: str, action: str) -> KeyStoreError:
    """keyring's InitError: e.g. a Secret Service with no keyring yet and no desktop to ask."""
    return KeyStoreError(
        f"Your OS keyring ({backend}) has no usable keyring yet and could not ask you to create "
        f"one (there is no desktop session to show the prompt), so the key could not be {action}.",
        ["create and unlock a default keyring (log in to the desktop session once, or start "
         "`gnome-keyring-daemon --unlock` with a password on its standard input)",
         *_options()[::2]])


# -- the file store ------------------------------------------------------------------------------


def _file_path() -> Path:
    return settings.current().data_dir / FILE_NAME


class FileKeyStore:
    """edge_jupyter's own opt-in store: one JSON file, mode 0600, under EDGE_DATA_DIR.

    Deliberately *not* a ``keyring`` backend: defining a ``KeyringBackend`` subclass
    registers it with keyring, which would then pick it for every program in the process.
    The file is unencrypted; the user asked for that with ``EDGE_KEY_STORE=file``.
    """

    name = "edge_jupyter file store"

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or _file_path()

    def _read(self) -> dict[str, str]:
        try:
            with self.path.open(encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise KeyStoreError(
                f"The key file {self.path} cannot be read ({type(exc).__name__}). "
                "Delete it and connect again.") from None
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def _write(self, data: dict[str, str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        # Created 0600 from the first byte (not chmod-ed afterwards), then renamed over.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=1, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o600)  # O_CREAT ignores the mode of an existing leftover file
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def get(self, username: str) -> str | None:
        return self._read().get(username) or None

    def set(self, username: str, secret: str) -> None:
        data = self._read()
        data[username] = secret
        self._write(data)

    def delete(self, username: str) -> bool:
        data = self._read()
        if username not in data:
            return False
        del data[username]
        if data:
            self._write(data)
        else:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        return True

    def mode(self) -> int | None:
        """The file's permission bits (None when there is no file)."""
        try:
            return stat.S_IMODE(self.path.stat().st_mode)
        except FileNotFoundError:
            return None


# -- the keyring ---------------------------------------------------------------------------------


def _priority(backend: Any) -> float:
    try:
        return float(backend.priority)
    except Exception:  # keyring: "priority should raise ... if the backend is not suitable"
        return -1.0


def _backend_name(backend: Any) -> str:
    try:
        return str(backend.name)
    except Exception:
        return type(backend).__name__


def _secure_keyring() -> tuple[KeyringBackend | None, str, str]:
    """(the secure backend or None, its display name, why there is none)."""
    try:
        import keyring
        from keyring.backends.chainer import ChainerBackend
    except ImportError:  # pragma: no cover - keyring is a dependency
        return None, "none", "the keyring package is not installed"
    try:
        backend = keyring.get_keyring()
    except Exception as exc:
        return None, "none", f"keyring could not choose a backend ({type(exc).__name__})"
    name = _backend_name(backend)
    if isinstance(backend, ChainerBackend):
        try:
            chained = list(backend.backends)
        except Exception:
            chained = []
        secure = [b for b in chained if _priority(b) >= SECURE_PRIORITY]
        if secure:
            return secure[0], _backend_name(secure[0]), ""
        if not chained:
            return None, name, "keyring found no backend at all (no Secret Service / D-Bus session)"
        names = ", ".join(f"'{_backend_name(b)}'" for b in chained)
        return None, name, f"keyring only found {names}, which keep keys in plain text"
    priority = _priority(backend)
    if priority >= SECURE_PRIORITY:
        return backend, name, ""
    module = type(backend).__module__
    if module.startswith("keyring.backends.fail") or module.startswith("keyring.backends.null") \
            or priority < 0:
        why = (f"keyring's backend is '{name}', i.e. there is no OS keyring "
               "(no Secret Service / D-Bus session, no macOS or Windows keychain)")
    else:
        why = f"keyring's backend is '{name}', which is not a secure store (priority {priority:g} < 1)"
    return None, name, why


def _store_kind() -> str:
    value = (os.environ.get(ENV_STORE) or "keyring").strip().lower()
    if value not in ("keyring", "file"):
        raise KeyStoreError(f"{ENV_STORE} must be 'keyring' (the default) or 'file', not {value!r}.")
    return value


def describe_store() -> StoreInfo:
    """Which store would be used, without touching any secret (cheap, never raises)."""
    try:
        kind = _store_kind()
    except KeyStoreError as exc:
        return StoreInfo("keyring", "none", False, str(exc))
    if kind == "file":
        return StoreInfo("file", f"{FileKeyStore.name} ({_file_path()})", True)
    backend, name, why = _secure_keyring()
    if backend is None:
        return StoreInfo("keyring", name, False, str(_no_store(why, "A key cannot be stored.")))
    return StoreInfo("keyring", name, True)


def check_store() -> StoreInfo:
    """Raise now if storing a key would fail, before the user approves anything.

    Reads one entry so that a locked keyring shows itself (a Secret Service that
    cannot unlock raises on reads as on writes).
    """
    kind = _store_kind()
    if kind == "file":
        return describe_store()
    backend, name, why = _secure_keyring()
    if backend is None:
        raise _no_store(why, "Connecting was not started, as the key could not be kept.")
    _keyring_get(backend, name, API_KEY_USERNAME)
    return StoreInfo("keyring", name, True)


def _keyring_get(backend: KeyringBackend, name: str, username: str) -> str | None:
    from keyring.errors import InitError, KeyringError
    from keyring.errors import KeyringLocked as _Locked

    try:
        return backend.get_password(SERVICE, username)
    except _Locked:
        raise _locked(name, "read") from None
    except InitError:
        raise _not_set_up(name, "read") from None
    except KeyringError as exc:
        raise KeyStoreError(
            f"Reading from the OS keyring ({name}) failed: {type(exc).__name__}: {exc}.",
            _options()) from None
    except Exception as exc:  # D-Bus errors from secretstorage/jeepney surface as-is
        raise KeyStoreError(
            f"Reading from the OS keyring ({name}) failed ({type(exc).__name__}).",
            _options()) from None


# -- generic operations on one username ----------------------------------------------------------


def _resolve(username: str, env_var: str) -> ResolvedKey:
    env = os.environ.get(env_var) or None
    if env:
        return ResolvedKey(env, "environment", env_var)
    try:
        kind = _store_kind()
    except KeyStoreError as exc:
        return ResolvedKey(None, "none", "none", str(exc))
    if kind == "file":
        store = FileKeyStore()
        try:
            value = store.get(username)
        except KeyStoreError as exc:
            return ResolvedKey(None, "none", FileKeyStore.name, str(exc))
        return ResolvedKey(value, "file" if value else "none", FileKeyStore.name)
    backend, name, why = _secure_keyring()
    if backend is None:
        return ResolvedKey(None, "none", name,
                           str(_no_store(why, "No key can be kept between sessions.")))
    try:
        value = _keyring_get(backend, name, username)
    except KeyStoreError as exc:
        return ResolvedKey(None, "none", name, str(exc))
    return ResolvedKey(value or None, "keyring" if value else "none", name)


def _store(username: str, secret: str) -> str:
    if not secret or not isinstance(secret, str):
        raise KeyStoreError("There is no key to store.")
    kind = _store_kind()
    if kind == "file":
        try:
            FileKeyStore().set(username, secret)
        except OSError as exc:
            raise KeyStoreError(
                f"The key file {_file_path()} could not be written ({type(exc).__name__}). "
                "Check that EDGE_DATA_DIR is writable.") from None
        return "file"
    backend, name, why = _secure_keyring()
    if backend is None:
        raise _no_store(why)
    from keyring.errors import InitError, KeyringError
    from keyring.errors import KeyringLocked as _Locked

    try:
        backend.set_password(SERVICE, username, secret)
    except _Locked:
        raise _locked(name, "stored") from None
    except InitError:
        raise _not_set_up(name, "stored") from None
    except KeyringError as exc:
        detail = scrub(f"{type(exc).__name__}: {exc}", secret)
        raise KeyStoreError(f"Storing the key in the OS keyring ({name}) failed: {detail}.",
                            _options()) from None
    except Exception as exc:
        raise KeyStoreError(f"Storing the key in the OS keyring ({name}) failed "
                            f"({type(exc).__name__}).", _options()) from None
    return "keyring"


def _delete(username: str) -> bool:
    """Remove the stored key; in keyring mode also a file-store copy left from earlier.

    Why the file too: a user who switched from ``EDGE_KEY_STORE=file`` back to the
    keyring and then disconnects expects no copy left anywhere edge_jupyter put one.
    The other way round is not done: in file mode the keyring is never touched, as
    reading a locked desktop keyring would pop up an unlock prompt.
    """
    kind = _store_kind()
    store = FileKeyStore()
    if kind == "file":
        try:
            return store.delete(username)
        except OSError as exc:
            raise KeyStoreError(f"The key file {store.path} could not be changed "
                                f"({type(exc).__name__}).") from None
    removed = False
    with contextlib.suppress(KeyStoreError, OSError):
        removed = store.delete(username)
    backend, name, _why = _secure_keyring()
    if backend is None:
        return removed
    from keyring.errors import InitError, PasswordDeleteError
    from keyring.errors import KeyringLocked as _Locked

    try:
        if backend.get_password(SERVICE, username) is None:
            return removed
        backend.delete_password(SERVICE, username)
        return True
    except PasswordDeleteError:
        return removed
    except _Locked:
        raise _locked(name, "removed") from None
    except InitError:
        return removed  # no keyring was ever created: nothing of ours can be in it
    except Exception as exc:
        raise KeyStoreError(f"Removing the key from the OS keyring ({name}) failed "
                            f"({type(exc).__name__}).", _options()[:1]) from None


# -- the public API ------------------------------------------------------------------------------


def disconnect_message(removed: bool, source_after: str) -> str:
    """The sentence shown after a disconnect (the server route and ``%edge disconnect``)."""
    text = ("Disconnected: the stored OpenRouter key was removed." if removed
            else "No stored OpenRouter key to remove.")
    text += " Your conversations, preferences and usage ledger are kept."
    if source_after == "environment":
        text += (f" {ENV_API_KEY} is still set in this environment, so calls still use it: "
                 "unset it where Jupyter starts to disconnect fully.")
    elif removed:
        text += (f" The key itself still exists on OpenRouter; delete it at {_KEYS_PAGE} "
                 "if you no longer need it.")
    return text


def resolve_api_key() -> ResolvedKey:
    """The OpenRouter API key: ``OPENROUTER_API_KEY``, then the store.  Never raises.

    A missing or locked store gives ``source="none"`` with the reason in ``problem``.
    """
    return _resolve(API_KEY_USERNAME, ENV_API_KEY)


def store_api_key(key: str) -> str:
    """Store the key; returns "keyring" or "file".  Raises NoSecureStore / KeyringLocked."""
    return _store(API_KEY_USERNAME, key)


def delete_api_key() -> bool:
    """Remove the stored key (True if one was removed).  ``OPENROUTER_API_KEY`` is untouched."""
    return _delete(API_KEY_USERNAME)


def resolve_management_key() -> ResolvedKey:
    """The management (provisioning) key, used only for ``/credits``: env, then the store."""
    return _resolve(MANAGEMENT_KEY_USERNAME, ENV_MANAGEMENT_KEY)


def store_management_key(key: str) -> str:
    return _store(MANAGEMENT_KEY_USERNAME, key)


def delete_management_key() -> bool:
    return _delete(MANAGEMENT_KEY_USERNAME)
