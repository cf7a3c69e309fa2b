"""One set of model calls from plan to finished records: the life every front-end shares.

    plan → replay look-up → low-balance check → images and PDFs against the model's inputs
    (``_media``: refuse, or add the PDF plugin) → price the worst case and reserve (one ledger
    row each, before anything is sent) → send → stream under the budget guard → record →
    reconcile in the background → replay store → conversation turn → "calls finished"

The magic, the Python API, ``map`` and the CLI all run calls through :class:`CallRun`;
they show its events (:mod:`._events`) and its :class:`Outcome`, and hold no money logic.

Where the calls run. One call runs in the calling thread, so a kernel interrupt lands
right in the socket read. Several run in worker threads while the calling thread forwards
their events, so an interrupt is prompt there too. :meth:`CallRun.cancel` stops every call
from any other thread (the async API uses it).

Nothing is lost. From the moment the first ledger row exists until every row is complete,
every way out (an API error, a bug, an interrupt, a refusal) completes every row: a row left
``pending`` would hold its reservation against the budgets for as long as the kernel lives.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field
from typing import Any, NoReturn

from .. import conversations, events, replay
from ..money import exact_usd, total_usd
from ..openrouter import APIStatusError, OpenRouterClient, OpenRouterError, UnknownModel
from . import _checks, _media, _reasoning, _recording
from ._caches import response_cache_headers
from ._client import connected_client, suggest_models
from ._errors import CallRefused, CallsBroke, EdgeInterrupted, NothingSent
from ._events import Began, Ended, Event, Listener, Reasoning, Started, Text, Tick
from ._plan import CallPlan, PlannedCall
from ._result import EdgeResult
from ._running import RunningCall, describe_failure


@dataclass
class Outcome:
    """What a set of calls came to: one record per call (in plan order), and what to say."""

    records: list[EdgeResult]
    #: facts to show with the answers (priced at the cap, a ledger that could not be written…)
    notes: list[str] = field(default_factory=list)
    #: shown above the answers (low balance)
    warnings: list[str] = field(default_factory=list)
    interrupted: bool = False

    @property
    def all_failed(self) -> bool:
        return all(r.status == "error" for r in self.records)

    def failure_message(self) -> str:
        return "; ".join(f"{r.model}: {r.error}" for r in self.records)

    def interrupt_message(self, kept: str = "kept") -> str:
        """E.g. "Interrupted: the partial answer is kept above and it cost $0.0012." """
        costs = [r.cost_usd for r in self.records]
        if any(c is None for c in costs):
            cost = "its exact cost will be filled in from OpenRouter on the next call"
        else:
            cost = f"it cost {exact_usd(total_usd(costs))}"
        return f"Interrupted: the partial answer is {kept} and {cost}."


def _ignore(_event: Event) -> None:
    pass


class CallRun:
    """The calls of one plan, run once: ``CallRun(plan, listener).execute()``."""

    def __init__(self, plan: CallPlan, listener: Listener | None = None, *,
                 client: OpenRouterClient | None = None, step: tuple[str, int] | None = None
                 ) -> None:
        self.plan = plan
        #: (group id, step number) when this run is one step of a tool loop (:mod:`._loop`)
        self._step = step
        self._loop: Any = None  # the ToolLoop this run hands a plan with functions to
        self._emit: Listener = listener or _ignore
        self._client = client
        self._calls: list[RunningCall] = []
        self._rows: dict[int, int] = {}  # id(call) -> ledger row
        self._cancelled = threading.Event()
        self._noted: dict[int, str] = {}  # row -> generation id already written
        self._executed = False
        #: per planned call: the body to send (the planned one, or a copy with the PDF
        #: plugin) and what it sends besides text
        self._sent: list[tuple[dict[str, Any], _media.Sending]] = []
        self._sending: list[str] = []  # per call: the status line's "2 images · …"
        self._worst: dict[int, float] = {}  # id(call) -> the worst case reserved for it
        self._abandoned = False  # execute raised past written rows (see records_so_far)
        self._records: list[EdgeResult] = []  # every row complete: the calls' final records

    # -- from another thread ---------------------------------------------------------------
    def cancel(self) -> None:
        """Stop every call still running (closing the connection stops billing at most
        providers); :meth:`execute` then returns an interrupted outcome."""
        self._cancelled.set()
        if self._loop is not None:
            self._loop.cancel()
        for call in list(self._calls):
            if not call.done and not call.complete:
                call.interrupted = True
            call.cancel()

    @property
    def client(self) -> OpenRouterClient | None:
        """The client the calls were sent with (known once :meth:`execute` began)."""
        return self._client

    def completion(self, index: int) -> Any:
        """What call ``index`` received (an ``openrouter.Completion``), or None."""
        return self._calls[index].completion if index < len(self._calls) else None

    def held_usd(self, index: int) -> float | None:
        """The worst case reserved for call ``index`` (what a budget counts for it while its
        exact cost is not known), or the guard's estimate when none was reserved."""
        if index >= len(self._calls):
            return None
        call = self._calls[index]
        return self._worst.get(id(call), held_estimate(call))

    def records_so_far(self) -> list[EdgeResult]:
        """After :meth:`execute` raised past written rows — an interrupt or an unexpected
        error in the middle, or an interrupt after every row was complete (while the answers
        were being stored or announced) — each call's record, as its ledger row was completed."""
        if self._records:
            return list(self._records)
        if not self._abandoned:
            return []
        return [c.record for c in self._calls if isinstance(c.record, EdgeResult)]

    # -- the life of the calls -------------------------------------------------------------
    def execute(self) -> Outcome:
        from ..ledger import set_context

        if self._executed:
            raise RuntimeError("a CallRun runs once: plan the calls again for another run")
        self._executed = True
        plan = self.plan
        if plan.toolbox is not None and self._step is None:  # functions: the tool loop
            from ._loop import ToolLoop

            self._loop = ToolLoop(plan, self._emit, client=self._client)
            if self._cancelled.is_set():
                self._loop.cancel()
            return self._loop.execute()
        request = plan.request
        try:  # nothing is written before _prepare: an interrupt here has nothing to complete
            session_id = set_context(request.context.notebook).session_id
            hits = self._replay_hits() if request.replay and not request.fresh else {}
            client = self._client
            if client is None and len(hits) < len(plan.calls):  # all replayed: offline is fine
                client = connected_client()
            self._client = client
            warnings: list[str] = []
            # once per cell: a tool loop's later steps neither reconcile nor warn again
            first = self._step is None or self._step[1] == 1
            if client is not None and len(hits) < len(plan.calls) and first:
                _recording.reconcile_in_background(client.generation)
                warnings = _checks.low_balance_warnings(client)
            self._sent = [self._media(client, planned, i in hits) for i, planned in enumerate(plan.calls)]
            if client is not None:  # before any row is written, as the media checks
                _reasoning.check(client, [b for i, (b, _) in enumerate(self._sent) if i not in hits])
            if client is not None and request.web:  # a server tool: the model must call tools
                _checks.check_tools(client, [p.spec.model for i, p in enumerate(plan.calls)
                                             if i not in hits], web=True)
            if client is not None and request.schema is not None:  # refused before any row
                _checks.check_structured(client, [p.spec.model for i, p in enumerate(plan.calls)
                                                  if i not in hits])
        except KeyboardInterrupt:
            raise EdgeInterrupted("Interrupted before anything was sent: nothing was spent.") from None
        self._prepare(client, hits, session_id)
        calls = self._calls
        finished: set[int] = set()
        try:  # from here until every row is complete, nothing may leave a row pending
            self._emit(Began(tuple(c.model for c in calls), tuple(c.streaming for c in calls),
                             tuple(c.replayed for c in calls), tuple(warnings), tuple(self._sending),
                             step=self._step[1] if self._step else 0))
            if self._cancelled.is_set():  # cancelled while the rows were being written
                for call in calls:
                    call.interrupted = not call.replayed
                interrupted = True
            elif len(calls) == 1:
                interrupted = self._run_here(calls[0])
            else:
                interrupted = self._run_in_threads(client)
            notes = list(plan.notes)
            records = []
            for call in calls:
                records.append(self._finish(call, client, notes))
                finished.add(id(call))
            self._records = records
        except BaseException as exc:
            self._abandon(finished, exc)
        # A cancel that came after every call had ended (during the /generation look-up)
        # leaves complete, paid answers: they are not reported as interrupted.
        interrupted = interrupted or any(r.status == "interrupted" for r in records)
        if request.replay or request.fresh:  # --fresh asks again and replaces the stored answer
            notes += self._store_answers(records)
        notes += self._save_turn(records)
        if client is not None and self._step is None:  # a tool loop refreshes once, at its end
            _checks.refresh_balance_later(client)
        events.publish(events.CALLS_FINISHED, records)
        return Outcome(records, notes, warnings, interrupted)

    def _media(self, client: OpenRouterClient | None, planned: PlannedCall, replayed: bool
               ) -> tuple[dict[str, Any], _media.Sending]:
        """The body to send and what it sends besides text; raises :class:`CallRefused`
        (nothing written yet) for images to a model that does not take them."""
        body = planned.body
        if not _media.has_attachments(body):
            return body, _media.Sending()
        if replayed or client is None:  # answered from the store: nothing is sent
            return body, _media.sending_of(body)
        return _media.prepare(client, body, self.plan.request.pdf_engine, history=self._history())

    def _history(self) -> str | None:
        """The conversation whose earlier turns hold every image sent, when this turn
        attached none (a refusal then says to continue elsewhere), e.g. "chat 'c'"."""
        from ..content import Prompt

        plan = self.plan
        if plan.conversation is None or Prompt.coerce(plan.request.prompt).images:
            return None
        name = plan.request.chat or plan.conversation.name
        return f"chat {name!r}" if name else "this chat"

    def _replay_hits(self) -> dict[int, dict[str, Any]]:
        hits = {}
        for i, planned in enumerate(self.plan.calls):
            entry = replay.lookup(planned.body)
            if entry is not None:
                hits[i] = entry
        return hits

    def _prepare(self, client: OpenRouterClient | None, hits: dict[int, dict[str, Any]],
                 session_id: str) -> None:
        """One running call per planned one, each with its pending ledger row (and reservation)."""
        from ..content import Prompt

        request = self.plan.request
        ctx = request.context
        attachments = Prompt.coerce(request.prompt).attachments
        held = 0.0  # what the calls reserved so far hold of the budget given for them all
        try:
            for i, planned in enumerate(self.plan.calls):
                body, sending = self._sent[i]
                # What the request carries besides text (this turn's and the history's), as
                # its prompt_tokens are: a replayed row keeps those of the call it repeats.
                record = EdgeResult(model=planned.spec.model, notebook=ctx.notebook,
                                    cell_id=ctx.cell_id, execution_count=ctx.execution_count,
                                    chat=request.chat or request.label, session_id=session_id,
                                    options=planned.spec.label(), images=sending.images,
                                    files=sending.files, pages=sending.known_pages,
                                    attachments=attachments)
                if self._step is not None:  # a tool loop's step: its row says whose, and which
                    record.group_id, record.step = self._step
                if i in hits:
                    call = RunningCall.replay(record, planned.body, hits[i])
                else:
                    call = RunningCall(record, body, stream=request.stream)
                call.route_prefs = planned.route
                call.headers = response_cache_headers(request.or_cache)
                # The row is known to the handlers below the moment it exists (the very next
                # statements): whatever fails later completes it instead of leaving it pending.
                if i in hits:
                    self._rows[id(call)] = _recording.begin(record)
                    self._calls.append(call)
                    self._sending.append("")
                    continue
                assert client is not None
                # With attachments the call is priced even without a limit: "at most $X".
                check = _checks.pre_call(client, planned.spec.model, body, request.budget, record,
                                         held_usd=held, price_always=sending.any)
                self._rows[id(call)] = check.row_id
                self._calls.append(call)
                self._sending.append(_sending_text(body, sending, check.at_most_usd, attachments))
                call.guard = check.guard
                if check.guard is not None:
                    self._worst[id(call)] = check.worst_case_usd
                held += check.worst_case_usd
                self.plan.notes += [n for n in check.notes if n not in self.plan.notes]
        except CallRefused as exc:
            self._release(str(exc))
            raise
        except KeyboardInterrupt:
            self._release("interrupted")
            raise EdgeInterrupted("Interrupted before anything was sent: nothing was spent.") from None
        except BaseException as exc:  # a damaged replay entry, a ledger error…
            why = describe_failure(exc)
            self._release(why)
            raise NothingSent(f"Nothing was sent: {why}") from None

    def _release(self, why: str) -> None:
        """Complete the rows of calls that stop before sending, releasing their reservations
        (each on its own: one failing write does not leave the others pending)."""
        for call in self._calls:
            try:
                if call.replayed:
                    _recording.finish(self._rows[id(call)], call.record)
                else:
                    _recording.fail(self._rows[id(call)], call.record, f"not sent: {why}")
            except Exception:
                pass  # the ledger itself failing: its rows are reconciled when it works again

    def _remember_generation(self, call: RunningCall) -> None:
        """Note the generation id in the ledger at once, so even a killed kernel can be priced.

        A streamed call announces it twice (the response header, then its first chunk):
        one write is enough."""
        generation_id = call.record.generation_id
        row_id = self._rows.get(id(call))
        if not generation_id or row_id is None or self._noted.get(row_id) == generation_id:
            return
        try:
            _recording.note_generation(row_id, generation_id)
        except Exception:
            return  # the final write carries it anyway
        self._noted[row_id] = generation_id

    def _run_here(self, call: RunningCall) -> bool:
        """One call streams in this thread: a kernel interrupt lands right in the socket read."""
        if call.replayed:
            self._emit(Ended(0, call.error is not None))
            return False
        client = self._client
        assert client is not None
        emit = self._emit

        def on_start(c: RunningCall) -> None:
            self._remember_generation(c)
            emit(Started(0, c.record.generation_id))

        call.on_reasoning = lambda c, text: emit(Reasoning(0, text))
        try:
            call.run(client, on_text=lambda c, text: emit(Text(0, text, c.tokens)), on_start=on_start)
        except KeyboardInterrupt:
            call.interrupted = not call.complete  # an answer already whole stays "ok"
            call.cancel()
            emit(Ended(0, False))
            return True
        emit(Ended(0, call.error is not None))
        return call.interrupted

    def _run_in_threads(self, client: OpenRouterClient | None) -> bool:
        """Each call streams in its own thread; this one forwards their events, so an
        interrupt is prompt and listeners only ever run here."""
        inbox: queue.SimpleQueue[Event | None] = queue.SimpleQueue()
        calls = self._calls
        index = {id(c): i for i, c in enumerate(calls)}

        def on_start(c: RunningCall) -> None:
            self._remember_generation(c)
            inbox.put(Started(index[id(c)], c.record.generation_id))

        def work(c: RunningCall) -> None:
            try:
                assert client is not None
                c.on_reasoning = lambda c, text: inbox.put(Reasoning(index[id(c)], text))
                c.run(client, on_text=lambda c, text: inbox.put(Text(index[id(c)], text, c.tokens)),
                      on_start=on_start)
            finally:
                inbox.put(Ended(index[id(c)], c.error is not None))
                inbox.put(None)

        live = [c for c in calls if not c.replayed]
        for c in calls:
            if c.replayed:
                self._emit(Ended(index[id(c)], False))
        threads = [threading.Thread(target=work, args=(c,), daemon=True, name=f"edge-{c.model}")
                   for c in live]
        for t in threads:
            t.start()
        running = len(threads)
        try:
            while running:
                try:
                    event = inbox.get(timeout=0.1)
                except queue.Empty:
                    self._emit(Tick())
                    continue
                if event is None:
                    running -= 1
                else:
                    self._emit(event)
        except KeyboardInterrupt:
            self.cancel()
            for t in threads:
                t.join(timeout=2.0)
            return True
        return False

    def _finish(self, call: RunningCall, client: OpenRouterClient | None,
                notes: list[str]) -> EdgeResult:
        record = call.finish_record(client)
        if self.plan.request.schema is not None:  # before the ledger: an invalid answer is noted
            assert isinstance(record, EdgeResult)
            record.check_schema(self.plan.request.schema)
        if call.completion is not None:  # what the server sent that could not be used, said once
            notes.extend(f"{call.model}: {note}" for note in call.completion.notes if note)
            if isinstance(record, EdgeResult):  # the web pages a search found, cited
                record.citations = tuple(call.completion.annotations)
        if isinstance(call.error, UnknownModel) and client is not None:
            call.error.suggestions = suggest_models(client, call.model)
            record.error = str(call.error)
        elif client is not None:
            explained = _explain_routing(client, call)
            if explained:
                record.error = explained
        try:
            _recording.finish(self._rows[id(call)], record, estimated_usd=held_estimate(call))
        except Exception as exc:  # the answer is shown even if the disk is full
            notes.append(f"The usage ledger could not be written: {exc}")
        if call.stopped_budget:
            notes.append(f"{call.model}: stopped before crossing the spending limit; the partial "
                         "answer is kept (`%edge budget` shows the limits).")
        assert isinstance(record, EdgeResult)
        return record

    def _abandon(self, finished: set[int], exc: BaseException) -> NoReturn:
        """Something other than an API error stopped the calls between their rows' start and
        finish.

        Every row still open is completed: a call that had already ended keeps its own
        outcome (an answer that arrived stays ``ok``); one still running becomes ``error``
        with the exception's one line, or ``interrupted``. A call that reached a model keeps
        what it may have cost until reconciled from ``/generation``; one that never got
        there releases it. Then one line, not a traceback.
        """
        interrupt = isinstance(exc, KeyboardInterrupt)
        why = describe_failure(exc)
        self._abandoned = True
        # Taken before cancelling: a call that had ended keeps what finish_record makes of
        # it; only one still running is stopped by ``exc``.
        ended = {id(c) for c in self._calls if c.done}
        for c in self._calls:
            c.cancel()  # a model still streaming in a worker thread stops being billed
        for c in self._calls:
            if id(c) in finished:
                continue
            row = self._rows[id(c)]
            try:
                described = c.replayed  # its record says what happened (else: exc's line)
                if not c.replayed:
                    try:
                        c.finish_record(None, lookup_timeout=0)  # what arrived, no network
                        described = True
                    except Exception:
                        pass
                held = held_estimate(c)
                if described and id(c) in ended:
                    _recording.finish(row, c.record, estimated_usd=held)
                elif interrupt:
                    c.record.status = "interrupted"
                    _recording.finish(row, c.record, estimated_usd=held)
                else:
                    _recording.fail(row, c.record, why, estimated_usd=held)
            except Exception:
                pass  # the ledger itself failing: nothing more can be done here
        if interrupt:
            raise EdgeInterrupted("Interrupted: the calls are recorded in the usage ledger; their "
                              "exact cost is filled in from OpenRouter on the next call.")
        raise CallsBroke(f"The calls stopped on an unexpected error: {why}. They are recorded in "
                         "the usage ledger as errors; run them again.") from None

    def _store_answers(self, records: list[EdgeResult]) -> list[str]:
        """Keep complete answers in the replay store; a failure is a note (the answer is
        paid for and shown all the same)."""
        from ..storage import DataError

        for planned, call, record in zip(self.plan.calls, self._calls, records, strict=True):
            if call.replayed:
                continue
            try:  # keyed on the planned body: a plugin added for the model is not in the key
                replay.store(planned.body, record)
            except (DataError, OSError) as exc:
                return [f"The answer was not kept in the replay store: {exc}"]
        return []

    def _save_turn(self, records: list[EdgeResult]) -> list[str]:
        """Add the turn to the conversation; a failure is a note (the answer is paid for)."""
        plan = self.plan
        if plan.conversation is None:
            return []
        answers = {r.model: r.text for r in records if r.status in ("ok", "replayed")}
        if not answers:
            return []
        # Each answer's reasoning_details, to send back unmodified on later turns (OpenRouter).
        details = {r.model: c.completion.reasoning_details
                   for r, c in zip(records, self._calls, strict=False)
                   if r.model in answers and c.completion is not None
                   and c.completion.reasoning_details}
        return save_turn(plan, answers, details)


def save_turn(plan: CallPlan, answers: dict[str, str],
              details: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Add a turn (the prompt, each model's answer and its ``reasoning_details``) to the plan's
    conversation; a failure is a note (the answers are paid for)."""
    request = plan.request
    if plan.conversation is None or not answers:
        return []
    if not plan.persisted:
        plan.conversation.record(plan.turn_key, request.prompt, answers, request.system,
                                 reasoning_details=details)
        return []
    from ..storage import DataError

    # Merged into the file as it is now (under its lock): another kernel's new turns stay.
    try:
        conversations.record_turn(plan.conversation.name, plan.turn_key, request.prompt,
                                  answers, request.system, reasoning_details=details)
    except conversations.ConversationError as exc:
        return [str(exc)]
    except DataError as exc:
        return [f"This turn was not saved to the conversation {plan.conversation.name!r}: {exc}"]
    return []


def _sending_text(body: dict[str, Any], sending: _media.Sending, at_most_usd: float | None,
                  attachments: tuple[Any, ...]) -> str:
    """The status line's account of what a call sends besides text ("" for none)."""
    if not sending.any:
        return ""
    from ..ledger.budgets import estimate_text_only_tokens

    return _media.sending_line(sending, text_tokens=estimate_text_only_tokens(body["messages"]),
                               at_most_usd=at_most_usd,
                               downscaled=[a for a in attachments if a.kind == "image"])


def held_estimate(call: RunningCall) -> float | None:
    """What an unpriced call keeps reserved until reconciled: the stream guard's estimate,
    but only for a call that reached a model (it has a generation id). One that never got
    there cost nothing and holds nothing (its guard counted the prompt in advance)."""
    if call.guard is None or not call.record.generation_id:
        return None
    return call.guard.cost_usd


def _explain_routing(client: OpenRouterClient, call: RunningCall) -> str | None:
    """OpenRouter's "no endpoints" becomes: which preference excluded every provider."""
    from .. import routing

    error = call.error
    if not isinstance(error, APIStatusError) or call.route_prefs is None:
        return None
    if not routing.is_no_endpoints_error(error.status, error.message, error.metadata):
        return None
    try:
        endpoints = client.model_endpoints(call.model)
    except OpenRouterError:
        endpoints = None
    return routing.explain_no_endpoints(call.route_prefs, endpoints, model=call.model,
                                        message=error.message, metadata=error.metadata)
