"""Spend per day, stacked by model (``edge_jupyter.spend_chart``) and ``%edge usage --plot``.

The figures are built from real ledger frames (a real SQLite ledger written the way the
magic writes it) and from frames shaped like ``%edge activity``'s; the SVG is parsed as
XML and read back; the matplotlib picture is decoded by Pillow; ``%edge usage --plot``
runs in a real kernel after real ``%%edge`` calls to the sandbox.
"""

from __future__ import annotations

import base64
import io
import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from processes import loaded_by

from edge_jupyter import spend_chart
from edge_jupyter.ledger import Ledger, spend_usd, unsettled
from edge_jupyter.ledger import group as ledger_group
from edge_jupyter.money import exact_usd, short_usd, total_usd
from edge_jupyter.record import CallRecord

SVG = "{http://www.w3.org/2000/svg}"
DAY0 = datetime(2026, 11, 20, tzinfo=timezone.utc)


def write_call(ledger: Ledger, model: str, cost: float | None, when: datetime) -> None:
    """One call as the magic writes it: a pending row, then the finished one."""
    record = CallRecord(model=model, timestamp=when, notebook="nb.ipynb", cost_usd=cost,
                        status="pending", session_id="s1",
                        generation_id=f"gen-{when.timestamp()}-{model}")
    row = ledger.begin(record)
    record.status = "ok" if cost is not None else "interrupted"
    ledger.complete(row, record)


@pytest.fixture
def ledger(tmp_path):
    with Ledger(tmp_path / "ledger.sqlite3") as book:
        yield book


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # our own output: a parse error is the test failing


def days_of(root: ET.Element) -> list[ET.Element]:
    return [g for g in root.iter(f"{SVG}g") if g.get("class") == "edge-day"]


def tooltip(element: ET.Element) -> str:
    title = element.find(f"{SVG}title")
    assert title is not None
    return title.text or ""


# -- the figures ------------------------------------------------------------------------------


def test_a_ledger_frame_becomes_one_entry_per_utc_day_with_exact_totals(ledger):
    write_call(ledger, "openai/gpt-4o-mini", 0.1, DAY0 + timedelta(hours=1))
    write_call(ledger, "openai/gpt-4o-mini", 0.2, DAY0 + timedelta(hours=23, minutes=59))
    write_call(ledger, "anthropic/claude-3.5-haiku", 9.3e-05, DAY0 + timedelta(days=3, minutes=1))
    frame = ledger.frame("all")
    data = spend_chart.from_frame(frame, date="timestamp")
    # no gaps: the two days without calls are there, empty
    assert data.dates == ["2026-11-20", "2026-11-21", "2026-11-22", "2026-11-23"]
    assert data.series == {"openai/gpt-4o-mini": [0.3, 0.0, 0.0, 0.0],
                           "anthropic/claude-3.5-haiku": [0.0, 0.0, 0.0, 9.3e-05]}
    assert data.totals == [0.3, 0.0, 0.0, 9.3e-05]  # exact (0.1 + 0.2 in floats is not 0.3)
    assert data.total == total_usd([0.1, 0.2, 9.3e-05]) and data.unknown == [0, 0, 0, 0]


def test_days_are_utc_days_whatever_the_column_holds():
    """ISO strings, date objects, tz-aware datetimes in another zone, naive datetimes and
    epoch seconds name the same UTC days."""
    stamps = [datetime(2026, 11, 30, 23, 30, tzinfo=timezone.utc),
              datetime(2026, 12, 1, 0, 30, tzinfo=timezone.utc)]
    forms = {
        "iso": ["2026-11-30", "2026-12-01"],
        "iso with time": ["2026-11-30T23:30:00Z", "2026-12-01 00:30:00"],
        "dates": [s.date() for s in stamps],
        "tokyo": pd.to_datetime(stamps, utc=True).tz_convert("Asia/Tokyo"),  # both Dec 1 there
        "naive": [s.replace(tzinfo=None) for s in stamps],
        "epoch": [s.timestamp() for s in stamps],
        "epoch int": [int(s.timestamp()) for s in stamps],
    }
    for name, values in forms.items():
        frame = pd.DataFrame({"date": values, "model": ["a", "a"], "cost_usd": [1.0, 2.0]})
        data = spend_chart.from_frame(frame)
        assert (data.dates, data.series) == (["2026-11-30", "2026-12-01"],
                                            {"a": [1.0, 2.0]}), name


def test_an_activity_frame_with_its_own_column_names():
    frame = pd.DataFrame({"date": ["2026-11-28", "2026-11-30", "2026-11-30"],
                          "model": ["openai/gpt-4o-mini", "openai/gpt-4o-mini", "x/y"],
                          "billed_usd": [4.12, 0.5, 0.25]})
    data = spend_chart.from_frame(frame, date="date", model="model", usd="billed_usd")
    assert data.dates == ["2026-11-28", "2026-11-29", "2026-11-30"]
    assert data.totals == [4.12, 0.0, 0.75]


def test_a_date_column_that_is_not_dates_is_one_clear_error():
    frame = pd.DataFrame({"date": ["yesterday"], "model": ["a"], "cost_usd": [1.0]})
    with pytest.raises(ValueError, match="must hold ISO dates"):
        spend_chart.from_frame(frame)
    frame = pd.DataFrame({"date": ["2026-11-30", None], "model": ["a", "a"],
                          "cost_usd": [1.0, 1.0]})
    with pytest.raises(ValueError, match="1 row"):
        spend_chart.from_frame(frame)


def test_first_and_last_fix_the_range_and_keep_empty_days_at_both_ends():
    frame = pd.DataFrame({"date": ["2026-11-01", "2026-11-25"], "model": ["a", "a"],
                          "cost_usd": [5.0, 1.0]})
    data = spend_chart.from_frame(frame, first="2026-11-24", last="2026-11-27")
    assert data.dates == ["2026-11-24", "2026-11-25", "2026-11-26", "2026-11-27"]
    assert data.totals == [0.0, 1.0, 0.0, 0.0]  # the Nov 1 call is outside: left out
    empty = spend_chart.from_frame(frame.iloc[:0], first="2026-11-24", last="2026-11-25")
    assert (empty.dates, empty.series, empty.totals) == (["2026-11-24", "2026-11-25"], {},
                                                          [0.0, 0.0])
    assert spend_chart.last_days(14, datetime(2026, 12, 1).date()) == ("2026-11-18", "2026-12-01")


def test_the_top_six_models_by_spend_and_one_other_for_the_rest():
    costs = {f"org/m{i}": (i + 1) * 0.01 for i in range(8)}  # m7 spent most, m0 least
    frame = pd.DataFrame({"date": ["2026-11-30"] * 8 + ["2026-12-01"],
                          "model": [*costs, "org/m0"],
                          "cost_usd": [*costs.values(), 0.005]})
    data = spend_chart.from_frame(frame)
    assert list(data.series) == ["org/m7", "org/m6", "org/m5", "org/m4", "org/m3", "org/m2",
                                 "other (2 models)"]
    assert data.other == "other (2 models)"
    assert data.series["other (2 models)"] == [total_usd([0.01, 0.02]), 0.005]
    assert data.totals == [total_usd(list(costs.values())), 0.005]  # nothing lost to "other"
    colours = spend_chart._colours(data)
    assert colours[-1] == spend_chart.OTHER_COLOUR and len(set(colours)) == 7
    assert list(spend_chart.from_frame(frame, top=8).series) == [
        "org/m7", "org/m6", "org/m5", "org/m4", "org/m3", "org/m2", "org/m1", "org/m0"]


def test_unknown_costs_are_counted_never_drawn_as_zero(ledger):
    write_call(ledger, "openai/gpt-4o-mini", 0.25, DAY0)
    write_call(ledger, "openai/gpt-4o-mini", None, DAY0 + timedelta(minutes=5))
    write_call(ledger, "x/only-unknown", None, DAY0 + timedelta(days=1))
    data = spend_chart.from_frame(ledger.frame("all"), date="timestamp")
    assert data.unknown == [1, 1] and data.unknown_calls == 2
    assert "x/only-unknown" not in data.series  # no $0 series for a model with no known cost
    assert data.note == "2 calls with unknown cost not shown"
    assert data.note in data.caption
    root = parse(spend_chart.svg(data))
    notes = [t for t in root.iter(f"{SVG}text") if t.get("class") == "edge-chart-note"]
    assert [t.text for t in notes] == ["2 calls with unknown cost not shown"]
    assert tooltip(days_of(root)[1]).splitlines() == [
        "2026-11-21: $0 spent", "+ 1 call with unknown cost"]


# -- the SVG ------------------------------------------------------------------------------------


def _row(ledger: Ledger, model: str, when: datetime, *, status: str, cost: float | None,
         gen: str, byok: bool = False, upstream: float | None = None, end: bool = True) -> int:
    """A row as the call engine writes it (pending, then ended unless ``end`` is False)."""
    record = CallRecord(model=model, timestamp=when, notebook="nb.ipynb", status="pending",
                        session_id="s1", generation_id=gen)
    row = ledger.begin(record)
    if end:
        record.status, record.cost_usd, record.is_byok = status, cost, byok
        record.upstream_cost_usd = upstream
        ledger.complete(row, record)
    return row


def test_each_rows_spend_is_the_ledgers_own_and_unsettled_is_what_reconcile_settles(ledger):
    when = DAY0 + timedelta(hours=3)
    _row(ledger, "a/ok", when, status="ok", cost=0.1, gen="g1")
    _row(ledger, "a/byok", when, status="ok", cost=0.1, gen="g2", byok=True, upstream=0.2)
    # OpenRouter refused it before any token: no generation, no cost, nothing to settle
    _row(ledger, "a/refused", when, status="error", cost=None, gen="")
    _row(ledger, "a/cut", when, status="interrupted", cost=None, gen="g3")  # settled later
    _row(ledger, "a/running", when, status="pending", cost=None, gen="", end=False)
    frame = ledger.frame("all")
    still = unsettled(frame)
    assert dict(zip(frame["model"], still.tolist(), strict=True)) == {
        "a/ok": False, "a/byok": False, "a/refused": False, "a/cut": True, "a/running": True}
    # the ended rows it marks are exactly those Ledger.reconcile would fetch
    ended = frame["status"] != "pending"
    picked = {record.model for _, record in ledger.to_reconcile(max_age_days=10_000)}
    assert set(frame["model"][still & ended]) == picked == {"a/cut"}
    spent = dict(zip(frame["model"], spend_usd(frame).tolist(), strict=True))
    # a BYOK call is OpenRouter's fee plus its provider's bill, summed exactly
    assert spent["a/byok"] == 0.3 and spent["a/ok"] == 0.1 and spent["a/refused"] == 0.0
    assert np.isnan(spent["a/cut"]) and np.isnan(spent["a/running"])
    by_day = ledger_group(frame, "day").iloc[0]  # the same figures as `%edge usage --by day`
    assert total_usd([spent["a/ok"], spent["a/byok"], spent["a/refused"]]) == total_usd(
        [by_day["cost_usd"], by_day["byok_upstream_usd"]])


def test_the_svg_has_a_bar_per_day_sized_by_spend_and_exact_totals_in_its_tooltips(ledger):
    spent = {0: [0.1, 0.2, 1.65e-05], 2: [9.3e-05], 3: [0.05]}
    for day, costs in spent.items():
        for i, cost in enumerate(costs):
            write_call(ledger, "openai/gpt-4o-mini" if i % 2 == 0 else "google/gemini-2.0-flash-001",
                       cost, DAY0 + timedelta(days=day, minutes=i))
    data = spend_chart.from_frame(ledger.frame("all"), date="timestamp")
    root = parse(spend_chart.svg(data))
    groups = days_of(root)
    assert [g.get("data-day") for g in groups] == data.dates
    for i, group in enumerate(groups):
        expected = exact_usd(total_usd(spent.get(i, [])))
        assert tooltip(group).splitlines()[0] == f"{data.dates[i]}: {expected} spent"
    heights = [sum(float(r.get("height", 0)) for r in g.iter(f"{SVG}rect")
                   if r.get("class") == "edge-bar") for g in groups]
    assert heights[1] == 0  # the empty day: a bar of nothing, not a gap
    assert heights[0] > heights[3] > heights[2] > 0  # taller for more spend
    # the first day's two models are stacked: two segments, one above the other
    first = [r for r in groups[0].iter(f"{SVG}rect") if r.get("class") == "edge-bar"]
    assert len(first) == 2 and {r.get("fill") for r in first} == set(spend_chart.PALETTE[:2])
    assert "$0.3000165 spent" in tooltip(groups[0])  # 0.1 + 0.2 + 1.65e-05, every digit


def test_the_y_axis_is_written_by_money_py_and_no_two_ticks_read_the_same():
    for highest in (3.7e-05, 0.0123, 0.078, 1.0, 4.12, 1234.5):
        values = spend_chart.ticks(highest)
        assert values[0] == 0 and values[-1] >= highest and len(values) <= 7
        step = values[1] - values[0]
        labels = [spend_chart.tick_label(v, step) for v in values]
        assert len(set(labels)) == len(labels), labels
        assert all(label in (short_usd(v), exact_usd(v)) for label, v in zip(labels, values, strict=True))
    data = spend_chart.SpendByDay(dates=["2026-11-30"], series={"a": [0.078]})
    ticks = [t.text for t in parse(spend_chart.svg(data)).iter(f"{SVG}text")
             if t.get("class") == "edge-tick"]
    assert ticks == ["$0", "$0.02", "$0.04", "$0.06", "$0.08"]


HOSTILE = [
    '</text><script>alert(1)</script><text x="0',
    '" onload="alert(document.cookie)',
    "evil/\x1b]52;c;cGF5bG9hZA==\x07\x00model",
    "<![CDATA[]]><!-- x --><foreignObject><img src=x onerror=alert(1)></foreignObject>",
    "a&amp;b \ud800 \uffff",
]


def test_hostile_model_names_are_text_never_markup():
    frame = pd.DataFrame({"date": ["2026-11-30"] * len(HOSTILE), "model": HOSTILE,
                          "cost_usd": [0.01 * (i + 1) for i in range(len(HOSTILE))]})
    data = spend_chart.from_frame(frame, title='<b onmouseover="x">Spend</b>')
    for width in (640, 300):
        text = spend_chart.svg(data, width=width)
        root = parse(text)  # a control character or a lone surrogate would break this
        tags = {el.tag.removeprefix(SVG) for el in root.iter()}
        assert tags <= {"svg", "title", "rect", "text", "line", "g"}, tags
        assert not [k for el in root.iter() for k in el.attrib if k.startswith("on")]
        assert "\x1b" not in text and "\x00" not in text and "\x07" not in text
        legend = [tooltip(g) for g in root.iter(f"{SVG}g") if g.get("class") == "edge-legend"]
        assert any(t.startswith('</text><script>alert(1)</script><text x="0:') for t in legend)
        assert any(t.startswith("a&amp;b \ufffd \ufffd:") for t in legend)  # as it was, literally
    assert parse(spend_chart.svg(data)).find(f"{SVG}text").text == '<b onmouseover="x">Spend</b>'


def test_no_spend_is_a_chart_that_says_so():
    root = parse(spend_chart.svg(spend_chart.SpendByDay(dates=[], series={})))
    assert "No spend to show" in [t.text for t in root.iter(f"{SVG}text")]


def test_a_long_legend_makes_a_narrow_chart_taller_rather_than_squeezing_the_bars():
    names = [f"organisation-{i}/a-rather-long-model-name-{i}" for i in range(7)]
    data = spend_chart.SpendByDay(dates=["2026-11-30"], series={n: [0.01] for n in names})
    narrow = parse(spend_chart.svg(data, width=300, height=170))
    assert int(narrow.get("height")) > 170
    legend = [t.text for t in narrow.iter(f"{SVG}text")
              if t.text and t.text.startswith("a-rather")]  # the organisation goes first
    assert len(legend) == 7
    assert int(parse(spend_chart.svg(data, width=640, height=240)).get("height")) == 240


# -- matplotlib ---------------------------------------------------------------------------------


def test_matplotlib_draws_a_png_and_leaves_no_figure_and_no_pyplot():
    # mathtext would parse "$...$" in a name (and fail on a bad formula): it must stay text
    names = [HOSTILE[0], "costs $5 $$ \\frac{1}{0} $x^$"]
    code = (
        "import sys, pandas as pd\n"
        "from edge_jupyter import spend_chart\n"
        f"frame = pd.DataFrame({{'date': ['2026-11-30', '2026-12-01'], "
        f"'model': {names!r}, 'cost_usd': [0.5, 1.25]}})\n"
        "png = spend_chart.png(spend_chart.from_frame(frame), width=640, height=240)\n"
        "sys.stdout.buffer.write(png)\n"
        "import gc; gc.collect()\n"
        "import matplotlib._pylab_helpers as h\n"
        "assert not h.Gcf.get_all_fig_managers()\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot was imported'\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, check=False)
    assert done.returncode == 0, done.stderr.decode()
    from PIL import Image

    image = Image.open(io.BytesIO(done.stdout))
    assert image.format == "PNG" and image.size == (1280, 480)  # twice the size, for sharp screens
    pixels = np.asarray(image.convert("RGB")).reshape(-1, 3)
    palette = {tuple(int(c[i:i + 2], 16) for i in (1, 3, 5)) for c in spend_chart.PALETTE[:2]}
    assert palette <= {tuple(p) for p in pixels.tolist()}  # both bars are drawn in their colours


def test_edge_chart_svg_forces_the_svg(monkeypatch):
    monkeypatch.delenv("EDGE_CHART", raising=False)
    assert spend_chart.use_matplotlib()  # installed here (the test extra)
    monkeypatch.setenv("EDGE_CHART", "svg")
    assert not spend_chart.use_matplotlib()


def test_without_matplotlib_show_sends_the_svg_and_a_text_line():
    code = ("import sys; sys.modules['matplotlib'] = None  # as if it were not installed\n"
            "from IPython.core.interactiveshell import InteractiveShell\n"
            "from IPython.utils.capture import capture_output\n"
            "from edge_jupyter import spend_chart\n"
            "InteractiveShell.instance()\n"
            "data = spend_chart.SpendByDay(dates=['2026-11-30'], series={'a/b': [0.25]})\n"
            "with capture_output() as shown:\n"
            "    spend_chart.show(data)\n"
            "(out,) = shown.outputs\n"
            "print(sorted(out.data), out.data['text/plain'])\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ("['image/svg+xml', 'text/plain'] Spend per day (UTC): "
                                   "$0.25 from 2026-11-30")


def test_the_extension_loads_without_matplotlib():
    # (IPython's own test shell imports matplotlib itself: the terminal shell does not)
    statement = ("from IPython.terminal.interactiveshell import TerminalInteractiveShell\n"
                 "TerminalInteractiveShell.instance().run_line_magic('load_ext', 'edge_jupyter')")
    assert loaded_by(statement, ("matplotlib", "edge_jupyter.spend_chart")) == []


# -- %edge usage --plot in a real kernel ---------------------------------------------------------


def _image(run, mime: str) -> str:
    return run.output_with(mime)["data"][mime]


def test_usage_plot_in_a_kernel_draws_png_then_svg_with_the_exact_total(kernel, sandbox):
    sandbox.reset()
    empty = kernel.ok("%edge usage --plot --session")  # no calls yet: one line, no picture
    assert empty.all_text.strip() == "No calls to plot for this session yet."
    assert not [o for o in empty.outputs if "image/png" in o.get("data", {})]
    kernel.ok("%%edge -m openai/gpt-4o-mini\nHello")
    kernel.ok("%%edge -m anthropic/claude-3.5-haiku\nHello again")
    costs = [c.cost for c in sandbox.wait_for_completions(2)]
    today = datetime.now(timezone.utc).date().isoformat()

    run = kernel.ok("%edge usage --plot --session")
    png = base64.b64decode(_image(run, "image/png"))
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert f"Spend per day (UTC), this session: {exact_usd(total_usd(costs))}" in run.all_text
    assert kernel.value("'matplotlib.pyplot' in __import__('sys').modules") is False

    kernel.ok("import os; os.environ['EDGE_CHART'] = 'svg'")
    try:
        run = kernel.ok("%edge usage --plot --session --since 3D")
    finally:
        kernel.ok("del os.environ['EDGE_CHART']")
    root = parse(_image(run, "image/svg+xml"))
    groups = days_of(root)
    assert len(groups) in (3, 4) and groups[-1].get("data-day") == today  # --since 3D to today
    assert tooltip(groups[-1]).splitlines()[0] == f"{today}: {exact_usd(total_usd(costs))} spent"
    legend = {tooltip(g).split(":")[0] for g in root.iter(f"{SVG}g")
              if g.get("class") == "edge-legend"}
    assert legend == {"openai/gpt-4o-mini", "anthropic/claude-3.5-haiku"}


def test_usage_plot_counts_a_byok_providers_bill_and_a_refused_call_as_nothing(kernel, sandbox):
    """The bar is the spend ``%edge usage --by day`` shows: a BYOK call's OpenRouter fee
    and what its provider billed; a call refused before any token cost $0 and is not
    "unknown cost" (nothing would ever settle it)."""
    sandbox.reset()
    sandbox.byok_providers = {"openai"}
    try:
        kernel.ok("%%edge -m openai/gpt-4o-mini\nHello, my own key")
        (done,) = sandbox.wait_for_completions(1)
        refused = kernel.run("%%edge -m nobody/no-such-model\nHello")
        assert refused.status == "error"
        kernel.ok("import os; os.environ['EDGE_CHART'] = 'svg'")
        try:
            run = kernel.ok("%edge usage --plot --session --since 1h")
        finally:
            kernel.ok("del os.environ['EDGE_CHART']")
    finally:
        sandbox.reset()
    upstream = done.usage["cost_details"]["upstream_inference_cost"]
    assert upstream > 0 and done.cost < upstream
    # the session's spend as its budget counts it (the module's earlier calls are in it)
    spent = kernel.value("edge_jupyter.ledger.Ledger.default().spent('session')")
    assert spent >= total_usd([done.cost, upstream])
    today = datetime.now(timezone.utc).date().isoformat()
    root = parse(_image(run, "image/svg+xml"))
    assert tooltip(days_of(root)[-1]).splitlines()[0] == f"{today}: {exact_usd(spent)} spent"
    assert "unknown" not in tooltip(root)


def test_usage_plot_with_by_is_one_clear_line(kernel):
    run = kernel.run("%edge usage --plot --by model")
    assert run.status == "error"
    assert "--plot draws the spend per day by model: leave out --by" in run.error_text
