"""What the engine tells a front-end while calls run.

A listener is any ``callable(event)``. The engine delivers every event in the thread that
runs the calls (calls running in worker threads are forwarded through a queue), so a view
never needs a lock and never reads another part's fields. ``index`` is the call's position
in the plan.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Began:
    """Every call has its ledger row; nothing is sent yet. Warnings go above the answers."""

    models: tuple[str, ...]
    streaming: tuple[bool, ...]
    replayed: tuple[bool, ...]
    warnings: tuple[str, ...] = ()
    #: per call, what goes besides the text, for the status line before the first token
    #: ("2 images · 1 PDF (12 pages) · ~1,850 text tokens · at most $0.013"); "" for none
    sending: tuple[str, ...] = ()
    #: a tool loop's step (1, 2, …): each step begins like a call of its own; 0 otherwise
    step: int = 0


@dataclass(frozen=True, slots=True)
class Started:
    """A model accepted the request (its generation id is known)."""

    index: int
    generation_id: str


@dataclass(frozen=True, slots=True)
class Text:
    """Answer text arrived; ``tokens`` is the call's running count of streamed chunks."""

    index: int
    text: str
    tokens: int


@dataclass(frozen=True, slots=True)
class Reasoning:
    """Reasoning text arrived (``delta.reasoning``, before or between the answer's text); a
    call that did not stream sends its whole reasoning once, before its :class:`Text`."""

    index: int
    text: str


@dataclass(frozen=True, slots=True)
class Ended:
    """A call stopped receiving (answered, failed, stopped at the budget or interrupted);
    its record is written after every call of the plan has ended."""

    index: int
    failed: bool


@dataclass(frozen=True, slots=True)
class Tick:
    """Nothing arrived for a tenth of a second while several calls run: a view that throttles
    its redraws shows what it held back (a model that paused mid-answer, one that ended)."""


@dataclass(frozen=True, slots=True)
class ToolRunning:
    """A tool loop is about to run ``name`` in the kernel with these (JSON) arguments."""

    index: int
    step: int
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class ToolRan:
    """A tool call ended: ``outcome`` is its :class:`edge_jupyter.tools.ToolOutcome` (the
    function, arguments, result preview or error, seconds)."""

    index: int
    step: int
    outcome: Any


Event = Began | Started | Text | Reasoning | Ended | Tick | ToolRunning | ToolRan
Listener = Callable[[Event], None]
