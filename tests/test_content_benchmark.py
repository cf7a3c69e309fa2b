"""The content benchmark runs and gives sane figures at a tiny size (never a timing threshold)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import __main__ as cli
from benchmarks import content


def test_the_content_benchmark_measures_figure_table_and_photo_against_baselines() -> None:
    rows = content.run(repeats=1, rows=2_000, photo=(600, 400))
    by_metric = {row.metric.split(")")[0] + ")": row for row in rows}
    assert set(by_metric) == {"(a)", "(b)", "(c)"}
    for row in rows:
        assert math.isfinite(row.value) and row.value > 0, row
    assert "1000×800" in by_metric["(a)"].metric
    assert by_metric["(a)"].baseline and by_metric["(b)"].baseline
    assert by_metric["(a)"].ok is not None and by_metric["(b)"].ok is not None
    assert "600×400 → 600×400" in by_metric["(c)"].metric  # within 2,048: sent as it is
    assert "content" in cli.BENCHMARKS
