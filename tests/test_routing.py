"""edge_jupyter.routing, pure: names, the provider object, merging, validation, explanations.

Every provider object built here is validated against the OpenAPI spec's
``ProviderPreferences`` schema, so a flag can never produce a body OpenRouter rejects.
The sandbox side (the same objects over HTTP) is in ``test_sandbox_routing.py``.
"""

from __future__ import annotations

import argparse
import shlex
from decimal import Decimal
from typing import Any

import pytest
from sandbox_fixtures import _SPEC_URI, _registry, spec_available, validate

from edge_jupyter import routing
from edge_jupyter.routing import (
    KNOWN_PROVIDERS,
    MaxPrice,
    RoutePrefs,
    RoutingError,
    add_route_arguments,
    effective_route,
    explain_no_endpoints,
    parse_max_price,
    parse_provider_list,
    provider_slug,
    route_from_args,
)
from edge_jupyter.sandbox import MODELS
from edge_jupyter.sandbox._catalog import endpoints_json

needs_spec = pytest.mark.skipif(not spec_available(), reason="the OpenAPI spec is not available")
HAIKU = endpoints_json(MODELS["anthropic/claude-3.5-haiku"])
MINI = endpoints_json(MODELS["openai/gpt-4o-mini"])


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="%%edge", exit_on_error=False)
    add_route_arguments(p)
    return p


def prefs_of(line: str) -> RoutePrefs:
    return route_from_args(parser().parse_args(shlex.split(line)))


# -- names ---------------------------------------------------------------------------------------
@needs_spec
def test_known_providers_are_the_specs_slugs_and_every_display_name_maps_to_one() -> None:
    schemas = _registry()[_SPEC_URI].contents["components"]["schemas"]
    assert set(KNOWN_PROVIDERS) == set(schemas["ProviderOptions"]["properties"])
    for display in schemas["ProviderName"]["enum"]:
        assert routing.DISPLAY_TO_SLUG[display].split("/")[0] in {p.split("/")[0] for p in KNOWN_PROVIDERS}
    assert routing.SLUG_TO_DISPLAY["amazon-bedrock"] == "Amazon Bedrock"


@pytest.mark.parametrize(("name", "slug"), [
    ("amazon-bedrock", "amazon-bedrock"), ("Amazon Bedrock", "amazon-bedrock"), ("AZURE", "azure"),
    ("Google", "google-vertex"), ("google-vertex/us-east5", "google-vertex/us-east5"),
    ("deepinfra/turbo", "deepinfra/turbo"), ("Moonshot AI", "moonshotai"), (" together ", "together"),
])
def test_provider_slug_accepts_slugs_display_names_and_endpoint_variants(name: str, slug: str) -> None:
    assert provider_slug(name) == slug


def test_unknown_provider_suggests_close_slugs_and_lists_every_bad_name_at_once() -> None:
    with pytest.raises(RoutingError, match=r"Unknown provider 'amazon-bedrok'\. Did you mean amazon-bedrock"):
        provider_slug("amazon-bedrok")
    with pytest.raises(RoutingError) as info:
        parse_provider_list("azur,openai,antropic")
    assert "'azur'" in str(info.value) and "azure" in str(info.value) and "anthropic" in str(info.value)
    with pytest.raises(RoutingError, match="variant"):
        provider_slug("google-vertex/ us")
    assert provider_slug("brand-new", extra_known=["brand-new/fp8"]) == "brand-new"


def test_parse_provider_list_dedupes_and_keeps_order() -> None:
    assert parse_provider_list("Azure, openai,azure,,") == ["azure", "openai"]
    assert parse_provider_list(["amazon-bedrock,azure", "google-vertex"]) == [
        "amazon-bedrock", "azure", "google-vertex"]
    with pytest.raises(RoutingError, match="No provider named"):
        parse_provider_list(" , ")


def test_parse_max_price_reads_usd_per_million_and_refuses_a_lone_number() -> None:
    assert parse_max_price("1/2") == MaxPrice(Decimal(1), Decimal(2))
    assert parse_max_price("$0.15/") == MaxPrice(prompt=Decimal("0.15"))
    assert parse_max_price("/0.6").to_object() == {"completion": "0.6"}
    assert parse_max_price("1.50/100").to_object() == {"prompt": "1.5", "completion": "100"}
    for bad in ("1", "a/2", "-1/2", "/", "1/2/3"):
        with pytest.raises(RoutingError):
            parse_max_price(bad)
    cap = parse_max_price("1/2")
    assert cap.admits(Decimal("0.000001"), Decimal("0.000002"))
    assert not cap.admits(Decimal("0.0000011"), Decimal("0.000001"))


# -- every flag -> the provider object, valid against the spec --------------------------------------
FLAG_CASES: list[tuple[str, dict[str, Any] | None, list[str]]] = [
    ("", None, []),
    ("--provider amazon-bedrock,azure", {"order": ["amazon-bedrock", "azure"]}, []),
    ("--provider Azure --provider openai", {"order": ["azure", "openai"]}, []),
    ("--only amazon-bedrock --only azure", {"only": ["amazon-bedrock", "azure"]}, []),
    ("--ignore deepinfra", {"ignore": ["deepinfra"]}, []),
    ("--no-fallbacks", {"allow_fallbacks": False}, []),
    ("--allow-fallbacks", {"allow_fallbacks": True}, []),
    ("--data-collection deny", {"data_collection": "deny"}, []),
    ("--zdr", {"zdr": True}, []),
    ("--no-zdr", {"zdr": False}, []),
    ("--sort throughput", {"sort": "throughput"}, []),
    ("--max-price 1/2", {"max_price": {"prompt": "1", "completion": "2"}}, []),
    ("--fallback openai/gpt-4o-mini --fallback mistralai/mistral-small-3.1-24b-instruct", None,
     ["openai/gpt-4o-mini", "mistralai/mistral-small-3.1-24b-instruct"]),
    ("--provider google-vertex/europe --only google-vertex --no-fallbacks --data-collection deny --zdr "
     "--max-price 1/5",
     {"order": ["google-vertex/europe"], "only": ["google-vertex"], "allow_fallbacks": False,
      "data_collection": "deny", "zdr": True, "max_price": {"prompt": "1", "completion": "5"}}, []),
]


@needs_spec
@pytest.mark.parametrize(("line", "expected", "fallbacks"), FLAG_CASES)
def test_each_flag_gives_exactly_the_provider_object_the_spec_accepts(
        line: str, expected: dict[str, Any] | None, fallbacks: list[str]) -> None:
    prefs = prefs_of(line)
    obj = prefs.to_provider_object()
    assert obj == expected
    if obj is not None:
        validate(obj, "ProviderPreferences")
    body = prefs.apply_to_body({"model": "anthropic/claude-3.5-haiku",
                                "messages": [{"role": "user", "content": "hi"}]})
    assert body.get("models", []) == fallbacks
    validate(body, "ChatRequest")
    assert RoutePrefs.from_json(prefs.to_json()) == prefs  # persists unchanged
    assert prefs_of(prefs.flags()) == prefs  # status shows flags that give the same prefs back


def test_bad_flags_are_argparse_errors_naming_the_problem() -> None:
    for line, needle in [("--provider amazon-bedrok", "Did you mean amazon-bedrock"),
                         ("--max-price 3", "PROMPT/COMPLETION"), ("--sort cheapest", "invalid choice"),
                         ("--fallback gpt4", "not a model id"),
                         ("--no-fallbacks --allow-fallbacks", "not allowed with")]:
        with pytest.raises((argparse.ArgumentError, SystemExit)) as info:
            p = parser()
            p.error = lambda message: (_ for _ in ()).throw(argparse.ArgumentError(None, message))  # type: ignore[method-assign]
            p.parse_args(shlex.split(line))
        assert needle in str(info.value)


def test_route_flags_fit_the_magic_parser_without_clashes() -> None:
    from edge_jupyter.magics._args import cell_parser

    p = cell_parser()  # the %%edge parser carries the route flags itself
    args = p.parse_args(shlex.split("-m openai/gpt-4o-mini -t 0.2 --max-tokens 50 --only azure --sort price"))
    assert args.model == ["openai/gpt-4o-mini"] and args.max_tokens == 50
    assert route_from_args(args) == RoutePrefs(only=["azure"], sort="price")
    routing_only = argparse.ArgumentParser()
    add_route_arguments(routing_only, cell=False)  # `%edge route` has no --no-route-defaults
    assert not hasattr(routing_only.parse_args([]), "route_no_defaults")


# -- merging and validation ------------------------------------------------------------------------
TEAM = RoutePrefs(only=["amazon-bedrock", "azure"], allow_fallbacks=False, data_collection="deny")


def test_cell_flags_override_defaults_field_by_field() -> None:
    merged = prefs_of("--only azure --sort price").merged_over(TEAM)
    assert merged == RoutePrefs(only=["azure"], allow_fallbacks=False, data_collection="deny", sort="price")
    assert prefs_of("").merged_over(TEAM) == TEAM
    assert prefs_of("--allow-fallbacks --data-collection allow").merged_over(TEAM).to_provider_object() == {
        "only": ["amazon-bedrock", "azure"], "allow_fallbacks": True, "data_collection": "allow"}


def test_none_clears_a_default_list_for_one_cell() -> None:
    merged = prefs_of("--only none").merged_over(TEAM)
    assert merged.only == [] and "only" not in (merged.to_provider_object() or {})
    assert prefs_of("--fallback none").merged_over(RoutePrefs(fallbacks=["openai/gpt-4o"])).fallbacks == []


def test_default_order_narrows_to_what_the_cell_allows_instead_of_conflicting() -> None:
    defaults = RoutePrefs(order=["amazon-bedrock", "azure", "openai"])
    assert prefs_of("--ignore azure").merged_over(defaults).order == ["amazon-bedrock", "openai"]
    assert prefs_of("--only openai").merged_over(defaults).order == ["openai"]
    assert prefs_of("--only groq").merged_over(defaults).order is None
    assert prefs_of("--only none").merged_over(defaults).order == defaults.order


def test_effective_route_merges_validates_and_can_skip_the_defaults() -> None:
    p = parser()
    prefs, warnings = effective_route(p.parse_args(["--sort", "latency"]), TEAM)
    assert prefs.only == ["amazon-bedrock", "azure"] and prefs.sort == "latency" and warnings == []
    prefs, _ = effective_route(p.parse_args(["--sort", "latency", "--no-route-defaults"]), TEAM)
    assert prefs == RoutePrefs(sort="latency")
    with pytest.raises(RoutingError, match="both allowed"):
        effective_route(p.parse_args(["--ignore", "azure"]), TEAM)


@pytest.mark.parametrize(("prefs", "message"), [
    (RoutePrefs(only=["azure"], ignore=["azure"]), "azure is both allowed"),
    (RoutePrefs(only=["google-vertex/europe"], ignore=["google-vertex"]), "both allowed"),
    (RoutePrefs(order=["azure"], ignore=["azure"]), r"--provider azure can never be used: --ignore azure"),
    (RoutePrefs(order=["openai"], only=["amazon-bedrock", "azure"]), "--only amazon-bedrock,azure rules it out"),
    (RoutePrefs(order=["bogus"]), "Unknown provider 'bogus'"),
    (RoutePrefs(sort="cheap"), "sort 'cheap' is not one of"),
    (RoutePrefs(data_collection="never"), "data-collection"),
    (RoutePrefs(fallbacks=["gpt-4o"]), "not a model id"),
])
def test_validate_refuses_combinations_that_cannot_route(prefs: RoutePrefs, message: str) -> None:
    with pytest.raises(RoutingError, match=message):
        routing.validate(prefs)


def test_validate_warns_about_half_working_combinations_and_allows_bare_no_fallbacks() -> None:
    assert routing.validate(RoutePrefs(allow_fallbacks=False)) == []
    assert routing.validate(RoutePrefs(only=["google-vertex"], order=["google-vertex/europe"])) == []
    [w] = routing.validate(RoutePrefs(order=["azure", "openai"], ignore=["openai"]))
    assert "openai is excluded" in w
    [w] = routing.validate(RoutePrefs(order=["azure"], sort="price"))
    assert "--sort price does not reorder" in w


def test_from_json_reads_hand_edited_files_and_rejects_bad_ones() -> None:
    prefs = RoutePrefs.from_json({"order": "Azure", "sort": {"by": "price", "partition": "none"},
                                  "max_price": {"prompt": 1, "completion": "2.5"}, "later": True,
                                  "models": ["openai/gpt-4o"]})
    assert prefs == RoutePrefs(order=["azure"], sort="price", fallbacks=["openai/gpt-4o"],
                               max_price=MaxPrice(Decimal(1), Decimal("2.5")))
    assert RoutePrefs.from_json(None) == RoutePrefs() and RoutePrefs.from_json({}).is_empty()
    for bad in ({"only": ["nobody-at-all"]}, {"zdr": "yes"}, {"sort": "fast"}, {"max_price": 3},
                {"fallbacks": "openai/gpt-4o"}, {"data_collection": "maybe"}):
        with pytest.raises(RoutingError):
            RoutePrefs.from_json(bad)


def test_describe_is_one_readable_line() -> None:
    assert RoutePrefs().describe() == "OpenRouter's default routing"
    assert TEAM.describe() == "only amazon-bedrock, azure; no fallbacks; no data collection"
    line = prefs_of("--provider azure --zdr --sort price --max-price 1/ --fallback openai/gpt-4o").describe()
    assert line == ("prefer azure; zero data retention only; cheapest first; at most $1/M prompt; "
                    "then openai/gpt-4o")


def test_defaults_persist_in_the_preferences_file(edge_env: dict[str, str]) -> None:
    from edge_jupyter import preferences

    routing.save_defaults(TEAM)
    assert preferences.load().route == {"only": ["amazon-bedrock", "azure"], "allow_fallbacks": False,
                                        "data_collection": "deny"}
    assert routing.load_defaults() == TEAM
    with pytest.raises(RoutingError):
        routing.save_defaults(RoutePrefs(only=["azure"], ignore=["azure"]))
    assert routing.load_defaults() == TEAM  # an invalid set is never stored


# -- explaining "no endpoints" ---------------------------------------------------------------------
def test_explain_names_the_one_preference_that_excluded_everyone() -> None:
    text = explain_no_endpoints(RoutePrefs(only=["amazon-bedrock"]), MINI)
    assert text.startswith("`--only amazon-bedrock` excluded all 2 providers of openai/gpt-4o-mini "
                           "(OpenAI, Azure).")
    text = explain_no_endpoints(RoutePrefs(ignore=["openai", "azure"]), {"data": MINI})
    assert text.startswith("`--ignore openai,azure` excluded all 2 providers")
    text = explain_no_endpoints(RoutePrefs(order=["groq"], allow_fallbacks=False), MINI["endpoints"],
                                model="openai/gpt-4o-mini")
    assert text.startswith("`--provider groq --no-fallbacks` excluded all 2 providers of openai/gpt-4o-mini")


def test_explain_walks_through_narrowing_steps_and_shows_prices() -> None:
    text = explain_no_endpoints(RoutePrefs(ignore=["anthropic", "google-vertex"],
                                           max_price=parse_max_price("0.5/2")), HAIKU)
    assert text.startswith(
        "Of 4 providers of anthropic/claude-3.5-haiku (Anthropic, Amazon Bedrock, Google (google-vertex), "
        "Google (google-vertex/europe)): `--ignore anthropic,google-vertex` left Amazon Bedrock; "
        "then `--max-price 0.5/2` excluded it (Amazon Bedrock $0.80/$4.00 per M).")
    assert "`%edge route`" in text


def test_explain_falls_back_to_data_policy_then_to_account_settings() -> None:
    mistral = endpoints_json(MODELS["mistralai/mistral-small-3.1-24b-instruct"])
    text = explain_no_endpoints(RoutePrefs(zdr=True), mistral)
    assert text.startswith("`--zdr` excluded the only provider of mistralai/mistral-small-3.1-24b-instruct "
                           "(Mistral): it does not meet that data policy.")
    text = explain_no_endpoints(RoutePrefs(ignore=["openai"], data_collection="deny"), MINI)
    assert text.startswith("Of 2 providers of openai/gpt-4o-mini (OpenAI, Azure): `--ignore openai` left Azure; "
                           "then `--data-collection deny` excluded it: it does not meet that data policy.")
    text = explain_no_endpoints(RoutePrefs(), MINI, message="No endpoints found matching your data policy "
                                "(Paid model training). Configure: https://openrouter.ai/settings/privacy")
    assert text.startswith("Your account's data policy excluded all 2 providers")
    text = explain_no_endpoints(RoutePrefs(), None, model="z-ai/glm-4.5-air:free",
                                message="No allowed providers are available for the selected model.",
                                metadata={"available_providers": ["z-ai"], "requested_providers": ["anthropic"]})
    assert text.startswith("No routing preference of yours excludes Z.AI for z-ai/glm-4.5-air:free")
    assert "account-wide provider settings" in text
    assert "no provider" in explain_no_endpoints(RoutePrefs(only=["azure"]), {"id": "a/b", "endpoints": []})


def test_is_no_endpoints_error_recognises_openrouters_answers() -> None:
    yes = [(404, "No allowed providers are available for the selected model.", None),
           (404, "No endpoints found matching your data policy (Free model training).", None),
           (404, "Not found", {"availability": {"code": "constraint_filtered"}}),
           (400, "No endpoints found that support tool use.", None)]
    no = [(404, "Generation not found", None), (402, "No endpoints found", None), (502, "Provider returned error", None)]
    assert all(routing.is_no_endpoints_error(*case) for case in yes)
    assert not any(routing.is_no_endpoints_error(*case) for case in no)


# -- %edge models MODEL --endpoints ----------------------------------------------------------------
def test_endpoints_frame_lists_providers_with_prices_per_million() -> None:
    frame = routing.endpoints_frame({"data": HAIKU})
    assert list(frame.columns) == routing._FRAME_COLUMNS and frame.attrs["model"] == "anthropic/claude-3.5-haiku"
    assert list(frame["tag"]) == ["anthropic", "amazon-bedrock", "google-vertex", "google-vertex/europe"]
    row = frame.iloc[1]
    assert (row.provider, row.prompt_usd_per_m, row.completion_usd_per_m, row.context_length) == (
        "Amazon Bedrock", 0.8, 4.0, 200000)
    assert row.uptime_30m == 99.7 and row.latency_p50_ms == 450.0 and row.throughput_p50 == 75.0
    deepseek = routing.endpoints_frame(endpoints_json(MODELS["deepseek/deepseek-r1"]))
    assert list(deepseek["quantization"]) == ["fp8", "fp8"]
    empty = routing.endpoints_frame({"id": "a/b", "endpoints": [{"provider_name": "X", "pricing": {}}]})
    assert empty["prompt_usd_per_m"].isna().all() and empty["context_length"].isna().all()
