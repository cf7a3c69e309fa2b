"""The Usage tab's spend-per-day chart, and ``%edge usage --plot``, as a person sees them.

In this process: the panel's chart is redrawn with the usage after a call and stays one
small SVG however many calls there were (what the frontend is sent does not grow with
them).  In a real JupyterLab in headless Chromium, against the sandbox: the ledger holds
calls of earlier days (one with a hostile model name, one whose cost is not known), the
notebook makes a real call and plots; the sidebar's chart has a bar per day, sized, with
today's exact total in its tooltip; the hostile name is text; ``%edge usage --plot`` shows
matplotlib's PNG and, with ``EDGE_CHART=svg``, the SVG.  Screenshots: test-artifacts/, or
docs/ (panel-usage-chart.png, usage-plot.png, usage-plot-svg.png) with
``EDGE_UPDATE_DOCS=1`` -- they are looked at by a person.
"""

from __future__ import annotations

import os
import re
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from panel_fixtures import (
    in_browser,
    jupyterlab,
    lab_env,
    needs_chromium,
    notebook_json,
    with_evidence,
)
from test_panel_e2e import watch_kernel_ready

from edge_jupyter import events
from edge_jupyter.ledger import Context, Ledger
from edge_jupyter.money import exact_usd, total_usd
from edge_jupyter.panel._controller import Panel
from edge_jupyter.record import CallRecord

ROOT = Path(__file__).resolve().parent.parent
PICTURES = ROOT / "docs" if os.environ.get("EDGE_UPDATE_DOCS") else ROOT / "test-artifacts" / "screenshots"
SIDEBAR = "#jp-right-stack .edge-panel"
HOSTILE = '<img src=x onerror="window.__pwned=1">'
#: Earlier days' calls: (days ago, model, cost); None: the exact cost is not known yet.
SEEDED = [(12, "openai/gpt-4o-mini", 0.0021), (12, "anthropic/claude-3.5-haiku", 0.0042),
          (10, "google/gemini-2.0-flash-001", 0.0013), (9, "openai/gpt-4o-mini", 0.0035),
          (7, "anthropic/claude-3.5-haiku", 0.0061),
          (6, "openai/gpt-4o-mini", 0.0017), (4, "meta-llama/llama-3.3-70b-instruct", 0.0028),
          (4, "openai/gpt-4o-mini", None), (3, "google/gemini-2.0-flash-001", 0.0047),
          (1, "anthropic/claude-3.5-haiku", 0.0024), (1, "openai/gpt-4o-mini", 0.0011)]
#: Written after the screenshots (the README shows them), then the panel is refreshed.
LATER = [(9, HOSTILE, 0.0009)]


def seed(ledger: Ledger, calls: list[tuple[int, str, float | None]], *, notebook: str = "",
         now: datetime | None = None) -> None:
    """Write calls the way the magic does (a pending row, then the finished one)."""
    now = now or datetime.now(timezone.utc)
    for n, (days_ago, model, cost) in enumerate(calls):
        when = (now - timedelta(days=days_ago)).replace(hour=12, minute=0) + timedelta(seconds=n)
        record = CallRecord(model=model, timestamp=when, notebook=notebook, cost_usd=cost,
                            prompt_tokens=10, completion_tokens=20, status="pending",
                            session_id="seed", generation_id=f"seed-{n}-{days_ago}")
        row = ledger.begin(record)
        record.status = "ok" if cost is not None else "interrupted"
        ledger.complete(row, record)


# -- in this process ------------------------------------------------------------------------------


@pytest.fixture
def panel(edge_env, monkeypatch):
    monkeypatch.setattr("edge_jupyter.ledger._context._current",
                        Context(notebook="work/chart.ipynb", session_id="test-session"))
    shown = Panel()
    assert shown.settle(), "the panel did not finish its first refresh"
    yield shown
    shown.close()


def chart_days(html: str) -> list[str]:
    return re.findall(r'<g class="edge-day" data-day="([0-9-]+)">', html)


def test_the_chart_follows_the_calls_and_stays_one_small_svg(panel):
    today = datetime.now(timezone.utc).date().isoformat()
    first = panel.chart_html.value
    assert 'class="edge-spend-chart"' in first and "No spend to show" in first
    assert len(chart_days(first)) == 14 and chart_days(first)[-1] == today
    assert panel.tabs.children[2].children[0] is panel.chart_html  # on top of the Usage tab

    costs = [1.65e-05 * (i + 1) for i in range(200)]
    seed(Ledger.default(), [(0, "openai/gpt-4o-mini", c) for c in costs[:100]]
         + [(2, "anthropic/claude-3.5-haiku", c) for c in costs[100:]], notebook="other.ipynb")
    events.publish(events.CALLS_FINISHED, [])
    assert panel.settle()
    after = panel.chart_html.value
    # every notebook's calls (this machine's spend), today's exact total on its bar
    assert f"{today}: {exact_usd(total_usd(costs[:100]))} spent" in after
    assert exact_usd(total_usd(costs[100:])) in after
    # two bars more, not an element per call: what is sent stays small
    assert after.count('class="edge-bar"') == 2 and len(after) < 12_000


def test_the_chart_counts_what_the_tab_counts_byok_bills_in_and_refused_calls_at_nothing(panel):
    """Today's bar is the spend the tab's "today" reads (``Ledger.spent("day")``): a BYOK
    call's OpenRouter fee plus its provider's bill; a call OpenRouter refused before any
    token (no cost, no generation id) cost $0 and is not "unknown"."""
    book, now = Ledger.default(), datetime.now(timezone.utc)
    for model, status, cost, upstream, gen in [
            ("openai/gpt-4o-mini", "ok", 8.025e-07, 1.6050e-05, "gen-byok"),
            ("nobody/no-such-model", "error", None, None, "")]:
        record = CallRecord(model=model, timestamp=now, notebook="other.ipynb",
                            status="pending", session_id="s", generation_id=gen)
        row = book.begin(record)
        record.status, record.cost_usd = status, cost
        record.is_byok, record.upstream_cost_usd = upstream is not None, upstream
        book.complete(row, record)
    events.publish(events.CALLS_FINISHED, [])
    assert panel.settle()
    chart = panel.chart_html.value
    today = now.date().isoformat()
    assert f"{today}: {exact_usd(book.spent('day'))} spent" in chart
    assert exact_usd(book.spent("day")) == exact_usd(total_usd([8.025e-07, 1.6050e-05]))
    assert "unknown cost" not in chart


# -- in JupyterLab ----------------------------------------------------------------------------------


@needs_chromium
def test_the_usage_chart_and_the_plots_in_jupyterlab(sandbox, tmp_path, monkeypatch):
    sandbox.reset()
    data = tmp_path / "edge-data"
    monkeypatch.setenv("EDGE_DATA_DIR", str(data))
    with Ledger(data / "ledger.sqlite3") as book:
        seed(book, SEEDED, notebook="earlier.ipynb")
    env = lab_env(tmp_path, {
        "EDGE_OPENROUTER_URL": sandbox.url, "OPENROUTER_API_KEY": sandbox.issue_key(limit=5.0),
        "EDGE_DATA_DIR": str(data), "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"})
    env.pop("EDGE_CHART", None)
    cells = ["%load_ext edge_jupyter", "%edge panel --sidebar",
             "%%edge -m openai/gpt-4o-mini\nName one tide-pool animal.",
             "%edge usage --plot --all --since 14D",
             "import os; os.environ['EDGE_CHART'] = 'svg'\n%edge usage --plot --all --since 14D"]
    PICTURES.mkdir(parents=True, exist_ok=True)
    today = datetime.now(timezone.utc).date()

    with jupyterlab(tmp_path, env) as lab:
        (lab.root / "chart.ipynb").write_text(notebook_json(cells), encoding="utf-8")

        def script(page: Any) -> dict[str, Any]:
            kernel_ready = watch_kernel_ready(page)
            page.goto(f"{lab.url}lab/tree/chart.ipynb?token={lab.token}")
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=30_000)
            deadline = time.monotonic() + 30
            while not kernel_ready() and time.monotonic() < deadline:
                page.wait_for_timeout(100)
            page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
            page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
            page.wait_for_selector(".jp-Notebook .edge-cost", timeout=30_000)
            cells = page.locator(".jp-Notebook .jp-Cell")
            png = cells.nth(3).locator(".jp-OutputArea-output img")
            png.wait_for(timeout=30_000)
            svg_output = cells.nth(4).locator(".jp-OutputArea-output img, "
                                              ".jp-OutputArea-output svg").first
            svg_output.wait_for(timeout=30_000)
            sidebar = page.locator(SIDEBAR)
            sidebar.wait_for(timeout=30_000)
            sidebar.locator(".lm-TabBar-tab", has_text="Usage").click()
            # the chart has today's bar once the panel has read the ledger after the call
            page.wait_for_function(
                f"() => [...document.querySelectorAll('{SIDEBAR} .edge-day')].at(-1)"
                "?.querySelector('rect.edge-bar') != null", timeout=30_000)
            page.wait_for_timeout(300)  # fonts settled
            sidebar.screenshot(path=str(PICTURES / "panel-usage-chart.png"))
            png.screenshot(path=str(PICTURES / "usage-plot.png"))
            svg_output.screenshot(path=str(PICTURES / "usage-plot-svg.png"))

            # A hostile model id from the server, then the Refresh button: text, never markup.
            with Ledger(data / "ledger.sqlite3") as book:
                seed(book, LATER, notebook="earlier.ipynb")
            sidebar.locator(".lm-TabBar-tab", has_text="Account").click()
            sidebar.locator("button", has_text="Refresh").click()
            sidebar.locator(".lm-TabBar-tab", has_text="Usage").click()
            chart = sidebar.locator("svg.edge-spend-chart")
            page.wait_for_function(
                f"() => [...document.querySelectorAll('{SIDEBAR} g.edge-legend title')]"
                ".some(t => t.textContent.startsWith('<img'))", timeout=30_000)
            seen: dict[str, Any] = {
                "chart": chart.bounding_box(),
                "days": chart.locator("g.edge-day").evaluate_all(
                    "gs => gs.map(g => [g.dataset.day, g.querySelector('title').textContent,"
                    " [...g.querySelectorAll('rect.edge-bar')].map(r => r.getBoundingClientRect()"
                    ".height)])"),
                "legend": chart.locator("g.edge-legend title").all_text_contents(),
                "note": chart.locator("text.edge-chart-note").all_text_contents(),
                "pwned": page.evaluate("() => window.__pwned === undefined"),
                "png": png.bounding_box(),
                "plot_text": cells.nth(3).inner_text(),
                "svg_box": svg_output.bounding_box(),
            }
            return seen

        seen = in_browser(with_evidence(script, lab, "panel-chart"), width=1400, height=1000,
                          scale=2)  # sharp pictures for the README

    live = sandbox.wait_for_completions(1)[-1].cost
    days = seen["days"]
    assert [d for d, _, _ in days] == [(today - timedelta(days=13 - i)).isoformat()
                                       for i in range(14)]
    spent: dict[str, list[float]] = {}
    for days_ago, _, cost in SEEDED + LATER:
        if cost is not None:
            spent.setdefault((today - timedelta(days=days_ago)).isoformat(), []).append(cost)
    spent[today.isoformat()] = [live]
    for day, tip, heights in days:
        # each day's tooltip: its exact total; a day with spend has its bar, sized
        assert tip.splitlines()[0] == f"{day}: {exact_usd(total_usd(spent.get(day, [])))} spent"
        assert (len(heights) > 0) == (day in spent), (day, heights)
        assert all(h > 0 for h in heights)
    biggest = max(days, key=lambda d: sum(d[2]))
    assert biggest[0] == (today - timedelta(days=12)).isoformat()  # $0.0063, the most
    assert seen["chart"]["width"] > 200 and seen["chart"]["height"] > 120
    assert seen["note"] == ["1 call with unknown cost not shown"]
    # the hostile model id is a legend entry, as text; nothing of it ran
    assert any(t.startswith(HOSTILE + ":") for t in seen["legend"]) and seen["pwned"]
    # %edge usage --plot: matplotlib's picture, and the SVG when EDGE_CHART=svg
    assert seen["png"]["width"] > 400 and seen["svg_box"]["width"] > 400
