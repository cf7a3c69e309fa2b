"""A tiny in-process publish/subscribe, so the panel hears about finished calls.

The magic publishes; listeners (the panel) subscribe.  A failing listener never
breaks a cell.  No listener, no cost.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

Listener = Callable[[str, Any], None]

_listeners: list[Listener] = []
_lock = threading.Lock()

CALLS_FINISHED = "calls_finished"  # payload: list of CallRecord
PREFERENCES_CHANGED = "preferences_changed"  # payload: Preferences
ACCOUNT_CHANGED = "account_changed"  # payload: None (connected / disconnected)


def subscribe(listener: Listener) -> Callable[[], None]:
    """Register ``listener(event, payload)``; returns a function that unsubscribes it."""
    with _lock:
        _listeners.append(listener)

    def unsubscribe() -> None:
        with _lock:
            if listener in _listeners:
                _listeners.remove(listener)

    return unsubscribe


def publish(event: str, payload: Any = None) -> None:
    with _lock:
        listeners = list(_listeners)
    for listener in listeners:
        try:
            listener(event, payload)
        except Exception:
            pass
