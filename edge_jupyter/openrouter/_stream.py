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

import json
from collections.abc import Callable
from typing import Any

from ..scrub import scrub_obj
from ..user_numbers import whole
from ._errors import error_for_status
from ._types import Citation, Completion, ImpossibleFigure, ToolCall, Usage, json_text


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


class ToolCallDelta(StreamEvent):
    """A piece of a function call the model is making: ``index`` is the call's place in the
    answer, ``name`` its function ("" until known), ``arguments`` the new argument text."""

    __slots__ = ("arguments", "index", "name")

    def __init__(self, index: int, name: str, arguments: str) -> None:
        self.index = index
        self.name = name
        self.arguments = arguments


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


#: The most argument text kept per tool call: a real call's arguments are a few hundred
#: bytes; past this a server is flooding us, and the rest is dropped (and said).
MAX_TOOL_ARGUMENTS = 1 << 20
#: The most tool calls kept from one answer (models ask for a handful at once).
MAX_TOOL_CALLS = 128


def _say(notes: list[str], note: str) -> None:
    """Add a note once (a completion's result is read more than once)."""
    if note not in notes:
        notes.append(note)


class _PendingCall:
    __slots__ = ("id", "index", "name", "parts", "position", "size")

    def __init__(self, index: int | None, position: int) -> None:
        self.index = index  # the server's ``index``, when it gave a usable one
        self.position = position  # its place among the answer's calls
        self.id: str | None = None
        self.name: str | None = None
        self.parts: list[str] = []
        self.size = 0


class ToolCallMerger:
    """``delta.tool_calls`` pieces → whole :class:`ToolCall` objects, in order.

    Pieces with the same ``index`` are one call: the first id and function name win (a
    later different one is noted and ignored), argument texts are joined in order. A
    piece without a whole-number index belongs to the call its id names, else to a new
    call when it brings a new id, else to the call in progress. The non-streamed
    ``message.tool_calls`` go through here too, one whole piece per call.
    """

    def __init__(self, notes: list[str]) -> None:
        self._calls: list[_PendingCall] = []
        self._by_index: dict[int, _PendingCall] = {}
        self._by_id: dict[str, _PendingCall] = {}
        self._notes = notes  # the completion's: what the cell says about odd input

    def add(self, pieces: Any) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        for piece in pieces if isinstance(pieces, list) else (pieces,):
            if not isinstance(piece, dict):
                _say(self._notes, "A tool call piece that was not an object was skipped.")
                continue
            call = self._call_for(piece)
            if call is None:
                continue
            ident, function = piece.get("id"), piece.get("function")
            if not isinstance(function, dict):
                function = {}
            if isinstance(ident, str) and ident and ident != call.id:
                if call.id is None:
                    call.id = ident
                    self._by_id.setdefault(ident, call)
                else:
                    _say(self._notes, "The server changed a tool call's id midway; the first one was kept.")
            name = function.get("name")
            if isinstance(name, str) and name and name != call.name:
                if call.name is None:
                    call.name = name
                else:
                    _say(self._notes, "The server changed a tool call's function name midway; "
                                      "the first one was kept.")
            arguments = function.get("arguments")
            if arguments is not None and not isinstance(arguments, str):
                if isinstance(arguments, (dict, list)):  # some providers send the object itself
                    arguments = json.dumps(arguments, ensure_ascii=False)
                else:
                    _say(self._notes, "A tool call's arguments were not text; that piece was skipped.")
                    arguments = None
            if arguments:
                if call.size + len(arguments) > MAX_TOOL_ARGUMENTS:
                    _say(self._notes, "A tool call's arguments were over 1 MB; the rest was dropped.")
                    arguments = arguments[:MAX_TOOL_ARGUMENTS - call.size]
                call.parts.append(arguments)
                call.size += len(arguments)
            events.append(ToolCallDelta(call.position, call.name or "", arguments or ""))
        return events

    def _call_for(self, piece: dict[str, Any]) -> _PendingCall | None:
        index = whole(piece.get("index"))  # an int, never a bool, "0" or 0.5
        if index is not None:
            call = self._by_index.get(index)
            if call is not None:
                return call
            return self._open(index)
        _say(self._notes, "A tool call piece came without a whole-number index; it was joined "
                          "to the call its id names, or to the latest call.")
        ident = piece.get("id")
        if isinstance(ident, str) and ident in self._by_id:
            return self._by_id[ident]
        if (isinstance(ident, str) and ident) or not self._calls:
            return self._open(None)
        return self._calls[-1]

    def _open(self, index: int | None) -> _PendingCall | None:
        if len(self._calls) >= MAX_TOOL_CALLS:
            _say(self._notes, f"The server sent more than {MAX_TOOL_CALLS} tool calls; the rest "
                              "were dropped.")
            return None
        call = _PendingCall(index, len(self._calls))
        self._calls.append(call)
        if index is not None:
            self._by_index[index] = call
        return call

    def result(self, scrub: Callable[[str], str]) -> list[ToolCall]:
        """The calls so far; a missing id becomes ``call_<index>`` (unique), and is noted."""
        out: list[ToolCall] = []
        given = [scrub(call.id) if call.id else "" for call in self._calls]
        # the server's ids first (each one's first call keeps it), so a made-up id is never theirs
        keeps = {ident: at for at, ident in reversed(list(enumerate(given))) if ident}
        used = set(keeps)
        for at, call in enumerate(self._calls):
            ident = given[at]
            if not ident or keeps[ident] != at:
                _say(self._notes, "A tool call came without an id (or with a repeated one); "
                                  "edge_jupyter gave it one.")
                number = call.index if call.index is not None else call.position
                ident, n = f"call_{number}", 1
                while ident in used:
                    n += 1
                    ident = f"call_{number}_{n}"
            used.add(ident)
            if not call.name:
                _say(self._notes, "A tool call came without a function name.")
            out.append(ToolCall(id=ident, name=scrub(call.name) if call.name else "",
                                arguments="".join(call.parts)))
        return out


#: How much of a citation is kept: a URL longer than this is no real page's, a title is a
#: line and the content a snippet (they are shown under the answer).
MAX_CITATION_URL, MAX_CITATION_TITLE, MAX_CITATION_CONTENT = 4096, 500, 4000
#: The most citations kept from one answer (a search yields a handful per query).
MAX_CITATIONS = 200


def web_url(value: Any) -> str | None:
    """``value`` if it is a plain http(s) URL with a host, else None: a citation becomes a
    link in a page, so ``javascript:``, ``data:`` and anything a browser might read as
    another scheme (control characters or spaces it would strip) never get through."""
    from urllib.parse import urlsplit

    if not isinstance(value, str) or not 0 < len(value) <= MAX_CITATION_URL:
        return None
    if any(ord(ch) <= 0x20 or 0x7F <= ord(ch) <= 0x9F or ch.isspace() for ch in value):
        return None
    try:
        parts = urlsplit(value)
    except ValueError:  # a malformed host ("http://[x")
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return value


class CitationCollector:
    """``annotations`` (streamed or not) → :class:`Citation` objects: ``url_citation`` ones
    only, in either shape (OpenRouter's nested ``{"type": "url_citation", "url_citation":
    {...}}`` or the spec's flat ``URLCitation``), one per URL, in order."""

    def __init__(self, notes: list[str], scrub: Callable[[str], str]) -> None:
        self._notes = notes
        self._scrub = scrub
        self._by_url: dict[str, Citation] = {}

    def add(self, annotations: Any) -> None:
        for item in annotations if isinstance(annotations, list) else (annotations,):
            if not isinstance(item, dict) or item.get("type") != "url_citation":
                continue  # other annotation kinds (file annotations) are not citations
            data = item.get("url_citation")
            data = data if isinstance(data, dict) else item
            url = web_url(data.get("url"))
            if url is None:
                _say(self._notes, "A citation whose link is not a plain http(s) URL was dropped.")
                continue
            url = self._scrub(url)
            if url in self._by_url:
                continue
            if len(self._by_url) >= MAX_CITATIONS:
                _say(self._notes, f"The server sent more than {MAX_CITATIONS} citations; the rest "
                                  "were dropped.")
                return
            self._by_url[url] = Citation(
                url=url, title=self._text(data.get("title"), MAX_CITATION_TITLE),
                content=self._text(data.get("content"), MAX_CITATION_CONTENT),
                start_index=whole(data.get("start_index")), end_index=whole(data.get("end_index")))

    def _text(self, value: Any, cap: int) -> str:
        if not isinstance(value, str):
            return ""
        return self._scrub(value if len(value) <= cap else value[:cap - 1] + "…")

    def result(self) -> list[Citation]:
        return list(self._by_url.values())


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
        self._tools = ToolCallMerger(self.completion.notes)
        self._started = False
        self._usage_doubtful = False  # once unknown, a later usage chunk cannot make it known
        #: a usage chunk arrived (even one refused as impossible): the stream reached its end,
        #: so a close without ``[DONE]`` after it is not a cut-off answer
        self.usage_seen = False
        # masks the key in what the server says (error messages, ids); see edge_jupyter.scrub
        self._scrub = scrub or (lambda text: text)
        self._citations = CitationCollector(self.completion.notes, self._scrub)

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
        tier = chunk.get("service_tier")  # the first chunk's, then the usage chunk's (the last)
        if tier:
            c.service_tier = self._name(tier) or c.service_tier

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
            tool_calls = delta.get("tool_calls")
            if tool_calls:
                events.extend(self._tools.add(tool_calls))
            annotations = delta.get("annotations")
            if annotations:
                self._citations.add(annotations)
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
                or delta.get("reasoning_details") or delta.get("tool_calls") \
                or delta.get("annotations"):
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
        self.completion.tool_calls = self._tools.result(self._scrub)
        self.completion.annotations = self._citations.result()
        return self.completion

    @property
    def text_so_far(self) -> str:
        return "".join(self._text)
