"""The panel's HTML: escaping, hover texts with exact amounts, alignment hooks, narrow layout."""

from __future__ import annotations

from panel_fixtures import add_call

from edge_jupyter.balance import Balance
from edge_jupyter.ledger import Ledger
from edge_jupyter.openrouter import KeyInfo, ModelInfo
from edge_jupyter.panel import _html
from edge_jupyter.panel._model import (
    KeyStatus,
    Spending,
    account_view,
    models_view,
    usage_view,
)
from edge_jupyter.preferences import Preferences

HOSTILE = "evil/<img src=x onerror=alert(1)>"


def test_everything_from_outside_is_escaped(tmp_path):
    book = Ledger(tmp_path / "l.sqlite3")
    add_call(book, model=HOSTILE, error="<b>boom</b>", status="error", cost=None)
    html = _html.usage_html(usage_view(book.frame("all")))
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<b>boom</b>" not in html
    info = ModelInfo.from_json({"id": HOSTILE, "name": '"quoted" <name>',
                                "pricing": {"prompt": "0.000001", "completion": "0.000002"}})
    row = models_view(Preferences(favourites=[HOSTILE]), [info]).favourites[0]
    for fragment in (_html.model_id_html(row), _html.model_meta_html(row)):
        assert "<img" not in fragment and "<name>" not in fragment
        assert "&quot;quoted&quot;" in fragment or "$1.00 / $2.00 per M" in fragment
    problem = KeyStatus(False, problem="locked <keyring>")
    account = _html.account_html(account_view(Preferences(), problem, None, Spending()))
    assert "locked &lt;keyring&gt;" in account


def test_account_figures_carry_the_exact_amount_on_hover():
    bal = Balance(key=KeyInfo(limit=5.0, limit_remaining=4.9999835, usage=1.65e-05))
    html = _html.account_html(account_view(Preferences(), KeyStatus(True, "environment"), bal,
                                           Spending(today=1.65e-05)))
    assert 'title="$4.9999835"><b>$4.99998</b>' in html  # never "$5.00 of $5.00"
    assert 'title="$0.0000165"><b>$0.000017</b>' in html
    assert "credit limit (OpenRouter /key)" in html  # the label explains itself on hover


def test_the_alert_is_a_coloured_block_and_commands_read_as_code():
    bal = Balance(key=KeyInfo(limit=5.0, limit_remaining=0.3),
                  credits_note="Store one with `%edge balance --management-key`.")
    view = account_view(Preferences(alert_threshold_usd=1.0), KeyStatus(True, "keyring"), bal,
                        Spending())
    html = _html.account_html(view)
    assert '<div class="edge-alert" role="alert">Low balance: $0.30 left' in html
    assert "<code>%edge balance --management-key</code>" in html
    assert "color:var(--jp-error-color1" in _html.headline_html(view)


def test_prose_leaves_unmatched_backticks_alone():
    assert _html.prose("run `%edge connect` <now>") == "run <code>%edge connect</code> &lt;now&gt;"
    assert _html.prose("a ` b") == "a ` b"


def test_the_usage_table_folds_tokens_under_the_model_when_narrow(tmp_path):
    book = Ledger(tmp_path / "l.sqlite3")
    add_call(book, count=3, cost=1.65e-05)
    html = _html.usage_html(usage_view(book.frame("all")))
    # one token figure per layout; CSS shows one or the other by the panel's width
    assert '<td class="edge-num edge-wide">38</td>' in html
    assert '<div class="edge-narrow edge-muted edge-num" style="text-align:left">38 tokens</div>' \
        in html
    assert "@container (max-width: 400px)" in _html.CSS
    assert 'title="$0.0000165">$0.000017</td>' in html
    assert "Total · 1 call" in html and 'title="$0.0000165"' in html


def test_the_busy_mark_keeps_its_place():
    view = account_view(Preferences(), KeyStatus(False), None, Spending())
    idle, busy = _html.headline_html(view), _html.headline_html(view, busy=True)
    assert "visibility:hidden" in idle and "visibility:visible" in busy
    assert idle.replace("hidden", "visible") == busy  # same markup otherwise: nothing moves


def test_connect_is_a_link_to_the_server_route_or_the_magic():
    link = _html.connect_html("/user/ann/edge/connect?watch=abc", connected=False)
    assert 'href="/user/ann/edge/connect?watch=abc"' in link and 'target="_blank"' in link
    assert ">Connect</a>" in link
    assert "%edge connect" in _html.connect_html(None, connected=False)
