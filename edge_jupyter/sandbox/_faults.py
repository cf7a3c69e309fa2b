"""Fault injection: the failures a real OpenRouter connection produces, on demand.

A :class:`Fault` describes one failure; :class:`FaultQueue` hands them out to
chat completion requests first-in first-out, each fault serving ``times``
requests before it is consumed. Faults apply only to requests that would
otherwise succeed (auth, validation and credit checks run first), so an
injected 429 is never "used up" by a request that was wrong anyway.

Kinds:

``http``       fail before streaming with an HTTP error (429 carries ``Retry-After``
               and ``X-RateLimit-*``).
``midstream``  after ``after_tokens`` tokens, send an error chunk (top-level
               ``error`` + ``finish_reason: "error"``) and end the stream, no ``[DONE]``.
``drop``       after ``after_tokens`` tokens, close the TCP connection abruptly.
``malformed``  after ``after_tokens`` tokens, send one ``data:`` line that is not JSON,
               then carry on normally.
``stall``      after ``after_tokens`` tokens, send nothing for ``seconds``, then carry on.
``byok``       bill the request as bring-your-own-key (5 % fee; full price upstream).
``overrun``    ignore ``max_tokens`` / ``max_completion_tokens`` (a provider that does not
               honour them): the whole answer is generated, and billed.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

FaultKind = Literal["http", "midstream", "drop", "malformed", "stall", "byok", "overrun"]
KINDS: tuple[str, ...] = ("http", "midstream", "drop", "malformed", "stall", "byok", "overrun")


@dataclass(frozen=True)
class Fault:
    """One injectable failure. Build it with the class methods, not directly."""

    kind: FaultKind
    status: int = 0
    message: str | None = None
    error_type: str | None = None
    retry_after: float | None = None
    after_tokens: int = 0
    seconds: float = 0.0
    times: int = 1

    @classmethod
    def http(cls, status: int, *, retry_after: float | None = None, times: int = 1,
             message: str | None = None, error_type: str | None = None) -> Fault:
        """The next ``times`` requests fail with ``status`` before any streaming."""
        return cls("http", status=status, retry_after=retry_after, times=times,
                   message=message, error_type=error_type)

    @classmethod
    def midstream(cls, *, after_tokens: int = 0, code: int = 502, message: str | None = None,
                  error_type: str | None = None, times: int = 1) -> Fault:
        """An error chunk after ``after_tokens`` tokens, then the stream ends."""
        return cls("midstream", status=code, message=message, error_type=error_type,
                   after_tokens=after_tokens, times=times)

    @classmethod
    def drop(cls, *, after_tokens: int = 0, times: int = 1) -> Fault:
        """Close the connection abruptly after ``after_tokens`` tokens."""
        return cls("drop", after_tokens=after_tokens, times=times)

    @classmethod
    def malformed(cls, *, after_tokens: int = 0, times: int = 1) -> Fault:
        """Insert one ``data:`` line that is not valid JSON after ``after_tokens`` tokens."""
        return cls("malformed", after_tokens=after_tokens, times=times)

    @classmethod
    def stall(cls, seconds: float, *, after_tokens: int = 0, times: int = 1) -> Fault:
        """Send nothing for ``seconds`` after ``after_tokens`` tokens (timeout tests)."""
        return cls("stall", seconds=seconds, after_tokens=after_tokens, times=times)

    @classmethod
    def byok(cls, *, times: int = 1) -> Fault:
        """Bill the next request as BYOK: ``cost`` is the 5 % fee, upstream is full price."""
        return cls("byok", times=times)

    @classmethod
    def overrun(cls, *, times: int = 1) -> Fault:
        """The next request's answer ignores its token cap (what a budget's stream guard is for)."""
        return cls("overrun", times=times)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fault:
        """Build a fault from the control API's JSON (``code`` is accepted for ``status``)."""
        if not isinstance(data, dict) or data.get("kind") not in KINDS:
            raise ValueError(f"fault kind must be one of {', '.join(KINDS)}")
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if "code" in data and "status" not in data:
            values["status"] = data["code"]
        if values["kind"] == "http" and not values.get("status"):
            raise ValueError("an http fault needs a status")
        if values["kind"] == "midstream" and not values.get("status"):
            values["status"] = 502
        fault = cls(**values)
        if fault.times < 1 or fault.after_tokens < 0 or fault.seconds < 0:
            raise ValueError("times must be >= 1, after_tokens and seconds >= 0")
        return fault

    def to_dict(self) -> dict[str, Any]:
        """The JSON form accepted by :meth:`from_dict`."""
        return asdict(self)


class FaultQueue:
    """Thread-safe FIFO of faults; :meth:`take` hands out one use at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[list[Any]] = []  # [fault, uses left]

    def push(self, fault: Fault) -> None:
        """Queue ``fault`` for the next ``fault.times`` requests."""
        with self._lock:
            self._items.append([fault, fault.times])

    def take(self) -> Fault | None:
        """The fault for the current request (consuming one use), or ``None``."""
        with self._lock:
            if not self._items:
                return None
            entry = self._items[0]
            entry[1] -= 1
            if entry[1] <= 0:
                self._items.pop(0)
            return entry[0]

    def clear(self) -> None:
        """Drop every pending fault."""
        with self._lock:
            self._items.clear()

    def pending(self) -> list[Fault]:
        """The faults still queued (for inspection in tests)."""
        with self._lock:
            return [f for f, _ in self._items]
