"""What every benchmark shares: the result row, medians, and the answer the sandbox sends."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

#: Non-reasoning sandbox models (a reasoning model would stream extra tokens first).
MODELS = ("openai/gpt-4o-mini", "openai/gpt-4o", "anthropic/claude-3.5-haiku",
          "google/gemini-2.0-flash-001", "mistralai/mistral-small-3.1-24b-instruct")
MODEL = MODELS[0]


@dataclass
class Row:
    """One line of the results table.

    ``ok`` is None for a figure that is reported but has no target.
    """

    bench: str
    metric: str
    value: float
    unit: str = ""
    baseline: float | None = None
    baseline_unit: str = ""
    ratio: float | None = None
    target: str = ""
    ok: bool | None = None
    note: str = ""

    @property
    def verdict(self) -> str:
        return {True: "pass", False: "MISS", None: "info"}[self.ok]


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds one call of ``action`` took, and what it returned."""
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def prompt_for(tokens: int, tag: str = "") -> str:
    """A prompt that makes the sandbox answer with exactly ``tokens`` tokens."""
    return f"Benchmark answer{(' ' + tag) if tag else ''}, please. [sandbox:tokens={tokens}]"


def answer_for(model: str, prompt: str, tokens: int) -> list[str]:
    """The exact tokens the sandbox streams for a one-message ``%%edge`` cell."""
    from edge_jupyter.sandbox import answer_tokens

    return answer_tokens(model, [{"role": "user", "content": prompt}], tokens)


def chat_body(model: str, prompt: str) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": prompt}]}


def fmt(value: float | None, unit: str = "") -> str:
    """A number for the table: 3 significant figures, thousands separators, then the unit."""
    if value is None:
        return ""
    magnitude = abs(value)
    if unit == "×" and magnitude < 100:  # ratios compared with a target such as 3
        return f"{value:.3f} ×"
    if magnitude >= 1000:
        text = f"{value:,.0f}"
    elif magnitude >= 100:
        text = f"{value:.0f}"
    elif magnitude >= 10:
        text = f"{value:.1f}"
    elif magnitude >= 1 or magnitude == 0:
        text = f"{value:.2f}"
    else:
        text = f"{value:.3g}"
    return f"{text} {unit}".strip()
