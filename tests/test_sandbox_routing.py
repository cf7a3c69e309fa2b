"""The sandbox routes like OpenRouter: the whole ``provider`` object, ``models``, BYOK, errors.

Requests are built with :mod:`edge_jupyter.routing` / :mod:`edge_jupyter.participants`
(as the magic will build them), validated against the spec, sent over HTTP to the real
sandbox, and the provider that served each one is checked.
"""

from __future__ import annotations

import argparse
import shlex
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sandbox_fixtures import chat_body, spec_available, validate

from edge_jupyter import participants, routing
from edge_jupyter.openrouter import NotFound, OpenRouterClient
from edge_jupyter.routing import RoutePrefs
from edge_jupyter.sandbox import MODELS, Sandbox

URL = "/api/v1/chat/completions"
HAIKU, MINI, R1 = "anthropic/claude-3.5-haiku", "openai/gpt-4o-mini", "deepseek/deepseek-r1"
FREE, MISTRAL = "meta-llama/llama-3.1-8b-instruct:free", "mistralai/mistral-small-3.1-24b-instruct"
needs_spec = pytest.mark.skipif(not spec_available(), reason="the OpenAPI spec is not available")


def flags(line: str) -> RoutePrefs:
    p = argparse.ArgumentParser()
    routing.add_route_arguments(p)
    return routing.route_from_args(p.parse_args(shlex.split(line)))


def send(client: httpx.Client, model: str, line: str = "", **extra: Any) -> httpx.Response:
    body = flags(line).apply_to_body(chat_body(model=model, **extra))
    if spec_available():
        validate(body, "ChatRequest")
    return client.post(URL, json=body)


# -- each flag reaches the body and picks the provider OpenRouter would ---------------------------
ROUTES = [
    (HAIKU, "", "Anthropic"),
    (HAIKU, "--provider amazon-bedrock", "Amazon Bedrock"),
    (HAIKU, "--provider 'Amazon Bedrock',google-vertex", "Amazon Bedrock"),
    (HAIKU, "--provider google-vertex/europe", "Google"),
    (HAIKU, "--only google-vertex,amazon-bedrock", "Amazon Bedrock"),
    (HAIKU, "--ignore anthropic", "Amazon Bedrock"),
    (HAIKU, "--sort throughput", "Google"),
    (HAIKU, "--sort latency", "Amazon Bedrock"),
    (HAIKU, "--zdr", "Amazon Bedrock"),
    (HAIKU, "--provider azure", "Anthropic"),  # not a provider of this model: skipped
    (MINI, "--only azure", "Azure"),
    (MINI, "--zdr", "Azure"),
    (MINI, "--sort latency", "Azure"),
    (R1, "--sort price", "DeepSeek"),
    (R1, "--sort latency", "Together"),
    (R1, "--data-collection deny", "Together"),
    (R1, "--max-price 1/3", "DeepSeek"),
    (R1, "--provider together --no-fallbacks", "Together"),
    (R1, "--no-fallbacks", "DeepSeek"),
    (FREE, "--data-collection allow", "DeepInfra"),
]


@pytest.mark.parametrize(("model", "line", "provider"), ROUTES)
def test_each_flag_routes_to_the_expected_provider(sb: Sandbox, client: httpx.Client, model: str,
                                                   line: str, provider: str) -> None:
    r = send(client, model, line)
    assert r.status_code == 200, r.text
    assert r.json()["provider"] == provider and r.json()["model"] == model
    sent = sb.requests[-1].json
    assert sent.get("provider") == flags(line).to_provider_object()
    if sent.get("provider") and spec_available():
        validate(sent["provider"], "ProviderPreferences")


def test_a_slug_variant_targets_one_endpoint(sb: Sandbox, client: httpx.Client) -> None:
    sb.generation_ready_after = 0
    ids = [send(client, HAIKU, f"--provider {tag} --no-fallbacks").json()["id"]
           for tag in ("google-vertex/europe", "google-vertex")]
    served = [client.get("/api/v1/generation", params={"id": i}).json()["data"]["provider_responses"][-1]
              for i in ids]
    assert [s["endpoint_id"] for s in served] == ["ep_sandbox_google-vertex_europe", "ep_sandbox_google-vertex"]
    assert {s["provider_name"] for s in served} == {"Google"}


def test_max_price_accepts_strings_as_the_spec_and_numbers_as_the_docs(client: httpx.Client) -> None:
    for cap in ({"prompt": "1", "completion": "3"}, {"prompt": 1, "completion": 3}):
        r = client.post(URL, json=chat_body(model=R1, provider={"max_price": cap, "sort": "latency"}))
        assert r.json()["provider"] == "DeepSeek"  # Together ($3/$7 per M) is over the cap


def test_preferred_latency_and_quantizations_are_honoured(client: httpx.Client) -> None:
    r = client.post(URL, json=chat_body(model=HAIKU, provider={"preferred_max_latency": 0.55}))
    assert r.json()["provider"] == "Amazon Bedrock"  # Anthropic (600 ms) is pushed back, not excluded
    r = client.post(URL, json=chat_body(model=FREE, provider={"quantizations": ["bf16"]}))
    assert r.json()["provider"] == "DeepInfra"
    r = client.post(URL, json=chat_body(model=FREE, provider={"quantizations": ["fp8"]}))
    assert r.status_code == 404


# -- model fallbacks and providers that are down ---------------------------------------------------
def test_fallback_models_serve_when_the_preferences_exclude_the_first(sb: Sandbox, client: httpx.Client) -> None:
    r = send(client, FREE, f"--data-collection deny --fallback {MINI}")
    assert r.status_code == 200 and r.json()["model"] == MINI and r.json()["provider"] == "OpenAI"
    assert sb.requests[-1].json["models"] == [MINI]
    cost = r.json()["usage"]["cost"]
    u = r.json()["usage"]
    assert cost == float(u["prompt_tokens"] * MODELS[MINI].prompt_price
                         + u["completion_tokens"] * MODELS[MINI].completion_price)  # priced as the model used


def test_a_down_provider_falls_back_unless_fallbacks_are_off(sb: Sandbox, client: httpx.Client) -> None:
    sb.down_providers = {"anthropic"}
    sb.generation_ready_after = 0
    r = send(client, HAIKU)
    assert r.json()["provider"] == "Amazon Bedrock"
    gen_id = r.json()["id"]
    r = send(client, HAIKU, "--provider anthropic --no-fallbacks")
    assert r.status_code == 502
    assert r.json()["error"]["metadata"]["provider_name"] == "Anthropic"
    r = send(client, HAIKU, f"--no-fallbacks --fallback {MINI}")  # first choice down: next model
    assert (r.json()["model"], r.json()["provider"]) == (MINI, "OpenAI")
    r = send(client, HAIKU, f"--provider anthropic --no-fallbacks --fallback {MINI}")
    assert r.status_code == 404  # the provider preferences apply to the fallback model too
    gen = client.get("/api/v1/generation", params={"id": gen_id}).json()["data"]
    assert [(p["provider_name"], p["status"]) for p in gen["provider_responses"]] == [
        ("Anthropic", 502), ("Amazon Bedrock", 200)]
    if spec_available():
        validate({"data": gen}, "GET /generation")


# -- when nothing can serve: OpenRouter's answers, and the sentence that explains them --------------
NO_ENDPOINTS = [
    (HAIKU, "--only azure", "No allowed providers are available for the selected model.", "--only azure"),
    (HAIKU, "--ignore anthropic,amazon-bedrock,google-vertex", "No allowed providers",
     "--ignore anthropic,amazon-bedrock,google-vertex"),
    (MINI, "--provider groq --no-fallbacks", "No allowed providers", "--provider groq --no-fallbacks"),
    (FREE, "--data-collection deny", "No endpoints found matching your data policy (Free model training)",
     "--data-collection deny"),
    (MISTRAL, "--zdr", "No endpoints found matching your data policy (Zero data retention)", "--zdr"),
    # OpenRouter applies the data policy first; explain can only replay the price (the endpoint
    # list has no data policy), so it names the price step and then the policy.
    (R1, "--data-collection deny --max-price 1/3", "within your max_price", "--data-collection deny"),
]


@pytest.mark.parametrize(("model", "line", "message", "blamed"), NO_ENDPOINTS)
def test_no_endpoints_is_a_404_and_explain_names_the_preference(
        sb: Sandbox, client: httpx.Client, model: str, line: str, message: str, blamed: str) -> None:
    r = send(client, model, line)
    assert r.status_code == 404 and message in r.json()["error"]["message"]
    if spec_available():
        validate(r.json(), "NotFoundResponse")
    err = r.json()["error"]
    assert err["availability"]["requested_models"] == [model] and err["availability"]["retryable"] is False
    assert routing.is_no_endpoints_error(404, err["message"], err.get("metadata"))
    endpoints = OpenRouterClient(origin=sb.url).model_endpoints(model)
    text = routing.explain_no_endpoints(flags(line), endpoints, message=err["message"])
    assert f"`{blamed}` excluded" in text and model in text
    assert not sb.completions  # nothing was billed


def test_only_error_carries_the_observed_provider_metadata(client: httpx.Client) -> None:
    err = send(client, HAIKU, "--only azure").json()["error"]
    assert err["metadata"] == {"available_providers": ["anthropic", "amazon-bedrock", "google-vertex"],
                               "requested_providers": ["azure"]}


def test_the_client_raises_not_found_with_what_explain_needs(sb: Sandbox) -> None:
    client = OpenRouterClient(sb.key, origin=sb.url)
    body = flags("--only azure").apply_to_body(chat_body(model=HAIKU))
    with pytest.raises(NotFound) as info:
        list(client.stream_chat(body))
    exc = info.value
    assert routing.is_no_endpoints_error(exc.status, exc.message, exc.metadata)
    text = routing.explain_no_endpoints(flags("--only azure"), client.model_endpoints(HAIKU),
                                        message=exc.message, metadata=exc.metadata)
    assert text.startswith("`--only azure` excluded all 4 providers of anthropic/claude-3.5-haiku")


@pytest.mark.parametrize("provider", [
    {"order": "azure"}, {"only": [1]}, {"allow_fallbacks": "no"}, {"data_collection": "never"},
    {"sort": "cheapest"}, {"sort": {"by": "price", "partition": "all"}}, {"max_price": {"prompt": "free"}},
    {"max_price": 2}, {"quantizations": ["fp7"]}, {"preferred_max_latency": "fast"}, {"colour": "red"}, [],
])
def test_a_provider_object_the_spec_rejects_is_a_400(client: httpx.Client, provider: Any) -> None:
    r = client.post(URL, json=chat_body(provider=provider))
    assert r.status_code == 400 and "provider" in r.json()["error"]["message"]
    if spec_available():
        validate(r.json(), "BadRequestResponse")


def test_unknown_provider_names_are_not_a_400_because_the_spec_allows_any_string(client: httpx.Client) -> None:
    assert client.post(URL, json=chat_body(provider={"order": ["acme-cloud"]})).json()["provider"] == "OpenAI"
    assert client.post(URL, json=chat_body(provider={"only": ["acme-cloud"]})).status_code == 404


# -- BYOK by provider ---------------------------------------------------------------------------------
def test_byok_provider_goes_first_and_is_billed_as_byok(sb: Sandbox) -> None:
    sb.byok_providers = {"amazon-bedrock"}
    client = OpenRouterClient(sb.key, origin=sb.url)
    body = flags("--provider anthropic").apply_to_body(chat_body(model=HAIKU))
    stream = client.stream_chat(body)
    list(stream)
    done = stream.completion
    assert done.provider == "Amazon Bedrock"  # BYOK endpoints are tried before order (§8)
    u = done.usage
    assert u is not None and u.is_byok is True
    full = Decimal(u.prompt_tokens) * MODELS[HAIKU].prompt_price + Decimal(u.completion_tokens) * MODELS[HAIKU].completion_price
    assert u.upstream_cost == float(full)  # billed by the provider directly
    assert u.cost == pytest.approx(float(full * Decimal("0.05")))  # OpenRouter's 5 % fee
    info = client.key_info()
    assert info.byok_usage == pytest.approx(float(full)) and info.usage == pytest.approx(u.cost)
    gen = client.wait_for_generation(done.generation_id or "", timeout=5)
    assert gen.is_byok is True and gen.upstream_cost == float(full)
    other = client.complete(chat_body(model=MINI))
    assert other.usage is not None and other.usage.is_byok is False
    assert other.usage.upstream_cost == other.usage.cost


def test_byok_does_not_override_filters(sb: Sandbox, client: httpx.Client) -> None:
    sb.byok_providers = ["anthropic"]
    r = send(client, HAIKU, "--zdr")  # Anthropic retains prompts: BYOK does not exempt it
    assert r.json()["provider"] == "Amazon Bedrock" and r.json()["usage"]["is_byok"] is False
    r = send(client, HAIKU, "--ignore amazon-bedrock")
    assert r.json()["provider"] == "Anthropic" and r.json()["usage"]["is_byok"] is True


def test_routing_knobs_via_the_control_api_and_reset(sb: Sandbox) -> None:
    with httpx.Client(base_url=sb.url) as c:
        got = c.post("/_sandbox/config", json={"byok_providers": ["Azure"], "down_providers": ["openai"]}).json()
        assert got["byok_providers"] == ["azure"] and got["down_providers"] == ["openai"]
        assert c.post("/_sandbox/config", json={"byok_providers": [1]}).status_code == 400
    assert sb.byok_providers == {"azure"}
    sb.reset()
    assert sb.byok_providers == frozenset() and sb.down_providers == frozenset()


# -- defaults, cells and participants end to end -----------------------------------------------------
def test_defaults_persist_and_a_cell_overrides_them(sb: Sandbox, client: httpx.Client,
                                                    edge_env: dict[str, str]) -> None:
    routing.save_defaults(flags("--only amazon-bedrock,google-vertex --no-fallbacks --data-collection deny"))
    p = argparse.ArgumentParser()
    routing.add_route_arguments(p)
    for line, provider in [("", "Amazon Bedrock"), ("--provider google-vertex", "Google"),
                           ("--only anthropic", "Anthropic")]:
        prefs, _ = routing.effective_route(p.parse_args(shlex.split(line)), routing.load_defaults())
        body = prefs.apply_to_body(chat_body(model=HAIKU))
        assert body["provider"]["data_collection"] == "deny"
        assert client.post(URL, json=body).json()["provider"] == provider


def test_participant_options_apply_per_model(sb: Sandbox, client: httpx.Client) -> None:
    cell = chat_body(temperature=1.0, max_tokens=30)
    specs = [f"{HAIKU} temperature=0.2 max_tokens=20 provider=amazon-bedrock",
             f"{MINI} provider=azure seed=3", f"{R1} sort=latency system='Think less'"]
    for p in participants.parse_participants(specs):
        r = client.post(URL, json=p.apply_to_body(cell, RoutePrefs(data_collection="deny")))
        assert r.status_code == 200, r.text
    records = sb.completions
    assert [(c.model, c.provider) for c in records] == [(HAIKU, "Amazon Bedrock"), (MINI, "Azure"), (R1, "Together")]
    sent = [c.request for c in records]
    assert [(s["temperature"], s["max_tokens"]) for s in sent] == [(0.2, 20), (1.0, 30), (1.0, 30)]
    assert sent[1]["seed"] == 3 and sent[2]["messages"][0] == {"role": "system", "content": "Think less"}
    assert all(s["provider"]["data_collection"] == "deny" for s in sent)
    if spec_available():
        for s in sent:
            validate(s, "ChatRequest")
