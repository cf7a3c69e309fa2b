"""The edge_jupyter server extension: connect to OpenRouter from the browser (OAuth PKCE).

Routes, all under the server's ``base_url`` and all behind the Jupyter login:

- ``GET  edge/connect[?limit=USD]``            start a flow, redirect to OpenRouter
- ``GET  edge/oauth/callback/<flow_id>?code=`` exchange the code, store the key
- ``GET  edge/api/connect/<watch_id>``         how a flow started by a kernel ended
- ``GET  edge/api/status``                     connected? key source, label, limits
- ``POST edge/api/disconnect``                 remove the stored key

Layout: ``urls`` (public address, pure), ``handlers`` (thin tornado adapters),
``app`` (traitlets and routes).  The flows, the callback itself and its pages are
:mod:`edge_jupyter.oauth`, shared with the terminal's one-shot server.
``EdgeExtensionApp`` is imported lazily so that ``urls`` loads without tornado.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import EdgeExtensionApp

__all__ = ["EdgeExtensionApp"]


def __getattr__(name: str) -> Any:
    if name == "EdgeExtensionApp":
        from .app import EdgeExtensionApp

        return EdgeExtensionApp
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
