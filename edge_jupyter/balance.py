"""What OpenRouter will still let this key spend, fetched briefly and cached.

``GET /key`` works for every key (its cap, what is left of it, its spend);
the account's credits (``GET /credits``) need a management key, which a user
may store for that purpose alone.  Lookups share one TOTAL deadline (``LOOKUP_TIMEOUT``
seconds for both, whatever the server does: a ``/key`` that trickles a byte a second
counts against it as much as one that never answers) and are cached, so a slow answer
never holds a cell up for long.  They run in worker threads that the caller stops
waiting for at the deadline; such a thread ends by itself soon after (the client
checks the same deadline between reads, and each read has the same timeout).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from .account import management_client
from .openrouter import (
    Credits,
    KeyInfo,
    OpenRouterClient,
    OpenRouterError,
    PermissionDenied,
    RequestTimeout,
)

T = TypeVar("T")

CACHE_SECONDS = 60.0
LOOKUP_TIMEOUT = 3.0

_cache: dict[str, tuple[float, Balance]] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class Balance:
    key: KeyInfo | None = None
    credits: Credits | None = None
    #: why the account balance is not shown (no management key, lookup failed…)
    credits_note: str = ""
    problem: str = ""

    @property
    def remaining(self) -> float | None:
        """The tighter of the account balance and the key's remaining limit, when known."""
        values = [v for v in (self.credits.balance if self.credits else None,
                              self.key.limit_remaining if self.key else None) if v is not None]
        return min(values) if values else None

    @property
    def remaining_source(self) -> str:
        account = self.credits.balance if self.credits else None
        limit = self.key.limit_remaining if self.key else None
        if account is not None and (limit is None or account <= limit):
            return "account balance"
        return "key limit" if limit is not None else ""

    @property
    def remaining_of(self) -> float | None:
        """What :attr:`remaining` is a part of: the key's limit or the credits bought."""
        source = self.remaining_source
        if source == "key limit" and self.key is not None:
            return self.key.limit
        if source == "account balance" and self.credits is not None:
            return self.credits.total_credits
        return None


class _Lookup(Generic[T]):
    """One lookup in a daemon thread; :meth:`result` waits for it until a deadline only."""

    def __init__(self, name: str, call: Callable[[], T]) -> None:
        self._name = name
        self._call = call
        self._done = threading.Event()
        self._value: T | None = None
        self._error: OpenRouterError | None = None
        threading.Thread(target=self._run, daemon=True, name=f"edge-balance-{name}").start()

    def _run(self) -> None:
        try:
            self._value = self._call()
        except OpenRouterError as exc:
            self._error = exc
        except Exception as exc:  # a lookup must never take the cell down
            self._error = OpenRouterError(f"The {self._name} lookup failed ({type(exc).__name__}).")
        finally:
            self._done.set()

    def result(self, deadline: float, timeout: float) -> T:
        if not self._done.wait(max(0.0, deadline - time.monotonic())):
            raise RequestTimeout(f"The {self._name} lookup timed out: OpenRouter did not answer "
                                 f"within {timeout:g} s.")
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]


def fetch(client: OpenRouterClient, *, timeout: float = LOOKUP_TIMEOUT) -> Balance:
    """Ask OpenRouter now (``/key``, and ``/credits`` when a management key is stored).

    Both lookups run at once and ``timeout`` bounds them together: this returns by then.
    """
    deadline = time.monotonic() + timeout
    key_lookup = _Lookup("/key", lambda: client.key_info(timeout=timeout, deadline=deadline))
    manager = management_client(client.origin)
    credits_lookup = None if manager is None else _Lookup(
        "/credits", lambda: manager.credits(timeout=timeout, deadline=deadline))
    key_info: KeyInfo | None = None
    problem = ""
    try:
        key_info = key_lookup.result(deadline, timeout)
    except OpenRouterError as exc:
        problem = str(exc)
    credits: Credits | None = None
    note = ""
    if credits_lookup is None:
        note = ("The account balance is not visible to this key (OpenRouter shows it only to a "
                "management key: `%edge balance --management-key`).")
    else:
        try:
            credits = credits_lookup.result(deadline, timeout)
        except PermissionDenied:
            note = "The stored management key was refused by /credits."
        except OpenRouterError as exc:
            note = f"The account balance could not be read: {exc}"
    balance = Balance(key=key_info, credits=credits, credits_note=note, problem=problem)
    with _lock:
        _cache[_cache_key(client)] = (time.monotonic(), balance)
    return balance


def _cache_key(client: OpenRouterClient) -> str:
    return f"{client.origin}|{client.key_fingerprint}"


def cached(client: OpenRouterClient, *, max_age: float = CACHE_SECONDS) -> Balance | None:
    with _lock:
        hit = _cache.get(_cache_key(client))
    if hit and time.monotonic() - hit[0] < max_age:
        return hit[1]
    return None


def get(client: OpenRouterClient, *, max_age: float = CACHE_SECONDS) -> Balance:
    return cached(client, max_age=max_age) or fetch(client)


def refresh_in_background(client: OpenRouterClient) -> None:
    from .background import submit

    submit(lambda: fetch(client))


def clear_cache() -> None:
    with _lock:
        _cache.clear()
