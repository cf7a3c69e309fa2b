"""The ledger benchmark runs (at a tiny size; the full run is ``python benchmarks/ledger_bench.py``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "ledger_bench.py"


def test_the_benchmark_runs_at_a_tiny_size(tmp_path: Path) -> None:
    # 25,000 rows: just above the direct-read threshold, so the snapshot path runs too.
    run = subprocess.run([sys.executable, str(SCRIPT), "--rows", "25000", "--append", "20",
                          "--dir", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    for line in ("append: begin+complete", "ratio", 'frame("all") warm', "group(df, 'day')",
                 "reserve()", "baseline: pandas.read_sql"):
        assert line in run.stdout, line
    assert "25,001 rows" in run.stdout
    assert not list(tmp_path.iterdir())  # it cleans up after itself
