"""Where the OpenRouter key lives: the environment, the OS keyring, or an opt-in file.

Order, on every read: ``OPENROUTER_API_KEY`` in the environment, then the store (a key
JupyterHub provisioned, marked by ``EDGE_KEY_PROVISIONED``, after the store instead).
The store is the OS keyring (service ``edge_jupyter``) unless the user opted in to
a plain file with ``EDGE_KEY_STORE=file``.  A keyring that is not a secure store
counts as no store at all: storing then raises :class:`NoSecureStore`, whose message
says what to do, instead of silently writing the key in clear text somewhere the
user never chose.

Layout, as ``keyring`` keeps its backend choice apart from its backends:
``_select`` (which store, the order, "problem" sentences), ``_env``, ``_keyring`` and
``_file`` (one store each), ``_errors`` (the tree below) and ``_advice`` (the
options every error lists).  This module is the public face: everything users and
the other packages import is here.

The key never appears in an exception message, a repr or a log line; nothing here
writes to ``os.environ``.  No IPython or tornado: the server extension and the
kernel both use it.

::

    KeyStoreError          something went wrong with the store (message: what + what to do)
    ├── NoSecureStore      no secure OS keyring (and no opt-in file store)
    └── KeyringLocked      the OS keyring exists but is locked
"""

from __future__ import annotations

from . import _select
from ._env import ENV_API_KEY, ENV_MANAGEMENT_KEY, ENV_PROVISIONED, ENV_STORE, provisioned_by
from ._errors import KeyringLocked, KeyStoreError, NoSecureStore
from ._file import FILE_NAME, FileKeyStore
from ._keyring import SECURE_PRIORITY, SERVICE
from ._select import (
    API_KEY_USERNAME,
    MANAGEMENT_KEY_USERNAME,
    ResolvedKey,
    StoreInfo,
    check_store,
    describe_store,
)

#: Where a user deletes a key on OpenRouter (a stored key outlives a disconnect there).
KEYS_PAGE = "https://openrouter.ai/settings/keys"

__all__ = [
    "API_KEY_USERNAME", "ENV_API_KEY", "ENV_MANAGEMENT_KEY", "ENV_PROVISIONED", "ENV_STORE", "FILE_NAME", "KEYS_PAGE",
    "MANAGEMENT_KEY_USERNAME", "SECURE_PRIORITY", "SERVICE", "FileKeyStore", "KeyStoreError",
    "KeyringLocked", "NoSecureStore", "ResolvedKey", "StoreInfo", "check_store",
    "delete_api_key", "delete_management_key", "describe_store", "disconnect_message", "provisioned_by",
    "resolve_api_key",
    "resolve_management_key", "store_api_key", "store_management_key", "stored_api_key",
]


def disconnect_message(removed: bool, source_after: str, *, still_on_openrouter: bool = True,
                       environment_revoked: bool = False) -> str:
    """The sentence shown after a disconnect (the server route and ``%edge disconnect``).

    ``still_on_openrouter=False``: the caller says itself what became of the key on
    OpenRouter (``--revoke``), so the "still exists there" sentence is left out.
    ``environment_revoked``: the key ``OPENROUTER_API_KEY`` holds was just deleted on
    OpenRouter, so calls do not "still use it": they fail until the variable is unset."""
    text = ("Disconnected: the stored OpenRouter key was removed." if removed
            else "No stored OpenRouter key to remove.")
    text += " Your conversations, preferences and usage ledger are kept."
    by = provisioned_by()
    if source_after == "environment" and by:  # a hub's key: the user cannot unset it, nor need to
        who = "JupyterHub" if by == "jupyterhub" else by
        text += f" Calls now use the key {who} provisioned for you ({ENV_API_KEY})."
        if removed and still_on_openrouter:
            text += (f" The key you had connected still exists on OpenRouter; delete it at "
                     f"{KEYS_PAGE} if you no longer need it.")
    elif source_after == "environment" and environment_revoked:
        text += (f" {ENV_API_KEY} is still set in this environment to the revoked key, so every "
                 "call fails (401) until you unset it where Jupyter starts.")
    elif source_after == "environment":
        text += (f" {ENV_API_KEY} is still set in this environment, so calls still use it: "
                 "unset it where Jupyter starts to disconnect fully.")
    elif removed and still_on_openrouter:
        text += (f" The key itself still exists on OpenRouter; delete it at {KEYS_PAGE} "
                 "if you no longer need it.")
    return text


def resolve_api_key() -> ResolvedKey:
    """The OpenRouter API key: ``OPENROUTER_API_KEY``, then the store.  Never raises.

    A key JupyterHub provisioned (``EDGE_KEY_PROVISIONED`` set) comes after the store
    instead: a user's own ``%edge connect`` wins over it (``provisioned`` says whose it is).

    A missing or locked store gives ``source="none"`` with the reason in ``problem``.
    """
    return _select.resolve(API_KEY_USERNAME, ENV_API_KEY)


def stored_api_key() -> ResolvedKey:
    """The key the store holds, whatever the environment sets (what ``%edge disconnect``
    removes; ``--revoke`` deletes this one on OpenRouter, not ``OPENROUTER_API_KEY``'s).
    Never raises: an unreadable store gives no key and the reason in ``problem``."""
    return _select._resolve_store(API_KEY_USERNAME)


def store_api_key(key: str) -> str:
    """Store the key; returns "keyring" or "file".  Raises NoSecureStore / KeyringLocked."""
    return _select.store(API_KEY_USERNAME, key)


def delete_api_key() -> bool:
    """Remove the stored key (True if one was removed).  ``OPENROUTER_API_KEY`` is untouched."""
    return _select.delete(API_KEY_USERNAME)


def resolve_management_key() -> ResolvedKey:
    """The management (provisioning) key (``/credits``, ``/keys``, ``/activity``): env, then the store."""
    return _select.resolve(MANAGEMENT_KEY_USERNAME, ENV_MANAGEMENT_KEY)


def store_management_key(key: str) -> str:
    return _select.store(MANAGEMENT_KEY_USERNAME, key)


def delete_management_key() -> bool:
    return _select.delete(MANAGEMENT_KEY_USERNAME)
