"""Budgets priced at the dearest endpoint a request can reach (issue 13, finding 2).

The worst case of a call is not the one ``/models`` price: the route (``--only``, ``--sort``,
``--provider``, ``--no-fallbacks``, ``--max-price``) decides which providers may serve it, a
``--fallback`` model may answer instead, and ``openrouter/auto`` has no price at all ("-1").
Pure tests pin :func:`edge_jupyter.routing.dearest_price` for every route field; the rest
reproduce the issue's measurements against the real sandbox, in a real kernel, and check that
nothing was sent (the sandbox's request log) and nothing was reserved (the ledger).
"""

from __future__ import annotations

import math
from typing import Any

import httpx
import pytest
from sandbox_fixtures import chat_body

from edge_jupyter import routing
from edge_jupyter.ledger import StreamGuard, worst_case_cost
from edge_jupyter.ledger.budgets import UnknownPrice, prompt_cost
from edge_jupyter.openrouter import OpenRouterClient, Pricing
from edge_jupyter.routing import RoutePrefs, dearest_price, parse_max_price, worst_of
from edge_jupyter.sandbox import MODELS, Sandbox
from edge_jupyter.sandbox._catalog import endpoints_json

R1, MINI, OPUS, AUTO = "deepseek/deepseek-r1", "openai/gpt-4o-mini", "pricey/opus", "openrouter/auto"
MISTRAL = "mistralai/mistral-small-3.1-24b-instruct"
R1_EPS = endpoints_json(MODELS[R1])  # DeepSeek $0.55/$2.19 per M (the /models price), Together $3/$7
HAIKU_EPS = endpoints_json(MODELS["anthropic/claude-3.5-haiku"])


def per_m(price: routing.WorstPrice) -> tuple[float, float]:
    assert price.pricing is not None, price.reason
    return (round(price.pricing.prompt * 1e6, 6), round(price.pricing.completion * 1e6, 6))  # type: ignore[operator]


def row(provider: str, tag: str, prompt: Any, completion: Any, **extra: Any) -> dict[str, Any]:
    return {"provider_name": provider, "tag": tag, "context_length": 100_000,
            "max_completion_tokens": 4096, "pricing": {"prompt": prompt, "completion": completion, **extra}}


# -- Pricing: a variable, negative, non-finite or missing price is unknown, never a number --------
@pytest.mark.parametrize(("raw", "why"), [
    ({"prompt": "-1", "completion": "-1"}, "variable"),
    ({"prompt": "0.000001", "completion": "-0.5"}, "not a price"),
    ({"prompt": "inf", "completion": "0.000001"}, "not a price"),
    ({"prompt": "NaN", "completion": "0.000001"}, "not a price"),
    ({"prompt": "0.000001"}, "no completion price"),
    ({"prompt": "0.000001", "completion": "0.000002", "request": "-1"}, "variable"),
    ({"prompt": True, "completion": "0.000002"}, "not a price"),
])
def test_an_unusable_price_is_unknown_and_nothing_can_price_a_call_with_it(raw: dict, why: str) -> None:
    pricing = Pricing.from_json(raw)
    assert not pricing.known and why in (pricing.unknown_reason or "")
    assert not pricing.is_free
    with pytest.raises(UnknownPrice):
        worst_case_cost(100, 100, pricing)
    with pytest.raises(UnknownPrice):
        prompt_cost(100, pricing)
    # The stream guard never runs on such a price: with "-1" it would never stop (every token
    # lowers the running cost), with a made-up number it would stop at the wrong place.
    with pytest.raises(UnknownPrice):
        StreamGuard(0.01, pricing, 100)


def test_a_listed_price_is_known_and_absent_optional_prices_are_zero() -> None:
    pricing = Pricing.from_json({"prompt": "0.000003", "completion": "0.000015"})
    assert pricing.known and (pricing.request, pricing.image, pricing.reasoning) == (0.0, 0.0, None)
    assert worst_case_cost(1000, 100, pricing) == pytest.approx(1000 * 3e-6 + 100 * 15e-6)


# -- the dearest endpoint a route can reach ---------------------------------------------------------
@pytest.mark.parametrize(("flags", "expected", "dearest"), [
    ("", (3.0, 7.0), "Together (together/fp8)"),                              # every endpoint
    ("--sort throughput", (3.0, 7.0), "Together (together/fp8)"),             # sort only re-ranks
    ("--sort price", (3.0, 7.0), "Together (together/fp8)"),
    ("--only together", (3.0, 7.0), "Together (together/fp8)"),
    ("--only deepseek", (0.55, 2.19), "DeepSeek"),
    ("--ignore together", (0.55, 2.19), "DeepSeek"),
    ("--provider deepseek", (3.0, 7.0), "Together (together/fp8)"),           # fallbacks: all reachable
    ("--provider deepseek --allow-fallbacks", (3.0, 7.0), "Together (together/fp8)"),
    ("--provider deepseek --no-fallbacks", (0.55, 2.19), "DeepSeek"),         # only the listed one
    ("--no-fallbacks", (3.0, 7.0), "Together (together/fp8)"),                # "first choice": unknown to us
    ("--max-price 1/3", (0.55, 2.19), "DeepSeek"),                            # the cap excludes Together
    ("--max-price 5/7", (3.0, 7.0), "Together (together/fp8)"),               # at the cap: allowed
])
def test_each_route_field_decides_which_endpoints_are_priced(flags: str, expected: tuple, dearest: str) -> None:
    import argparse
    import shlex

    parser = argparse.ArgumentParser()
    routing.add_route_arguments(parser)
    route = routing.route_from_args(parser.parse_args(shlex.split(flags)))
    price = dearest_price(R1_EPS, route)
    assert per_m(price) == expected and price.dearest == dearest


def test_prices_are_the_dearest_of_each_kind_and_tiers_count() -> None:
    eps = {"id": "a/b", "endpoints": [
        row("OpenAI", "openai", "0.000005", "0.000001", request="0.01"),
        row("Azure", "azure", "0.000001", "0.000009", image="0.002", internal_reasoning="0.00002"),
        row("Anthropic", "anthropic", "0.000001", "0.000001",
            overrides=[{"min_prompt_tokens": 200000, "prompt": "0.000006"}]),
    ]}
    p = dearest_price(eps, RoutePrefs()).pricing
    assert p is not None
    assert (p.prompt, p.completion, p.request, p.image, p.reasoning) == (6e-06, 9e-06, 0.01, 0.002, 2e-05)
    # reasoning tokens are completion tokens: the dearer of the two prices them
    assert worst_case_cost(0, 10, p) == pytest.approx(0.01 + 10 * 2e-05)


def test_a_variable_price_is_unknown_unless_a_full_cap_bounds_it() -> None:
    eps = {"id": "x/router", "endpoints": [row("OpenAI", "openai", "-1", "-1")]}
    price = dearest_price(eps, RoutePrefs())
    assert not price.known and "variable" in price.reason and "--max-price" in price.fix
    capped = dearest_price(eps, RoutePrefs(max_price=parse_max_price("1/2")))
    assert per_m(capped) == (1.0, 2.0) and "--max-price 1/2" in capped.notes[0]
    half = dearest_price(eps, RoutePrefs(max_price=parse_max_price("1/")))  # completion still unbounded
    assert not half.known and "completion" in half.reason
    broken = dearest_price({"id": "a/b", "endpoints": [row("OpenAI", "openai", "0.000001", "-3")]},
                           RoutePrefs())
    assert not broken.known and "not a price" in broken.reason and "--max-price" not in broken.fix


def test_a_router_without_endpoints_is_priced_from_its_catalogue_entry() -> None:
    variable = Pricing.from_json({"prompt": "-1", "completion": "-1"})
    empty = {"id": AUTO, "endpoints": []}
    assert not dearest_price(empty, RoutePrefs(), catalogue=variable).known
    capped = dearest_price(empty, RoutePrefs(max_price=parse_max_price("1/2")), catalogue=variable,
                           catalogue_limits=(2_000_000, None))
    assert per_m(capped) == (1.0, 2.0)
    assert capped.completion_ceiling(50, 20) == 50
    assert not dearest_price(empty, RoutePrefs()).known, "no endpoint and no catalogue price: unknown"


def test_filters_that_leave_nothing_keep_every_endpoint_priced_and_a_cap_that_does_costs_nothing() -> None:
    # OpenRouter answers "no endpoints" (free); should its name matching differ from ours,
    # the estimate stays on the safe side.
    assert per_m(dearest_price(R1_EPS, RoutePrefs(only=["azure"]))) == (3.0, 7.0)
    nothing = dearest_price(R1_EPS, RoutePrefs(max_price=parse_max_price("0.1/0.1")))
    assert per_m(nothing) == (0.0, 0.0) and "within --max-price" in nothing.notes[0]


def test_the_ceiling_is_the_largest_any_reachable_endpoint_allows() -> None:
    eps = {"id": "a/b", "endpoints": [
        {**row("OpenAI", "openai", "0.000001", "0.000001"), "max_completion_tokens": 1000},
        {**row("Azure", "azure", "0.000001", "0.000001"), "max_completion_tokens": 8000},
    ]}
    price = dearest_price(eps, RoutePrefs())
    assert price.completion_ceiling(None, 100) == 8000
    assert price.completion_ceiling(500, 100) == 500
    assert dearest_price(eps, RoutePrefs(only=["openai"])).completion_ceiling(None, 100) == 1000


def test_fallback_models_count_and_an_unknown_one_makes_the_whole_request_unknown() -> None:
    mini = dearest_price(endpoints_json(MODELS[MINI]), RoutePrefs())
    opus = dearest_price(endpoints_json(MODELS[OPUS]), RoutePrefs())
    both = worst_of([mini, opus])
    assert per_m(both) == (15.0, 75.0) and both.dearest == "pricey/opus via Anthropic"
    auto = routing._worst_price.unknown(AUTO, "variable", "add --max-price")
    assert not worst_of([mini, auto]).known
    body = RoutePrefs(fallbacks=[OPUS], sort="price").apply_to_body(chat_body(model=MINI))
    assert routing.request_models(body) == [MINI, OPUS]
    assert routing.request_route(body).sort == "price" and routing.request_route(body).fallbacks == [OPUS]


def test_endpoints_frame_shows_variable_not_minus_a_million() -> None:
    frame = routing.endpoints_frame({"id": "x/y", "endpoints": [row("OpenAI", "openai", "-1", "-1"),
                                                                 row("Azure", "azure", "0.000001", "0.000002")]})
    assert list(frame["pricing"]) == ["variable", "per token"]
    assert math.isnan(frame["prompt_usd_per_m"][0]) and frame["completion_usd_per_m"][1] == 2.0


# -- the sandbox reproduces each case over HTTP -------------------------------------------------------
def _post(sb: Sandbox, body: dict[str, Any]) -> dict[str, Any]:
    r = httpx.post(sb.api_url + "/chat/completions", json=body, headers={"Authorization": f"Bearer {sb.key}"})
    assert r.status_code == 200, r.text
    return r.json()


def test_the_sandbox_serves_the_issues_measurements(sb: Sandbox) -> None:
    listed = {m["id"]: m for m in httpx.get(sb.api_url + "/models").json()["data"]}
    assert listed[AUTO]["pricing"] == {"prompt": "-1", "completion": "-1"}
    assert listed[R1]["pricing"]["completion"] == "0.00000219"  # the headline price …
    served = _post(sb, {**chat_body(model=R1), "provider": {"sort": "throughput"}})
    assert served["provider"] == "Together"                       # … is not what --sort throughput pays
    fallback = _post(sb, {**chat_body(model=MINI), "models": [OPUS], "provider": {"ignore": ["openai", "azure"]}})
    assert fallback["model"] == OPUS


def test_the_sandbox_bills_the_auto_router_at_the_price_of_the_model_it_picks(sb: Sandbox) -> None:
    free = _post(sb, chat_body(model=AUTO, max_tokens=20))
    capped = _post(sb, {**chat_body(model=AUTO, max_tokens=20), "provider": {"max_price": {"prompt": 1, "completion": 2}}})
    for answer, model in ((free, "openai/gpt-4o"), (capped, MINI)):
        u = answer["usage"]
        assert answer["model"] == model
        ep = MODELS[model].endpoints[0]
        assert u["cost"] == pytest.approx(float(u["prompt_tokens"] * ep.prompt_price
                                                + u["completion_tokens"] * ep.completion_price), rel=1e-9)
    assert httpx.get(sb.api_url + f"/models/{AUTO}/endpoints").json()["data"]["endpoints"] == []


def test_a_stale_price_list_serves_when_the_catalogue_is_down_and_says_so(sb: Sandbox) -> None:
    from edge_jupyter import calls as _prices

    client = OpenRouterClient(sb.key, origin=sb.url)
    _prices.clear_price_cache()
    fresh = _prices.endpoints_of(client, MISTRAL)
    assert fresh.data and not fresh.note and not fresh.error
    sb.catalogue_down = True
    try:
        stale = _prices.endpoints_of(client, MISTRAL, max_age=0)
        assert stale.data == fresh.data and "fetched under a minute ago" in stale.note
        assert "did not answer" in stale.note
        _prices.clear_price_cache()
        gone = _prices.endpoints_of(client, MISTRAL)
        assert gone.data is None and "could not be fetched" in gone.error and "retry when" in gone.fix
    finally:
        sb.catalogue_down = False
        _prices.clear_price_cache()


# -- in a kernel: refused before sending, nothing spent -----------------------------------------------
def chat_calls(sb: Sandbox) -> int:
    return sum(1 for r in sb.requests if r.path.endswith("/chat/completions"))


def ledger_rows(kernel) -> int:
    return kernel.value("len(edge_jupyter.usage('all'))")


def refused(kernel, sb: Sandbox, cell: str) -> str:
    """Run ``cell``; assert it was refused with nothing sent and nothing left reserved."""
    calls, rows = chat_calls(sb), ledger_rows(kernel)
    run = kernel.run(cell)
    assert run.status == "error", run.all_text
    assert "Refused before sending" in run.all_text, run.all_text
    assert chat_calls(sb) == calls, "nothing may reach OpenRouter"
    assert ledger_rows(kernel) == rows, "a refused call leaves no row (and no reservation)"
    return run.all_text


# A short prompt and --max-tokens 100: DeepSeek R1 at its /models price costs at most
# ~$0.00025, at Together ~$0.00078; a $0.0004 cell budget fits the first, not the second.
R1_CELL = "%%edge -m deepseek/deepseek-r1 --max-tokens 100 --budget 0.0004 {flags}\nThink briefly"


def test_the_headline_price_still_fits_where_the_route_reaches_only_it(kernel, sb) -> None:
    calls = chat_calls(sb)
    kernel.ok(R1_CELL.format(flags="--only deepseek"))
    assert chat_calls(sb) == calls + 1 and sb.completions[-1].provider == "DeepSeek"


@pytest.mark.parametrize("flags", ["--sort throughput", "--only together"])
def test_a_route_to_the_dear_provider_is_refused_under_a_budget_the_headline_fits(kernel, sb, flags) -> None:
    text = refused(kernel, sb, R1_CELL.format(flags=flags))
    assert "Together" in text and "dearest provider" in text


def test_a_dear_fallback_model_is_refused_under_the_budget(kernel, sb) -> None:
    sb.down_providers = {"openai", "azure"}  # the primary fails: the fallback would answer
    text = refused(kernel, sb, "%%edge -m openai/gpt-4o-mini --max-tokens 100 --budget 0.001 "
                               "--fallback pricey/opus\nHi")
    assert "pricey/opus" in text


def test_the_auto_router_needs_a_max_price_under_a_budget(kernel, sb) -> None:
    text = refused(kernel, sb, "%%edge -m openrouter/auto --max-tokens 50 --budget 0.001\nHi")
    assert "variable" in text and "--max-price" in text
    calls = chat_calls(sb)
    run = kernel.ok("%%edge -m openrouter/auto --max-tokens 50 --budget 0.001 --max-price 1/2\nHi")
    assert chat_calls(sb) == calls + 1
    sent = sb.completions[-1]
    assert sent.model == MINI and sent.usage["cost"] <= 0.001  # the router kept to the cap
    assert "counted at your --max-price 1/2" in run.all_text
    assert kernel.value("_edge.cost_usd") == sent.usage["cost"]


def test_without_a_budget_the_auto_router_is_sent_as_before(kernel, sb) -> None:
    calls = chat_calls(sb)
    kernel.ok("%%edge -m openrouter/auto --max-tokens 20\nHi")
    assert chat_calls(sb) == calls + 1


def test_a_budget_fails_closed_when_the_prices_cannot_be_fetched(kernel, sb) -> None:
    # Mistral is priced nowhere else in this module's kernel, so no earlier list is cached.
    sb.catalogue_down = True
    try:
        text = refused(kernel, sb, f"%%edge -m {MISTRAL} --max-tokens 20 --budget 0.01\nHi")
        assert "could not be fetched" in text and "remove the budget" in text
        calls = chat_calls(sb)
        kernel.ok(f"%%edge -m {MISTRAL} --max-tokens 20\nHi")  # no budget: sent, as before
        assert chat_calls(sb) == calls + 1
    finally:
        sb.catalogue_down = False


def test_an_unlisted_model_is_refused_under_a_budget(kernel, sb) -> None:
    text = refused(kernel, sb, "%%edge -m acme/unlisted-model --max-tokens 20 --budget 0.01\nHi")
    assert "does not list acme/unlisted-model" in text and "%edge models" in text


def test_map_cannot_confirm_an_unknown_price_and_max_price_makes_it_priceable(kernel, sb) -> None:
    kernel.ok("import pandas as pd; few = pd.Series(['a', 'b'])")
    calls = chat_calls(sb)
    run = kernel.run("edge_jupyter.map(few, 'Say {text}', 'openrouter/auto', max_tokens=20, confirm_over=1.0)")
    assert run.status == "error" and "price cannot be known" in run.all_text
    assert "max_price='1/2'" in run.all_text and chat_calls(sb) == calls
    run = kernel.ok("out = edge_jupyter.map(few, 'Say {text}', 'openrouter/auto', max_tokens=20, "
                    "confirm_over=1.0, max_price='1/2')")
    assert "2 calls: at most $" in run.all_text and chat_calls(sb) == calls + 2
    assert {c.model for c in sb.completions[-2:]} == {MINI}


def test_map_quotes_the_dearest_reachable_endpoint(kernel, sb) -> None:
    kernel.ok("import pandas as pd; few = pd.Series(['a', 'b', 'c'])")
    calls = chat_calls(sb)
    # 3 rows × 1,000 tokens: $0.0066 at the /models price of R1, $0.021 at Together's
    run = kernel.run("edge_jupyter.map(few, 'Say {text}', 'deepseek/deepseek-r1', max_tokens=1000, "
                     "confirm_over=0.01)")
    assert run.status == "error" and "confirm_over" in run.all_text and chat_calls(sb) == calls


def test_models_shows_variable_and_advise_skips_it(kernel, sb) -> None:
    kernel.ok("_m = get_ipython().run_line_magic('edge', 'models auto')")
    frame = kernel.value("_m[['id', 'pricing']].to_dict(orient='list')")
    assert frame == {"id": [AUTO], "pricing": ["variable"]}
    assert kernel.value("bool(_m[['prompt_usd_per_m', 'completion_usd_per_m']].isna().all().all())")
    assert "-1" not in kernel.value("_m.to_string()")  # neither -1 nor -1,000,000 per M
    kernel.ok("%%edge -m openai/gpt-4o-mini --max-tokens 10\nAdvise me")
    table = kernel.value("get_ipython().run_line_magic('edge', 'advise --top 20').to_dict(orient='list')")
    assert AUTO not in table["model"] and all(c >= 0 for c in table["would_cost_usd"])


def test_the_panel_shows_a_variable_price_as_variable() -> None:
    from edge_jupyter.openrouter import ModelInfo
    from edge_jupyter.panel._model import _row
    from edge_jupyter.preferences import Preferences
    from edge_jupyter.sandbox._catalog import model_json

    row_ = _row(AUTO, ModelInfo.from_json(model_json(MODELS[AUTO])), Preferences())
    assert row_.price == "variable" and "-1" not in row_.price


def test_map_refuses_to_confirm_when_the_prices_cannot_be_fetched(kernel, sb) -> None:
    # Gemini is priced nowhere else in this module's kernel, so no earlier list is cached.
    kernel.ok("import pandas as pd; few = pd.Series(['a', 'b'])")
    sb.catalogue_down = True
    try:
        calls = chat_calls(sb)
        run = kernel.run("edge_jupyter.map(few, 'Say {text}', 'google/gemini-2.0-flash-001', "
                         "max_tokens=20, confirm_over=1.0)")
        assert run.status == "error" and "could not be fetched" in run.all_text
        assert chat_calls(sb) == calls
    finally:
        sb.catalogue_down = False
