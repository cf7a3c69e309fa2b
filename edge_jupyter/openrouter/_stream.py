"""Pure interpretation of OpenRouter's streamed chunks (no sockets here).

SSE framing (``data:`` lines, CRLF, ``:`` comments) is ``_sse.py``'s job and UTF-8
split across network reads httpx's; this module turns each decoded JSON chunk into small
events and keeps the running :class:`Completion`.  It copes with both shapes of
the final usage chunk seen in the wild (``choices: []`` and one empty choice),
with ``usage`` on earlier chunks (the last one wins) and with errors inside the
stream (a top-level ``error`` plus ``finish_reason: "error"``).
"""

from __future__ import annotations

from typing import Any

from ._errors import error_for_status
from ._types import Completion, Usage


class StreamEvent:
    """Base of the events a stream yields."""

    __slots__ = ()


class Started(StreamEvent):
    """The first chunk: the generation id is known from here on (needed to price an interrupt)."""

    __slots__ = ("generation_id", "model", "provider")

    def __init__(self, generation_id: str | None, model: str | None, provider: str | None) -> None:
        self.generation_id = generation_id
        self.model = model
        self.provider = provider


class TextDelta(StreamEvent):
    """New answer text: one chunk, or every chunk of a burst that arrived in one read."""

    __slots__ = ("chunks", "text")

    def __init__(self, text: str, chunks: int = 1) -> None:
        self.text = text
        self.chunks = chunks  # how many streamed chunks (≈ tokens) it holds


class ReasoningDelta(StreamEvent):
    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


class Finished(StreamEvent):
    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


class UsageReceived(StreamEvent):
    __slots__ = ("usage",)

    def __init__(self, usage: Usage) -> None:
        self.usage = usage


def _status_of(code: Any) -> int:
    try:
        return int(code)
    except (TypeError, ValueError):
        return 502  # string codes such as "server_error" are provider failures


class StreamAssembler:
    """Feed it decoded chunks in order; it yields events and builds the completion."""

    def __init__(self) -> None:
        self.completion = Completion()
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._started = False

    def feed(self, chunk: dict[str, Any]) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        c = self.completion
        if not self._started:
            self._started = True
            c.generation_id = chunk.get("id") or c.generation_id
            c.model = chunk.get("model") or c.model
            c.provider = chunk.get("provider") or c.provider
            events.append(Started(c.generation_id, c.model, c.provider))
        elif chunk.get("provider") and not c.provider:
            c.provider = chunk["provider"]

        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            reasoning = delta.get("reasoning")
            if reasoning:
                self._reasoning.append(reasoning)
                events.append(ReasoningDelta(reasoning))
            content = delta.get("content")
            if content:
                self._text.append(content)
                events.append(TextDelta(content))
            reason = choice.get("finish_reason")
            if reason:
                c.finish_reason = reason
                c.native_finish_reason = choice.get("native_finish_reason") or reason
                events.append(Finished(reason))

        usage = chunk.get("usage")
        if usage:
            c.usage = Usage.from_json(usage)
            events.append(UsageReceived(c.usage))

        error = chunk.get("error")
        if error:
            c.finish_reason = "error"
            error = error if isinstance(error, dict) else {"message": str(error)}
            raise error_for_status(
                _status_of(error.get("code")),
                str(error.get("message") or "the provider failed"),
                metadata=error.get("metadata") or None,
                during_stream=True,
            )
        return events

    def plain_text(self, chunk: dict[str, Any]) -> str | None:
        """The content of an ordinary chunk (one choice carrying only text), else None.

        Nearly every chunk of a stream is like that; the client appends these through
        this quick check and sends everything else through :meth:`feed`.  It saves ~10%
        of the client's CPU per token (measured with valgrind, benchmarks/README.md).
        """
        if not self._started or "usage" in chunk or "error" in chunk:
            return None
        choices = chunk.get("choices")
        if not choices or len(choices) != 1:
            return None
        choice = choices[0]
        delta = choice.get("delta")
        if choice.get("finish_reason") or not delta or delta.get("reasoning"):
            return None
        content = delta.get("content")
        if content:
            self._text.append(content)
            return content
        return None

    def result(self) -> Completion:
        """The completion so far (text joined once, so the cost stays O(n))."""
        self.completion.text = "".join(self._text)
        self.completion.reasoning = "".join(self._reasoning)
        return self.completion

    @property
    def text_so_far(self) -> str:
        return "".join(self._text)
