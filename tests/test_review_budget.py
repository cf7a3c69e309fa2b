"""Review of the hardening change, budget items: a broken limit, a ``:free`` variant, a slow price list.

* item 2: a ``max_completion_tokens`` (or ``context_length``) of 0 or below from ``/models`` or
  ``/endpoints`` is no limit; it must never make the completion ceiling zero or negative, and so
  a worst case that fits any budget (and frees budget for others);
* item 6: a ``:free`` model under a budget is priced at its own (free) providers, not at the
  paid providers of its base model;
* item 12: a slow ``/endpoints`` ends at the price look-up's total deadline; under a budget the
  price is then unknown and the call is refused (fail closed), with the reason.

Pure tests pin the arithmetic; the rest run against the real sandbox and a real kernel.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from edge_jupyter.ledger import completion_ceiling, worst_case_cost
from edge_jupyter.ledger.budgets import UNKNOWN_COMPLETION_CEILING
from edge_jupyter.openrouter import ModelInfo, OpenRouterClient
from edge_jupyter.routing import RoutePrefs, dearest_price, parse_max_price
from edge_jupyter.sandbox import MODELS, Fault, Sandbox
from edge_jupyter.sandbox._catalog import endpoints_json, model_json

AUTO, MISTRAL = "openrouter/auto", "mistralai/mistral-small-3.1-24b-instruct"
FREE, PAID = "meta-llama/llama-3.1-8b-instruct:free", "meta-llama/llama-3.1-8b-instruct"
PROMPT = 100


# -- item 2: a limit of 0 or below is no limit --------------------------------------------------------
def _auto_with(**top: Any) -> dict[str, Any]:
    """The auto router's /models entry ("-1" prices, no endpoints) with a broken top_provider."""
    entry = model_json(MODELS[AUTO])
    return {**entry, "top_provider": {**entry["top_provider"], **top}}


@pytest.mark.parametrize("top", [
    {"max_completion_tokens": -100_000},
    {"max_completion_tokens": 0, "context_length": -5},
    {"max_completion_tokens": -1, "context_length": 0},
])
def test_a_negative_or_zero_model_limit_never_makes_the_worst_case_negative_or_zero(top) -> None:
    data = _auto_with(**top)
    if "context_length" in top:
        data["context_length"] = top["context_length"]
    info = ModelInfo.from_json(data)
    assert info.max_completion_tokens is None
    assert info.context_length is None or info.context_length > 0
    # The path _prices takes for a router: the /models price, bounded by --max-price 1/2.
    price = dearest_price({"id": AUTO, "endpoints": []}, RoutePrefs(max_price=parse_max_price("1/2")),
                          model=AUTO, catalogue=info.pricing,
                          catalogue_limits=(info.context_length, info.max_completion_tokens))
    assert price.pricing is not None, price.reason
    unbounded = price.completion_ceiling(None, PROMPT)
    assert unbounded > 0
    assert worst_case_cost(PROMPT, unbounded, price.pricing) > 0
    # With --max-tokens the ceiling is what was asked for, never 0.
    assert price.completion_ceiling(500, PROMPT) == 500
    assert worst_case_cost(PROMPT, 500, price.pricing) == pytest.approx(PROMPT * 1e-6 + 500 * 2e-6)


@pytest.mark.parametrize(("context", "most"), [(None, -100_000), (-5, 0), (0, -1), (-1, None)])
def test_completion_ceiling_ignores_limits_of_zero_or_below(context, most) -> None:
    assert completion_ceiling(None, prompt_tokens=PROMPT, context_length=context,
                              max_completion_tokens=most) == UNKNOWN_COMPLETION_CEILING
    assert completion_ceiling(500, prompt_tokens=PROMPT, context_length=context,
                              max_completion_tokens=most) == 500


def test_a_negative_endpoint_limit_from_endpoints_is_no_limit_either() -> None:
    rows = endpoints_json(MODELS[MISTRAL])
    rows["endpoints"] = [{**r, "max_completion_tokens": -100_000, "context_length": -1}
                         for r in rows["endpoints"]]
    price = dearest_price(rows, RoutePrefs(), model=MISTRAL)
    assert price.pricing is not None
    assert price.completion_ceiling(None, PROMPT) == UNKNOWN_COMPLETION_CEILING
    assert price.completion_ceiling(500, PROMPT) == 500


# -- item 6: a :free variant is priced at its own providers -------------------------------------------
def test_a_variant_is_priced_at_its_own_rows_of_a_mixed_endpoint_list() -> None:
    # A base model's list that also carries its :free variant's endpoint (model_id says which).
    paid, free = endpoints_json(MODELS[PAID]), endpoints_json(MODELS[FREE])
    mixed = {**paid, "endpoints": paid["endpoints"] + free["endpoints"]}
    as_free = dearest_price(mixed, RoutePrefs(), model=FREE)
    assert as_free.pricing is not None and as_free.pricing.completion == 0.0 and as_free.pricing.prompt == 0.0
    as_paid = dearest_price(mixed, RoutePrefs(), model=PAID)
    assert as_paid.pricing is not None and as_paid.pricing.completion == pytest.approx(0.18e-6)
    # A list naming neither: every row counts (the safe side), so the dearest.
    anonymous = {**mixed, "endpoints": [{k: v for k, v in r.items() if k != "model_id"}
                                        for r in mixed["endpoints"]]}
    assert dearest_price(anonymous, RoutePrefs(), model=FREE).pricing.completion == pytest.approx(0.18e-6)  # type: ignore[union-attr]


def test_a_free_variant_has_its_own_provider_list_apart_from_its_paid_base(sb: Sandbox) -> None:
    base = httpx.get(f"{sb.api_url}/models/{PAID}/endpoints").json()["data"]
    assert base["id"] == PAID and "0" not in {r["pricing"]["completion"] for r in base["endpoints"]}
    own = OpenRouterClient(sb.key, origin=sb.url).model_endpoints(FREE)  # asked as named
    assert own["id"] == FREE and {r["pricing"]["completion"] for r in own["endpoints"]} == {"0"}
    assert {r["model_id"] for r in own["endpoints"]} == {FREE}


def test_a_free_model_is_priced_at_its_free_endpoints(sb: Sandbox) -> None:
    from edge_jupyter import calls as _prices

    client = OpenRouterClient(sb.key, origin=sb.url)
    _prices.clear_price_cache()
    try:
        paid = _prices.request_price(client, {"model": PAID})  # first: its list is cached
        free = _prices.request_price(client, {"model": FREE})
        assert paid.pricing is not None and paid.pricing.completion == pytest.approx(0.18e-6)
        assert free.pricing is not None and (free.pricing.prompt, free.pricing.completion) == (0.0, 0.0)
        assert free.dearest == f"{FREE} via DeepInfra (deepinfra/bf16)"
    finally:
        _prices.clear_price_cache()


def chat_calls(sb: Sandbox) -> int:
    return sum(1 for r in sb.requests if r.path.endswith("/chat/completions"))


def test_a_free_model_is_sent_under_a_budget_its_paid_base_would_break(kernel, sb) -> None:
    # 100 completion tokens at Together's $0.18/M is ~$0.00002: over a $0.000001 cell budget.
    cell = "%%edge -m {model} --max-tokens 100 --budget 0.000001\nHi"
    calls = chat_calls(sb)
    run = kernel.run(cell.format(model=PAID))
    assert run.status == "error" and "Refused before sending" in run.all_text and chat_calls(sb) == calls
    kernel.ok(cell.format(model=FREE))
    assert chat_calls(sb) == calls + 1 and sb.completions[-1].model == FREE


# -- item 12: a slow /endpoints ends at the look-up's total deadline -----------------------------------
def test_a_slow_price_list_ends_at_its_deadline_and_the_price_is_unknown(sb: Sandbox) -> None:
    from edge_jupyter import calls as _prices

    client = OpenRouterClient(sb.key, origin=sb.url)
    _prices.clear_price_cache()
    sb.inject(Fault.slow_endpoints(120))  # a byte every ~0.05 s for 2 minutes: no read times out
    try:
        price = _prices.request_price(client, {"model": MISTRAL})
        assert sb.faults.pending() == []  # the slow list was asked for
        assert price.pricing is None
        assert f"the prices of {MISTRAL} could not be fetched" in price.reason
        assert "remove the budget" in price.fix
    finally:
        _prices.clear_price_cache()


def test_a_slow_catalogue_ends_a_router_s_price_look_up_at_the_deadline(sb) -> None:
    # openrouter/auto has no provider list: its price comes from /models, which must end
    # under the same price deadline as /endpoints, not hold the cell for minutes.
    from edge_jupyter import calls as _prices
    from edge_jupyter.openrouter import clear_models_cache

    client = OpenRouterClient(sb.key, origin=sb.url)
    _prices.clear_price_cache()
    clear_models_cache()
    sb.inject(Fault.slow_models(120))  # a byte every ~0.05 s for 2 minutes: no read times out
    try:
        price = _prices.request_price(client, {"model": AUTO, "provider": {
            "max_price": {"prompt": 1, "completion": 2}}})
        assert sb.faults.pending() == []  # the slow catalogue was asked for
        assert price.pricing is None, price  # not priced from a list that never came
    finally:
        _prices.clear_price_cache()
        clear_models_cache()


def test_a_slow_price_list_refuses_a_budgeted_cell_instead_of_holding_it(kernel, sb) -> None:
    kernel.ok("import edge_jupyter.calls as _c\n_c.clear_price_cache()")
    sb.inject(Fault.slow_endpoints(120))  # trickles for 2 minutes
    calls = chat_calls(sb)
    run = kernel.run(f"%%edge -m {MISTRAL} --max-tokens 20 --budget 0.01\nHi", timeout=60)
    assert sb.faults.pending() == []
    assert run.status == "error", run.all_text
    text = run.all_text
    assert "Refused before sending" in text and "could not be fetched" in text
    assert "remove the budget" in text and chat_calls(sb) == calls
