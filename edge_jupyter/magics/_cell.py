"""Running one ``%%edge`` cell: plan, budget check, calls, display, records, conversation."""

from __future__ import annotations

import difflib
import queue
import threading
from dataclasses import dataclass, field
from typing import Any, NoReturn

from .. import conversations, events, preferences, replay
from ..money import exact_usd, total_usd
from ..openrouter import APIStatusError, OpenRouterClient, OpenRouterError, UnknownModel
from ..record import CallRecord
from . import _context, _recorder
from ._args import parse_cell_line
from ._call import Participant, describe_failure
from ._errors import EdgeCellError, EdgeInterrupted
from ._interpolate import InterpolationError, interpolate
from ._render import MultiView, SingleView, show_error
from ._result import EdgeResult, EdgeResults


@dataclass
class CellPlan:
    """What a cell asks for, once its flags and prompt are read.

    ``models`` holds one key per participant (the model id, plus its options when it has
    any, so one model can run twice with different options); ``parts`` and ``bodies`` are
    keyed by it.
    """

    models: list[str]
    prompt: str
    args: Any
    context: _context.CellContext
    turn_key: str
    conversation: conversations.Conversation | None = None
    parts: dict[str, Any] = field(default_factory=dict)
    bodies: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    route: Any = None


def _body(args: Any, model: str, messages: list[dict[str, str]]) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "messages": messages}
    if args.temperature is not None:
        body["temperature"] = args.temperature
    if args.max_tokens is not None:
        body["max_tokens"] = args.max_tokens
    return body


def plan_cell(shell: Any, line: str, cell: str) -> CellPlan:
    from .. import participants, routing

    args = parse_cell_line(line)
    try:
        prompt = interpolate(cell, shell.user_ns).strip()
    except InterpolationError as exc:
        raise EdgeCellError(str(exc)) from None
    if not prompt:
        raise EdgeCellError("The cell has no prompt: write your question below the %%edge line.")
    try:
        route, notes = routing.effective_route(args, routing.load_defaults())
        models = args.model or ([] if args.participants else [preferences.load().default_model])
        parts = participants.resolve(models, args.participants)
        participants.check_unique(parts)
    except (routing.RoutingError, participants.ParticipantError) as exc:
        raise EdgeCellError(str(exc)) from None
    context = _context.current(shell)
    plan = CellPlan(models=[p.key for p in parts], prompt=prompt, args=args, context=context,
                    turn_key=context.turn_key(), route=route, notes=list(notes))
    if args.chat:
        try:
            plan.conversation = conversations.load(conversations.check_name(args.chat))
        except conversations.ConversationError as exc:
            raise EdgeCellError(str(exc)) from None
    for part in parts:
        system = part.system if part.system is not None else args.system
        if plan.conversation is not None:
            messages = plan.conversation.messages_for(part.model, prompt, plan.turn_key, system)
        else:
            messages = ([{"role": "system", "content": system}] if system else [])
            messages.append({"role": "user", "content": prompt})
        try:
            plan.bodies[part.key] = part.apply_to_body(_body(args, part.model, messages), route)
            plan.notes += part.resolved_route(route)[1]
        except (routing.RoutingError, participants.ParticipantError) as exc:
            raise EdgeCellError(str(exc)) from None
        plan.parts[part.key] = part
    plan.notes = list(dict.fromkeys(plan.notes))
    return plan


def _client() -> OpenRouterClient:
    from ..keystore import resolve_api_key

    resolved = resolve_api_key()
    if not resolved.key:
        reason = f" ({resolved.problem})" if getattr(resolved, "problem", "") else ""
        raise EdgeCellError(
            f"Not connected to OpenRouter{reason}: run `%edge connect` "
            "(or set OPENROUTER_API_KEY where Jupyter starts).")
    return OpenRouterClient(resolved.key)


def _suggest(client: OpenRouterClient, model: str) -> list[str]:
    try:
        ids = [m.id for m in client.models()]
    except OpenRouterError:
        return []
    return difflib.get_close_matches(model, ids, n=3, cutoff=0.4)


def run_cell(shell: Any, line: str, cell: str, *, replay_default: bool = False
             ) -> EdgeResult | list[EdgeResult]:
    """Run one ``%%edge`` cell from its flags to its final output."""
    plan = plan_cell(shell, line, cell)
    from ..ledger import set_context

    session_id = set_context(plan.context.notebook).session_id
    replaying = (plan.args.replay or replay_default) and not plan.args.fresh
    hits = _replay_hits(plan) if replaying else {}
    client = _client() if len(hits) < len(plan.models) else None  # all replayed: offline is fine
    warnings: list[str] = []
    if client is not None:
        from . import _budget

        _recorder.reconcile_in_background(client.generation)
        warnings = _budget.low_balance_warnings(client)
    participants, rows = _prepare(plan, client, hits, session_id)

    finished: set[int] = set()  # participants whose ledger row is complete
    try:  # from here until every row is complete, nothing may leave a row pending
        interrupted = False
        if len(participants) == 1:
            view: SingleView | MultiView = SingleView(participants[0].model, warnings=warnings,
                                                      streaming=participants[0].streaming)
            interrupted = _run_single(participants[0], client, view, rows)
        else:
            view = MultiView(participants, warnings=warnings)
            interrupted = _run_concurrently(participants, client, view,
                                            lambda p: _remember_generation(p, rows))

        notes: list[str] = list(plan.notes)
        records = []
        for p in participants:
            records.append(_finish(p, client, rows[id(p)], notes))
            finished.add(id(p))
    except BaseException as exc:
        _abandon(participants, rows, finished, exc)
        raise
    _show(view, records, plan.args.format, notes)
    if replaying:
        for p, record in zip(participants, records, strict=True):
            if not p.replayed:
                replay.store(p.body, record)
    _save_conversation(plan, records)
    result = _publish(shell, plan, records)
    if client is not None:
        from . import _budget

        _budget.refresh_balance_later(client)
    events.publish(events.CALLS_FINISHED, records)

    if interrupted:
        raise EdgeInterrupted(_interrupt_message(records))
    if all(r.status == "error" for r in records):
        raise EdgeCellError("; ".join(f"{r.model}: {r.error}" for r in records), shown=True)
    return result


def _replay_hits(plan: CellPlan) -> dict[str, dict[str, Any]]:
    hits = {}
    for model in plan.models:
        entry = replay.lookup(plan.bodies[model])
        if entry is not None:
            hits[model] = entry
    return hits


def _prepare(plan: CellPlan, client: OpenRouterClient | None, hits: dict[str, dict[str, Any]],
             session_id: str) -> tuple[list[Participant], dict[int, int]]:
    """One participant per model, each with its pending ledger row (and reservation)."""
    from . import _budget

    participants: list[Participant] = []
    rows: dict[int, int] = {}
    try:
        for key in plan.models:
            part = plan.parts[key]
            record = EdgeResult(model=part.model, notebook=plan.context.notebook,
                                cell_id=plan.context.cell_id,
                                execution_count=plan.context.execution_count,
                                chat=plan.args.chat or "", session_id=session_id,
                                options=part.label())
            body = plan.bodies[key]
            if key in hits:
                participant = Participant.replay(record, body, hits[key])
                row_id = _recorder.begin(record)
            else:
                assert client is not None
                check = _budget.pre_call(client, part.model, body, plan.args.budget, record)
                participant = Participant(record, body, stream=not plan.args.no_stream,
                                          guard=check.guard)
                row_id = check.row_id
                plan.notes += [n for n in check.notes if n not in plan.notes]  # e.g. priced at the cap
            # Known to the handlers below as soon as its row exists: whatever fails next
            # (the route, a note) completes the row instead of leaving it pending.
            participants.append(participant)
            rows[id(participant)] = row_id
            participant.route_prefs = part.resolved_route(plan.route)[0]
    except EdgeCellError as exc:
        _release(participants, rows, exc.message)
        show_error(exc.message)
        raise EdgeCellError(exc.message, shown=True) from None
    except BaseException as exc:  # a damaged replay entry, a ledger error, an interrupt…
        why = "interrupted" if isinstance(exc, KeyboardInterrupt) else describe_failure(exc)
        _release(participants, rows, why)
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise EdgeCellError(f"Nothing was sent: {why}") from None
    return participants, rows


def _release(participants: list[Participant], rows: dict[int, int], why: str) -> None:
    """Complete the rows of a cell that stops before sending, releasing their reservations."""
    for p in participants:
        if p.replayed:
            _recorder.finish(rows[id(p)], p.record)
        else:
            _recorder.fail(rows[id(p)], p.record, f"not sent: {why}")


def _held_estimate(p: Participant) -> float | None:
    """What an unpriced call keeps reserved until reconciled: the stream guard's estimate,
    but only for a call that reached a model (it has a generation id). One that never got
    there cost nothing and holds nothing (its guard counted the prompt in advance)."""
    if p.guard is None or not p.record.generation_id:
        return None
    return p.guard.cost_usd


def _abandon(participants: list[Participant], rows: dict[int, int], finished: set[int],
             exc: BaseException) -> NoReturn:
    """Something other than an API error stopped the cell between its rows' start and finish.

    Every row still open is completed: a call that had already ended keeps its own outcome
    (an answer that arrived stays ``ok``); one still running becomes ``error`` with the
    exception's one line, or ``interrupted``. A row left ``pending`` would hold its
    reservation against the budgets for as long as this kernel lives. A call that reached a model keeps what it may have
    cost until reconciled from ``/generation``; one that never got there releases it.
    Then the cell ends with one line, not a traceback.
    """
    interrupt = isinstance(exc, KeyboardInterrupt)
    why = describe_failure(exc)
    # Taken before cancelling: a call that had ended (answered, or failed on its own) keeps
    # what finish_record makes of it; only one still running is stopped by ``exc``.
    ended = {id(p) for p in participants if p.done}
    for p in participants:
        p.cancel()  # a model still streaming in a worker thread stops being billed
    for p in participants:
        if id(p) in finished:
            continue
        try:
            described = p.replayed  # its record says what happened (else: exc's line)
            if not p.replayed:
                try:
                    p.finish_record(None, lookup_timeout=0)  # what arrived, without the network
                    described = True
                except Exception:
                    pass
            held = _held_estimate(p)
            if described and id(p) in ended:  # ok, or its own error, as finish_record says
                _recorder.finish(rows[id(p)], p.record, estimated_usd=held)
            elif interrupt:
                p.record.status = "interrupted"
                _recorder.finish(rows[id(p)], p.record, estimated_usd=held)
            else:
                _recorder.fail(rows[id(p)], p.record, why, estimated_usd=held)
        except Exception:
            pass  # the ledger itself failing: nothing more can be done here
    if interrupt:
        raise EdgeInterrupted("Interrupted: the calls are recorded in the usage ledger; "
                              "their exact cost is filled in from OpenRouter on the next call.")
    raise EdgeCellError(f"The cell stopped on an unexpected error: {why}. Its calls are recorded "
                        "in the usage ledger as errors; run the cell again.") from None


#: The generation id last written for each ledger row: a streamed call announces it twice
#: (from the response header, then again on its first chunk) and one write is enough.
#: Bounded: only the calls of the running cell need it.
_noted_generation: dict[int, str] = {}


def _remember_generation(p: Participant, rows: dict[int, int]) -> None:
    """Note the generation id in the ledger at once, so even a killed kernel can be priced."""
    generation_id = p.record.generation_id
    row_id = rows.get(id(p))
    if not generation_id or row_id is None or _noted_generation.get(row_id) == generation_id:
        return
    try:
        _recorder.note_generation(row_id, generation_id)
    except Exception:
        return  # the final write carries it anyway
    if len(_noted_generation) > 256:
        _noted_generation.clear()
    _noted_generation[row_id] = generation_id


def _run_single(p: Participant, client: OpenRouterClient | None, view: SingleView,
                rows: dict[int, int]) -> bool:
    """One model streams in this thread: a kernel interrupt lands right in the socket read."""
    if p.replayed:
        return False
    assert client is not None
    try:
        p.run(client, on_text=view.on_text, on_start=lambda q: _remember_generation(q, rows))
    except KeyboardInterrupt:
        p.interrupted = True
        p.cancel()
        return True
    return False


def _finish(p: Participant, client: OpenRouterClient | None, row_id: int,
            notes: list[str]) -> EdgeResult:
    record = p.finish_record(client)
    if p.completion is not None:  # what the server sent that could not be used, said once
        notes.extend(f"{p.model}: {note}" for note in p.completion.notes if note)
    if isinstance(p.error, UnknownModel) and client is not None:
        p.error.suggestions = _suggest(client, p.model)
        record.error = str(p.error)
    elif client is not None:
        explained = _explain_routing(client, p)
        if explained:
            record.error = explained
    try:
        _recorder.finish(row_id, record,
                         estimated_usd=_held_estimate(p))
    except Exception as exc:  # the answer is shown even if the disk is full
        notes.append(f"The usage ledger could not be written: {exc}")
    if p.stopped_budget:
        notes.append(f"{p.model}: stopped before crossing the spending limit; the partial "
                     "answer is kept (`%edge budget` shows the limits).")
    return record  # type: ignore[return-value]


def _show(view: SingleView | MultiView, records: list[EdgeResult], fmt: str, notes: list[str]) -> None:
    if isinstance(view, MultiView):
        values = view.final(records, fmt, total_usd([r.cost_usd for r in records]), notes)
        for record, value in zip(records, values, strict=True):
            record.value = value
        return
    record = records[0]
    if record.status == "error" and not record.text:
        view.clear()
        show_error(record.error, record.model)
        return
    record.value = view.final(record, fmt, notes)
    if record.status == "error":
        show_error(record.error, record.model)


def _explain_routing(client: OpenRouterClient, p: Participant) -> str | None:
    """OpenRouter's "no endpoints" becomes: which preference excluded every provider."""
    from .. import routing

    error = p.error
    if not isinstance(error, APIStatusError) or p.route_prefs is None:
        return None
    if not routing.is_no_endpoints_error(error.status, error.message, error.metadata):
        return None
    try:
        endpoints = client.model_endpoints(p.model)
    except OpenRouterError:
        endpoints = None
    return routing.explain_no_endpoints(p.route_prefs, endpoints, model=p.model,
                                        message=error.message, metadata=error.metadata)


def _publish(shell: Any, plan: CellPlan, records: list[EdgeResult]) -> EdgeResult | list[EdgeResult]:
    """``_edge``, ``-o VAR`` and ``--insert``."""
    result: EdgeResult | list[EdgeResult] = records[0] if len(records) == 1 else EdgeResults(records)
    shell.user_ns["_edge"] = result
    if plan.args.output:
        shell.user_ns[plan.args.output] = result
    first = records[0]
    if plan.args.insert and first.status in ("ok", "replayed") and first.value:
        shell.set_next_input(first.value, replace=False)
    return result


def _run_concurrently(participants: list[Participant], client: OpenRouterClient, view: MultiView,
                      on_start: Any) -> bool:
    """Each model streams in its own thread; this thread only redraws, so an interrupt is prompt."""
    wake: queue.SimpleQueue[None] = queue.SimpleQueue()

    def work(p: Participant) -> None:
        try:
            p.run(client, on_text=lambda _p, _t: None, on_start=on_start)
        finally:
            wake.put(None)

    threads = [threading.Thread(target=work, args=(p,), daemon=True, name=f"edge-{p.model}")
               for p in participants]
    for t in threads:
        t.start()
    finished = 0
    try:
        while finished < len(threads):
            try:
                wake.get(timeout=0.1)
                finished += 1
            except queue.Empty:
                pass
            view.refresh()
    except KeyboardInterrupt:
        for p in participants:
            if not p.done:
                p.interrupted = True
            p.cancel()
        for t in threads:
            t.join(timeout=2.0)
        return True
    view.refresh(force=True)
    return False


def _save_conversation(plan: CellPlan, records: list[EdgeResult]) -> None:
    if plan.conversation is None:
        return
    answers = {r.model: r.text for r in records if r.status in ("ok", "replayed")}
    if not answers:
        return
    # Merged into the file as it is now (under its lock): another kernel's new turns stay.
    # The answer is shown and paid for already: a failure here is a warning, not an error.
    from ..storage import DataError
    from ._render import show_warning

    try:
        conversations.record_turn(plan.conversation.name, plan.turn_key, plan.prompt, answers,
                                  plan.args.system)
    except conversations.ConversationError as exc:
        show_warning(str(exc))
    except DataError as exc:
        show_warning(f"This turn was not saved to the conversation {plan.conversation.name!r}: {exc}")


def _interrupt_message(records: list[EdgeResult]) -> str:
    costs = [r.cost_usd for r in records]
    if any(c is None for c in costs):
        cost = "its exact cost will be filled in from OpenRouter on the next call"
    else:
        cost = f"it cost {exact_usd(total_usd(costs))}"
    return f"Interrupted: the partial answer is kept above and {cost}."


__all__ = ["CallRecord", "run_cell"]
