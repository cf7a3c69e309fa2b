"""The ``%%edge`` cell as a front-end of the call engine: flags → request → engine → view.

Everything a call needs (budgets, the ledger row, streaming under the guard, replay, the
conversation turn) is the engine's (:mod:`edge_jupyter.calls`); this module reads the cell,
shows the engine's events and outcome, and sets ``_edge`` / ``-o`` / ``--insert``.
"""

from __future__ import annotations

import argparse
from typing import Any

from .. import calls
from ..calls import EdgeResult, EdgeResults, Outcome
from ..content import Attachment, Prompt
from ..money import total_usd
from . import _context
from ._args import parse_cell_line
from ._errors import EdgeCellError
from ._interpolate import interpolate
from ._render import MultiView, SingleView, show_error


def request_from_flags(args: argparse.Namespace, prompt: str | Prompt, context: calls.CallContext,
                       *, replay_default: bool = False, or_cache_default: bool = False
                       ) -> calls.Request:
    """The engine's :class:`~edge_jupyter.calls.Request` for a cell's parsed flags."""
    from ..routing import route_from_args

    return calls.Request(
        prompt=prompt, models=list(args.model), participants=args.participants,
        system=args.system, temperature=args.temperature, max_tokens=args.max_tokens,
        budget=args.budget, stream=not args.no_stream,
        replay=args.replay or replay_default, fresh=args.fresh, chat=args.chat,
        route=route_from_args(args), route_defaults=not args.route_no_defaults, context=context,
        pdf_engine=args.pdf_engine, schema=getattr(args, "schema_object", None), heal=args.heal,
        reasoning=args.reasoning, reasoning_tokens=args.reasoning_tokens,
        hide_reasoning=args.hide_reasoning, tools=getattr(args, "tool_functions", None),
        max_steps=args.max_steps, confirm_tools=args.confirm_tools, web=args.web,
        web_results=args.web_results, web_engine=args.web_engine, web_searches=args.web_searches,
        tier=args.tier, or_cache=args.or_cache or or_cache_default,
        cache_prompt=args.cache_prompt)


def cell_prompt(shell: Any, args: argparse.Namespace, cell: str) -> Prompt:
    """The cell's text with its ``{expr}`` values in place, then the ``-a/--attach`` files."""
    prompt = interpolate(cell, shell.user_ns).strip()
    if args.attach:
        prompt = prompt.plus(attached(args.attach))
    if prompt.is_empty():
        raise EdgeCellError("The cell has no prompt: write your question below the %%edge line.")
    return prompt


def attached(paths: list[str]) -> list[Attachment]:
    """The ``-a/--attach`` files, each read and checked (a missing or unreadable one names its
    flag and path)."""
    from ..content import AttachmentError, attach

    out = []
    for path in paths:
        try:
            out.append(attach(path))
        except AttachmentError as exc:
            message = str(exc)
            raise AttachmentError(message if path in message else f"-a {path}: {message}") from None
    return out


def cell_schema(shell: Any, name: str) -> Any:
    """``--schema NAME``: the notebook's pydantic model, dataclass, TypedDict or JSON-Schema
    dict of that name, as a ``structured.Schema``."""
    from ..structured import SchemaError, schema_of

    if name not in shell.user_ns:
        raise SchemaError(f"--schema {name}: no such name in the notebook; define the model "
                          "(a pydantic model, dataclass, TypedDict or JSON-Schema dict) first.")
    try:
        return schema_of(shell.user_ns[name], name if isinstance(shell.user_ns[name], dict) else None)
    except SchemaError as exc:
        raise SchemaError(f"--schema {name}: {exc}") from None


def plan_cell(shell: Any, line: str, cell: str, *, replay_default: bool = False,
              or_cache_default: bool = False) -> tuple[calls.CallPlan, argparse.Namespace]:
    args = parse_cell_line(line)
    if args.schema:
        args.schema_object = cell_schema(shell, args.schema)
    if args.tools:  # "f,g": the notebook's functions (a missing one is named)
        from ..tools import tools_from_names

        args.tool_functions = tools_from_names(args.tools, shell.user_ns)
    prompt = cell_prompt(shell, args, cell)
    request = request_from_flags(args, prompt, _context.current(shell), replay_default=replay_default,
                                 or_cache_default=or_cache_default)
    return calls.plan(request), args


def run_cell(shell: Any, line: str, cell: str, *, replay_default: bool = False,
             or_cache_default: bool = False) -> EdgeResult | list[EdgeResult]:
    """Run one ``%%edge`` cell from its flags to its final output."""
    # Any other error of the tree (flags, routing, chats, not connected…) becomes the cell's
    # one line in EdgeMagics.edge, the one place that does it.
    plan, args = plan_cell(shell, line, cell, replay_default=replay_default,
                           or_cache_default=or_cache_default)
    view = view_for(plan)
    try:
        outcome = calls.CallRun(plan, view).execute()
    except calls.CallRefused as exc:  # shown as a block where the answer would be
        show_error(str(exc))
        raise EdgeCellError(str(exc), shown=True) from None
    show_outcome(view, outcome, "json" if args.schema else args.format)
    result = _publish(shell, args, outcome.records)
    if outcome.interrupted:
        raise calls.EdgeInterrupted(outcome.interrupt_message("kept above"))
    if outcome.all_failed:
        raise EdgeCellError(outcome.failure_message(), shown=True)
    invalid = [r for r in outcome.records if r.invalid]
    if invalid and len(invalid) == len(outcome.records):  # paid for: _edge keeps the raw text
        raise EdgeCellError(f"{invalid[0].invalid} The raw answer is kept above and in _edge.text.")
    return result


def view_for(plan: calls.CallPlan) -> SingleView | MultiView:
    """The view a cell streams ``plan`` into: one model's status line and streamed text, or
    the grid of several (the Python API's ``stream=True`` in a kernel uses the same)."""
    if len(plan.calls) == 1:
        return SingleView(plan.calls[0].spec.model, streaming=plan.request.stream,
                          show_reasoning=not plan.request.hide_reasoning)
    return MultiView()


def show_outcome(view: SingleView | MultiView, outcome: Outcome, fmt: str) -> None:
    """The final render, exactly as a cell ends: answers in ``fmt``, cost lines, notes, an
    error block for a failed model."""
    records, notes = outcome.records, outcome.notes
    if isinstance(view, MultiView):
        values = view.final(records, fmt,
                            total_usd([r.cost_usd for r in records]), notes)
        for record, value in zip(records, values, strict=True):
            record.value = value if record.schema is None else record.value
        return
    record = records[0]
    if record.status == "error" and not record.text:
        view.clear()
        show_error(record.error, record.model)
        return
    value = view.final(record, fmt, notes)
    if record.schema is None:  # with a schema, value is the validated instance already
        record.value = value
    if record.status == "error":
        show_error(record.error, record.model)


def _publish(shell: Any, args: argparse.Namespace, records: list[EdgeResult]
             ) -> EdgeResult | list[EdgeResult]:
    """``_edge``, ``-o VAR`` and ``--insert``."""
    result: EdgeResult | list[EdgeResult] = records[0] if len(records) == 1 else EdgeResults(records)
    shell.user_ns["_edge"] = result
    if args.output:
        shell.user_ns[args.output] = result
    first = records[0]
    if args.insert and first.status in ("ok", "replayed") and first.value:
        shell.set_next_input(first.value, replace=False)
    return result


__all__ = ["plan_cell", "request_from_flags", "run_cell", "show_outcome", "view_for"]
