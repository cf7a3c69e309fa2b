"""The tool loop: the model asks for Python functions, the kernel runs them, their results go
back, … until the model answers or the loop reaches its last step.

    step 1: the planned body (the functions' schemas, a web tool if asked) → one CallRun
    the model asks for calls → each runs here (``--confirm-tools`` asks first), its result or
    its error text becomes a ``tool`` message after the assistant's ``tool_calls`` message
    step 2: the longer conversation → another CallRun … until an answer or ``max_steps``

Money, step by step. Every step is a :class:`~._engine.CallRun` of its own, so before it is
sent its worst case is reserved against every budget (the cell's ``--budget`` less what the
steps before it cost), and it has its own ledger row, tied to the others by the loop's group
id and numbered by ``step``. The outcome's record sums the step rows exactly.

Nothing is lost. Whatever stops the loop — a budget that the next step would cross, one crossed
mid-stream, an API error, an interrupt during a step, inside a tool or between steps — every
row is complete, and the outcome's record keeps every step, tool result and cost so far.
"""

from __future__ import annotations

import dataclasses
import threading
import uuid
from typing import Any

from ..money import exact_usd, total_usd
from ..openrouter import OpenRouterClient
from ._client import connected_client
from ._engine import CallRun, Outcome, save_turn
from ._errors import CallRefused, CallsBroke, EdgeInterrupted, NothingSent
from ._events import Listener, ToolRan, ToolRunning
from ._plan import CallPlan, PlannedCall
from ._result import EdgeResult

#: what the model is told when the user says no to a call (``--confirm-tools``)
DECLINED = "The user declined to run this function call. Do not call it again; answer without it."


class ToolLoop:
    """The steps of one plan whose request has functions: ``ToolLoop(plan, emit).execute()``."""

    def __init__(self, plan: CallPlan, emit: Listener, *, client: OpenRouterClient | None = None
                 ) -> None:
        self.plan = plan
        self._emit = emit
        self._client = client
        self._group = uuid.uuid4().hex[:16]
        self._cancelled = threading.Event()
        self._current: CallRun | None = None

    def cancel(self) -> None:
        """Stop the step running (from any thread) and send no other."""
        self._cancelled.set()
        run = self._current
        if run is not None:
            run.cancel()

    def execute(self) -> Outcome:
        from ..tools import can_confirm

        plan, request = self.plan, self.plan.request
        planned = plan.calls[0]
        if request.confirm_tools and not can_confirm():
            raise NothingSent("Nothing was sent: --confirm-tools asks before each call, and nobody "
                              "can answer here (no input in this kernel or terminal). Run it where "
                              "you can answer, or leave out --confirm-tools.")
        try:  # nothing is written before the first step: an interrupt here costs nothing
            if self._client is None:
                self._client = connected_client()
            from ._checks import check_structured, check_tools

            check_tools(self._client, [planned.spec.model])  # before any row is written
            if request.schema is not None:  # refused before any row, as a cell without tools
                check_structured(self._client, [planned.spec.model])
        except KeyboardInterrupt:
            raise EdgeInterrupted("Interrupted before anything was sent: nothing was spent.") from None
        state = _State()
        try:
            self._steps(planned, state)
        except KeyboardInterrupt:  # between steps: everything so far is kept as it is
            state.interrupted = True
        except Exception as exc:  # the loop's own code, or a view failing: kept, said in one line
            if not state.steps:
                raise
            from ._running import describe_failure

            state.notes.append(f"The tool loop stopped on an unexpected error: "
                               f"{describe_failure(exc)}. Everything so far is kept.")
            state.stop_status = "error"
        if not state.steps:  # cancelled before the first step was sent
            raise EdgeInterrupted("Interrupted before anything was sent: nothing was spent.")
        return self._outcome(state)

    def _steps(self, planned: PlannedCall, state: _State) -> None:
        """Step after step until an answer, a stop, or ``max_steps``; ``state`` holds it all."""
        request = self.plan.request
        messages = list(planned.body["messages"])
        for step in range(1, request.max_steps + 1):
            if self._cancelled.is_set():
                state.interrupted = True
                return
            run = self._step_run(planned, messages, step, state)
            if run is None:
                return
            completion = run.completion(0)
            record = state.steps[-1]
            wanted = list(completion.tool_calls) if completion is not None else []
            if state.interrupted or not wanted or record.status != "ok":
                return
            names = ", ".join(dict.fromkeys(c.name for c in wanted))
            if record.finish_reason == "length":  # the arguments are cut: running them is blind
                record.error = state.stop_error = (
                    f"The model's call of {names} was cut off by the token cap (--max-tokens "
                    f"{request.max_tokens}) before its arguments were complete, so it did not "
                    "run. Raise --max-tokens (max_tokens=).")
                return
            if step == request.max_steps:
                state.notes.append(
                    f"Stopped after {step} step{'s' if step > 1 else ''} (--max-steps "
                    f"{request.max_steps}): the model still asked for {names}, which did not "
                    "run. Raise --max-steps (max_steps=) to let it go on.")
                state.stop_status = "stopped_steps"
                return
            messages = [*messages, assistant_message(completion, record.text, wanted)]
            ran = []
            try:
                for call in wanted:
                    if self._cancelled.is_set():  # a cancel from another thread: no more calls
                        state.interrupted = True
                        return
                    ran.append(self._run_tool(call, step, state))
                    messages.append({"role": "tool", "tool_call_id": call.id,
                                     "content": ran[-1].content})
                    if state.interrupted:
                        return
            finally:  # the calls this step asked for, with it (an interrupt included)
                record.tool_calls = tuple(ran)

    # -- one step ----------------------------------------------------------------------
    def _step_run(self, planned: PlannedCall, messages: list[dict[str, Any]], step: int,
                  state: _State) -> CallRun | None:
        """Send step ``step`` as a one-call run; None when it was not sent or the loop ends
        with it (the reason is on ``state``). The first step's refusal is the cell's."""
        plan, request = self.plan, self.plan.request
        budget = request.budget
        if budget is not None and state.steps:
            budget = total_usd([budget, -state.spent_usd()])
            if budget <= 0:
                state.notes.append(f"Step {step} was not sent: the {exact_usd(request.budget)} "
                                   "budget of this cell is spent. Everything so far is kept.")
                state.stop_status = "stopped_budget"
                return None
        # The step's own request: no functions (this loop runs them), no replay (the tools
        # run each time), no conversation turn (saved once, with the final answer), and the
        # schema checked once on the final answer.
        step_request = dataclasses.replace(request, tools=None, replay=False, fresh=False,
                                           conversation=None, schema=None, budget=budget)
        body = {**planned.body, "messages": messages}
        step_plan = CallPlan(request=step_request, calls=[dataclasses.replace(planned, body=body)],
                             turn_key=plan.turn_key, notes=list(plan.notes) if step == 1 else [])
        run = self._current = CallRun(step_plan, self._emit, client=self._client,
                                      step=(self._group, step))
        if self._cancelled.is_set():
            run.cancel()
        try:
            outcome = run.execute()
        except (CallRefused, NothingSent) as exc:  # before it was sent: its row is released
            if not state.steps:
                raise
            state.notes.append(f"Step {step} was not sent: {exc} Everything so far is kept.")
            # a later step is refused for its price (the body is the first step's, longer)
            state.stop_status = "stopped_budget" if isinstance(exc, CallRefused) else "error"
            return None
        except (EdgeInterrupted, CallsBroke, KeyboardInterrupt) as exc:
            # Stopped after its row was written (an interrupt also after it was complete): the
            # step is in the ledger as it ended (paid, perhaps), so it is in the summary too,
            # and the cost line stays the rows' sum.
            abandoned = run.records_so_far()
            state.steps += abandoned
            state.held += [run.held_usd(0)] * len(abandoned)
            if not state.steps:
                raise
            if isinstance(exc, (EdgeInterrupted, KeyboardInterrupt)):
                state.interrupted = True
            else:
                state.notes.append(f"Step {step} stopped: {exc}")
                state.stop_status = "error"
            return None
        finally:
            self._current = None
        state.steps.append(outcome.records[0])
        state.notes += [n for n in outcome.notes if n not in state.notes]
        state.warnings = state.warnings or list(outcome.warnings)
        state.held.append(run.held_usd(0))
        state.interrupted = state.interrupted or outcome.interrupted
        state.completion = run.completion(0)
        return run

    def _run_tool(self, call: Any, step: int, state: _State) -> Any:
        """Run one call the model asked for (after asking, with ``--confirm-tools``); an
        interrupt inside the function stops the loop and is kept as that call's outcome."""
        from ..tools import ToolOutcome, confirm_call

        request, toolbox = self.plan.request, self.plan.toolbox
        scrub = self._client.scrub if self._client is not None else str
        try:
            if request.confirm_tools and not confirm_call(call.name, call.arguments):
                outcome = ToolOutcome(call_id=call.id, name=call.name, arguments_text=call.arguments,
                                      arguments=None, content=DECLINED, preview="declined",
                                      error="declined by the user", seconds=0.0)
            else:
                self._emit(ToolRunning(0, step, call.name, call.arguments))
                outcome = toolbox.run(call.name, call.arguments, call_id=call.id)
                # A function may put the key into what it returns or raises: it goes to the
                # model and into the cell, so it is masked as any server text is.
                outcome = dataclasses.replace(outcome, content=scrub(outcome.content),
                                              preview=scrub(outcome.preview),
                                              error=scrub(outcome.error) if outcome.error else None)
        except KeyboardInterrupt:
            state.interrupted = True
            outcome = ToolOutcome(call_id=call.id, name=call.name, arguments_text=call.arguments,
                                  arguments=None, content="Interrupted by the user.",
                                  preview="interrupted", error="interrupted", seconds=0.0)
        state.tools.append(outcome)
        self._emit(ToolRan(0, step, outcome))
        return outcome

    # -- the outcome -------------------------------------------------------------------
    def _outcome(self, state: _State) -> Outcome:
        from ._checks import refresh_balance_later

        plan = self.plan
        if self._client is not None:
            refresh_balance_later(self._client)
        summary = summarise(state.steps, state.tools, self._group,
                            status="interrupted" if state.interrupted else state.stop_status)
        if plan.request.schema is not None and summary.status == "ok":
            summary.check_schema(plan.request.schema)
        if state.stop_error:
            summary.status, summary.error = "error", state.stop_error
        notes = list(state.notes)
        if summary.status == "ok" and summary.text and state.completion is not None:
            details = state.completion.reasoning_details
            notes += save_turn(plan, {summary.model: summary.text},
                               {summary.model: details} if details else {})
        return Outcome([summary], notes, state.warnings, state.interrupted)


@dataclasses.dataclass
class _State:
    """What the loop has done so far: it all goes into the outcome, however the loop ends."""

    steps: list[EdgeResult] = dataclasses.field(default_factory=list)
    held: list[float | None] = dataclasses.field(default_factory=list)  # per step, if unpriced
    tools: list[Any] = dataclasses.field(default_factory=list)  # ToolOutcome, in order
    notes: list[str] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)
    interrupted: bool = False
    #: the loop's status when it ended early ("stopped_budget", "stopped_steps", "error")
    stop_status: str | None = None
    stop_error: str = ""  # why the last step's answer could not be used (a cut-off call)
    completion: Any = None  # the last step's openrouter.Completion

    def spent_usd(self) -> float:
        """What the steps so far cost: exact where known, else the worst case reserved for
        them (their cost is reconciled later; until then the budget holds it)."""
        return total_usd([r.cost_usd if r.cost_usd is not None else held
                          for r, held in zip(self.steps, self.held, strict=True)])


def assistant_message(completion: Any, text: str, calls: list[Any]) -> dict[str, Any]:
    """The assistant's turn as the next request carries it: its text, the calls exactly as
    asked for, and its ``reasoning_details`` unmodified (OpenRouter requires them back)."""
    message: dict[str, Any] = {"role": "assistant", "content": text or None,
                               "tool_calls": [c.to_json() for c in calls]}
    if completion.reasoning_details:
        message["reasoning_details"] = completion.reasoning_details
    return message


def summarise(steps: list[EdgeResult], tools: list[Any], group: str, *,
              status: str | None = None) -> EdgeResult:
    """One record for the loop: the last step's answer, every step (each equal to its ledger
    row) and tool outcome, and the sums of their tokens and costs (None while a step's exact
    cost is still to come from OpenRouter)."""
    last = steps[-1]
    summary = dataclasses.replace(last)
    costs = [s.cost_usd for s in steps]
    summary.cost_usd = None if any(c is None for c in costs) else total_usd(costs)
    upstream = [s.upstream_cost_usd for s in steps]
    summary.upstream_cost_usd = None if any(u is None for u in upstream) else total_usd(upstream)
    for name in ("prompt_tokens", "completion_tokens", "reasoning_tokens", "cached_tokens",
                 "web_searches"):
        setattr(summary, name, sum(getattr(s, name, 0) or 0 for s in steps))
    summary.latency_s = round(sum(s.latency_s or 0.0 for s in steps), 4)
    summary.ttft_s = steps[0].ttft_s
    summary.reasoning = "\n\n".join(s.reasoning for s in steps if s.reasoning)
    shares = [s.reasoning_usd for s in steps if s.reasoning_usd is not None]
    summary.reasoning_usd = total_usd(list(shares)) if shares else None
    summary.steps = tuple(steps)
    summary.tool_calls = tuple(tools)
    summary.citations = tuple(dict.fromkeys(c for s in steps for c in s.citations))
    summary.group_id, summary.step = group, 0
    summary.status = status or last.status  # else the last step's: ok, error, stopped_budget…
    return summary
