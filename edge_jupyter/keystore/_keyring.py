"""The OS keyring as a store: find a *secure* backend, and read, write, delete one entry.

A keyring backend that is not a secure store counts as *no store at all*: keyring's
``fail`` and ``null`` backends, a chainer with nothing to chain, and plain-text
backends such as keyrings.alt's (keyring's own rule of thumb: priority below 1).

Why a chainer is unwrapped: with a Secret Service *and* keyrings.alt installed,
keyring's chainer would fall back to the plain-text file when the Secret Service is
locked.  We talk to the best secure backend directly so that a locked keyring is
reported as locked (:class:`KeyringLocked`), never papered over.

Every backend failure becomes a :class:`KeyStoreError` raised ``from None`` (the
backend's traceback may hold the secret); its text is scrubbed of the key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..scrub import scrub  # a backend's own error text must never carry the key
from ._advice import locked, not_set_up, options
from ._errors import KeyStoreError

if TYPE_CHECKING:
    from keyring.backend import KeyringBackend

SERVICE = "edge_jupyter"

#: keyring's documented threshold: "a priority of one or greater is recommended".
SECURE_PRIORITY = 1.0


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


def secure_keyring() -> tuple[KeyringBackend | None, str, str]:
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


def keyring_get(backend: KeyringBackend, name: str, username: str) -> str | None:
    from keyring.errors import InitError, KeyringError
    from keyring.errors import KeyringLocked as _Locked

    try:
        return backend.get_password(SERVICE, username)
    except _Locked:
        raise locked(name, "read") from None
    except InitError:
        raise not_set_up(name, "read") from None
    except KeyringError as exc:
        raise KeyStoreError(
            f"Reading from the OS keyring ({name}) failed: {type(exc).__name__}: {exc}.",
            options()) from None
    except Exception as exc:  # D-Bus errors from secretstorage/jeepney surface as-is
        raise KeyStoreError(
            f"Reading from the OS keyring ({name}) failed ({type(exc).__name__}).",
            options()) from None


def keyring_set(backend: KeyringBackend, name: str, username: str, secret: str) -> None:
    from keyring.errors import InitError, KeyringError
    from keyring.errors import KeyringLocked as _Locked

    try:
        backend.set_password(SERVICE, username, secret)
    except _Locked:
        raise locked(name, "stored") from None
    except InitError:
        raise not_set_up(name, "stored") from None
    except KeyringError as exc:
        detail = scrub(f"{type(exc).__name__}: {exc}", secret)
        raise KeyStoreError(f"Storing the key in the OS keyring ({name}) failed: {detail}.",
                            options()) from None
    except Exception as exc:
        raise KeyStoreError(f"Storing the key in the OS keyring ({name}) failed "
                            f"({type(exc).__name__}).", options()) from None


def keyring_delete(backend: KeyringBackend, name: str, username: str) -> bool:
    """Remove our entry; False when there was none (or no keyring was ever created)."""
    from keyring.errors import InitError, PasswordDeleteError
    from keyring.errors import KeyringLocked as _Locked

    try:
        if backend.get_password(SERVICE, username) is None:
            return False
        backend.delete_password(SERVICE, username)
        return True
    except PasswordDeleteError:
        return False
    except _Locked:
        raise locked(name, "removed") from None
    except InitError:
        return False  # no keyring was ever created: nothing of ours can be in it
    except Exception as exc:
        raise KeyStoreError(f"Removing the key from the OS keyring ({name}) failed "
                            f"({type(exc).__name__}).", options()[:1]) from None
