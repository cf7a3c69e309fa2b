"""Routing, BYOK and participant options through ``%%edge`` in a real kernel."""

from __future__ import annotations

from sandbox_fixtures import validate


def sent_body(sb) -> dict:
    return sb.completions[-1].request


def test_cell_flags_reach_the_request_as_openrouter_wants_them(kernel, sb):
    kernel.ok("%%edge -m openai/gpt-4o-mini --only azure --no-fallbacks --data-collection deny "
              "--max-price 1/2 --fallback anthropic/claude-3.5-haiku\nRoute me")
    body = sent_body(sb)
    provider = body["provider"]
    validate(provider, "ProviderPreferences")
    assert provider["only"] == ["azure"] and provider["allow_fallbacks"] is False
    assert provider["data_collection"] == "deny"
    assert float(provider["max_price"]["prompt"]) == 1 and float(provider["max_price"]["completion"]) == 2
    assert body["models"] == ["anthropic/claude-3.5-haiku"]
    assert kernel.value("_edge.provider") == "Azure" == sb.completions[-1].provider


def test_defaults_persist_and_a_cell_overrides_them(kernel, sb):
    kernel.ok("%edge route --only azure,openai --no-fallbacks")
    try:
        assert "only" in kernel.ok("%edge status").all_text
        kernel.ok("%%edge -m openai/gpt-4o-mini\nWith defaults")
        assert sent_body(sb)["provider"] == {"only": ["azure", "openai"], "allow_fallbacks": False}
        kernel.ok("%%edge -m openai/gpt-4o-mini --provider azure\nOrder too")
        provider = sent_body(sb)["provider"]
        assert provider["order"] == ["azure"] and provider["only"] == ["azure", "openai"]
        kernel.ok("%%edge -m openai/gpt-4o-mini --no-route-defaults\nPlain")
        assert "provider" not in sent_body(sb)
        kernel.restart()
        kernel.ok("%load_ext edge_jupyter\nimport edge_jupyter")
        kernel.ok("%%edge -m openai/gpt-4o-mini\nAfter a restart")
        assert sent_body(sb)["provider"]["only"] == ["azure", "openai"]
    finally:
        kernel.ok("%edge route --reset")
    kernel.ok("%%edge -m openai/gpt-4o-mini\nNo defaults")
    assert "provider" not in sent_body(sb)


def test_an_unknown_provider_is_refused_before_sending(kernel, sb):
    before = len(sb.requests)
    run = kernel.run("%%edge -m openai/gpt-4o-mini --only azzure\nHi")
    assert run.status == "error" and "azzure" in run.all_text and "azure" in run.all_text
    assert len(sb.requests) == before


def test_no_endpoints_says_which_preference_excluded_every_provider(kernel, sb):
    run = kernel.run("%%edge -m openai/gpt-4o-mini --only amazon-bedrock\nHi")
    assert run.status == "error"
    assert "--only amazon-bedrock" in run.all_text and "excluded" in run.all_text


def test_byok_provider_cost_is_split_shown_and_recorded(kernel, sb):
    sb.byok_providers = {"amazon-bedrock"}
    try:
        run = kernel.ok("%%edge -m anthropic/claude-3.5-haiku --provider amazon-bedrock\nMy own key")
    finally:
        sb.byok_providers = set()
    sent = sb.completions[-1]
    line = next(t for t in run.texts() if t.startswith("💰"))
    assert "OpenRouter fee (BYOK)" in line and "billed by the provider" in line
    assert "via Amazon Bedrock" in line
    row = kernel.value("[(bool(r.is_byok), r.cost_usd, r.upstream_cost_usd, r.provider) for r in "
                       "edge_jupyter.usage('session').tail(1).itertuples()][0]")
    assert row == [True, sent.usage["cost"], sent.usage["cost_details"]["upstream_inference_cost"],
                   "Amazon Bedrock"]
    by_provider = kernel.value("get_ipython().run_line_magic('edge', 'usage --session --by provider')"
                               ".astype(str).to_dict(orient='list')")
    i = by_provider["provider"].index("Amazon Bedrock")
    assert float(by_provider["byok_upstream_usd"][i]) > 0


def test_each_participant_carries_its_own_options(kernel, sb):
    kernel.ok('%%edge -m "openai/gpt-4o-mini temperature=0.2 max_tokens=5" '
              '-m "anthropic/claude-3.5-haiku provider=amazon-bedrock"\nCompare with options')
    bodies = {c.model: c.request for c in sb.completions[-2:]}
    assert bodies["openai/gpt-4o-mini"]["temperature"] == 0.2
    assert bodies["openai/gpt-4o-mini"]["max_tokens"] == 5
    assert "provider" not in bodies["openai/gpt-4o-mini"]
    assert bodies["anthropic/claude-3.5-haiku"]["provider"]["order"] == ["amazon-bedrock"]
    table = kernel.value("_edge.comparison.reset_index()[['model','options','provider']].to_dict(orient='list')")
    assert table["options"] == ["temperature=0.2, max_tokens=5", "provider=amazon-bedrock"]
    assert table["provider"][1] == "Amazon Bedrock"


def test_a_saved_participant_set_is_reused(kernel, sb):
    kernel.ok('%edge participants save duo "openai/gpt-4o-mini temperature=0" '
              '"google/gemini-2.0-flash-001 max_tokens=7"')
    listed = kernel.value("get_ipython().run_line_magic('edge', 'participants list').to_dict(orient='list')")
    assert listed["set"] == ["duo", "duo"]
    kernel.ok("%%edge -p duo\nUse the set")
    bodies = {c.model: c.request for c in sb.completions[-2:]}
    assert bodies["openai/gpt-4o-mini"]["temperature"] == 0
    assert bodies["google/gemini-2.0-flash-001"]["max_tokens"] == 7
    run = kernel.run('%%edge -m "openai/gpt-4o-mini temprature=0.2"\nTypo')
    assert run.status == "error" and "temperature" in run.all_text
    kernel.ok("%edge participants rm duo")


def test_models_endpoints_lists_who_serves_a_model(kernel):
    table = kernel.value("get_ipython().run_line_magic('edge', 'models anthropic/claude-3.5-haiku --endpoints')"
                         ".to_dict(orient='list')")
    assert {"Anthropic", "Amazon Bedrock"} <= set(table["provider"])
    assert all(p > 0 for p in table["prompt_usd_per_m"])
