"""What the sandbox remembers about traffic, for tests to assert on.

Records are plain dataclasses so a failing assertion prints something
readable. Request headers are stored without ``Authorization`` (and cookies)
so a test log or a ``repr`` can never leak a key, even a fake one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from ._media import ReceivedMedia, read_media

_SECRET_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})


class Headers(dict[str, str]):
    """Request headers with lower-case keys; lookups ignore case.

    ``req.headers["HTTP-Referer"]`` and ``req.headers["http-referer"]`` both work.
    """

    @classmethod
    def scrubbed(cls, items: list[tuple[str, str]]) -> Headers:
        """Headers from raw ``(name, value)`` pairs, minus the secret ones."""
        out = cls()
        for name, value in items:
            low = name.lower()
            if low not in _SECRET_HEADERS:
                dict.__setitem__(out, low, value)
        return out

    def __getitem__(self, key: str) -> str:
        return dict.__getitem__(self, key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and dict.__contains__(self, key.lower())

    def get(self, key: str, default: Any = None) -> Any:
        return dict.get(self, key.lower(), default)


@dataclass
class RecordedRequest:
    """One HTTP request the sandbox received (control API calls excluded)."""

    method: str
    path: str
    query: dict[str, str]
    json: Any
    headers: Headers
    time: float

    @cached_property
    def media(self) -> list[ReceivedMedia]:
        """The well-formed image and file parts of a chat request's messages, unpriced.

        Read from the body whether or not the request was served (a 400 for one bad part
        still lists the good ones; a 404 for an image lists the image).
        """
        body = self.json
        messages = body.get("messages") if isinstance(body, dict) else None
        return read_media(messages, strict=False) if isinstance(messages, list) else []


@dataclass
class CompletionRecord:
    """One chat completion the sandbox ran, as finally sent (or cut short).

    ``text`` and ``reasoning`` hold exactly what reached the socket; ``usage``
    is the usage object sent to the client, or, when the client went away or
    the stream broke before the usage chunk, the usage that was billed.
    ``media`` lists the image and file parts as received and billed (MIME type, pixel
    size, pages, bytes, sha256, file engine, tokens and USD of each).
    ``tool_calls`` are the calls of a tool-call step as sent (``id``, ``name``,
    ``arguments``); ``web_searches`` counts the searches billed and ``citations`` holds
    their ``url_citation`` annotations (nested shape) as sent.
    """

    id: str
    model: str
    provider: str
    text: str
    reasoning: str
    usage: dict[str, Any]
    cancelled: bool
    finish_reason: str | None
    native_finish_reason: str | None
    stream: bool
    messages: list[dict[str, Any]]
    fault: str | None = None
    is_byok: bool = False
    started: float = 0.0
    ended: float = 0.0
    request: dict[str, Any] = field(default_factory=dict, repr=False)
    media: list[ReceivedMedia] = field(default_factory=list)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    web_searches: int = 0
    citations: list[dict[str, Any]] = field(default_factory=list)
    #: the service tier that served it and was billed ("flex", "priority", "default"), None
    #: when the request asked for none (its ``service_tier``, sent back in the response)
    service_tier: str | None = None

    @property
    def cost(self) -> float:
        """``usage.cost``: what this completion took off the credit balance."""
        return float(self.usage.get("cost") or 0.0)
