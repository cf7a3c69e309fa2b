"""The panel in a real kernel: shown once per kernel, live after ``%%edge`` cells, in sync
with ``%edge use`` / ``%edge fav`` both ways, and clear about bad flags and the sidebar."""

from __future__ import annotations

import json

import pytest
from processes import loaded_by

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
SHOW = "from edge_jupyter.panel import show_panel, get_panel\nshow_panel({argv!r})"


def widget_ids(run) -> list[str]:
    return [out["data"][WIDGET_MIME]["model_id"] for out in run.outputs
            if WIDGET_MIME in out.get("data", {})]


def panel_value(kernel, expression: str):
    """Wait for the panel to draw everything asked of it, then read ``expression`` from it."""
    return kernel.value(f"(get_panel().settle(), {expression})[1]")


@pytest.fixture(scope="module")
def shown(kernel):
    run = kernel.ok(SHOW.format(argv=[]))
    return run


def test_importing_the_panel_imports_neither_ipywidgets_nor_pandas():
    assert loaded_by("import edge_jupyter.panel", ("ipywidgets", "pandas", "httpx")) == []


def test_the_panel_is_shown_once_per_kernel_and_reused(kernel, shown):
    (first,) = widget_ids(shown)
    again = kernel.ok(SHOW.format(argv=[]))
    assert widget_ids(again) == [first]  # the same live widget, a second view of it
    assert kernel.value("get_panel().widget.model_id") == first


def test_a_bad_flag_is_one_clear_line(kernel, shown):
    run = kernel.run(SHOW.format(argv=["--bogus"]))
    assert run.status == "error"
    assert run.error_text.strip().splitlines() == [
        "\x1b[31medge: %edge panel: unrecognized arguments: --bogus. "
        "See `%edge panel --help`.\x1b[0m"]


def test_the_magic_shows_the_same_panel_and_its_errors(kernel, shown):
    assert widget_ids(kernel.ok("%edge panel")) == widget_ids(shown)
    run = kernel.run("%edge panel --sidebar=1")
    assert run.status == "error"
    assert "%edge panel: argument --sidebar: ignored explicit argument '1'" in run.error_text


def test_help_says_what_the_panel_and_sidebar_are(kernel, shown):
    text = kernel.ok(SHOW.format(argv=["--help"])).all_text
    assert "usage: %edge panel [-h] [--sidebar]" in text
    assert "JupyterLab's right sidebar" in text


def test_without_jupyterlab_the_sidebar_falls_back_to_the_cell_and_says_why(kernel, shown):
    run = kernel.ok(SHOW.format(argv=["--sidebar"]))
    assert "does not belong to a Jupyter server" in run.all_text
    assert "Showing the panel here instead." in run.all_text
    assert widget_ids(run) == widget_ids(shown)


def test_an_edge_cell_updates_the_usage_and_the_account(kernel, shown, sandbox):
    kernel.ok("%%edge -m openai/gpt-4o-mini\nHello from the panel test")
    cost = sandbox.wait_for_completions(1)[-1].cost
    usage = panel_value(kernel, "get_panel().usage_html.value")
    assert "gpt-4o-mini" in usage and 'class="edge-usage-row"' in usage
    from edge_jupyter.money import exact_usd

    assert f'title="{exact_usd(cost)}"' in usage
    account = panel_value(kernel, "get_panel().account_html.value")
    assert "Connected" in account and "Spent today" in account


def test_fav_and_use_stay_in_sync_both_ways(kernel, shown):
    kernel.ok("%edge fav add anthropic/claude-3.5-haiku")
    favourites = panel_value(kernel, "[r.model_id for r in get_panel().favourite_rows "
                                     "if r.model_id]")
    assert favourites == ["anthropic/claude-3.5-haiku"]
    kernel.ok("%edge use openai/gpt-4o")
    assert panel_value(kernel, "get_panel().default_row.model_id") == "openai/gpt-4o"
    # ... and the other way: the panel's buttons, then the magics
    kernel.ok("p = get_panel(); p.search.value = 'gemini'\n"
              "row = next(r for r in p.result_rows if r.model_id)\n"
              "row.star.click(); row.use.click()")
    listed = kernel.ok("%edge fav list").all_text
    assert "Favourites: anthropic/claude-3.5-haiku, google/gemini-2.0-flash-001" in listed
    assert "Default model: google/gemini-2.0-flash-001" in kernel.ok("%edge use").all_text
    stored = json.loads(kernel.value("open(__import__('edge_jupyter').preferences.path()).read()"))
    assert stored["default_model"] == "google/gemini-2.0-flash-001"
