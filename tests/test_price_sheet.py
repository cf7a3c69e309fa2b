"""OpenRouter's whole price sheet (issue 17): tiers above ``min_prompt_tokens``, UTC windows
that may wrap midnight, ``discount``, the cache-write prices, ``"-1"`` shown as variable, and
``/models`` pagination — read by the client, used by every estimate, billed by the sandbox."""

from __future__ import annotations

from datetime import datetime, timezone

import httpx
import pytest

import edge_jupyter as edge
from edge_jupyter import calls
from edge_jupyter.ledger import estimate_prompt_tokens, worst_case_cost
from edge_jupyter.ledger.budgets import StreamGuard, UnknownPrice, prompt_cost
from edge_jupyter.openrouter import OpenRouterClient, Pricing
from edge_jupyter.panel._model import models_view
from edge_jupyter.preferences import Preferences
from edge_jupyter.pricing_sheet import dearest_soon, in_window, price_text
from edge_jupyter.receipts import estimate_run_all
from edge_jupyter.sandbox import MODELS

SONNET = "anthropic/claude-sonnet-4"
#: Claude Sonnet 4 as OpenRouter lists it: $3 / $15 per M, $6 / $22.50 above 200,000 prompt tokens.
SHEET = {"prompt": "0.000003", "completion": "0.000015", "input_cache_read": "0.0000003",
         "input_cache_write": "0.00000375", "input_cache_write_1h": "0.000006",
         "overrides": [{"min_prompt_tokens": 200000, "prompt": "0.000006", "completion": "0.0000225"}]}
NOON = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def utc(hour: int, minute: int) -> datetime:
    return datetime(2026, 3, 1, hour, minute, tzinfo=timezone.utc)


# -- the client reads the whole sheet ---------------------------------------------------------
def test_pricing_reads_cache_writes_discount_and_overrides() -> None:
    p = Pricing.from_json({**SHEET, "discount": 0.25})
    assert (p.cache_read, p.cache_write, p.cache_write_1h, p.discount) == (3e-07, 3.75e-06, 6e-06, 0.25)
    assert p.known and len(p.overrides) == 1 and p.overrides[0].min_prompt_tokens == 200000


def test_a_tier_applies_strictly_above_its_threshold_and_absent_keys_inherit() -> None:
    p = Pricing.from_json(SHEET)
    assert (p.at(200_000, NOON).prompt, p.at(200_000, NOON).completion) == (3e-06, 1.5e-05)
    above = p.at(200_001, NOON)
    assert (above.prompt, above.completion) == (6e-06, 2.25e-05)
    assert above.cache_read == 3e-07 and above.overrides == ()  # not overridden: the base price


def test_later_overrides_win_per_key() -> None:
    p = Pricing.from_json({"prompt": "0.000001", "completion": "0.000002", "overrides": [
        {"min_prompt_tokens": 1000, "prompt": "0.000005", "completion": "0.000006"},
        {"min_prompt_tokens": 2000, "prompt": "0.000009"}]})
    both = p.at(5000, NOON)
    assert (both.prompt, both.completion) == (9e-06, 6e-06)


@pytest.mark.parametrize(("hour", "minute", "inside"), [
    (21, 59, False), (22, 0, True), (23, 59, True), (0, 0, True), (5, 59, True), (6, 0, False), (12, 0, False),
])
def test_a_window_that_wraps_midnight_is_half_open(hour: int, minute: int, inside: bool) -> None:
    p = Pricing.from_json({"prompt": "0.000002", "completion": "0.000004",
                           "overrides": [{"utc_start": 2200, "utc_end": 600, "prompt": "0.000001"}]})
    assert (p.at(10, utc(hour, minute)).prompt == 1e-06) is inside
    assert in_window(2200, 600, hour * 100 + minute) is inside


def test_a_plain_window_and_an_empty_one() -> None:
    assert in_window(100, 400, 100) and in_window(100, 400, 359) and not in_window(100, 400, 400)
    assert not in_window(900, 900, 900)  # [9:00, 9:00) holds no time


def test_a_discount_comes_off_the_token_prices_after_the_overrides() -> None:
    p = Pricing.from_json({**SHEET, "request": "0.01", "discount": 0.1})
    small, large = p.at(1000, NOON), p.at(250_000, NOON)
    assert small.prompt == pytest.approx(2.7e-06) and large.completion == pytest.approx(2.025e-05)
    assert small.request == 0.01  # a per-request price stays whole (the safe side)
    assert worst_case_cost(1000, 0, p) == pytest.approx(1000 * 2.7e-06 + 0.01)


def test_an_estimate_takes_the_dearer_of_now_and_the_next_minutes() -> None:
    # cheap at night (22:00-06:00): a call started at 05:55 may be billed at 06:02, at day prices
    p = Pricing.from_json({"prompt": "0.000002", "completion": "0.000004",
                           "overrides": [{"utc_start": 2200, "utc_end": 600, "prompt": "0.000001"}]})
    assert dearest_soon(p, 10, utc(5, 55)).prompt == 2e-06
    assert dearest_soon(p, 10, utc(23, 0)).prompt == 1e-06
    # dear at peak (a window that starts in 5 minutes and lasts only 2): still counted
    peak = Pricing.from_json({"prompt": "0.000002", "completion": "0.000004",
                              "overrides": [{"utc_start": 1205, "utc_end": 1207, "completion": "0.00004"}]})
    assert dearest_soon(peak, 10, NOON).completion == 4e-05
    assert dearest_soon(peak, 10, utc(13, 0)).completion == 4e-06


@pytest.mark.parametrize("broken", [
    {"overrides": [{"min_prompt_tokens": "lots", "prompt": "0.000006"}]},
    {"overrides": [{"utc_start": 2575, "prompt": "0.000006"}]},
    {"overrides": [{"min_prompt_tokens": 200000, "prompt": "-1"}]},
    {"overrides": "dearer at night"},
    {"discount": 1.5},
])
def test_a_sheet_entry_that_cannot_be_read_makes_the_price_unknown(broken: dict) -> None:
    p = Pricing.from_json({"prompt": "0.000003", "completion": "0.000015", **broken})
    assert not p.known and p.unknown_reason
    with pytest.raises(UnknownPrice):
        worst_case_cost(10, 10, p)


def test_every_budget_figure_reads_the_tier() -> None:
    p = Pricing.from_json(SHEET)
    assert worst_case_cost(250_000, 1000, p) == pytest.approx(250_000 * 6e-06 + 1000 * 2.25e-05)
    assert prompt_cost(250_000, p) == pytest.approx(1.5)
    guard = StreamGuard(2.0, p, 250_000)
    assert guard.completion_price == pytest.approx(2.25e-05) and guard.cost_usd == pytest.approx(1.5)
    assert worst_case_cost(1000, 1000, p) == pytest.approx(1000 * 3e-06 + 1000 * 1.5e-05)


# -- the words: one formatter -------------------------------------------------------------------
def test_prices_in_words() -> None:
    assert price_text(Pricing.from_json(SHEET)) == "$3.00/$15.00 (above 200K prompt tokens: $6.00/$22.50)"
    night = Pricing.from_json({"prompt": "0.000002", "completion": "0.000004", "discount": 0.1,
                               "overrides": [{"utc_start": 2200, "utc_end": 600, "prompt": "0.000001"}]})
    assert price_text(night) == "$2.00/$4.00 (22:00–06:00 UTC: $1.00/$4.00) · 10% off"
    assert price_text(Pricing.from_json({"prompt": "-1", "completion": "-1"})) == \
        "variable (bound it with --max-price)"


def test_the_panel_shows_the_tier_and_variable(edge_env, sb) -> None:
    catalogue = OpenRouterClient(None, origin=sb.url).models(refresh=True)
    view = models_view(Preferences(), catalogue, "sonnet")
    assert view.results[0].price == "$3.00/$15.00 (above 200K prompt tokens: $6.00/$22.50) per M"
    auto = models_view(Preferences(), catalogue, "auto router").results[0]
    assert auto.price == "variable" and "bound it with --max-price" in auto.title


def test_edge_models_says_variable_and_shows_tiers(kernel, sb) -> None:
    kernel.ok("_m = get_ipython().run_line_magic('edge', 'models --refresh')")
    prices = kernel.value("dict(zip(_m['id'], _m['price']))")
    assert prices["openrouter/auto"] == "variable (bound it with --max-price)"
    assert prices[SONNET] == "$3.00/$15.00 (above 200K prompt tokens: $6.00/$22.50)"
    assert prices["openai/gpt-4o-mini"] == "$0.15/$0.60"
    assert "-1" not in kernel.value("_m.to_string()")


# -- the sandbox: its sheet, its bills, its pages ----------------------------------------------
def _listed(sb) -> dict:
    return {m["id"]: m for m in httpx.get(sb.api_url + "/models").json()["data"]}


def test_the_sandbox_lists_a_tier_a_discount_and_a_window(sb) -> None:
    sonnet = httpx.get(sb.api_url + f"/models/{SONNET}/endpoints").json()["data"]["endpoints"]
    by = {e["provider_name"]: e["pricing"] for e in sonnet}
    assert by["Anthropic"]["overrides"] == [{"min_prompt_tokens": 200000, "prompt": "0.000006",
                                             "completion": "0.0000225"}]
    assert by["Amazon Bedrock"]["discount"] == 0.1
    assert {"utc_start": 2200, "utc_end": 600, "prompt": "0.0000015", "completion": "0.0000075"} \
        in by["Google"]["overrides"]
    assert _listed(sb)[SONNET]["pricing"]["overrides"] == by["Anthropic"]["overrides"]


def _chat(sb, body: dict) -> dict:
    r = httpx.post(sb.api_url + "/chat/completions", json=body, timeout=60,
                   headers={"Authorization": f"Bearer {sb.key}"})
    assert r.status_code == 200, r.text
    return r.json()


def test_the_sandbox_bills_the_tier_and_the_discount(sb) -> None:
    long_text = "word " * 200_000  # 1,000,000 characters: 250,003 prompt tokens to the sandbox
    for provider, prompt, completion in (("anthropic", 6e-06, 2.25e-05), ("amazon-bedrock", 5.4e-06, 2.025e-05)):
        answer = _chat(sb, {"model": SONNET, "max_tokens": 20, "provider": {"only": [provider]},
                            "messages": [{"role": "user", "content": long_text}]})
        u = answer["usage"]
        assert u["prompt_tokens"] > 200_000
        assert u["cost"] == pytest.approx(u["prompt_tokens"] * prompt + u["completion_tokens"] * completion)
    short = _chat(sb, {"model": SONNET, "max_tokens": 20, "provider": {"only": ["anthropic"]},
                       "messages": [{"role": "user", "content": "Hi"}]})["usage"]
    assert short["cost"] == pytest.approx(short["prompt_tokens"] * 3e-06 + short["completion_tokens"] * 1.5e-05)


def test_a_tiered_prompt_is_refused_by_a_budget_the_base_price_would_pass(edge_env, sb) -> None:
    long_text = "word " * 200_000
    messages = [{"role": "user", "content": long_text}]
    estimate = estimate_prompt_tokens(messages)
    base = estimate * 3e-06 + 100 * 1.5e-05
    tier = estimate * 6e-06 + 100 * 2.25e-05
    budget = (base + tier) / 2
    with pytest.raises(calls.CallRefused, match="budget"):
        edge.ask(long_text, model=SONNET, max_tokens=100, budget=budget)
    assert not [q for q in sb.requests if q.path.endswith("/chat/completions")]
    # with room for the tier it goes, and is billed at the tier by the sandbox
    edge.ask(long_text, model=SONNET, max_tokens=100, budget=tier * 1.01)
    row = edge.usage("all").iloc[-1]
    assert row["prompt_tokens"] > 200_000
    assert row["cost_usd"] == pytest.approx(row["prompt_tokens"] * 6e-06 + row["completion_tokens"] * 2.25e-05)


def test_the_receipt_estimate_prices_a_long_prompt_at_its_tier(edge_env, sb) -> None:
    catalogue = {m.id: m for m in OpenRouterClient(None, origin=sb.url).models(refresh=True)}
    prompt = "word " * 140_000
    cell = {"cell_type": "code", "source": f"%%edge -m {SONNET} --max-tokens 100\n{prompt}",
            "metadata": {}, "outputs": []}
    frame = estimate_run_all({"cells": [cell]}, catalogue, SONNET)
    tokens = estimate_prompt_tokens([{"role": "user", "content": prompt}])
    assert tokens > 200_000
    assert frame["estimate_usd"][0] == pytest.approx(tokens * 6e-06 + 100 * 2.25e-05)


def test_models_pages_are_followed_to_the_end(sb) -> None:
    sb.models_page_size = 3
    first = httpx.get(sb.api_url + "/models").json()
    assert len(first["data"]) == 3 and first["total_count"] == len(MODELS)
    assert first["links"]["next"] == "/api/v1/models?limit=3&offset=3"
    before = len([q for q in sb.requests if q.path.endswith("/models")])
    listed = OpenRouterClient(None, origin=sb.url).models(refresh=True)
    assert [m.id for m in listed] == list(MODELS)
    pages = len([q for q in sb.requests if q.path.endswith("/models")]) - before
    assert pages == -(-len(MODELS) // 3)
    assert httpx.get(sb.api_url + "/models?limit=x").status_code == 400



def test_advise_prices_each_call_at_its_tier(kernel, sb) -> None:
    kernel.ok("_long = 'word ' * 200_000")
    kernel.ok(f"edge_jupyter.ask(_long, model='{SONNET}', max_tokens=20)")
    table = kernel.value("get_ipython().run_line_magic('edge', 'advise --all').to_dict(orient='list')")
    calls = kernel.value("edge_jupyter.usage('all')[['prompt_tokens', 'completion_tokens', 'status']]"
                         ".to_dict(orient='records')")
    done = [c for c in calls if c["status"] in ("ok", "interrupted", "stopped_budget")]
    assert any(c["prompt_tokens"] > 200_000 for c in done)
    expected = sum(c["prompt_tokens"] * (6e-06 if c["prompt_tokens"] > 200_000 else 3e-06)
                   + c["completion_tokens"] * (2.25e-05 if c["prompt_tokens"] > 200_000 else 1.5e-05)
                   for c in done)
    assert table["would_cost_usd"][table["model"].index(SONNET)] == pytest.approx(expected)


def test_the_endpoints_table_shows_each_providers_sheet(sb) -> None:
    from edge_jupyter.routing import endpoints_frame

    frame = endpoints_frame(OpenRouterClient(None, origin=sb.url).model_endpoints(SONNET))
    price = dict(zip(frame["provider"], frame["price"], strict=True))
    assert price["Amazon Bedrock"] == "$3.00/$15.00 (above 200K prompt tokens: $6.00/$22.50) · 10% off"
    assert price["Google"].endswith("; 22:00–06:00 UTC: $1.50/$7.50)")


def test_the_sandbox_bills_its_night_window_by_the_utc_clock(sb) -> None:
    vertex = MODELS[SONNET].endpoints[2]
    before = datetime.now(timezone.utc)
    u = _chat(sb, {"model": SONNET, "max_tokens": 20, "provider": {"only": ["google-vertex"]},
                   "messages": [{"role": "user", "content": "Hi"}]})["usage"]
    after = datetime.now(timezone.utc)
    billed = {float(u["prompt_tokens"] * e.prompt_price + u["completion_tokens"] * e.completion_price)
              for e in (vertex.billed_at(u["prompt_tokens"], before), vertex.billed_at(u["prompt_tokens"], after))}
    assert any(u["cost"] == pytest.approx(b) for b in billed)
    night = vertex.billed_at(10, datetime(2026, 3, 1, 23, 30, tzinfo=timezone.utc))
    day = vertex.billed_at(10, datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc))
    assert (night.prompt, day.prompt) == ("0.0000015", "0.000003")
