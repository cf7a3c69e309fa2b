"""What the user can do when there is no usable store: the options every store error lists."""

from __future__ import annotations

from ._env import ENV_API_KEY, ENV_STORE
from ._errors import KeyringLocked, KeyStoreError, NoSecureStore
from ._file import file_path


def options() -> list[str]:
    """The three ways out: the environment, a Secret Service, or the opt-in file."""
    return [
        f"set `{ENV_API_KEY}` in the environment that starts Jupyter (JupyterHub: the "
        "spawner's environment; Docker: `docker run -e OPENROUTER_API_KEY=...`)",
        "run a Secret Service (for example gnome-keyring in your desktop or D-Bus session) "
        "and restart Jupyter",
        f"opt in to an unencrypted file: set `{ENV_STORE}=file` where Jupyter starts (the key "
        f"is then kept in {file_path()}, readable only by you, mode 600)",
    ]


def no_store(reason: str, action: str = "Your key was not stored.") -> NoSecureStore:
    return NoSecureStore(f"No secure key store is available: {reason}. {action}", options())


def locked(backend: str, action: str) -> KeyringLocked:
    return KeyringLocked(
        f"Your OS keyring ({backend}) is locked, so the key could not be {action}.",
        ["unlock it (log in to the desktop session, or unlock the 'login' keyring) and try again",
         *options()[::2]])


def not_set_up(backend: str, action: str) -> KeyStoreError:
    """keyring's InitError: e.g. a Secret Service with no keyring yet and no desktop to ask."""
    return KeyStoreError(
        f"Your OS keyring ({backend}) has no usable keyring yet and could not ask you to create "
        f"one (there is no desktop session to show the prompt), so the key could not be {action}.",
        ["create and unlock a default keyring (log in to the desktop session once, or start "
         "`gnome-keyring-daemon --unlock` with a password on its standard input)",
         *options()[::2]])
