"""The panel's view-model: what it shows for given preferences, balances, catalogues, ledgers.

Real objects throughout: ``Preferences``, ``KeyInfo``/``Credits``/``Balance`` as the
balance module builds them, the model list as the client parses it from the sandbox,
and ledger frames read from a real SQLite ledger in a temporary folder.
"""

from __future__ import annotations

import pytest
from panel_fixtures import add_call

from edge_jupyter.balance import Balance
from edge_jupyter.ledger import Ledger
from edge_jupyter.money import exact_usd, per_million_usd
from edge_jupyter.openrouter import Credits, KeyInfo, OpenRouterClient
from edge_jupyter.panel._model import (
    ALERT_COLOUR,
    FIGURE_SPACE,
    GOOD_COLOUR,
    MISSING,
    PLACEHOLDER,
    POINT_SPACE,
    WARN_COLOUR,
    KeyStatus,
    Spending,
    account_view,
    align_decimals,
    context_text,
    models_view,
    search_models,
    short_model,
    usage_view,
)
from edge_jupyter.preferences import Preferences

CONNECTED = KeyStatus(connected=True, source="keyring", backend="SecretService Keyring")


def figure(view, label):
    return next(f for f in view.figures if f.label == label)


# -- formatting -------------------------------------------------------------------------------


@pytest.mark.parametrize(("per_token", "shown"), [
    (1.5e-07, "$0.15"), (6e-07, "$0.60"), (2.19e-06, "$2.19"), (1.5e-05, "$15.00"),
    (3.75e-08, "$0.0375"), (1.25e-03, "$1,250.00"), (0.0, "$0"), (1e-13, "$0.00"),
])
def test_prices_per_million_tokens_keep_only_the_digits_they_have(per_token, shown):
    assert per_million_usd(per_token) == shown


@pytest.mark.parametrize(("tokens", "shown"), [
    (128000, "128K"), (131072, "131K"), (8192, "8K"), (1048576, "1.05M"), (2_000_000, "2M"),
    (500, "500"), (None, MISSING), (0, MISSING),
])
def test_context_lengths_read_as_people_compare_them(tokens, shown):
    assert context_text(tokens) == shown


def test_amounts_are_padded_to_line_up_on_the_decimal_point():
    values = ["$0.000017", "$0.0012", "$1.23", "$12", "…", MISSING]
    aligned = align_decimals(values)
    assert aligned[0] == "$0.000017"
    assert aligned[1] == "$0.0012" + FIGURE_SPACE * 2
    assert aligned[2] == "$1.23" + FIGURE_SPACE * 4
    assert aligned[3] == "$12" + POINT_SPACE + FIGURE_SPACE * 6
    assert aligned[4:] == ["…", MISSING]  # not numbers: left alone
    # right-aligned, every decimal point is the same distance from the right edge
    assert len({len(v) - v.index(".") for v in aligned[:3]}) == 1


def test_short_model_names_drop_the_organisation():
    assert short_model("openai/gpt-4o-mini") == "gpt-4o-mini"
    assert short_model("local-model") == "local-model"


# -- account -----------------------------------------------------------------------------------


def balance(*, credits: tuple[float, float] | None = (100.0, 3.5), limit: float | None = 5.0,
            remaining: float | None = 4.98, usage: float = 0.02, note: str = "",
            problem: str = "") -> Balance:
    key = KeyInfo(label="sk-or-v1-abc...xyz", limit=limit, limit_remaining=remaining, usage=usage)
    return Balance(key=key, credits=Credits(*credits) if credits else None, credits_note=note,
                   problem=problem)


def test_connected_account_shows_balance_key_limit_and_spending():
    prefs = Preferences(alert_threshold_usd=1.0)
    view = account_view(prefs, CONNECTED, balance(), Spending(today=0.0123, notebook=0.000172))
    assert view.connected and view.status == "Connected"
    assert view.source == "key in SecretService Keyring"
    assert [f.label for f in view.figures] == ["Balance", "Key limit", "Spent today",
                                               "This notebook", "Alert under"]
    assert (figure(view, "Balance").value, figure(view, "Balance").note) == ("$96.50", "of $100.00")
    assert (figure(view, "Key limit").value, figure(view, "Key limit").note) == ("$4.98", "of $5.00")
    assert figure(view, "Spent today").value == "$0.01"
    assert figure(view, "This notebook").value == "$0.00017"
    # the exact amount is on hover, every digit
    assert figure(view, "This notebook").exact == "$0.000172"
    assert figure(view, "Spent today").exact == "$0.0123"
    # what is left is the tighter of the two, and says which
    assert view.remaining == pytest.approx(4.98)
    assert view.headline == "$4.98 left · today $0.01"
    assert not view.alert and view.alert_text == "" and view.alert_colour == "inherit"
    assert view.notes == ()


def test_what_is_left_never_reads_equal_to_the_whole_once_something_was_spent():
    prefs = Preferences(budgets={"day": 1.0})
    view = account_view(prefs, CONNECTED,
                        balance(credits=(100.0, 0.00014), remaining=4.99986, usage=0.00014),
                        Spending(budgets={"day": 0.000002}))
    assert (figure(view, "Key limit").value, figure(view, "Key limit").note) == ("$4.9999", "of $5.00")
    assert figure(view, "Key limit").exact == "$4.99986"
    assert figure(view, "Balance").value == "$99.9999"
    assert figure(view, "Day budget").value == "$0.999998"
    assert view.headline == "$4.9999 left · today $0.00"
    untouched = account_view(prefs, CONNECTED, balance(credits=(100.0, 0.0), remaining=5.0),
                             Spending())
    assert figure(untouched, "Key limit").value == "$5.00"
    assert figure(untouched, "Balance").value == "$100.00"


def test_under_the_threshold_the_tighter_figure_turns_red_with_an_alert():
    prefs = Preferences(alert_threshold_usd=1.0)
    view = account_view(prefs, CONNECTED, balance(remaining=0.42), Spending())
    assert view.alert and view.alert_colour == ALERT_COLOUR
    assert figure(view, "Key limit").tone == "alert"
    assert figure(view, "Key limit").colour == ALERT_COLOUR
    assert figure(view, "Balance").tone == ""  # the account has plenty; the key is the limit
    assert view.alert_text == ("Low balance: $0.42 left on your key limit, under your alert "
                               "threshold of $1.00.")


def test_the_account_balance_is_what_alerts_when_it_is_the_tighter():
    view = account_view(Preferences(alert_threshold_usd=2.0), CONNECTED,
                        balance(credits=(10.0, 9.5), remaining=4.0), Spending())
    assert view.remaining == pytest.approx(0.5)
    assert figure(view, "Balance").tone == "alert" and figure(view, "Key limit").tone == ""
    assert "on your account balance" in view.alert_text


def test_a_threshold_of_zero_turns_the_alert_off():
    view = account_view(Preferences(alert_threshold_usd=0.0), CONNECTED,
                        balance(remaining=0.01), Spending())
    assert not view.alert
    assert figure(view, "Alert under").value == "off"


def test_an_exactly_met_threshold_is_not_an_alert():
    view = account_view(Preferences(alert_threshold_usd=1.0), CONNECTED,
                        balance(credits=None, remaining=1.0), Spending())
    assert not view.alert


def test_without_a_management_key_the_balance_says_why():
    note = "The account balance is not visible to this key (… `%edge balance --management-key`)."
    view = account_view(Preferences(), CONNECTED, balance(credits=None, note=note), Spending())
    assert figure(view, "Balance").value == MISSING
    assert figure(view, "Balance").hint == note
    assert view.notes == (note,)
    assert view.remaining == pytest.approx(4.98)


def test_a_key_without_a_limit_shows_what_it_used():
    view = account_view(Preferences(), CONNECTED,
                        balance(credits=None, limit=None, remaining=None, usage=12.5), Spending())
    assert (figure(view, "Key limit").value, figure(view, "Key limit").note) == ("none",
                                                                                 "$12.50 used")
    assert view.remaining is None and not view.alert
    assert view.headline == "connected · today $0.00"


def test_a_failed_lookup_is_a_note_not_an_error():
    failed = Balance(key=None, credits=None, problem="HTTP 401: User not found")
    view = account_view(Preferences(), CONNECTED, failed, Spending())
    assert figure(view, "Key limit").value == MISSING
    assert "The key's figures could not be read: HTTP 401: User not found" in view.notes


def test_while_the_first_balance_loads_its_lines_are_kept_with_a_placeholder():
    loading = account_view(Preferences(), CONNECTED, None, Spending(), loading=True)
    loaded = account_view(Preferences(), CONNECTED, balance(), Spending())
    assert [f.label for f in loading.figures] == [f.label for f in loaded.figures]
    assert figure(loading, "Balance").value == PLACEHOLDER
    assert figure(loading, "Key limit").value == PLACEHOLDER
    assert loading.headline.startswith(PLACEHOLDER)


def test_not_connected_keeps_the_same_lines_and_offers_no_disconnect():
    view = account_view(Preferences(), KeyStatus(connected=False), None, Spending(today=0.5))
    assert view.status == "Not connected" and view.source == "no OpenRouter key"
    assert figure(view, "Balance").value == MISSING and figure(view, "Key limit").value == MISSING
    assert figure(view, "Spent today").value == "$0.50"  # the ledger is local: still shown
    assert view.headline == "not connected · today $0.50"
    assert not view.can_disconnect and not view.alert


def test_a_key_store_problem_is_shown_when_not_connected():
    problem = "Your OS keyring (SecretService Keyring) is locked, so the key could not be read."
    view = account_view(Preferences(), KeyStatus(False, "none", problem=problem), None,
                        Spending())
    assert view.notes == (problem,)


@pytest.mark.parametrize(("source", "can", "hint"), [
    ("keyring", True, "Remove the stored key"),
    ("file", True, "Remove the stored key"),
    ("environment", False, "OPENROUTER_API_KEY"),
])
def test_disconnect_is_offered_only_for_a_stored_key(source, can, hint):
    view = account_view(Preferences(), KeyStatus(True, source), balance(), Spending())
    assert view.can_disconnect is can
    assert hint in view.disconnect_hint
    if source == "environment":
        assert view.source == "key from OPENROUTER_API_KEY"


def test_budgets_show_what_is_left_and_warn_near_the_end():
    prefs = Preferences(budgets={"day": 2.0, "notebook": 0.5, "month": 10.0})
    spending = Spending(budgets={"day": 1.95, "notebook": 0.6, "month": 1.0})
    view = account_view(prefs, CONNECTED, balance(), spending)
    day, notebook, month = (figure(view, f"{s} budget") for s in ("Day", "Notebook", "Month"))
    assert (day.value, day.note, day.tone) == ("$0.05", "of $2.00", "warn")
    assert day.colour == WARN_COLOUR
    assert (notebook.value, notebook.tone) == ("$0.00", "alert")  # spent past it: nothing left
    assert (month.value, month.tone) == ("$9.00", "")
    assert day.exact == exact_usd(2.0 - 1.95)


# -- models ------------------------------------------------------------------------------------


@pytest.fixture
def catalogue(sb):
    """The model list exactly as the client parses it from the sandbox's ``/models``."""
    return OpenRouterClient(None, origin=sb.url).models(refresh=True)


def test_default_and_favourites_come_with_prices_and_context(catalogue):
    prefs = Preferences(default_model="openai/gpt-4o-mini",
                        favourites=["anthropic/claude-3.5-haiku", "openai/gpt-4o-mini"])
    view = models_view(prefs, catalogue)
    assert view.default.id == "openai/gpt-4o-mini" and view.default.default
    assert view.default.price == "$0.15 / $0.60 per M"
    assert view.default.context == "128K"
    assert [r.id for r in view.favourites] == ["anthropic/claude-3.5-haiku", "openai/gpt-4o-mini"]
    haiku, mini = view.favourites
    assert (haiku.prompt, haiku.completion, haiku.context) == ("$0.80", "$4.00", "200K")
    assert haiku.favourite and not haiku.default
    assert mini.favourite and mini.default
    assert "Anthropic: Claude 3.5 Haiku" in haiku.title
    assert view.results == () and view.note == f"Search {len(catalogue)} models by name or id."


def test_a_favourite_the_catalogue_does_not_list_is_kept_and_marked(catalogue):
    view = models_view(Preferences(favourites=["acme/retired-model"]), catalogue)
    (row,) = view.favourites
    assert not row.known and row.price == "not in the catalogue"


def test_search_matches_every_word_in_id_or_name_ids_first(catalogue):
    assert [m.id for m in search_models(catalogue, "GPT 4o")] == ["openai/gpt-4o",
                                                                   "openai/gpt-4o-mini"]
    assert [m.id for m in search_models(catalogue, "haiku")] == ["anthropic/claude-3.5-haiku"]
    # "flash" is in the Gemini id; "Google" only in its name: both words must match
    assert [m.id for m in search_models(catalogue, "google flash")] == [
        "google/gemini-2.0-flash-001"]
    assert search_models(catalogue, "   ") == []


def test_search_results_carry_prices_stars_and_a_count(catalogue):
    prefs = Preferences(favourites=["openai/gpt-4o"])
    view = models_view(prefs, catalogue, "openai")
    assert [(r.id, r.favourite, r.default) for r in view.results] == [
        ("openai/gpt-4o", True, False), ("openai/gpt-4o-mini", False, True)]
    assert view.results[0].price == "$2.50 / $10.00 per M"
    assert view.matched == 2 and view.note == "2 models match."
    free = models_view(prefs, catalogue, "llama free").results[0]  # the paid base is listed too
    assert free.price == "free" and free.context == "131K"


def test_search_shows_at_most_the_limit_and_says_so(catalogue):
    view = models_view(Preferences(), catalogue, "i", limit=3)
    assert len(view.results) == 3 and view.matched > 3
    assert view.note == f"{view.matched} models match; the first 3 are shown."
    assert models_view(Preferences(), catalogue, "zzz").note == "No model matches “zzz”."


def test_without_a_catalogue_the_favourites_still_show(catalogue):
    prefs = Preferences(favourites=["openai/gpt-4o"])
    loading = models_view(prefs, None, "gpt")
    assert [r.id for r in loading.favourites] == ["openai/gpt-4o"] and loading.results == ()
    assert loading.note == "Loading the model list…"
    failed = models_view(prefs, None, problem="Could not reach OpenRouter")
    assert failed.note == "The model list could not be read: Could not reach OpenRouter"


# -- usage -------------------------------------------------------------------------------------


@pytest.fixture
def ledger(tmp_path):
    return Ledger(tmp_path / "ledger.sqlite3")


def test_usage_rows_are_newest_first_with_cell_model_tokens_cost_status(ledger):
    add_call(ledger, count=3, cost=1.65e-05, minutes=0)
    add_call(ledger, model="anthropic/claude-3.5-haiku", count=4, cost=0.001234, prompt=1200,
             completion=800, minutes=1)
    add_call(ledger, notebook="other.ipynb", count=9, minutes=2)  # another notebook
    view = usage_view(ledger.frame("notebook", notebook="nb.ipynb"))
    assert [(r.cell, r.model_short, r.tokens, r.status, r.symbol) for r in view.rows] == [
        ("[4]", "claude-3.5-haiku", "2,000", "ok", "✓"),
        ("[3]", "gpt-4o-mini", "38", "ok", "✓")]
    newest, oldest = view.rows
    assert newest.cost.rstrip(FIGURE_SPACE) == "$0.0012" and newest.cost_exact == "$0.001234"
    assert oldest.cost == "$0.000017" and oldest.cost_exact == "$0.0000165"
    assert newest.colour == GOOD_COLOUR
    assert "2026-03-14 09:27:53 UTC" in newest.title and "via OpenAI" in newest.title
    assert "1,200 prompt + 800 completion tokens" in newest.title
    assert "$0.001234" in newest.title


def test_usage_totals_add_exact_costs_without_float_noise(ledger):
    for i, cost in enumerate((0.1, 0.2, 1.65e-05)):
        add_call(ledger, count=i + 1, cost=cost, minutes=i)
    view = usage_view(ledger.frame("notebook", notebook="nb.ipynb"))
    assert view.calls == 3 and view.tokens == "114"
    assert view.cost_exact == "$0.3000165"  # not 0.30001650000000004
    assert view.cost.rstrip(FIGURE_SPACE) == "$0.30"
    assert view.summary == "3 calls · 114 tokens · $0.30"
    # the total lines up with the rows' costs
    assert len({len(c) - c.index(".") for c in [*(r.cost for r in view.rows), view.cost]}) == 1


def test_calls_without_a_known_cost_say_so(ledger):
    add_call(ledger, count=1, cost=None, status="interrupted", minutes=0)
    add_call(ledger, count=2, cost=None, status="error", error="402 insufficient credits",
             prompt=0, completion=0, minutes=1)
    add_call(ledger, count=3, cost=None, status="pending", minutes=2)
    add_call(ledger, count=4, cost=0.0, status="replayed", minutes=3)
    view = usage_view(ledger.frame("notebook", notebook="nb.ipynb"))
    replayed, pending, error, interrupted = view.rows
    assert (pending.cost, pending.symbol, pending.tone) == (PLACEHOLDER, "…", "muted")
    assert (interrupted.cost, interrupted.symbol, interrupted.tone) == (PLACEHOLDER, "■", "warn")
    assert (error.cost, error.symbol, error.colour) == (MISSING, "✗", ALERT_COLOUR)
    assert "failed: 402 insufficient credits" in error.title
    assert "exact cost not known yet" in interrupted.title
    assert replayed.cost.startswith("$0.00") and replayed.symbol == "↺"
    assert view.unknown == 3
    assert view.summary.endswith("(+ 3 not priced yet)")


def test_a_call_refused_before_any_token_is_not_waiting_for_a_price(ledger):
    # no cost and no generation id: OpenRouter billed nothing and nothing can ever settle it
    from edge_jupyter.ledger import group
    from edge_jupyter.record import CallRecord

    add_call(ledger, count=1, cost=None, status="interrupted", minutes=0)
    refused = CallRecord(model="nobody/no-such-model", notebook="nb.ipynb", cell_id="cell-2",
                         execution_count=2, status="pending", session_id="s1")
    row = ledger.begin(refused)
    refused.status, refused.error = "error", "404: no such model"
    ledger.complete(row, refused)
    frame = ledger.frame("notebook", notebook="nb.ipynb")
    view = usage_view(frame)
    assert view.unknown == 1 and view.summary.endswith("(+ 1 not priced yet)")
    assert group(frame, "model").iloc[-1]["cost_unknown"] == 1


def test_byok_calls_show_both_bills_on_hover(ledger):
    add_call(ledger, cost=1e-06, is_byok=True, upstream=2e-05)
    (row,) = usage_view(ledger.frame("all")).rows
    assert "$0.000001 OpenRouter fee (BYOK), $0.00002 billed by the provider" in row.title


def test_only_the_newest_rows_are_listed_but_totals_cover_all(ledger):
    for i in range(7):
        add_call(ledger, count=i + 1, cost=0.01, minutes=i)
    view = usage_view(ledger.frame("all"), limit=5)
    assert [r.cell for r in view.rows] == ["[7]", "[6]", "[5]", "[4]", "[3]"]
    assert view.hidden == 2 and view.calls == 7 and view.cost_exact == "$0.07"


def test_a_call_outside_a_cell_has_no_cell_number(ledger):
    add_call(ledger, count=None)
    assert usage_view(ledger.frame("all")).rows[0].cell == MISSING


def test_an_empty_ledger_reads_as_such(ledger):
    view = usage_view(ledger.frame("all"))
    assert view.rows == () and view.calls == 0 and view.cost_exact == "$0"
    assert view.summary == "No calls in this notebook yet."
