"""The errors of ``edge_jupyter.hub``: each message says what happened and what to do.

The hub shows a spawn's error on the user's spawn page and in its log, so no message
ever holds a key (the provisioning key or a user's).
"""

from __future__ import annotations

from ..errors import EdgeError


class HubError(EdgeError):
    """A JupyterHub user's OpenRouter key cannot be made, kept, found or changed."""


class HubStoreError(HubError):
    """The hub's key store (SQLite file, crypt key) cannot be used."""
