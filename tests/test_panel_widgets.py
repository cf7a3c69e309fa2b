"""The panel's widgets in this process, against the sandbox, a real ledger and real preferences.

No frontend is attached (ipywidgets then uses a comm that sends nothing), so these
tests read the widgets' values: exactly what a frontend would be sent.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from panel_fixtures import add_call

from edge_jupyter import events, keystore, preferences
from edge_jupyter.ledger import Context, Ledger, read_export
from edge_jupyter.panel._controller import Panel
from edge_jupyter.panel._source import Source
from edge_jupyter.panel._widgets import RESULT_ROWS

NOTEBOOK = "work/analysis.ipynb"


@pytest.fixture
def notebook(monkeypatch) -> str:
    """Calls and the panel belong to this notebook (as the magic sets it in a kernel)."""
    monkeypatch.setattr("edge_jupyter.ledger._context._current",
                        Context(notebook=NOTEBOOK, session_id="test-session"))
    return NOTEBOOK


@pytest.fixture
def make_panel(edge_env, notebook) -> Iterator:
    panels: list[Panel] = []

    def make(source: Source | None = None) -> Panel:
        panel = Panel(source)
        panels.append(panel)
        assert panel.settle(), "the panel did not finish its first refresh"
        return panel

    yield make
    for panel in panels:
        panel.close()


def finished_call(cost: float = 1.65e-05, count: int = 7) -> None:
    """A call written to the ledger as the magic writes it, then announced."""
    add_call(Ledger.default(), notebook=NOTEBOOK, count=count, cost=cost)
    events.publish(events.CALLS_FINISHED, [])


def test_the_panel_shows_the_account_the_models_and_the_usage(make_panel, sb):
    panel = make_panel()
    assert "Connected" in panel.account_html.value
    assert "key from OPENROUTER_API_KEY" in panel.account_html.value
    # the sandbox's main key has no limit and no management key is stored: nothing "left"
    assert "connected · today $0.00" in panel.headline.value
    assert panel.disconnect_button.disabled  # an environment key cannot be removed here
    assert panel.default_row.model_id == preferences.load().default_model
    assert "$0.15 / $0.60 per M" in panel.default_row.meta.value
    assert "Calls made with <code>%%edge</code>" in panel.usage_html.value
    assert panel.tabs.titles == ("Account", "Models", "Usage")
    assert "edge-panel" in panel.widget._dom_classes


def test_a_finished_call_shows_up_and_publishing_does_not_wait_for_the_panel(make_panel, sb):
    class SlowBalance(Source):
        """OpenRouter answering /key slowly: the cell that publishes must not wait for it."""

        @staticmethod
        def balance(*, fresh: bool):  # type: ignore[override]
            time.sleep(0.6)
            return Source.balance(fresh=fresh)

    panel = make_panel(SlowBalance())
    started = time.perf_counter()
    finished_call(cost=0.00123)
    assert time.perf_counter() - started < 0.3  # marking and waking only, no /key
    assert panel.settle()
    html = panel.usage_html.value
    assert 'class="edge-usage-row"' in html and "gpt-4o-mini" in html
    assert "$0.0012" in html and 'title="$0.00123"' in html  # readable, and exact on hover
    assert "[7]" in html
    assert "$0.0012" in panel.account_html.value  # spent in this notebook


def test_the_balance_is_read_again_after_every_call(make_panel, sb, monkeypatch):
    monkeypatch.setenv("OPENROUTER_API_KEY", sb.issue_key(limit=5.0))
    panel = make_panel()
    assert "of $5.00" in panel.account_html.value
    before = sum(r.path.endswith("/key") for r in sb.requests)
    finished_call()
    assert panel.settle()
    assert sum(r.path.endswith("/key") for r in sb.requests) == before + 1


def test_under_the_alert_threshold_the_panel_shows_the_alert_in_colour(make_panel, sb, monkeypatch):
    monkeypatch.setenv("OPENROUTER_API_KEY", sb.issue_key(limit=0.4))
    preferences.update(alert_threshold_usd=1.0)
    panel = make_panel()
    assert 'class="edge-alert"' in panel.account_html.value
    assert "Low balance: $0.40 left on your key limit" in panel.account_html.value
    assert "color:var(--jp-error-color1" in panel.headline.value
    assert panel.account is not None and panel.account.alert


def test_preferences_changed_elsewhere_reach_the_models_tab(make_panel):
    panel = make_panel()
    assert all(r.model_id == "" for r in panel.favourite_rows)
    preferences.update(favourites=["anthropic/claude-3.5-haiku", "openai/gpt-4o"])  # %edge fav
    assert panel.settle()
    shown = [r.model_id for r in panel.favourite_rows if r.box.layout.display != "none"]
    assert shown == ["anthropic/claude-3.5-haiku", "openai/gpt-4o"]
    assert panel.favourite_rows[0].star.description == "★"
    preferences.update(default_model="openai/gpt-4o")  # %edge use
    assert panel.settle()
    assert panel.default_row.model_id == "openai/gpt-4o"
    assert panel.favourite_rows[1].use.layout.visibility == "hidden"  # it is the default now


def test_star_and_use_change_the_preferences_as_the_magics_do(make_panel):
    panel = make_panel()
    heard: list[str] = []
    unsubscribe = events.subscribe(lambda event, _payload: heard.append(event))
    try:
        panel.search.value = "haiku"
        (row,) = [r for r in panel.result_rows if r.model_id]
        assert row.model_id == "anthropic/claude-3.5-haiku" and row.star.description == "☆"
        row.star.click()
        assert preferences.load().favourites == ["anthropic/claude-3.5-haiku"]
        assert row.star.description == "★"
        row.use.click()
        assert preferences.load().default_model == "anthropic/claude-3.5-haiku"
        row.star.click()
        assert preferences.load().favourites == []
    finally:
        unsubscribe()
    assert heard.count(events.PREFERENCES_CHANGED) == 3


def test_search_reuses_one_pool_of_rows(make_panel):
    panel = make_panel()
    pool = [id(r.box) for r in panel.result_rows]
    panel.search.value = "openai"
    visible = [r.model_id for r in panel.result_rows if r.box.layout.display == "flex"]
    assert visible == ["openai/gpt-4o", "openai/gpt-4o-mini"]
    assert "2 models match." in panel.models_note.value
    panel.search.value = "zzz"
    assert all(r.box.layout.display == "none" for r in panel.result_rows)
    assert [id(r.box) for r in panel.result_rows] == pool and len(pool) == RESULT_ROWS


def test_export_writes_the_notebooks_calls_next_to_it(make_panel, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    panel = make_panel()
    panel.export_button.click()
    assert panel.settle()
    assert "Nothing to export yet" in panel.usage_message.value
    finished_call(count=1)
    finished_call(count=2)
    panel.export_button.click()
    assert panel.settle()
    (path,) = tmp_path.glob("edge-usage-*.csv")
    assert f"Wrote 2 calls to {path}" in panel.usage_message.value
    exported = read_export(path)
    assert exported["execution_count"].tolist() == [1, 2]
    assert set(exported["notebook"]) == {NOTEBOOK}


def test_disconnect_removes_the_stored_key_and_the_panel_follows(make_panel, sb, monkeypatch):
    monkeypatch.delenv("OPENROUTER_API_KEY")
    monkeypatch.setenv("EDGE_KEY_STORE", "file")
    keystore.store_api_key(sb.key)
    panel = make_panel()
    assert "key in the edge_jupyter key file" in panel.account_html.value
    assert not panel.disconnect_button.disabled
    panel.disconnect_button.click()
    assert panel.settle()
    assert keystore.resolve_api_key().key is None
    assert "Disconnected: the stored OpenRouter key was removed." in panel.account_message.value
    assert "Not connected" in panel.account_html.value
    # no Jupyter server behind this process: the way to connect is the magic
    assert "%edge connect" in panel.connect_html.value
    assert panel.disconnect_button.disabled


def test_a_failing_refresh_is_reported_in_the_panel_and_cleared_once_it_works(make_panel):
    class Flaky(Source):
        fail = True

        def usage_frame(self):  # type: ignore[override]
            if Flaky.fail:
                raise OSError("disk unplugged")
            return super().usage_frame()

    panel = make_panel(Flaky())
    assert "The panel could not update: OSError: disk unplugged" in panel.account_message.value
    Flaky.fail = False
    panel.refresh()
    assert panel.settle()
    assert panel.account_message.value == ""


def test_closing_stops_listening(make_panel):
    panel = make_panel()
    panel.close()
    assert not panel._worker.is_alive()
    before = threading.active_count()
    events.publish(events.CALLS_FINISHED, [])
    assert threading.active_count() == before
    assert panel.settle(timeout=0.5)  # nothing was queued
