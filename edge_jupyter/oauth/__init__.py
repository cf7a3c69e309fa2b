"""Connecting to OpenRouter by OAuth PKCE, for every front-end: flows, the callback, its pages.

``flows`` keeps the one-time sign-in flows (pure), ``pages`` draws the few pages a
person sees (self-contained HTML), ``callback`` is the one implementation of the
callback (flow check, code exchange, key stored, result page) that the server
extension's handler and the terminal's one-shot server both call.  No tornado and
no IPython here; the PKCE arithmetic itself is :mod:`edge_jupyter.pkce`.
"""

from __future__ import annotations

from .callback import (
    CallbackResult,
    Site,
    exchange_failure,
    handle_callback,
    store_error_page,
    unexpected_failure,
)
from .flows import DEFAULT_TTL, ID_PATTERN, Flow, FlowError, FlowStore, WatchState

__all__ = [
    "DEFAULT_TTL", "ID_PATTERN", "CallbackResult", "Flow", "FlowError", "FlowStore", "Site",
    "WatchState", "exchange_failure", "handle_callback", "store_error_page",
    "unexpected_failure",
]
