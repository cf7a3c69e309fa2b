"""Fault injection: the failures a real OpenRouter connection produces, on demand.

A :class:`Fault` describes one failure; :class:`FaultQueue` hands them out to
chat completion requests first-in first-out, each fault serving ``times``
requests before it is consumed. Faults apply only to requests that would
otherwise succeed (auth, validation and credit checks run first), so an
injected 429 is never "used up" by a request that was wrong anyway.

Kinds:

``http``       fail before streaming with an HTTP error (429 carries ``Retry-After``
               and ``X-RateLimit-*``); ``metadata`` replaces ``error.metadata`` (a recorded
               body's ``provider_name`` and ``raw``, as OpenRouter relays a provider's error).
``midstream``  after ``after_tokens`` tokens, send an error chunk (top-level
               ``error`` + ``finish_reason: "error"``) and end the stream, no ``[DONE]``.
``drop``       after ``after_tokens`` tokens, close the TCP connection abruptly.
``malformed``  after ``after_tokens`` tokens, send one ``data:`` line that is not JSON,
               then carry on normally.
``stall``      after ``after_tokens`` tokens, send nothing for ``seconds``, then carry on.
``byok``       bill the request as bring-your-own-key (5 % fee; full price upstream).
``overrun``    ignore ``max_tokens`` / ``max_completion_tokens`` (a provider that does not
               honour them): the whole answer is generated, and billed.
``invalid_json`` a ``response_format`` answer comes back as broken JSON (cut short, chatter
               after it), streamed and billed as usual; with the ``response-healing`` plugin
               on, repaired instead (what the plugin is for). A plain-text answer is broken too.

Hostile kinds (a broken or malicious server; the client must stay safe and truthful):

``usage``      the usage chunk (or a non-streamed body's ``usage``) carries the given
               figures instead of the true ones: ``cost=float("inf")``, ``-1``, ``True``,
               ``1e12``, ``prompt_tokens=-5``…  ``/generation`` keeps the true record
               unless ``in_generation`` (then it is impossible too).
``second_usage`` after the true usage chunk, a second one with the given figures.
``echo_key``   the caller's key echoed, encoded as ``encoding`` (``exact``, ``url`` (every
               byte ``%hh``), ``upper``, ``split`` (newlines and spaces inside), ``base64``),
               in an error: ``where="midstream"`` (an error chunk after ``after_tokens``),
               ``"http"`` (an HTTP ``status`` error body) or ``"label"`` (``GET /key``'s label).
``gzip_bomb``  an answer with ``Content-Encoding: gzip`` whose ~1 MB body inflates to
               ``size`` bytes (default 1 GiB): ``where="http"`` an HTTP ``status`` error of
               chat completions, ``"models"`` a 200 ``GET /models``.  Compressed once, cached.
``long_line``  after ``after_tokens`` tokens, one ``data:`` line of ``size`` bytes (sent in
               64 KiB pieces), then the answer carries on.
``slow_key``   ``GET /key`` answers its body a byte at a time over ``seconds``.
``slow_endpoints`` ``GET /models/{author}/{slug}/endpoints`` answers a byte at a time over
               ``seconds`` (a budget's price look-up must end at its own deadline).
``slow_models`` ``GET /models`` likewise (the catalogue price of a router such as
               ``openrouter/auto`` is looked up under the same deadline).

Faults are taken by the route they are for: ``slow_key`` and ``echo_key(where="label")``
by ``GET /key``, ``gzip_bomb(where="models")`` and ``slow_models`` by ``GET /models``, ``slow_endpoints`` by
``GET …/endpoints``, every other by chat
completions; each route skips the faults meant for the others.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

FaultKind = Literal["http", "midstream", "drop", "malformed", "stall", "byok", "overrun",
                    "usage", "second_usage", "echo_key", "gzip_bomb", "long_line", "slow_key",
                    "slow_endpoints", "slow_models", "invalid_json"]
KINDS: tuple[str, ...] = ("http", "midstream", "drop", "malformed", "stall", "byok", "overrun",
                          "usage", "second_usage", "echo_key", "gzip_bomb", "long_line", "slow_key",
                          "slow_endpoints", "slow_models", "invalid_json")
ENCODINGS: tuple[str, ...] = ("exact", "url", "upper", "split", "base64")
#: One gzip bomb is ~1 MB compressed; this is how big it inflates unless told otherwise.
BOMB_SIZE = 1 << 30


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
    figures: dict[str, Any] | None = None  # usage figures sent instead of (or after) the true ones
    in_generation: bool = False
    where: str | None = None
    encoding: str | None = None
    size: int = 0
    metadata: dict[str, Any] | None = None  # an http fault's error.metadata, sent as given

    @property
    def route(self) -> str:
        """Which route takes this fault: ``chat``, ``key``, ``models`` or ``endpoints``."""
        if self.kind == "slow_endpoints":
            return "endpoints"
        if self.kind == "slow_key" or (self.kind == "echo_key" and self.where == "label"):
            return "key"
        if self.kind == "slow_models" or (self.kind == "gzip_bomb" and self.where == "models"):
            return "models"
        return "chat"

    @classmethod
    def http(cls, status: int, *, retry_after: float | None = None, times: int = 1,
             message: str | None = None, error_type: str | None = None,
             metadata: dict[str, Any] | None = None) -> Fault:
        """The next ``times`` requests fail with ``status`` before any streaming."""
        return cls("http", status=status, retry_after=retry_after, times=times,
                   message=message, error_type=error_type, metadata=metadata)

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
    def invalid_json(cls, *, times: int = 1) -> Fault:
        """The next ``times`` answers are invalid JSON (healed if the request asks for it)."""
        return cls("invalid_json", times=times)

    @classmethod
    def usage(cls, *, in_generation: bool = False, times: int = 1, **figures: Any) -> Fault:
        """The usage chunk carries ``figures`` (e.g. ``cost=float("inf")``, ``prompt_tokens=-5``)."""
        return cls("usage", figures=dict(figures), in_generation=in_generation, times=times)

    @classmethod
    def second_usage(cls, *, times: int = 1, **figures: Any) -> Fault:
        """After the true usage chunk, a second one that carries ``figures``."""
        return cls("second_usage", figures=dict(figures), times=times)

    @classmethod
    def echo_key(cls, *, where: str = "midstream", encoding: str = "exact", status: int = 0,
                 after_tokens: int = 0, times: int = 1) -> Fault:
        """An error (or the key label) that echoes the caller's key, encoded as ``encoding``."""
        status = status or (401 if where == "http" else 502)
        return cls("echo_key", where=where, encoding=encoding, status=status,
                   after_tokens=after_tokens, times=times)

    @classmethod
    def gzip_bomb(cls, *, where: str = "http", status: int = 502, size: int = BOMB_SIZE,
                  times: int = 1) -> Fault:
        """A gzip body of ~1 MB that inflates to ``size`` bytes."""
        return cls("gzip_bomb", where=where, status=status if where == "http" else 200,
                   size=size, times=times)

    @classmethod
    def long_line(cls, *, size: int = 16_000_000, after_tokens: int = 0, times: int = 1) -> Fault:
        """One ``data:`` line of ``size`` bytes after ``after_tokens`` tokens."""
        return cls("long_line", size=size, after_tokens=after_tokens, times=times)

    @classmethod
    def slow_key(cls, seconds: float, *, times: int = 1) -> Fault:
        """``GET /key`` trickles its body a byte at a time over ``seconds``."""
        return cls("slow_key", seconds=seconds, times=times)

    @classmethod
    def slow_endpoints(cls, seconds: float, *, times: int = 1) -> Fault:
        """``GET …/endpoints`` trickles its body a byte at a time over ``seconds``."""
        return cls("slow_endpoints", seconds=seconds, times=times)

    @classmethod
    def slow_models(cls, seconds: float, *, times: int = 1) -> Fault:
        """``GET /models`` answers its body a byte at a time over ``seconds``."""
        return cls("slow_models", seconds=seconds, times=times)

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
        if values["kind"] == "echo_key":
            values.setdefault("where", "midstream")
            values.setdefault("encoding", "exact")
            if not values.get("status"):
                values["status"] = 401 if values["where"] == "http" else 502
        if values["kind"] == "gzip_bomb":
            values.setdefault("where", "http")
            values.setdefault("size", BOMB_SIZE)
            if not values.get("status"):
                values["status"] = 502 if values["where"] == "http" else 200
        if values["kind"] == "long_line":
            values.setdefault("size", 16_000_000)
        fault = cls(**values)
        if fault.times < 1 or fault.after_tokens < 0 or fault.seconds < 0 or fault.size < 0:
            raise ValueError("times must be >= 1, after_tokens, seconds and size >= 0")
        if fault.figures is not None and not isinstance(fault.figures, dict):
            raise ValueError("figures must be an object of usage figures")
        if fault.metadata is not None and not isinstance(fault.metadata, dict):
            raise ValueError("metadata must be an object (the error's metadata)")
        if fault.kind == "echo_key" and (fault.where not in ("midstream", "http", "label")
                                         or fault.encoding not in ENCODINGS):
            raise ValueError(f"echo_key needs where in midstream/http/label and encoding in "
                             f"{'/'.join(ENCODINGS)}")
        if fault.kind == "gzip_bomb" and fault.where not in ("http", "models"):
            raise ValueError("gzip_bomb needs where in http/models")
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

    def take(self, route: str = "chat") -> Fault | None:
        """The first fault for ``route`` (consuming one use), or ``None``."""
        with self._lock:
            for index, entry in enumerate(self._items):
                if entry[0].route != route:
                    continue
                entry[1] -= 1
                if entry[1] <= 0:
                    self._items.pop(index)
                return entry[0]
            return None

    def clear(self) -> None:
        """Drop every pending fault."""
        with self._lock:
            self._items.clear()

    def pending(self) -> list[Fault]:
        """The faults still queued (for inspection in tests)."""
        with self._lock:
            return [f for f, _ in self._items]


# -- what the hostile kinds send ---------------------------------------------------------------


def encode_key(key: str, encoding: str) -> str:
    """The caller's key as an ``echo_key`` fault echoes it."""
    if encoding == "url":
        return "".join(f"%{b:02X}" for b in key.encode())
    if encoding == "upper":
        return key.upper()
    if encoding == "split":
        return "\n  ".join(key[i:i + 10] for i in range(0, len(key), 10))
    if encoding == "base64":
        import base64

        return base64.b64encode(key.encode()).decode()
    return key


def echo_message(key: str, encoding: str) -> str:
    """An error message that quotes the key (as a careless proxy or provider would)."""
    return f"Invalid credentials: the upstream rejected Authorization: Bearer {encode_key(key, encoding)}"


_bombs: dict[int, bytes] = {}
_bomb_lock = threading.Lock()


def gzip_bomb_body(size: int) -> bytes:
    """``size`` bytes of zeros, gzip-compressed once per size and cached (~1 MB for 1 GiB)."""
    import zlib

    with _bomb_lock:
        body = _bombs.get(size)
        if body is None:
            compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: gzip framing
            block = bytes(1 << 20)
            parts = []
            left = size
            while left > 0:
                parts.append(compressor.compress(block[:min(left, len(block))]))
                left -= len(block)
            parts.append(compressor.flush())
            body = _bombs[size] = b"".join(parts)
        return body


def send_gzip_bomb(h: Any, status: int, size: int) -> None:
    """Answer with a gzip body that inflates to ``size`` bytes (the client must stop early)."""
    body = gzip_bomb_body(size)
    h.close_connection = True
    try:
        h.send_bytes(status, body, "application/json", {"Content-Encoding": "gzip"})
    except OSError:
        pass  # the client stopped reading at its cap and closed: what a good client does


def serve_key_fault(h: Any, fault: Fault, key: str, info: dict[str, Any]) -> None:
    """``GET /key`` under a ``slow_key`` or ``echo_key(where="label")`` fault."""
    if fault.kind == "echo_key":
        # ``message`` (if set) opens the label: hostile text such as terminal escapes
        info = {**info, "label": f"{fault.message or 'my key'} "
                                 f"{encode_key(key, fault.encoding or 'exact')}"}
    if fault.kind != "slow_key":
        h.send_json(200, {"data": info})
        return
    trickle_json(h, {"data": info}, fault.seconds)


def trickle_json(h: Any, payload: Any, seconds: float) -> None:
    """A 200 JSON answer sent a byte at a time over ``seconds`` (no single read times out)."""
    import json
    import time

    body = json.dumps(payload).encode()
    h.close_connection = True
    h.send_response(200)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    pause = seconds / max(1, len(body))
    try:
        for i in range(len(body)):  # every byte well inside any per-read timeout
            h.wfile.write(body[i:i + 1])
            h.wfile.flush()
            time.sleep(pause)
    except OSError:
        pass  # the client gave up (its deadline): nothing more to send
