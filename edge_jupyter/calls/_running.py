"""One model call running: the request, its stream under the budget guard, and the record.

No display code here: a running call reports text through a callback, and the engine
(:mod:`._engine`) turns that into events for whichever front-end listens.  Works in the main thread (one model:
a kernel interrupt lands straight in the socket read) or in a worker thread
(several models at once).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from ..openrouter import (
    Completion,
    NotFound,
    OpenRouterClient,
    OpenRouterError,
    ReasoningDelta,
    Started,
    TextDelta,
    ToolCallDelta,
)
from ..record import CallRecord


def describe_failure(exc: BaseException) -> str:
    """One line for the cell and the ledger: our own errors are sentences already (their
    type would only come between "Nothing was sent:" and the sentence); anything else is
    named with its type, e.g. ``UnicodeEncodeError: 'utf-8' codec …``."""
    from ..errors import EdgeError

    if isinstance(exc, EdgeError):
        return str(exc)
    text = " ".join(str(exc).split())
    if len(text) > 300:
        text = text[:299] + "…"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


TextCallback = Callable[["RunningCall", str], None]
StartCallback = Callable[["RunningCall"], None]


class RunningCall:
    """One request to one model, from sending to its filled-in record.

    (Not :class:`edge_jupyter.participants.ParticipantSpec`, which is a model with its
    options as the user wrote it; this is one call of it, running.)
    """

    def __init__(self, record: CallRecord, body: dict[str, Any], *, stream: bool = True,
                 guard: Any = None) -> None:
        self.record = record
        self.body = body
        self.streaming = stream
        self.guard = guard  # a ledger StreamGuard, or None
        self.error: Exception | None = None  # an OpenRouterError, or what else ended the call
        self.interrupted = False
        self.stopped_budget = False
        self.completion: Completion | None = None
        self.tokens = 0
        self.text_parts: list[str] = []
        self.reasoning_parts: list[str] = []  # the reasoning as it came (``delta.reasoning``)
        #: told of each piece of reasoning (set by the engine, like ``run``'s ``on_text``)
        self.on_reasoning: TextCallback | None = None
        self._stream: Any = None
        self._started = 0.0
        self._first: float | None = None
        self._ended: float | None = None
        self._cancel = threading.Event()
        self.replayed = False
        self.route_prefs: Any = None  # the routing preferences the request carried
        #: the request's own headers (``X-OpenRouter-Cache``: ``_caches``), None: none
        self.headers: dict[str, str] | None = None

    @classmethod
    def replay(cls, record: CallRecord, body: dict[str, Any], entry: dict[str, Any]) -> RunningCall:
        """A call answered from the replay store: no request is made."""
        from .. import replay

        p = cls(record, body, stream=False)
        # what the stored call was billed: OpenRouter's own figure, not paid again
        record.saved_usd, record.saved_by, record.saved_exact = replay.apply(entry, record), "replay", True
        p.replayed = True
        p._ended = p._started
        return p

    @property
    def model(self) -> str:
        return self.record.model

    @property
    def done(self) -> bool:
        return self._ended is not None

    @property
    def complete(self) -> bool:
        """The whole answer arrived (``[DONE]``), though the call may still be reading the
        body's end: an interrupt now stops nothing that is billed."""
        if self._stream is not None:
            return bool(self._stream.done)
        return not self.streaming and self.completion is not None and self.error is None

    def cancel(self) -> None:
        """Stop the call from any thread (closing the connection stops billing at most providers)."""
        self._cancel.set()
        stream = self._stream
        if stream is not None:
            stream.close()

    def run(self, client: OpenRouterClient, on_text: TextCallback | None = None,
            on_start: StartCallback | None = None) -> None:
        """Make the call; errors are kept on ``self.error``, KeyboardInterrupt propagates.

        Any other exception (a prompt that cannot be encoded, a display that fails in
        ``on_text``, a bug) is kept too, so the call's ledger row is completed as an error
        like any failed call, and a model in a worker thread cannot vanish as "ok".
        """
        if self.replayed:
            return
        self._started = time.perf_counter()
        try:
            if self.streaming:
                self._run_stream(client, on_text, on_start)
            elif not self._cancel.is_set():  # a cancel that came first sends nothing
                self.completion = client.complete(self.body, cancel=self._cancel,
                                                  headers=self.headers)
                self._first = time.perf_counter()
                if self.completion.extra.get("error"):
                    self.error = self.completion.extra["error"]
                if self.completion.reasoning:  # the whole reasoning, before the answer
                    self.reasoning_parts.append(self.completion.reasoning)
                    if self.on_reasoning is not None:
                        self.on_reasoning(self, self.completion.reasoning)
                if on_text and self.completion.text:
                    on_text(self, self.completion.text)
        except OpenRouterError as exc:
            self.error = exc
        except Exception as exc:
            self.error = exc
            if self._stream is not None:  # stop a stream that is still being billed
                self._stream.close()
        finally:
            self._ended = time.perf_counter()
            if self._stream is not None and self.completion is None:
                self.completion = self._stream.completion

    def _run_stream(self, client: OpenRouterClient, on_text: TextCallback | None,
                    on_start: StartCallback | None) -> None:
        # The cancel event goes down with the request: a cancel() that comes before
        # ``_stream`` is set, or during a retry's back-off, still stops it.
        stream = self._stream = client.stream_chat(self.body, cancel=self._cancel,
                                                   headers=self.headers)
        if self._cancel.is_set():
            return
        guard = self.guard
        for event in stream:
            # ``type(x) is C`` (not isinstance): the cheapest test per chunk, and mypy narrows it.
            if type(event) is TextDelta:
                if self._first is None:
                    self._first = time.perf_counter()
                self.tokens += event.chunks
                self.text_parts.append(event.text)
                if on_text is not None:
                    on_text(self, event.text)
                text = event.text
            elif type(event) is ReasoningDelta:
                if self._first is None:
                    self._first = time.perf_counter()
                self.tokens += 1
                self.reasoning_parts.append(event.text)
                if self.on_reasoning is not None:
                    self.on_reasoning(self, event.text)
                text = event.text
            elif type(event) is ToolCallDelta:
                # a function call's arguments are completion tokens too: the guard counts them
                if self._first is None:
                    self._first = time.perf_counter()
                self.tokens += 1
                text = event.arguments
            else:
                if type(event) is Started:
                    self.record.generation_id = event.generation_id or self.record.generation_id
                    if on_start is not None:
                        on_start(self)
                continue
            # A chunk may carry several tokens: the guard estimates them from the text.
            if guard is not None and not guard.add_text(text):
                self.stopped_budget = True
                stream.close()
                break
        self.completion = stream.completion

    @property
    def reasoning(self) -> str:
        """The reasoning received (streamed or whole); "" for a replayed call or none."""
        return "".join(self.reasoning_parts)

    @property
    def text(self) -> str:
        if self.replayed:
            return self.record.text
        return "".join(self.text_parts) if self.streaming else (
            self.completion.text if self.completion else "")

    def finish_record(self, client: OpenRouterClient | None, *, lookup_timeout: float = 5.0) -> CallRecord:
        """Fill the record from what arrived; fetch the exact cost when no usage came."""
        record = self.record
        if self.replayed:
            return record
        completion = self.completion or Completion()
        record.text = self.text if self.streaming else completion.text
        record.reasoning = self.reasoning
        record.generation_id = completion.generation_id or record.generation_id
        record.model = completion.model or record.model
        record.provider = completion.provider or record.provider
        record.finish_reason = completion.finish_reason
        # the tier that served is the one billed; the one asked for, to say when they differ
        record.service_tier = completion.service_tier or record.service_tier
        asked = self.body.get("service_tier")
        record.tier_asked = asked if isinstance(asked, str) else ""
        if self._ended is not None:
            record.latency_s = round(self._ended - self._started, 4)
        if self._first is not None:
            record.ttft_s = round(self._first - self._started, 4)
        usage = completion.usage
        if usage is not None:
            record.prompt_tokens = usage.prompt_tokens
            record.completion_tokens = usage.completion_tokens
            record.reasoning_tokens = usage.reasoning_tokens
            record.cached_tokens = usage.cached_tokens
            record.cost_usd = usage.cost
            record.upstream_cost_usd = usage.upstream_cost
            record.is_byok = usage.is_byok
            record.web_searches = usage.web_searches
            if usage.reasoning_tokens and usage.completion_tokens and usage.completion_cost is not None:
                record.reasoning_usd = (usage.completion_cost * min(usage.reasoning_tokens,
                                        usage.completion_tokens) / usage.completion_tokens)
        if self.interrupted:
            record.status = "interrupted"
        elif self.stopped_budget:
            record.status = "stopped_budget"
        elif self.error is not None:
            record.status = "error"
            record.error = describe_failure(self.error)
        else:
            record.status = "ok"
        if usage is None and record.generation_id and client is not None and lookup_timeout > 0:
            self._fill_from_generation(client, lookup_timeout)
        from ._caches import settle

        settle(record, completion, client, asked=self.headers is not None, wait_s=lookup_timeout)
        return record

    def _fill_from_generation(self, client: OpenRouterClient, timeout: float) -> None:
        """After an interrupt or a lost usage chunk, ``/generation`` has the exact cost."""
        record = self.record
        try:
            gen = client.wait_for_generation(record.generation_id, timeout=timeout)
        except (NotFound, OpenRouterError, KeyboardInterrupt):
            return  # left for the ledger's reconciliation on next use
        record.cost_usd = gen.total_cost
        record.upstream_cost_usd = gen.upstream_cost
        record.is_byok = gen.is_byok
        record.prompt_tokens = gen.prompt_tokens or record.prompt_tokens
        record.completion_tokens = gen.completion_tokens or record.completion_tokens
        record.reasoning_tokens = gen.reasoning_tokens or record.reasoning_tokens
        record.cached_tokens = gen.cached_tokens or record.cached_tokens
        record.provider = gen.provider or record.provider
