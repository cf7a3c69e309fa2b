"""Running one ``%%edge`` cell: plan, budget check, calls, display, records, conversation."""

from __future__ import annotations

import difflib
import queue
import threading
from dataclasses import dataclass, field
from typing import Any

from .. import conversations, events, preferences
from ..money import exact_usd, total_usd
from ..openrouter import OpenRouterClient, OpenRouterError, UnknownModel
from ..record import CallRecord
from . import _context, _recorder
from ._args import parse_cell_line
from ._call import Participant
from ._errors import EdgeCellError, EdgeInterrupted
from ._interpolate import InterpolationError, interpolate
from ._render import MultiView, SingleView, show_error
from ._result import EdgeResult


@dataclass
class CellPlan:
    """What a cell asks for, once its flags and prompt are read."""

    models: list[str]
    prompt: str
    args: Any
    context: _context.CellContext
    turn_key: str
    conversation: conversations.Conversation | None = None
    bodies: dict[str, dict[str, Any]] = field(default_factory=dict)


def _body(args: Any, model: str, messages: list[dict[str, str]]) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "messages": messages}
    if args.temperature is not None:
        body["temperature"] = args.temperature
    if args.max_tokens is not None:
        body["max_tokens"] = args.max_tokens
    return body


def plan_cell(shell: Any, line: str, cell: str) -> CellPlan:
    args = parse_cell_line(line)
    try:
        prompt = interpolate(cell, shell.user_ns).strip()
    except InterpolationError as exc:
        raise EdgeCellError(str(exc)) from None
    if not prompt:
        raise EdgeCellError("The cell has no prompt: write your question below the %%edge line.")
    models = args.model or [preferences.load().default_model]
    context = _context.current(shell)
    plan = CellPlan(models=models, prompt=prompt, args=args, context=context,
                    turn_key=context.turn_key(prompt))
    if args.chat:
        try:
            plan.conversation = conversations.load(conversations.check_name(args.chat))
        except conversations.ConversationError as exc:
            raise EdgeCellError(str(exc)) from None
    for model in models:
        if plan.conversation is not None:
            messages = plan.conversation.messages_for(model, prompt, plan.turn_key, args.system)
        else:
            messages = ([{"role": "system", "content": args.system}] if args.system else [])
            messages.append({"role": "user", "content": prompt})
        plan.bodies[model] = _body(args, model, messages)
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


def run_cell(shell: Any, line: str, cell: str) -> EdgeResult | list[EdgeResult]:
    plan = plan_cell(shell, line, cell)
    client = _client()
    from ..ledger import set_context
    from . import _budget

    session_id = set_context(plan.context.notebook).session_id
    _recorder.reconcile_in_background(client.generation)
    warnings = _budget.low_balance_warnings(client)
    participants: list[Participant] = []
    rows: dict[int, int] = {}
    notes: list[str] = []
    try:
        for model in plan.models:
            record = EdgeResult(model=model, notebook=plan.context.notebook,
                                cell_id=plan.context.cell_id,
                                execution_count=plan.context.execution_count,
                                chat=plan.args.chat or "", session_id=session_id)
            body = plan.bodies[model]
            check = _budget.pre_call(client, model, body, plan.args.budget, record)
            participant = Participant(record, body, stream=not plan.args.no_stream, guard=check.guard)
            participants.append(participant)
            rows[id(participant)] = check.row_id
    except EdgeCellError as exc:
        for p in participants:  # release the reservations already made for this cell
            p.record.status, p.record.error = "error", f"not sent: {exc.message}"
            _recorder.finish(rows[id(p)], p.record)
        show_error(exc.message)
        raise EdgeCellError(exc.message, shown=True) from None

    def remember_generation(p: Participant) -> None:
        if p.record.generation_id:
            try:
                _recorder.note_generation(rows[id(p)], p.record.generation_id)
            except Exception:
                pass  # the final write carries it anyway

    interrupted = False
    if len(participants) == 1:
        p = participants[0]
        view: SingleView | MultiView = SingleView(p.model, streaming=p.streaming, warnings=warnings)
        try:
            p.run(client, on_text=view.on_text, on_start=remember_generation)  # type: ignore[union-attr]
        except KeyboardInterrupt:
            interrupted = True
            p.interrupted = True
            p.cancel()
    else:
        view = MultiView(participants, warnings=warnings)
        interrupted = _run_concurrently(participants, client, view, remember_generation)

    records: list[EdgeResult] = []
    for p in participants:
        record = p.finish_record(client)
        if isinstance(p.error, UnknownModel):
            suggestions = _suggest(client, p.model)
            p.error.suggestions = suggestions
            record.error = str(p.error)
        try:
            _recorder.finish(rows[id(p)], record,
                             estimated_usd=p.guard.cost_usd if p.guard is not None else None)
        except Exception as exc:  # the answer is shown even if the disk is full
            notes.append(f"The usage ledger could not be written: {exc}")
        records.append(record)  # type: ignore[arg-type]
        if p.stopped_budget:
            notes.append(f"{p.model}: stopped before crossing the spending limit; the partial "
                         f"answer is kept (`%edge budget` shows the limits).")

    fmt = plan.args.format
    if isinstance(view, SingleView):
        record = records[0]
        if record.status == "error" and not record.text:
            view.flush()
            from IPython.display import clear_output

            clear_output(wait=True)
            show_error(record.error, record.model)
        else:
            record.value = view.final(record, fmt, notes)
            if record.status == "error":
                show_error(record.error, record.model)
    else:
        values = view.final(records, fmt, total_usd([r.cost_usd for r in records]), notes)
        for record, value in zip(records, values, strict=True):
            record.value = value

    _save_conversation(plan, records)
    result: EdgeResult | list[EdgeResult] = records[0] if len(records) == 1 else records
    shell.user_ns["_edge"] = result
    if plan.args.output:
        shell.user_ns[plan.args.output] = result
    if plan.args.insert and records[0].status == "ok" and records[0].value:
        shell.set_next_input(records[0].value, replace=False)
    _budget.refresh_balance_later(client)
    events.publish(events.CALLS_FINISHED, records)

    if interrupted:
        raise EdgeInterrupted(_interrupt_message(records))
    if all(r.status == "error" for r in records):
        raise EdgeCellError("; ".join(f"{r.model}: {r.error}" for r in records), shown=True)
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
    answers = {r.model: r.text for r in records if r.status == "ok"}
    if not answers:
        return
    plan.conversation.record(plan.turn_key, plan.prompt, answers, plan.args.system)
    conversations.save(plan.conversation)


def _interrupt_message(records: list[EdgeResult]) -> str:
    costs = [r.cost_usd for r in records]
    if any(c is None for c in costs):
        cost = "its exact cost will be filled in from OpenRouter on the next call"
    else:
        cost = f"it cost {exact_usd(total_usd(costs))}"
    return f"Interrupted: the partial answer is kept above and {cost}."


__all__ = ["CallRecord", "run_cell"]
