"""The one pooled httpx client shared by every OpenRouter call in the process."""

from __future__ import annotations

import threading

import httpx

_lock = threading.Lock()
_client: httpx.Client | None = None

#: Reads may pause while a model thinks; OpenRouter sends keep-alive comments well
#: inside this, so a longer silence means the connection is gone.
DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=120.0, write=30.0, pool=30.0)


def shared_client() -> httpx.Client:
    """A process-wide client: connections are reused across cells and threads."""
    global _client
    with _lock:
        if _client is None or _client.is_closed:
            _client = httpx.Client(
                timeout=DEFAULT_TIMEOUT,
                limits=httpx.Limits(max_connections=64, max_keepalive_connections=16),
                follow_redirects=False,
                trust_env=False,  # never route the key through a proxy picked up from the environment
            )
        return _client


def close_shared_client() -> None:
    global _client
    with _lock:
        if _client is not None:
            _client.close()
            _client = None
