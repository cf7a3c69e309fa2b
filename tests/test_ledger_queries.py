"""Grouped totals and exports of a real ledger's frame."""

from __future__ import annotations

import importlib.util
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from edge_jupyter.ledger import Ledger, LedgerError, export, group, read_export
from edge_jupyter.ledger._queries import GROUP_FIGURES
from edge_jupyter.record import CallRecord

BASE = datetime(2026, 4, 1, 22, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def frame(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    ledger = Ledger(tmp_path_factory.mktemp("ledger") / "ledger.sqlite3")
    for i in range(120):
        record = CallRecord(
            model=["openai/gpt-4o-mini", "anthropic/claude-3.5-sonnet", "google/gemini"][i % 3],
            provider=["OpenAI", "Anthropic", "Google", ""][i % 4],
            notebook=["a.ipynb", "dir/b.ipynb", ""][i % 3 if i % 5 else 2],
            cell_id=f"cell-{i % 4}", execution_count=None if i % 8 == 0 else i,
            chat=["", "review", "NA", "null, \"quoted\""][i % 4],
            timestamp=BASE + timedelta(hours=5 * i, microseconds=i),
            generation_id=f"gen-{i}", prompt_tokens=100 + i, completion_tokens=3 * i,
            reasoning_tokens=i % 7, cached_tokens=i % 3 * 10,
            cost_usd=None if i % 10 == 0 else i * 9.3e-05 / 7,
            upstream_cost_usd=i * 1.1e-05 if i % 2 else None, is_byok=i % 6 == 0,
            latency_s=i / 3, ttft_s=None if i % 9 == 0 else i / 17,
            status="ok" if i % 10 else "interrupted",
            error="" if i % 13 else "ProviderError: 502,\nline two é",
            session_id=f"s{i % 2}")
        row = ledger.begin(record, 0.01)
        ledger.complete(row, record)
    return ledger.frame("all")


@pytest.mark.parametrize("by", ["model", "provider", "day", "notebook", "chat", "cell"])
def test_group_totals_equal_the_sums(frame: pd.DataFrame, by: str) -> None:
    grouped = group(frame, by)
    body, total = grouped.iloc[:-1], grouped.iloc[-1]
    assert total.iloc[0] == "Total"
    assert total["calls"] == len(frame) == body["calls"].sum()
    for name in ("prompt_tokens", "completion_tokens", "reasoning_tokens", "cached_tokens"):
        assert total[name] == frame[name].sum() == body[name].sum()
    assert total["cost_usd"] == pytest.approx(frame["cost_usd"].sum())
    assert body["cost_usd"].sum() == pytest.approx(total["cost_usd"])
    byok = frame.loc[frame["is_byok"], "upstream_cost_usd"].sum()
    assert total["byok_upstream_usd"] == pytest.approx(byok)
    assert total["cost_unknown"] == frame["cost_usd"].isna().sum()
    assert list(grouped.columns[-len(GROUP_FIGURES):]) == list(GROUP_FIGURES)
    assert grouped["calls"].dtype == "int64" and grouped["cost_usd"].dtype == "float64"


def test_group_keys_and_order(frame: pd.DataFrame) -> None:
    by_model = group(frame, "model")
    assert by_model["cost_usd"].iloc[:-1].is_monotonic_decreasing
    assert set(by_model["model"]) == {*frame["model"], "Total"}
    by_day = group(frame, "day")
    days = by_day["day"].iloc[:-1].tolist()
    assert days == sorted(days) and days[0] == "2026-04-01"  # UTC days
    first_day = frame[frame["timestamp"] < pd.Timestamp("2026-04-02", tz="UTC")]
    assert by_day["calls"].iloc[0] == len(first_day)
    by_cell = group(frame, "cell")
    assert list(by_cell.columns[:2]) == ["notebook", "cell_id"]
    assert by_cell.iloc[-1][["notebook", "cell_id"]].tolist() == ["Total", ""]
    assert len(by_cell) - 1 == len(frame.groupby(["notebook", "cell_id"]))


def test_group_of_nothing_is_a_zero_total(frame: pd.DataFrame) -> None:
    empty = group(frame.iloc[0:0], "model")
    assert empty["model"].tolist() == ["Total"] and empty["calls"].tolist() == [0]
    assert empty["cost_usd"].tolist() == [0.0]
    with pytest.raises(LedgerError, match="cannot group by 'week'"):
        group(frame, "week")


def test_csv_export_reads_back_equal(frame: pd.DataFrame, tmp_path: Path) -> None:
    path = export(frame, tmp_path / "out" / "usage.csv")
    assert path.is_absolute() and path.exists()
    back = read_export(path)
    pd.testing.assert_frame_equal(back, frame)
    assert back["cost_usd"].iloc[7] == 7 * 9.3e-05 / 7  # exact floats, not 15 digits
    assert back["chat"].tolist() == frame["chat"].tolist()  # "NA" and "null" stay text


def test_grouped_totals_export_too(frame: pd.DataFrame, tmp_path: Path) -> None:
    grouped = group(frame, "day")
    back = read_export(export(grouped, tmp_path / "by-day.csv"))
    pd.testing.assert_frame_equal(back, grouped)


@pytest.mark.parametrize(("suffix", "package"), [(".parquet", "pyarrow"), (".xlsx", "openpyxl")])
def test_other_formats_round_trip_or_say_what_to_install(
        frame: pd.DataFrame, tmp_path: Path, suffix: str, package: str) -> None:
    path = tmp_path / f"usage{suffix}"
    if importlib.util.find_spec(package) is None:
        with pytest.raises(LedgerError, match=f"pip install {package}"):
            export(frame, path)
        assert not path.exists()
        return
    back = read_export(export(frame, path))
    if suffix == ".xlsx":  # Excel keeps times to the millisecond
        frame = frame.assign(timestamp=frame["timestamp"].dt.round("1ms"))
        back = back.assign(timestamp=back["timestamp"].dt.round("1ms"))
    pd.testing.assert_frame_equal(back, frame, check_exact=suffix == ".parquet")


def test_unknown_export_format_is_refused(frame: pd.DataFrame, tmp_path: Path) -> None:
    with pytest.raises(LedgerError, match=r"\.csv, \.parquet or \.xlsx"):
        export(frame, tmp_path / "usage.json")
    with pytest.raises(LedgerError):
        read_export(tmp_path / "usage.txt")


def test_frame_values_survive_pandas_operations(frame: pd.DataFrame) -> None:
    assert frame["timestamp"].dt.tz is not None and frame["is_byok"].sum() == 20
    assert np.isnan(frame["cost_usd"].iloc[0]) and frame["execution_count"].isna().sum() == 15
