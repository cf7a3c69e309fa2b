"""Service tiers (``--tier flex|priority``) and the ``:floor`` / ``:nitro`` variants (issue 17).

Against the real sandbox over HTTP: its OpenAI endpoint of gpt-4o-mini sells flex at half the
price and priority at 1.5 times it (``/endpoints`` lists them under ``service_tiers``), Azure
sells neither. A flex call is billed at the tier that served it, and the cost line says so;
a priority call's worst case counts the priority price, so a budget the standard price fits
refuses it before anything is sent; ``:floor`` and ``:nitro`` are priced as their base model
and routed as OpenRouter routes them. Bodies and responses are checked against the spec.
"""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal

import httpx
import pytest
from sandbox_fixtures import chat_body, chunks, spec_available, validate

import edge_jupyter
from edge_jupyter import routing
from edge_jupyter.answer_format import cost_line_text
from edge_jupyter.batch import BatchError
from edge_jupyter.calls import CallRefused
from edge_jupyter.participants import ParticipantError, parse_participant
from edge_jupyter.routing import RoutePrefs, dearest_price
from edge_jupyter.sandbox import MODELS
from edge_jupyter.sandbox._catalog import endpoints_json

MINI = "openai/gpt-4o-mini"
OPENAI = MODELS[MINI].endpoints[0]  # the endpoint that sells the tiers
needs_spec = pytest.mark.skipif(not spec_available(), reason="shared OpenAPI spec not present")


def billed(prompt_tokens: int, completion_tokens: int, factor: str) -> float:
    """What the sandbox's OpenAI endpoint bills at a tier (exact decimal arithmetic)."""
    f = Decimal(factor)
    return float(prompt_tokens * OPENAI.prompt_price * f + completion_tokens * OPENAI.completion_price * f)


def ledger_rows() -> list[dict]:
    frame = edge_jupyter.usage()
    return frame.to_dict("records")


# -- a flex call is billed at its tier, and says so --------------------------------------------------
@pytest.mark.parametrize("stream", [False, True])
def test_a_flex_call_is_billed_at_flex_and_its_cost_line_says_flex(edge_env, sb, stream: bool) -> None:
    result = edge_jupyter.ask("Summarise flex", model=MINI, max_tokens=30, tier="flex", stream=stream)
    done = sb.completions[-1]
    assert done.request["service_tier"] == "flex" and done.service_tier == "flex"
    # the sandbox's own bill: half the standard price, and what the record and ledger hold
    assert result.cost_usd == pytest.approx(billed(result.prompt_tokens, result.completion_tokens, "0.5"), abs=1e-12)
    assert result.cost_usd == pytest.approx(done.cost, abs=1e-12)
    assert result.cost_usd < billed(result.prompt_tokens, result.completion_tokens, "1")
    assert result.service_tier == "flex" and result.tier_asked == "flex"
    line = cost_line_text(result)
    assert f"{MINI} via OpenAI · flex ·" in line, line
    rows = [r for r in ledger_rows() if r["generation_id"] == result.generation_id]
    assert len(rows) == 1 and rows[0]["cost_usd"] == pytest.approx(result.cost_usd, abs=1e-12)


def test_flex_where_the_provider_has_none_is_served_and_billed_at_the_default_tier(edge_env, sb) -> None:
    result = edge_jupyter.ask("Only Azure", model=MINI, max_tokens=30, tier="flex", only="azure")
    assert sb.completions[-1].service_tier == "default" and result.provider == "Azure"
    assert result.cost_usd == pytest.approx(billed(result.prompt_tokens, result.completion_tokens, "1"), abs=1e-12)
    assert "default tier (flex asked: not served)" in cost_line_text(result)


def test_a_call_without_a_tier_sends_none_and_its_cost_line_is_unchanged(edge_env, sb) -> None:
    result = edge_jupyter.ask("No tier", model=MINI, max_tokens=30)
    assert "service_tier" not in sb.completions[-1].request
    assert result.service_tier == "" and "flex" not in cost_line_text(result)
    assert "tier" not in cost_line_text(result)


# -- priority: dearer, and its worst case counts it ---------------------------------------------------
def test_the_priority_worst_case_counts_the_listed_priority_price() -> None:
    eps = endpoints_json(MODELS[MINI])
    standard = dearest_price(eps, RoutePrefs(), model=MINI)
    priority = dearest_price(eps, RoutePrefs(), model=MINI, tier="priority")
    flex = dearest_price(eps, RoutePrefs(), model=MINI, tier="flex")
    assert standard.pricing and priority.pricing and flex.pricing
    assert priority.pricing.prompt == pytest.approx(standard.pricing.prompt * 1.5)
    assert priority.pricing.completion == pytest.approx(standard.pricing.completion * 1.5)
    assert "priority tier" in priority.dearest
    # flex never lowers a worst case: a provider may serve the default tier, billed at it
    assert (flex.pricing.prompt, flex.pricing.completion) == (standard.pricing.prompt, standard.pricing.completion)
    # Azure sells no priority tier: only it reachable, the standard price stays the bound
    azure = dearest_price(eps, RoutePrefs(only=["azure"]), model=MINI, tier="priority")
    assert azure.pricing and azure.pricing.completion == standard.pricing.completion
    # and says so, since OpenRouter bills the tier that serves
    assert any("lists a priority price" in n for n in azure.notes)
    assert not any("lists a priority price" in n for n in priority.notes)


def test_a_budget_the_standard_price_fits_refuses_priority_before_sending(edge_env, sb) -> None:
    # 1,000 completion tokens: $0.0006 at the standard price, $0.0009 at priority
    edge_jupyter.ask("Standard fits", model=MINI, max_tokens=1000, budget=0.0007)
    sent = len(sb.completions)
    with pytest.raises(CallRefused) as refused:
        edge_jupyter.ask("Priority does not", model=MINI, max_tokens=1000, budget=0.0007, tier="priority")
    assert "priority tier" in str(refused.value)
    assert len(sb.completions) == sent  # nothing was sent
    result = edge_jupyter.ask("Priority fits this", model=MINI, max_tokens=1000, budget=0.001,
                              tier="priority")
    assert sb.completions[-1].service_tier == "priority" and "· priority ·" in cost_line_text(result)
    assert result.cost_usd == pytest.approx(billed(result.prompt_tokens, result.completion_tokens, "1.5"), abs=1e-12)


# -- the variants --------------------------------------------------------------------------------------
def test_floor_and_nitro_are_priced_as_their_base_model_and_routed_as_openrouter_does(edge_env, sb) -> None:
    # Before: /endpoints of "gpt-4o-mini:floor" answered 404, its price was unknown and any
    # budget refused it. Now: priced at the base model's dearest provider, so it goes.
    floor = edge_jupyter.ask("Cheapest", model=f"{MINI}:floor", max_tokens=30, budget=0.01)
    done = sb.completions[-1]
    assert done.request["model"] == f"{MINI}:floor"
    # :floor sorts by price and lets a flex tier serve: OpenAI's flex, at half price
    assert done.provider == "OpenAI" and done.service_tier == "flex"
    assert floor.cost_usd == pytest.approx(billed(floor.prompt_tokens, floor.completion_tokens, "0.5"), abs=1e-12)
    assert "· flex ·" in cost_line_text(floor)
    nitro = edge_jupyter.ask("Fastest", model=f"{MINI}:nitro", max_tokens=30, budget=0.01)
    assert sb.completions[-1].provider == "Azure" == nitro.provider  # the higher throughput
    # the worst case still holds the dearest route: a budget under it refuses, nothing sent
    sent = len(sb.completions)
    with pytest.raises(CallRefused):
        edge_jupyter.ask("Too dear", model=f"{MINI}:floor", max_tokens=1000, budget=0.0005)
    assert len(sb.completions) == sent


def test_the_variant_helpers() -> None:
    assert routing.route_variant(f"{MINI}:floor") == (MINI, "floor")
    assert routing.route_variant(f"{MINI}:nitro") == (MINI, "nitro")
    free = "meta-llama/llama-3.1-8b-instruct:free"
    assert routing.route_variant(free) == (free, "")  # a model of its own, with its own providers
    assert routing.service_tier("fast") == "priority" and routing.service_tier(" Flex ") == "flex"
    with pytest.raises(routing.RoutingError, match="not one of flex, priority"):
        routing.service_tier("scale")


# -- every front-end sends the spec's service_tier -----------------------------------------------------
def test_participant_option_tier_and_bad_values(edge_env, sb) -> None:
    spec = parse_participant(f"{MINI} tier=flex")
    assert spec.params == {"service_tier": "flex"} and spec.key == f"{MINI} [tier=flex]"
    assert parse_participant(f"{MINI} service_tier=fast").params == {"service_tier": "priority"}
    with pytest.raises(ParticipantError, match="not one of flex, priority"):
        parse_participant(f"{MINI} tier=cheap")
    results = edge_jupyter.ask("Two tiers", models=[f"{MINI} tier=flex", f"{MINI} tier=priority"],
                               max_tokens=20)
    assert sorted(c.service_tier for c in sb.completions[-2:]) == ["flex", "priority"]
    assert sorted(r.service_tier for r in results) == ["flex", "priority"]
    with pytest.raises(edge_jupyter.ApiUsageError, match="tier"):
        edge_jupyter.ask("Bad", model=MINI, tier="cheap")
    chat = edge_jupyter.Chat(MINI, tier="flex", max_tokens=20)  # a default for every turn
    chat.ask("First")
    chat.ask("Second", tier="priority")  # a turn may override it
    assert [c.service_tier for c in sb.completions[-2:]] == ["flex", "priority"]


def test_map_asks_every_row_at_the_tier(edge_env, sb) -> None:
    import pandas as pd

    frame = edge_jupyter.map(pd.DataFrame({"x": ["a", "b"]}), "Say {x}", MINI, max_tokens=20,
                             tier="flex", progress=False)
    done = sb.completions[-2:]
    assert [c.request["service_tier"] for c in done] == ["flex", "flex"]
    assert [c.service_tier for c in done] == ["flex", "flex"]
    assert frame["cost_usd"].sum() == pytest.approx(sum(c.cost for c in done), abs=1e-12)
    assert list(frame["service_tier"]) == ["flex", "flex"]
    with pytest.raises(BatchError, match="tier"):
        edge_jupyter.map(pd.DataFrame({"x": ["a"]}), "Say {x}", MINI, tier="cheap", progress=False)


@needs_spec
def test_bodies_and_responses_with_a_tier_fit_the_spec(edge_env, sb) -> None:
    edge_jupyter.ask("Spec", model=MINI, max_tokens=20, tier="priority")
    body = sb.completions[-1].request
    validate({**body, "stream": bool(body.get("stream"))}, "ChatRequest")
    key = {"Authorization": f"Bearer {sb.key}"}
    plain = httpx.post(sb.api_url + "/chat/completions", headers=key,
                       json=chat_body(service_tier="flex", max_tokens=5)).json()
    validate(plain, "ChatResult")
    assert plain["service_tier"] == "flex"
    streamed = httpx.post(sb.api_url + "/chat/completions", headers=key,
                          json=chat_body(service_tier="fast", max_tokens=5, stream=True)).text
    for chunk in chunks(streamed):
        validate(chunk, "ChatStreamChunk")
        assert chunk["service_tier"] == "priority"
    wrong = httpx.post(sb.api_url + "/chat/completions", headers=key, json=chat_body(service_tier="cheap"))
    assert wrong.status_code == 400 and "service_tier" in wrong.text
    endpoints = httpx.get(sb.api_url + f"/models/{MINI}/endpoints").json()
    validate(endpoints, "GET /models/{author}/{slug}/endpoints")


def test_the_terminal_ask_takes_tier_and_its_cost_line_says_it(sb, tmp_path) -> None:
    env = {**os.environ, "EDGE_OPENROUTER_URL": sb.url, "OPENROUTER_API_KEY": sb.key,
           "EDGE_DATA_DIR": str(tmp_path / "data"), "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
    done = subprocess.run([sys.executable, "-m", "edge_jupyter.cli", "ask", "-m", MINI, "--tier", "flex",
                           "--max-tokens", "20", "Hello"], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert sb.completions[-1].service_tier == "flex" and "via OpenAI · flex" in done.stdout
    bad = subprocess.run([sys.executable, "-m", "edge_jupyter.cli", "ask", "-m", MINI, "--tier", "cheap",
                          "Hello"], capture_output=True, text=True, env=env, timeout=60)
    assert bad.returncode != 0 and "not one of flex, priority" in bad.stderr


# -- a real kernel ----------------------------------------------------------------------------------------
def test_a_cell_with_tier_flex_shows_flex_on_its_cost_line(kernel, sb) -> None:
    run = kernel.ok(f"%%edge -m {MINI} --tier flex --max-tokens 20\nA flex cell")
    assert sb.completions[-1].request["service_tier"] == "flex"
    assert f"{MINI} via OpenAI · flex" in run.all_text
    assert kernel.value("_edge.service_tier") == "flex"
    bad = kernel.run(f"%%edge -m {MINI} --tier cheap\nNo")
    assert "not one of flex, priority" in bad.all_text
