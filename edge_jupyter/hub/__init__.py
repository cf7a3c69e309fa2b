"""A capped OpenRouter key per JupyterHub user (``pip install 'edge-jupyter[hub]'``).

In ``jupyterhub_config.py`` (the complete, documented one is
``jupyter-config/jupyterhub_config.py``)::

    from edge_jupyter.hub import EdgeKeys
    edge = EdgeKeys(limit_usd=5.0, limit_reset="monthly", hub_name="class-2026",
                    store_path="/srv/jupyterhub/edge-keys.sqlite")
    edge.install(c)

At a user's first spawn the hook makes a key on OpenRouter named
``edge-jupyter:{hub_name}:{username}`` with that limit (``POST /keys``, with the hub's
provisioning key from ``EDGE_PROVISIONING_KEY``), keeps it in the store (Fernet under
``JUPYTERHUB_CRYPT_KEY``, in a 0600 file), and gives it to the user's server as
``OPENROUTER_API_KEY``; later spawns reuse it without a request.  The key belongs to the
JupyterHub user (their id and creation time), not to the name: a renamed user keeps it, a
name given to somebody new never brings it.  Removing the user in the hub disables the
key.  ``hub_name`` must be unique among the hubs on one OpenRouter account.
``edge-jupyter hub usage|set-limit|forget`` are the admin's commands.

Layout: ``_edge_keys`` (the config object and the hub hooks), ``_provision`` (make, reuse,
disable: the blocking work), ``_store`` and ``_crypt`` (the keys at rest), ``_auth`` (the
wrapped authenticator), ``_names`` (a key's name, both ways), ``_cli`` (the admin's
commands), ``_errors``.  Nothing here imports JupyterHub at module level; ``%load_ext
edge_jupyter`` imports none of this package.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..keystore import ENV_PROVISIONED
from ._edge_keys import ENV_PROVISIONING_KEY, EdgeKeys
from ._errors import HubError, HubStoreError
from ._names import key_name, user_of
from ._store import HubKeyStore, StoredKey, identity_of

__all__ = ["ENV_PROVISIONED", "ENV_PROVISIONING_KEY", "EdgeKeys", "HubError", "HubKeyStore",
           "HubStoreError", "StoredKey", "cli_main", "identity_of", "key_name", "user_of"]


def cli_main(argv: Sequence[str]) -> int:
    """``edge-jupyter hub …`` (see :mod:`._cli`); returns the exit status."""
    from ._cli import main

    return main(argv)
