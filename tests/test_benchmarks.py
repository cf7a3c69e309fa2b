"""The benchmarks run and produce sane figures (at tiny sizes; never a timing threshold).

The real run is by hand: ``python -m benchmarks`` (see ``benchmarks/RESULTS.md``).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import __main__ as cli
from benchmarks import display, latency, ledger, many_models, memory, startup, streaming
from benchmarks._common import Row
from benchmarks._report import markdown_table, results_markdown, text_table


def _sane(rows: list[Row], *metrics: str) -> dict[str, Row]:
    """Every row has a finite, non-negative value; the named metrics are present."""
    assert rows
    by_metric = {}
    for row in rows:
        assert isinstance(row, Row)
        assert math.isfinite(row.value) and row.value >= 0, row
        assert row.baseline is None or (math.isfinite(row.baseline) and row.baseline >= 0), row
        assert row.ok in (True, False, None)
        by_metric[row.metric] = row
    for wanted in metrics:
        assert any(wanted in metric for metric in by_metric), (wanted, list(by_metric))
    return by_metric


def test_streaming_measures_all_three_consumers_and_the_cpu_only_pair() -> None:
    rows = streaming.run(tokens=300, repeats=1)
    got = _sane(rows, "(a) bare", "(b) OpenRouterClient", "(c) %%edge", "(c0) the bare loop",
                "CPU only", "10-token answer")
    assert all(r.value > 0 for r in rows if "tok/s" in r.unit)
    assert got["(b) OpenRouterClient.stream_chat"].ratio is not None


def test_each_run_is_compared_with_the_base_runs_around_it() -> None:
    base = iter([1.0, 3.0, 5.0])  # the machine slows down steadily
    runs = streaming.sandwiched("a", {"a": lambda: next(base), "b": lambda: 4.0}, repeats=2)
    assert runs.times == {"a": [1.0, 3.0, 5.0], "b": [4.0, 4.0]}
    assert runs.around["b"] == [2.0, 4.0]
    assert runs.ratio("b") == pytest.approx(0.75)  # (2/4 + 4/4) / 2
    assert runs.extra("b") == pytest.approx(1.0)


def test_display_traffic_is_counted_against_the_answer_and_the_naive_figure() -> None:
    rows = display.run(sizes=(200,))
    (row,) = rows
    assert row.value >= 1  # the answer is shown at least once
    assert row.baseline is not None and row.baseline > row.value  # naive is O(n²)


def test_naive_figures_follow_their_definitions() -> None:
    tokens = ["ab", "c", "é"]  # 2, 1 and 2 bytes
    assert display.naive_per_token(tokens) == 2 + 3 + 5
    assert display.naive_throttled(tokens, tokens_per_second=2, updates_per_second=1) == 3 + 5


def test_latency_gives_first_and_last_figures() -> None:
    rows = latency.run(tokens=5, repeats=1, lookup_repeats=1)
    _sane(rows, "first SSE byte", "last token", "/generation")


def test_startup_times_the_extension_and_lists_heavy_imports() -> None:
    rows = startup.run(repeats=1, with_jupyter_ai=False)
    got = _sane(rows, "%load_ext edge_jupyter", "heavy modules")
    assert got["%load_ext edge_jupyter (in-process)"].value > 0


def test_ledger_benchmark_loses_no_rows_at_a_tiny_size() -> None:
    rows = ledger.run(rows=2_000, appends=20, workers=2, worker_calls=10)
    got = _sane(rows, "append", "processes appending", "usage(", "group(df, \"model\")",
                "group(df, \"day\")")
    assert got["2 processes appending at once: rows lost"].value == 0


def test_many_models_compares_against_the_slowest_single() -> None:
    (row,) = many_models.run(tokens=3, models=2, repeats=1)
    assert row.value > 0 and row.baseline is not None and row.baseline > 0


def test_memory_reports_rss_and_finds_no_per_token_objects() -> None:
    rows = memory.run(tokens=300, ledger_rows=20)
    got = _sane(rows, "RSS", "per-token objects")
    assert got["per-token objects alive after the answer"].value == 0


def test_report_renders_a_table_and_results_markdown() -> None:
    rows = [Row("x", "a metric", 1234.5, "tok/s", 1000.0, "tok/s", 1.2345, ">= 1", True, "n|b"),
            Row("x", "another", float("nan"), note="not measured")]
    assert "a metric" in text_table(rows) and "pass" in text_table(rows)
    assert "n\\|b" in markdown_table(rows)
    text = results_markdown(rows, "python -m benchmarks", cli.now(), 1.0, [streaming])
    for part in ("# Benchmark results", "cores (nproc)", "Python", "python -m benchmarks",
                 "| benchmark |", "Streaming throughput"):
        assert part in text


def test_cli_runs_one_benchmark_and_writes_where_asked(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(cli.BENCHMARKS, "display",
                        (display, {"sizes": (100,)}, {"sizes": (100,)}))
    out = tmp_path / "RESULTS.md"
    assert cli.main(["--quick", "--only", "display", "--output", str(out)]) == 0
    assert "display bytes" in out.read_text()
