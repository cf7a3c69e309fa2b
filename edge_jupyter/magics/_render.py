"""How a cell's answer reaches the notebook while it streams, and once it is done.

Streaming text goes out as plain ``stdout`` writes, batched at most ~15 times a
second: the frontend appends each batch, so the bytes sent while streaming are
the answer's own bytes, O(n) in total (re-sending the whole text on every
update would be O(n²)).  When the answer is complete, the streamed text is
replaced once (``clear_output(wait=True)``: no flicker) by the final rendering
in the chosen format and the cost line.

The answer is untrusted text (a prompt injection in the data being summarised
writes it), and JupyterLab trusts every output produced live, then marks a saved
notebook trusted again: raw ``text/markdown`` holding ``<script>`` or
``<img onerror=…>`` would run as the user.  So a Markdown answer is rendered here,
with raw HTML off, and sanitised (:mod:`edge_jupyter.untrusted_text`), and sent as
``text/html``; code answers go out as escaped ``<pre><code>``, model ids as escaped
text; every ``text/plain`` form and every stdout write has its control characters
removed (an OSC 52 sequence in an answer would write the clipboard of terminal
IPython or ``jupyter console``).

A Markdown answer that already went out whole as ``stdout`` is sent as
``text/html`` alone, without a ``text/plain`` twin: every notebook frontend
renders the HTML, while text frontends (``jupyter console``, terminal IPython)
print ``text/plain`` *below* the streamed text rather than instead of it, so a
twin only showed them the answer twice (and cost the notebook a third copy of
it).  Answers that did not stream (replays, several models) keep their twin.
In terminal IPython, where nothing printed can be taken back, the streamed text
simply stays: no ``clear_output`` (it would erase the answer's last line), no
status updates (each would print a new line).

Several models stream side by side in one HTML grid updated a few times a
second, showing each model's latest lines; their full answers follow at the end.

A call that sends images or PDFs says so in its status line before the first token
("sending 1 image · ~1,850 text tokens · at most $0.0123", the engine's ``Began.sending``),
and its final output starts with a collapsible strip of thumbnails of what was sent
(:func:`edge_jupyter.content.thumbnails_html`: inert, escaped HTML), so a saved notebook
shows what the model saw.
"""

from __future__ import annotations

import html
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from IPython.display import clear_output, display

from .. import answer_format as _format
from ..calls import Began, Ended, Event, Reasoning, Text, Tick, ToolRan, ToolRunning
from ..content import Attachment
from ..record import CallRecord
from ..untrusted_text import markdown_to_safe_html, strip_controls, warm_up
from ._context import in_kernel

STREAM_INTERVAL = 1 / 15  # seconds between stdout batches
GRID_INTERVAL = 0.25  # seconds between refreshes of the multi-model grid
TAIL_CHARS = 280
#: While a model reasons, its latest REASONING_TAIL characters show (dimmed, in an open
#: <details>); redrawn once the reasoning grew by as much as it showed (64 characters at
#: least), and at most by REASONING_TAIL // 2: each redraw then sends at most about twice
#: the characters that arrived since the last, so the traffic stays O(n).
REASONING_TAIL = 1000
REASONING_STEP_MIN = 64
_DIM = "opacity:0.6;font-size:0.85em"


def reasoning_live_html(text: str, total: int) -> str:
    """The open section while the model reasons: the tail of its reasoning, escaped."""
    shown = strip_controls(text[-REASONING_TAIL:])
    more = "…" if total > len(text[-REASONING_TAIL:]) else ""
    return (f'<details open class="edge-reasoning" style="{_DIM}"><summary>💭 reasoning…'
            f'</summary><div style="white-space:pre-wrap">{more}{html.escape(shown)}'
            "</div></details>")


def reasoning_bundle(reasoning: str) -> dict[str, str]:
    """The reasoning above a finished answer: collapsed, rendered and sanitised as answers are
    (it is model text: untrusted). Its plain form only says it is there (text frontends get
    the answer; the reasoning is on the result)."""
    return {"text/html": f'<details class="edge-reasoning" style="{_DIM}"><summary>💭 reasoning '
                         f"({len(reasoning):,} characters)</summary>"
                         f"{markdown_to_safe_html(reasoning)}</details>",
            "text/plain": f"💭 reasoning: {len(reasoning):,} characters (collapsed)"}


def _bundle(text_html: str, text_plain: str) -> dict[str, str]:
    # Errors, providers and warnings quote the server: their plain form is printed as is.
    return {"text/html": text_html, "text/plain": strip_controls(text_plain)}


def show_error(message: str, title: str = "edge") -> None:
    display(_bundle(_format.error_html(message, title), f"{title}: {message}"), raw=True)


def show_warning(message: str) -> None:
    display(_bundle(_format.warning_html(message), f"⚠️ {message}"), raw=True)


def answer_bundle(record: CallRecord, fmt: str, *, plain_twin: bool = True
                  ) -> tuple[dict[str, Any], Any, str | None]:
    """The final rendering of one answer, the value kept for ``.value``, and a note if any.

    ``plain_twin=False``: the Markdown answer reached text frontends already (streamed).
    """
    text = record.text
    if fmt == "text":
        return {"text/plain": strip_controls(text)}, text, None
    if fmt == "code":
        code, language = _format.extract_code(text)
        # Escaped, never put back into Markdown: a fence inside the code cannot close it.
        return {"text/html": _format.code_html(code, language),
                "text/plain": strip_controls(code)}, code, None
    if fmt == "json":
        try:
            value = _format.parse_json_answer(text)
        except ValueError as exc:
            return ({"text/plain": strip_controls(text)}, None,
                    str(exc) if record.status == "ok" else None)
        return {"application/json": value if isinstance(value, (dict, list)) else {"value": value},
                "text/plain": strip_controls(json.dumps(value, indent=2, ensure_ascii=False))
                }, value, None
    rendered = markdown_to_safe_html(text)
    return ({"text/html": rendered, "text/plain": strip_controls(text)} if plain_twin
            else {"text/html": rendered}), text, None


def transcript_bundle(parts: list[tuple[str, str]]) -> dict[str, str]:
    """A conversation as (who, Markdown) pairs: names escaped, bodies rendered safely."""
    blocks = [f'<div class="edge-turn"><div style="font-weight:600">{html.escape(who)}:</div>'
              f"{markdown_to_safe_html(body)}</div>" for who, body in parts]
    return {"text/html": "".join(blocks),
            "text/plain": strip_controls("\n\n".join(f"{who}: {body}" for who, body in parts))}


def cost_bundle(record: CallRecord) -> dict[str, str]:
    return _bundle(_format.cost_line_html(record), _format.cost_line_text(record))


def waiting_state(waiting: str, sending: str) -> str:
    """A status line's state before the first token: "⏳ waiting for first token…", or with
    attachments "⏳ sending 2 images · 1 PDF (12 pages) · ~1,850 text tokens · at most $0.0123 —
    waiting for first token…" (the figures are the engine's, ``Began.sending``)."""
    return f"⏳ sending {sending} — {waiting}" if sending else f"⏳ {waiting}"


def attachments_of(record: Any) -> tuple[Attachment, ...]:
    """What a call sent besides text (``EdgeResult.attachments``; a plain record has none)."""
    return tuple(getattr(record, "attachments", ()) or ())


def sent_bundle(attachments: Sequence[Attachment]) -> dict[str, str]:
    """Thumbnails of what the model saw (a collapsible block), kept in the saved notebook."""
    from ..content import thumbnails_html

    return _bundle(thumbnails_html(attachments),
                   "sent: " + " · ".join(a.describe() for a in attachments))


def show_sent(attachments: Sequence[Attachment]) -> None:
    if attachments:
        display(sent_bundle(attachments), raw=True)


def tool_line_bundle(outcome: Any) -> dict[str, str]:
    """One function call of a tool loop, as it ran: "🔧 f(x=1) → '2' · 0.01 s" (the
    arguments are the model's text and the result the function's: both escaped)."""
    line = f"🔧 {outcome.line()}"
    colour = "#b91c1c" if outcome.error else "#374151"
    return _bundle(f'<div class="edge-tool" style="font-size:0.85em;color:{colour};'
                   f'font-family:monospace;white-space:pre-wrap">{html.escape(strip_controls(line))}'
                   "</div>", line)


def steps_bundle(record: Any) -> dict[str, str]:
    """A finished tool loop above its answer: each step's text (dimmed: the model's words on
    the way) and the function calls it asked for, in the order they happened."""
    steps = getattr(record, "steps", ()) or ()
    blocks, plain, calls = [], [], 0
    for number, step in enumerate(steps, start=1):
        if step.text and number < len(steps):
            blocks.append(f'<div style="{_DIM}">{markdown_to_safe_html(step.text)}</div>')
            plain.append(strip_controls(step.text))
        for outcome in step.tool_calls:
            blocks.append(tool_line_bundle(outcome)["text/html"])
            plain.append(f"🔧 {strip_controls(outcome.line())}")
            calls += 1
    summary = f"{len(steps)} steps · {calls} function call{'s' if calls != 1 else ''}"
    return {"text/html": f'<details open class="edge-steps"><summary style="{_DIM}">🔧 {summary}'
                         f"</summary>{''.join(blocks)}</details>",
            "text/plain": "\n".join([f"🔧 {summary}", *plain])}


def citations_bundle(citations: Sequence[Any]) -> dict[str, str]:
    """The web pages an answer cites, numbered, under it (only http(s) links: see
    :func:`edge_jupyter.answer_format.citations_html`)."""
    return {"text/html": _format.citations_html(citations),
            "text/plain": strip_controls(_format.citations_text(citations))}


def show_citations(record: Any) -> None:
    citations = getattr(record, "citations", ()) or ()
    if citations:
        display(citations_bundle(citations), raw=True)


class SingleView:
    """One model: a status line, then the text as it streams, then the final render.

    A listener of the call engine (``view(event)``): it draws on :class:`~edge_jupyter.calls.Began`
    and :class:`~edge_jupyter.calls.Text`, and is asked for the final render at the end.
    """

    def __init__(self, model: str, *, streaming: bool, show_reasoning: bool = True) -> None:
        warm_up()  # the renderer's imports, in a thread, while the answer streams
        self.model = model
        self.streaming = streaming
        self.show_reasoning = show_reasoning  # False: ``--hide-reasoning`` (display only)
        self.reasoning_parts: list[str] = []
        self._reasoning_len = 0  # characters of reasoning received
        self._reasoning_shown = 0  # … of which the open section last showed up to here
        self._reasoning_view: Any = None  # the open section's display handle
        self._reasoning_last = 0.0
        self.warnings: list[str] = []
        self._terminal = not in_kernel()
        self._status: Any = None
        self._pending: list[str] = []
        self._last = 0.0  # the first text goes out at once; later ones are batched
        self._streaming_shown = self._terminal  # a terminal cannot update the status line
        self._written = 0  # characters of the answer sent as stdout so far
        self._step_from = 0  # … of which the earlier steps of a tool loop wrote these
        self._ends_line = True

    def __call__(self, event: Event) -> None:
        if type(event) is Text:
            self.on_text(event.text)
        elif type(event) is Reasoning:
            self.on_reasoning(event.text)
        elif type(event) is ToolRunning:
            self.on_tool_running(event.name, event.arguments)
        elif type(event) is ToolRan:
            self.on_tool(event.outcome)
        elif isinstance(event, Began) and event.step > 1 and self._status is not None:
            self.next_step(event.step)
        elif isinstance(event, Began):
            replayed = bool(event.replayed and event.replayed[0])
            # a replayed answer sends nothing: no "sending …" for it
            self.begin(list(event.warnings), replayed=replayed,
                       sending=event.sending[0] if event.sending and not replayed else "")

    def begin(self, warnings: list[str], *, replayed: bool = False, sending: str = "") -> None:
        """The status line until the first token; ``sending``: what goes with the text
        ("1 image · ~1,850 text tokens · at most $0.0123"), "" when nothing is attached."""
        self.warnings = warnings
        for message in warnings:
            show_warning(message)
        waiting = ("from the replay store…" if replayed else
                   "waiting for first token…" if self.streaming else "waiting for the answer…")
        self._status = display(self._status_bundle(waiting_state(waiting, sending)),
                               raw=True, display_id=True)

    def next_step(self, step: int) -> None:
        """A tool loop sends its next step: what the last one wrote stays, the status says
        which step waits."""
        self._end_line()
        self._step_from = self._written
        self._streaming_shown = self._terminal
        self._set_status(f"step {step} · waiting for first token…")

    def on_tool_running(self, name: str, arguments: str) -> None:
        self._end_line()
        shown = arguments if len(arguments) <= 60 else arguments[:59] + "…"
        self._set_status(f"🔧 running {name}({shown})…")

    def on_tool(self, outcome: Any) -> None:
        """One function call ended: its line stays in the output (the final render shows
        them all again, above the answer)."""
        bundle = tool_line_bundle(outcome)
        if self._terminal:
            sys.stdout.write(bundle["text/plain"] + "\n")
            sys.stdout.flush()
            self._ends_line = True
        else:
            display(bundle, raw=True)

    def _set_status(self, state: str) -> None:
        if self._status is not None and not self._terminal:
            self._status.update(self._status_bundle(state), raw=True)

    def _end_line(self) -> None:
        self.flush()
        if self._written and not self._ends_line:
            sys.stdout.write("\n")
            sys.stdout.flush()
            self._ends_line = True

    def _status_bundle(self, state: str) -> dict[str, str]:
        text = f"{self.model} · {state}"
        return _bundle(f'<div class="edge-status" style="font-size:0.85em;color:#6b7280">'
                       f"{html.escape(text)}</div>", text)

    def on_reasoning(self, text: str) -> None:
        """Reasoning arrived: dim text in a terminal, the open section in a notebook."""
        self.reasoning_parts.append(text)
        self._reasoning_len += len(text)
        if not self.show_reasoning:
            return
        if self._terminal:
            shown = strip_controls(text)
            if shown:  # dim (SGR 2), then back to normal: the answer follows in plain text
                sys.stdout.write(f"\x1b[2m{shown}\x1b[0m")
                sys.stdout.flush()
                self._ends_line = shown.endswith("\n")
            return
        new = self._reasoning_len - self._reasoning_shown
        step = max(REASONING_STEP_MIN, min(self._reasoning_shown, REASONING_TAIL // 2))
        now = time.perf_counter()
        if new >= step and now - self._reasoning_last >= STREAM_INTERVAL:
            self._draw_reasoning(now)

    def _draw_reasoning(self, now: float) -> None:
        """Show the reasoning so far (its tail) in the open section above the answer."""
        if self._reasoning_shown == self._reasoning_len:
            return
        if len(self.reasoning_parts) > 1:  # joined once per redraw, kept joined
            self.reasoning_parts[:] = ["".join(self.reasoning_parts)]
        bundle = {"text/html": reasoning_live_html(self.reasoning_parts[0], self._reasoning_len),
                  "text/plain": "💭 reasoning…"}
        if self._reasoning_view is None:
            if self._status is not None:
                self._status.update(self._status_bundle("💭 reasoning…"), raw=True)
            self._reasoning_view = display(bundle, raw=True, display_id=True)
        else:
            self._reasoning_view.update(bundle, raw=True)
        self._reasoning_shown = self._reasoning_len
        self._reasoning_last = now

    @property
    def reasoning(self) -> str:
        return "".join(self.reasoning_parts)

    def on_text(self, text: str) -> None:
        if self._reasoning_shown != self._reasoning_len and self.show_reasoning \
                and not self._terminal:
            self._draw_reasoning(time.perf_counter())  # the whole of it, before the answer
        elif self._terminal and self._reasoning_len and not self._written \
                and self.show_reasoning and not self._ends_line:
            sys.stdout.write("\n\n")  # the answer starts on its own line, under the reasoning
            self._ends_line = True
        self._pending.append(text)
        now = time.perf_counter()
        if now - self._last >= STREAM_INTERVAL:
            self.flush(now)

    def flush(self, now: float | None = None) -> None:
        if self._pending:
            if not self._streaming_shown:
                self._streaming_shown = True
                if self._status is not None:
                    self._status.update(self._status_bundle("▶ streaming…"), raw=True)
            text = "".join(self._pending)
            self._pending.clear()
            self._written += len(text)  # the answer's characters, to compare with record.text
            shown = strip_controls(text)
            if shown:
                sys.stdout.write(shown)
                sys.stdout.flush()
                self._ends_line = shown.endswith("\n")
        self._last = now or time.perf_counter()

    def clear(self) -> None:
        """Replace what streamed (in a notebook); in a terminal, just end its line.

        The streamed text always ends its line first: text frontends (qtconsole, jupyter
        console) print what follows below it, and qtconsole's ``clear_output`` erases
        only the current line; a notebook replaces the lot anyway.
        """
        self._end_line()
        if not self._terminal:
            clear_output(wait=True)

    def final(self, record: CallRecord, fmt: str, notes: list[str]) -> Any:
        self.clear()
        if not self._terminal:
            for message in self.warnings:
                show_warning(message)
            show_sent(attachments_of(record))
            if self.show_reasoning and self._reasoning_len:
                display(reasoning_bundle(self.reasoning), raw=True)
            if getattr(record, "steps", ()):
                display(steps_bundle(record), raw=True)
        streamed = bool(record.text) and self._written - self._step_from == len(record.text)
        bundle, value, note = answer_bundle(record, fmt, plain_twin=not streamed)
        if self._terminal and streamed and fmt in ("markdown", "text"):
            pass  # the terminal shows the streamed text; reprinting it would double it
        elif record.text or fmt != "text":
            display(bundle, raw=True, metadata=_format.receipt_metadata(record))
        show_citations(record)
        display(cost_bundle(record), raw=True)
        for message in [*notes, *([note] if note else [])]:
            show_warning(message)
        return value


@dataclass
class _Lane:
    """What the grid shows of one model while it streams."""

    model: str
    sending: str = ""  # what goes besides the text, for the status (Began.sending)
    parts: list[str] = field(default_factory=list)
    tokens: int = 0
    reasoning: int = 0  # characters of reasoning so far (the lane says it is thinking)
    done: bool = False
    failed: bool = False


class MultiView:
    """Several models side by side while they stream, full answers at the end.

    A listener of the call engine: it keeps each model's lane from the events (it never
    reads the running calls) and redraws the grid a few times a second.
    """

    def __init__(self) -> None:
        warm_up()  # the renderer's imports, in a thread, while the answers stream
        self.lanes: list[_Lane] = []
        self.warnings: list[str] = []
        self._terminal = not in_kernel()
        self._grid: Any = None
        self._last = 0.0

    def __call__(self, event: Event) -> None:
        if isinstance(event, Text):
            lane = self.lanes[event.index]
            lane.parts.append(event.text)
            lane.tokens = event.tokens
            self.refresh()
        elif type(event) is Reasoning:
            self.lanes[event.index].reasoning += len(event.text)
            self.refresh()
        elif isinstance(event, Ended):
            lane = self.lanes[event.index]
            lane.done, lane.failed = True, event.failed
            self.refresh(force=True)  # a model's end shows at once
        elif isinstance(event, Tick):
            self.refresh()  # what a throttled redraw held back, at most GRID_INTERVAL late
        elif isinstance(event, Began):
            sending = event.sending or ("",) * len(event.models)
            self.lanes = [_Lane(m, "" if replayed else s)  # a replayed answer sends nothing
                          for m, s, replayed in zip(event.models, sending, event.replayed, strict=True)]
            self.warnings = list(event.warnings)
            for message in self.warnings:
                show_warning(message)
            self._grid = display(self._grid_bundle(), raw=True, display_id=True)

    def _grid_bundle(self) -> dict[str, str]:
        cells, plain = [], []
        for p in self.lanes:
            text = "".join(p.parts)
            tail = text[-TAIL_CHARS:]
            if p.done:
                state = "failed" if p.failed else "done"
            elif not text and p.reasoning:
                state = f"💭 reasoning… ({p.reasoning:,} characters)"
            elif p.tokens:
                state = f"▶ {p.tokens:,} tokens"
            else:
                state = waiting_state("waiting for first token…", p.sending)
            cells.append(
                '<div style="flex:1 1 0;min-width:12em;border:1px solid rgba(128,128,128,0.3);'
                'border-radius:6px;padding:0.4em 0.6em">'
                f'<div style="font-weight:600;font-size:0.85em">{html.escape(p.model)}</div>'
                f'<div style="font-size:0.8em;color:#6b7280">{html.escape(state)}</div>'
                '<div style="white-space:pre-wrap;font-size:0.85em;max-height:9em;overflow:hidden">'
                f"{'…' if len(text) > TAIL_CHARS else ''}{html.escape(tail)}</div></div>")
            plain.append(f"{p.model}: {state}")
        return _bundle('<div class="edge-grid" style="display:flex;gap:0.6em;flex-wrap:wrap">'
                       + "".join(cells) + "</div>", "\n".join(plain))

    def refresh(self, force: bool = False) -> None:
        now = time.perf_counter()
        if force or now - self._last >= GRID_INTERVAL:
            self._last = now
            if self._grid is not None and not self._terminal:
                self._grid.update(self._grid_bundle(), raw=True)

    def clear(self) -> None:
        if not self._terminal:
            clear_output(wait=True)

    def final(self, records: Sequence[CallRecord], fmt: str, total: float, notes: list[str]) -> list[Any]:
        self.clear()
        for message in self.warnings:
            show_warning(message)
        # The models were sent the same attachments: their thumbnails once, above the answers
        # (a conversation's re-sent history may differ per model: then under each model).
        sent = [attachments_of(r) for r in records]
        shared = all(s == sent[0] for s in sent)
        if shared:
            show_sent(sent[0])
        values: list[Any] = []
        for record, attachments in zip(records, sent, strict=True):
            # the id the server says answered: its text, never its markup
            display(_bundle(f"<h4>{html.escape(strip_controls(record.model))}</h4>",
                            f"== {record.model}"), raw=True)
            if not shared:
                show_sent(attachments)
            if record.status == "error" and not record.text:
                show_error(record.error, record.model)
                values.append(None)
            else:
                bundle, value, note = answer_bundle(record, fmt)
                display(bundle, raw=True, metadata=_format.receipt_metadata(record))
                show_citations(record)
                if note:
                    show_warning(note)
                values.append(value)
            display(cost_bundle(record), raw=True)
        line = _format.total_line_text(records, total)
        display(_bundle(f'<div class="edge-total" style="font-weight:600;margin-top:0.4em">'
                        f"{html.escape(line)}</div>", line), raw=True)
        for message in notes:
            show_warning(message)
        return values

