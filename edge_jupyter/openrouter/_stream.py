"""Pure interpretation of OpenRouter's streamed chunks (no sockets here).

SSE framing (``data:`` lines, CRLF, ``:`` comments) is ``_sse.py``'s job and UTF-8
split across network reads httpx's; this module turns each decoded JSON chunk into small
events and keeps the running :class:`Completion`.  It copes with both shapes of
the final usage chunk seen in the wild (``choices: []`` and one empty choice),
with ``usage`` on earlier chunks (the last one wins while none carried a cost) and with
errors inside the stream (a top-level ``error`` plus ``finish_reason: "error"``).

Server figures are never trusted blindly: an impossible usage (an infinite, negative,
huge or boolean cost, negative tokens) or a second costed usage that contradicts the
first makes the usage *unknown* (``completion.usage`` is None, ``completion.notes`` says
why), so the exact figures are read from ``/generation`` as after a lost usage chunk.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..scrub import scrub_obj
from ._errors import error_for_status
from ._types import Completion, ImpossibleFigure, Usage, json_text


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


#: the text-like fields of a reasoning detail that arrive in pieces, to be joined
_PIECEWISE = ("text", "summary", "data")


class DetailsMerger:
    """``delta.reasoning_details`` pieces → the whole details, as the unstreamed message has
    them: pieces with the same ``index`` (and ``type``) are one detail, their text (``text``,
    ``summary``, ``data``) joined in order; any other field keeps its last non-null value.
    Pieces without an ``index`` stand alone. O(n): each field's pieces are joined once."""

    def __init__(self) -> None:
        self._order: list[dict[str, Any]] = []  # merged fields, without the joined text
        self._parts: list[dict[str, list[str]]] = []
        self._by_key: dict[tuple[Any, Any], int] = {}

    def add(self, pieces: Any) -> None:
        for piece in pieces if isinstance(pieces, list) else ():
            if not isinstance(piece, dict):
                continue
            index = piece.get("index")
            key = (index, piece.get("type"))
            at = self._by_key.get(key) if index is not None else None
            if at is None:
                at = len(self._order)
                self._order.append({})
                self._parts.append({})
                if index is not None:
                    self._by_key[key] = at
            merged, parts = self._order[at], self._parts[at]
            for name, value in piece.items():
                if name in _PIECEWISE and isinstance(value, str):
                    parts.setdefault(name, []).append(value)
                    merged.setdefault(name, None)  # keeps the field's place in the order
                elif value is not None or name not in merged:
                    merged[name] = value

    def result(self) -> list[dict[str, Any]]:
        out = []
        for merged, parts in zip(self._order, self._parts, strict=True):
            out.append({name: "".join(parts[name]) if name in parts else value
                        for name, value in merged.items()})
        return out


def server_name(value: Any, scrub: Callable[[str], str]) -> str | None:
    """An id, model or provider name from the server: a string, scrubbed, or None."""
    return scrub(value) if isinstance(value, str) and value else None


def _status_of(code: Any) -> int:
    try:
        return int(code)
    except (TypeError, ValueError):
        return 502  # string codes such as "server_error" are provider failures


class StreamAssembler:
    """Feed it decoded chunks in order; it yields events and builds the completion."""

    def __init__(self, scrub: Callable[[str], str] | None = None) -> None:
        self.completion = Completion()
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._details = DetailsMerger()
        self._started = False
        self._usage_doubtful = False  # once unknown, a later usage chunk cannot make it known
        #: a usage chunk arrived (even one refused as impossible): the stream reached its end,
        #: so a close without ``[DONE]`` after it is not a cut-off answer
        self.usage_seen = False
        # masks the key in what the server says (error messages, ids); see edge_jupyter.scrub
        self._scrub = scrub or (lambda text: text)

    def feed(self, chunk: dict[str, Any]) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        c = self.completion
        if not self._started:
            self._started = True
            c.generation_id = self._name(chunk.get("id")) or c.generation_id
            c.model = self._name(chunk.get("model")) or c.model
            c.provider = self._name(chunk.get("provider")) or c.provider
            events.append(Started(c.generation_id, c.model, c.provider))
        elif chunk.get("provider") and not c.provider:
            c.provider = self._name(chunk["provider"])

        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            details = delta.get("reasoning_details")
            if details:
                self._details.add(details)
            reasoning = delta.get("reasoning")
            if reasoning:
                self._reasoning.append(reasoning)
                events.append(ReasoningDelta(reasoning))
            content = delta.get("content")
            if content:
                self._text.append(content)
                events.append(TextDelta(content))
            reason = choice.get("finish_reason")
            if reason:  # server text: it is printed and stored, so it is scrubbed like a name
                reason = self._scrub(str(reason))
                c.finish_reason = reason
                c.native_finish_reason = self._name(choice.get("native_finish_reason")) or reason
                events.append(Finished(reason))

        usage = chunk.get("usage")
        if usage:
            received = self._take_usage(usage)
            if received is not None:
                events.append(UsageReceived(received))

        error = chunk.get("error")
        if error:
            c.finish_reason = "error"
            error = error if isinstance(error, dict) else {"message": str(error)}
            metadata = error.get("metadata")
            raise error_for_status(
                _status_of(error.get("code")),
                self._scrub(str(error.get("message") or "the provider failed")),
                metadata=scrub_obj(metadata, self._scrub) if isinstance(metadata, dict) else None,
                during_stream=True,
            )
        return events

    def _name(self, value: Any) -> str | None:
        return server_name(value, self._scrub)

    def _take_usage(self, data: Any) -> Usage | None:
        """Keep a usage chunk if its figures can be true and agree with any costed one before."""
        c = self.completion
        self.usage_seen = True
        if self._usage_doubtful:
            return None
        try:
            usage = Usage.from_json(data)
        except ImpossibleFigure as exc:
            self._doubt(f"OpenRouter sent {exc}")
            return None
        before = c.usage
        if before is not None and before.cost is not None and (
                usage.cost not in (None, before.cost)
                or (usage.prompt_tokens, usage.completion_tokens)
                != (before.prompt_tokens, before.completion_tokens)):
            self._doubt(
                "OpenRouter sent two usage figures that disagree (cost "
                f"{json_text(before.cost)} then {json_text(usage.cost)}, "
                f"{before.completion_tokens} then {usage.completion_tokens} output tokens)")
            return None
        if before is not None and before.cost is not None and usage.cost is None:
            return None  # a repeat without the cost adds nothing
        c.usage = usage
        return usage

    def _doubt(self, why: str) -> None:
        self._usage_doubtful = True
        self.completion.usage = None
        self.completion.notes.append(
            f"{why}: it was not recorded, and the exact cost is read from /generation instead.")

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
        if choice.get("finish_reason") or not delta or delta.get("reasoning") \
                or delta.get("reasoning_details"):
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
        self.completion.reasoning_details = self._details.result()
        return self.completion

    @property
    def text_so_far(self) -> str:
        return "".join(self._text)
