"""The environment as a (read-only) key source, and the variable that picks the store.

Nothing here writes to ``os.environ``: a key set there by the user wins on every
read, and disconnecting never unsets it (it can only say so).
"""

from __future__ import annotations

import os

ENV_API_KEY = "OPENROUTER_API_KEY"
ENV_MANAGEMENT_KEY = "OPENROUTER_MANAGEMENT_KEY"
#: "keyring" (the default) or "file"
ENV_STORE = "EDGE_KEY_STORE"
#: Set (to "jupyterhub") by edge_jupyter.hub beside the OPENROUTER_API_KEY it provisioned.
ENV_PROVISIONED = "EDGE_KEY_PROVISIONED"


def env_key(env_var: str) -> str | None:
    """The key the environment sets, or None (an empty value counts as unset)."""
    return os.environ.get(env_var) or None


def store_setting() -> str:
    """The raw, normalised ``EDGE_KEY_STORE`` (validated by the selection)."""
    return (os.environ.get(ENV_STORE) or "keyring").strip().lower()


def provisioned_by() -> str:
    """Who put ``OPENROUTER_API_KEY`` into this environment ("jupyterhub"), or "" for the user.

    A provisioned key is the hub's default, not the user's choice: a key the user stored
    with ``%edge connect`` wins over it (and ``%edge disconnect`` returns to it).
    """
    return (os.environ.get(ENV_PROVISIONED) or "").strip()
