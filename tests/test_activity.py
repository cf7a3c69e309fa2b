"""``%edge activity``: OpenRouter's /activity reconciled with the ledger (issue 18).

The reconciliation is a pure function (``activity_report.reconcile``), tested first without
any I/O; then end to end: calls made straight to the sandbox with httpx (not edge_jupyter)
show up as "spent elsewhere" beside what a real kernel's ledger holds.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx
import pandas as pd
import pytest

from edge_jupyter.activity_report import last_completed_day, reconcile, window
from edge_jupyter.money import short_usd
from edge_jupyter.openrouter import ActivityRow


def row(day: str, model: str, usd: float, *, slug: str = "", provider: str = "OpenAI",
        requests: int = 1, prompt: int = 10, completion: int = 5) -> ActivityRow:
    return ActivityRow(day, model, slug or model, "endpoint-1", provider, usd, 0.0, requests,
                       prompt, completion, 0)


def ledger(*entries: tuple[Any, ...]) -> pd.DataFrame:
    """Ledger rows as ``Ledger.frame`` gives them: (ISO time, model, cost or None, provider,
    and optionally status — "ok" — and generation id — one per row)."""
    return pd.DataFrame({
        "timestamp": pd.to_datetime([e[0] for e in entries], utc=True),
        "model": pd.Series([e[1] for e in entries], dtype=object),
        "cost_usd": pd.Series([e[2] for e in entries], dtype="float64"),
        "provider": pd.Series([e[3] for e in entries], dtype=object),
        "status": pd.Series([e[4] if len(e) > 4 else "ok" for e in entries], dtype=object),
        "generation_id": pd.Series([e[5] if len(e) > 5 else f"gen-{i}"
                                    for i, e in enumerate(entries)], dtype=object),
    })


DAYS = window(date(2026, 11, 30), 3)  # 2026-11-28 .. 2026-11-30


def test_the_issue_example_the_rest_was_spent_elsewhere() -> None:
    rows = [row("2026-11-30", "openai/gpt-4o-mini", 3.0),
            row("2026-11-30", "anthropic/claude-3.5-haiku", 1.12, provider="Anthropic")]
    book = ledger(("2026-11-30T09:00:00Z", "openai/gpt-4o-mini", 3.0, "OpenAI"),
                  ("2026-11-30T23:59:59Z", "anthropic/claude-3.5-haiku", 0.9, "Anthropic"))
    report = reconcile(rows, book, DAYS)
    assert report.sentences == ["OpenRouter billed $4.12 on 2026-11-30; this ledger has $3.90; "
                                "$0.22 was spent elsewhere."]
    frame = report.frame
    assert list(frame.columns) == ["date", "model", "requests", "billed_usd", "ledger_usd",
                                   "elsewhere_usd", "prompt_tokens", "completion_tokens"]
    claude = frame[frame["model"] == "anthropic/claude-3.5-haiku"].iloc[0]
    assert claude["elsewhere_usd"] == pytest.approx(0.22)
    assert frame[frame["model"] == "openai/gpt-4o-mini"].iloc[0]["elsewhere_usd"] == 0.0


def test_a_ledger_model_matches_the_activity_model_or_its_permaslug() -> None:
    rows = [row("2026-11-29", "openai/gpt-4o-mini", 0.5, slug="openai/gpt-4o-mini-2024-07-18")]
    book = ledger(("2026-11-29T10:00:00Z", "openai/gpt-4o-mini-2024-07-18", 0.2, "OpenAI"),
                  ("2026-11-29T11:00:00Z", "openai/gpt-4o-mini", 0.3, "OpenAI"))
    report = reconcile(rows, book, DAYS)
    assert report.frame["model"].tolist() == ["openai/gpt-4o-mini"]
    assert report.frame["ledger_usd"].iloc[0] == pytest.approx(0.5)
    assert "nothing was spent elsewhere" in report.sentences[0]


def test_a_day_where_the_ledger_has_more_says_why_that_can_be() -> None:
    rows = [row("2026-11-28", "openai/gpt-4o-mini", 0.1)]
    book = ledger(("2026-11-28T10:00:00Z", "openai/gpt-4o-mini", 0.25, "OpenAI"))
    (sentence,) = reconcile(rows, book, DAYS).sentences
    assert sentence.startswith("OpenRouter billed $0.10 on 2026-11-28; this ledger has $0.25, "
                               "$0.15 more")
    assert "not be settled yet" in sentence and "another OpenRouter account" in sentence
    assert "elsewhere" not in sentence


def test_rows_without_an_exact_cost_are_counted_and_the_way_to_settle_them_named() -> None:
    rows = [row("2026-11-30", "openai/gpt-4o-mini", 0.4)]
    book = ledger(("2026-11-30T10:00:00Z", "openai/gpt-4o-mini", 0.1, "OpenAI"),
                  ("2026-11-30T11:00:00Z", "openai/gpt-4o-mini", None, "OpenAI"))
    (sentence,) = reconcile(rows, book, DAYS).sentences
    assert "1 of its rows still has no exact cost: `%edge usage --reconcile`" in sentence
    assert sentence.endswith(f"{short_usd(0.3)} was spent elsewhere.")


def test_a_call_refused_before_any_token_cost_nothing_and_is_not_waiting_for_a_cost() -> None:
    """An error row with no cost and no generation id (refused before any token) is what
    ``Ledger.to_reconcile`` never picks: $0, not "no exact cost" with advice that cannot work,
    and no all-zero row of its own. A pending row or one with a generation id still counts."""
    rows = [row("2026-11-30", "m/a", 0.3, requests=3)]
    book = ledger(*[("2026-11-30T10:00:00Z", "m/a", 0.1, "P")] * 3,
                  ("2026-11-30T10:03:00Z", "nobody/no-such-model", None, "", "error", ""),
                  ("2026-11-29T10:03:00Z", "nobody/no-such-model", None, "", "error", ""),
                  ("2026-11-28T10:00:00Z", "m/a", None, "P", "replayed", "gen-r"))
    report = reconcile(rows, book, DAYS)
    assert report.sentences == ["OpenRouter billed $0.30 on 2026-11-30; this ledger has $0.30 "
                                "too: nothing was spent elsewhere."]
    assert report.frame["model"].tolist() == ["m/a"], "no row that is all zeros"
    for by in ("day", "model", "provider"):
        assert "nobody/no-such-model" not in reconcile(rows, book, DAYS, by=by).frame.to_string()
    waiting = ledger(("2026-11-30T10:00:00Z", "m/a", None, "P", "pending", ""),
                     ("2026-11-30T10:01:00Z", "m/a", None, "P", "interrupted", "gen-9"),
                     ("2026-11-30T10:03:00Z", "m/a", None, "", "error", ""))
    (sentence,) = reconcile(rows, waiting, DAYS).sentences
    assert "2 of its rows still have no exact cost: `%edge usage --reconcile`" in sentence
    alone = reconcile([], ledger(("2026-11-30T10:00:00Z", "m/a", None, "P", "pending", "")), DAYS)
    assert alone.frame["model"].tolist() == ["m/a"], "a row still waiting for its cost stays"


def test_money_is_summed_exactly_as_money_total_usd_sums_it() -> None:
    """Six ledger rows of $0.1 against $0.7 billed: $0.6 and $0.1 elsewhere, exactly — not the
    floats 0.6000000000000001 and 0.09999999999999987 a plain sum gives; and a ledger of
    3 x $0.1 against $0.3 billed has exactly $0 elsewhere, not a difference hidden by a
    threshold."""
    rows = [row("2026-11-30", "m/a", 0.7), row("2026-11-29", "m/a", 0.3)]
    book = ledger(*[("2026-11-30T10:00:00Z", "m/a", 0.1, "P")] * 6,
                  *[("2026-11-29T10:00:00Z", "m/a", 0.1, "P")] * 3,
                  *[("2026-12-01T10:00:00Z", "m/a", 0.1, "P")] * 3)
    report = reconcile(rows, book, DAYS)
    frame = report.frame.set_index("date")
    assert frame.loc["2026-11-30", "ledger_usd"] == 0.6
    assert frame.loc["2026-11-30", "elsewhere_usd"] == 0.1
    assert frame.loc["2026-11-29", "ledger_usd"] == 0.3
    assert frame.loc["2026-11-29", "elsewhere_usd"] == 0.0
    assert report.sentences == [
        "OpenRouter billed $0.30 on 2026-11-29; this ledger has $0.30 too: nothing was spent "
        "elsewhere.",
        "OpenRouter billed $0.70 on 2026-11-30; this ledger has $0.60; $0.10 was spent elsewhere."]
    by_day = reconcile(rows, book, DAYS, by="day").frame.set_index("date")
    assert by_day.loc["2026-11-30", "elsewhere_usd"] == 0.1
    assert "this ledger has $0.30 for it so far" in report.today_note


def test_one_sentence_per_day_with_spend_oldest_first_and_the_note_about_today() -> None:
    rows = [row("2026-11-30", "m/a", 0.3), row("2026-11-28", "m/a", 0.1),
            row("2026-11-20", "m/a", 9.0)]  # outside the window: not counted
    book = ledger(("2026-11-28T01:00:00Z", "m/a", 0.1, "P"),
                  ("2026-12-01T08:00:00Z", "m/a", 0.07, "P"),   # today: not in /activity yet
                  ("2026-11-27T08:00:00Z", "m/a", 5.0, "P"))    # before the window
    report = reconcile(rows, book, DAYS)
    assert [s.split(" on ")[1][:10] for s in report.sentences] == ["2026-11-28", "2026-11-30"]
    assert report.frame["billed_usd"].sum() == pytest.approx(0.4)
    assert report.frame["ledger_usd"].sum() == pytest.approx(0.1)
    assert report.today_note == ("Today's spend (2026-12-01, UTC) is not in OpenRouter's activity "
                                 "until the UTC day ends; this ledger has $0.07 for it so far.")
    assert report.text.endswith(report.today_note)


def test_nothing_on_either_side_is_one_sentence() -> None:
    report = reconcile([], ledger(), DAYS)
    assert report.sentences == ["OpenRouter billed nothing on these 3 day(s) (2026-11-28 to "
                                "2026-11-30), and this ledger has nothing for them."]
    assert report.frame.empty and report.frame["date"].dtype == object


@pytest.mark.parametrize("by, key", [("day", "date"), ("model", "model"), ("provider", "provider")])
def test_every_grouping_keeps_every_dollar(by: str, key: str) -> None:
    rows = [row("2026-11-29", "m/a", 0.3, provider="OpenAI"),
            row("2026-11-30", "m/a", 0.2, provider="Azure"),
            row("2026-11-30", "m/b", 0.5, provider="OpenAI")]
    book = ledger(("2026-11-30T10:00:00Z", "m/b", 0.4, "OpenAI"),
                  ("2026-11-30T10:00:00Z", "m/c", 0.05, None))
    frame = reconcile(rows, book, DAYS, by=by).frame
    assert frame.columns[0] == key and "date" not in frame.columns[1:]
    assert frame["billed_usd"].sum() == pytest.approx(1.0)
    assert frame["ledger_usd"].sum() == pytest.approx(0.45)
    assert frame["elsewhere_usd"].sum() == pytest.approx(0.55)
    assert frame["requests"].sum() == 3
    if by == "provider":
        assert set(frame["provider"]) == {"OpenAI", "Azure", "unknown"}
        openai = frame[frame["provider"] == "OpenAI"].iloc[0]
        assert (openai["billed_usd"], openai["ledger_usd"]) == pytest.approx((0.8, 0.4))
    if by == "day":
        assert frame["date"].tolist() == ["2026-11-29", "2026-11-30"]


def test_the_last_completed_day_is_the_later_of_yesterday_and_what_openrouter_reports() -> None:
    today = date(2026, 12, 1)
    assert last_completed_day(today, []) == date(2026, 11, 30)
    assert last_completed_day(today, [row("2026-12-01", "m/a", 1.0)]) == date(2026, 12, 1)
    assert last_completed_day(today, [row("2026-11-02", "m/a", 1.0)]) == date(2026, 11, 30)
    assert window(date(2026, 12, 1), 2) == ["2026-11-30", "2026-12-01"]
    assert len(window(date(2026, 12, 1), 30)) == 30


def test_activity_rows_are_read_tolerantly() -> None:
    good = ActivityRow.from_json({"date": "2026-11-30", "model": "m/a", "usage": 0.5,
                                  "requests": 2, "prompt_tokens": 7.0, "completion_tokens": "x"})
    assert good is not None and (good.usage, good.requests, good.prompt_tokens,
                                 good.completion_tokens) == (0.5, 2, 7, 0)
    assert ActivityRow.from_json({"date": "yesterday", "usage": 1}) is None
    assert ActivityRow.from_json("nonsense") is None
    odd = ActivityRow.from_json({"date": "2026-11-30", "usage": float("nan"), "requests": True})
    assert odd is not None and (odd.usage, odd.requests, odd.model) == (0.0, 0, "")


@pytest.mark.parametrize("days", ["0", "31", "-1", "2.5", "abc"])
def test_days_out_of_bounds_are_refused_before_anything_is_asked(days: str, sb) -> None:
    from edge_jupyter.magics import UsageError
    from edge_jupyter.magics.commands import COMMANDS

    before = len(sb.requests)
    with pytest.raises(UsageError, match="--days must be a whole number of days from 1 to 30"):
        COMMANDS["activity"][0](None, ["--days", days])
    assert len(sb.requests) == before


def test_days_and_by_are_checked_by_the_parser() -> None:
    from edge_jupyter.magics import UsageError
    from edge_jupyter.magics.commands import COMMANDS

    with pytest.raises(UsageError, match="--by"):
        COMMANDS["activity"][0](None, ["--by", "week"])


# -- end to end: a real kernel, the real sandbox, calls made around edge_jupyter ---------------


@pytest.fixture
def kernel(sb, tmp_path):
    """A kernel of its own (its own empty ledger), the management key in its environment."""
    from kernel_harness import Kernel

    k = Kernel({"EDGE_OPENROUTER_URL": sb.url, "OPENROUTER_API_KEY": sb.key,
                "OPENROUTER_MANAGEMENT_KEY": sb.management_key,
                "EDGE_DATA_DIR": str(tmp_path / "activity-data"),
                "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"})
    k.ok("%load_ext edge_jupyter")
    yield k
    k.shutdown()


def outputs(run) -> str:
    """Everything the cell showed (every output and the error), not the code it ran."""
    return "\n".join(str(m["content"]) for m in run.messages
                     if m["msg_type"] in ("stream", "display_data", "update_display_data",
                                          "execute_result", "error"))


def straight_to_the_sandbox(sb, model: str) -> float:
    """A call made with the account's key by another app (httpx, not edge_jupyter): its cost."""
    r = httpx.post(sb.api_url + "/chat/completions", timeout=30,
                   headers={"Authorization": f"Bearer {sb.key}"},
                   json={"model": model, "messages": [{"role": "user", "content": "elsewhere"}]})
    assert r.status_code == 200, r.text
    return r.json()["usage"]["cost"]


def magic_frame(kernel, line: str) -> dict:
    return kernel.value(f"get_ipython().run_line_magic('edge', {line!r})"
                        ".astype(str).to_dict(orient='list')")


def test_calls_made_elsewhere_show_up_as_spent_elsewhere(kernel, clean_sandbox) -> None:
    sb = clean_sandbox  # reset after too: the moved clock must not reach later tests
    from datetime import datetime, timedelta, timezone

    kernel.ok("%%edge -m openai/gpt-4o-mini\nFrom the notebook")
    mine = sb.completions[-1].usage["cost"]
    away_mini = straight_to_the_sandbox(sb, "openai/gpt-4o-mini")
    away_4o = straight_to_the_sandbox(sb, "openai/gpt-4o")
    first = outputs(kernel.ok("%edge activity --days 2"))
    assert "OpenRouter billed nothing on these 2 day(s)" in first, "today is not in /activity yet"
    today = datetime.now(timezone.utc).date()
    sb.advance_clock(days=1)  # the day of those calls is over: /activity reports it
    run = kernel.ok("%edge activity --days 2")
    text = outputs(run)
    billed = mine + away_mini + away_4o
    assert (f"OpenRouter billed {short_usd(billed)} on {today.isoformat()}; this ledger has "
            f"{short_usd(mine)}; {short_usd(away_mini + away_4o)} was spent elsewhere.") in text
    tomorrow = (today + timedelta(days=1)).isoformat()
    assert f"Today's spend ({tomorrow}, UTC) is not in OpenRouter's activity until the UTC day ends" in text
    frame = magic_frame(kernel, "activity --days 2")
    rows = {m: i for i, m in enumerate(frame["model"])}
    mini, big = rows["openai/gpt-4o-mini"], rows["openai/gpt-4o"]
    assert float(frame["billed_usd"][mini]) == pytest.approx(mine + away_mini, rel=1e-12)
    assert float(frame["ledger_usd"][mini]) == pytest.approx(mine, rel=1e-12)
    assert float(frame["elsewhere_usd"][mini]) == pytest.approx(away_mini, rel=1e-9)
    assert float(frame["ledger_usd"][big]) == 0.0 and frame["requests"][big] == "1"
    assert float(frame["elsewhere_usd"][big]) == pytest.approx(away_4o, rel=1e-12)
    by_model = magic_frame(kernel, "activity --days 2 --by model")
    assert sorted(by_model["model"]) == ["openai/gpt-4o", "openai/gpt-4o-mini"]
    by_provider = magic_frame(kernel, "activity --days 2 --by provider")
    assert sum(map(float, by_provider["billed_usd"])) == pytest.approx(billed, rel=1e-12)
    assert sum(map(float, by_provider["ledger_usd"])) == pytest.approx(mine, rel=1e-12)
    by_day = magic_frame(kernel, "activity --by day")
    assert by_day["date"] == [today.isoformat()]
    assert sb.key not in text and sb.management_key not in text
    from edge_jupyter.money import exact_usd

    plotted = kernel.ok("%edge activity --days 2 --plot")
    picture = plotted.output_with("image/png")  # matplotlib is installed here
    assert picture["data"]["text/plain"] == ("Billed by OpenRouter per day (UTC), every app: "
                                             f"{exact_usd(billed)} from {today - timedelta(days=1)} "
                                             f"to {today}")
    assert not [o for o in plotted.outputs if o["output_type"] == "execute_result"]
    refused = kernel.run("%edge activity --plot --by model")
    assert refused.status == "error" and "leave out --by" in refused.error_text


def test_activity_needs_a_management_key_and_says_how_to_add_one(kernel, sb) -> None:
    kernel.ok("import os; os.environ.pop('OPENROUTER_MANAGEMENT_KEY')")
    run = kernel.run("%edge activity")
    assert run.status == "error"
    assert ("Reading the account's activity needs an OpenRouter management key, and none is "
            "stored: store one with `%edge balance --management-key` (create it at "
            "https://openrouter.ai/settings/provisioning-keys).") in run.error_text
    assert not [r for r in sb.requests if r.path.endswith("/activity")]
    kernel.ok("os.environ['OPENROUTER_MANAGEMENT_KEY'] = os.environ['OPENROUTER_API_KEY']")
    run = kernel.run("%edge activity")
    assert run.status == "error"
    # the key came from the environment: storing another would not help, so it says so
    assert ("Reading the account's activity: OpenRouter refused the management key in "
            "OPENROUTER_MANAGEMENT_KEY (Only management keys can perform this operation): it is "
            "an ordinary key, not a management key. Fix or unset OPENROUTER_MANAGEMENT_KEY where "
            "Jupyter starts.") in run.error_text
    assert sb.key not in outputs(run)


def test_a_management_key_alone_is_enough(clean_sandbox, tmp_path, monkeypatch, capsys) -> None:
    """An admin with no key of their own connected still sees the account's activity."""
    sb = clean_sandbox
    from edge_jupyter.magics.commands import COMMANDS

    for name in ("OPENROUTER_API_KEY", "EDGE_KEY_STORE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    monkeypatch.setenv("EDGE_OPENROUTER_URL", sb.url)
    monkeypatch.setenv("EDGE_DATA_DIR", str(tmp_path / "admin-data"))
    monkeypatch.setenv("OPENROUTER_MANAGEMENT_KEY", sb.management_key)
    cost = straight_to_the_sandbox(sb, "openai/gpt-4o-mini")
    sb.advance_clock(days=1)
    frame = COMMANDS["activity"][0](None, ["--days", "1"])
    assert frame["elsewhere_usd"].tolist() == [cost]
    assert f"this ledger has $0; {short_usd(cost)} was spent elsewhere." in capsys.readouterr().out
