"""6. Many models at once: ``%%edge -m A -m B -m C -m D -m E`` against the slowest single one.

The sandbox (in its own process) streams every answer at 50 tokens/s, each of the same
length. In each round every model is asked alone in a ``%%edge`` cell, then all five
in one cell. Wall time is from the execute request to the cell's last display message
(the cost line of a single model, the total line of several). The target: the five
together take at most 1.1 × the slowest single model, i.e. they really run concurrently
(run one after another they would take about 5 ×).
"""

from __future__ import annotations

import tempfile

from ._common import MODELS, Row, median, prompt_for
from ._kernel import BenchKernel, edge_cell, kernel_env
from ._sandbox import SandboxProcess

NAME = "many_models"
TOKENS_PER_SECOND = 50.0


def run(tokens: int = 150, models: int = 5, repeats: int = 3) -> list[Row]:
    chosen = MODELS[:models]
    singles: dict[str, list[float]] = {m: [] for m in chosen}
    together: list[float] = []
    with SandboxProcess(tokens_per_second=TOKENS_PER_SECOND) as sb, \
            tempfile.TemporaryDirectory(prefix="edge-bench-many-") as data, \
            BenchKernel(kernel_env(sb.url, sb.key, data)) as k:
        sb.configure(tokens_per_second=0)
        k.ok(edge_cell(prompt_for(5, "warm-up"), *chosen))
        sb.configure(tokens_per_second=TOKENS_PER_SECOND)
        for i in range(repeats):
            prompt = prompt_for(tokens, f"many {i}")
            for model in chosen:
                trace = k.ok(edge_cell(prompt, model))
                singles[model].append(trace.last_display().arrived - trace.sent)
            trace = k.ok(edge_cell(prompt, *chosen))
            shown = trace.of("display_data")
            assert sum("💰" in m.data.get("text/plain", "") for m in shown) == len(chosen), \
                "not every model showed a cost line"
            together.append(trace.last_display().arrived - trace.sent)
    slowest = max(median(times) for times in singles.values())
    wall = median(together)
    ratio = wall / slowest
    serial = sum(median(times) for times in singles.values())
    return [Row(NAME, f"-m × {len(chosen)}, {tokens} tokens each at {TOKENS_PER_SECOND:.0f} tok/s",
                wall, "s", slowest, "s slowest single", ratio, "<= 1.1 × slowest single",
                ratio <= 1.1, f"one after another: {serial:.2f} s; medians of {repeats}")]
