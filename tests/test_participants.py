"""edge_jupyter.participants: per-model options of a multi-model cell, and named sets."""

from __future__ import annotations

import pytest
from sandbox_fixtures import spec_available, validate

from edge_jupyter import participants
from edge_jupyter.participants import ParticipantError, ParticipantSpec, parse_participant
from edge_jupyter.routing import MaxPrice, RoutePrefs

BODY = {"model": "openai/gpt-4o-mini", "temperature": 1.0, "max_tokens": 50,
        "messages": [{"role": "system", "content": "cell system"}, {"role": "user", "content": "hi"}]}


def test_a_spec_gives_model_body_params_and_routing() -> None:
    p = parse_participant("anthropic/claude-3.5-haiku temperature=0.2 max_tokens=400 provider=amazon-bedrock")
    assert p.model == "anthropic/claude-3.5-haiku"
    assert p.params == {"temperature": 0.2, "max_tokens": 400}
    assert p.route == RoutePrefs(order=["amazon-bedrock"])
    assert p.label() == "temperature=0.2, max_tokens=400, provider=amazon-bedrock"
    assert p.key == "anthropic/claude-3.5-haiku [temperature=0.2, max_tokens=400, provider=amazon-bedrock]"
    bare = parse_participant("openai/gpt-4o-mini")
    assert bare.label() == "" and bare.key == "openai/gpt-4o-mini" and bare.route.is_empty()


def test_every_option_is_typed_and_the_canonical_spec_reads_back() -> None:
    p = parse_participant(
        "deepseek/deepseek-r1 top_p=0.9 seed=7 system='Answer in one line' only=Together,deepseek "
        "ignore=azure sort=price fallbacks=openai/gpt-4o-mini allow_fallbacks=no data_collection=deny "
        "zdr=true max_price=1/3 max-completion-tokens=100")
    assert p.params == {"top_p": 0.9, "seed": 7, "max_tokens": 100}
    assert p.system == "Answer in one line"
    assert p.route == RoutePrefs(only=["together", "deepseek"], ignore=["azure"], sort="price",
                                 fallbacks=["openai/gpt-4o-mini"], allow_fallbacks=False,
                                 data_collection="deny", zdr=True, max_price=MaxPrice.from_object({"prompt": 1, "completion": 3}))
    again = parse_participant(p.spec())
    assert (again.params, again.route, again.system, again.label()) == (p.params, p.route, p.system, p.label())
    assert "system='Answer in one line'" in p.label()
    long = parse_participant("openai/gpt-4o system=\"" + "x" * 80 + "\"")
    assert len(long.label()) < 60 and long.label().endswith("…'")


@pytest.mark.parametrize(("spec", "message"), [
    ("anthropic/claude-3.5-haiku temprature=0.2", "unknown option 'temprature'. Did you mean temperature?"),
    ("anthropic/claude-3.5-haiku provder=azure", "Did you mean provider?"),
    ("anthropic/claude-3.5-haiku colour=red", "Options: temperature, max_tokens"),
    ("anthropic/claude-3.5-haiku temperature=3", "temperature must be a finite number from 0 to 2, not 3"),
    ("anthropic/claude-3.5-haiku temperature=hot", "temperature must be a finite number from 0 to 2, not 'hot'"),
    ("anthropic/claude-3.5-haiku temperature=nan", "temperature must be a finite number from 0 to 2, not nan"),
    ("anthropic/claude-3.5-haiku max_tokens=0", "max_tokens must be a whole number of tokens from 1 to"),
    ("anthropic/claude-3.5-haiku max_tokens=-1", "max_tokens must be a whole number of tokens from 1 to"),
    ("anthropic/claude-3.5-haiku top_p=1.5", "top_p must be a finite number from 0 to 1, not 1.5"),
    ("anthropic/claude-3.5-haiku top_p=inf", "top_p must be a finite number from 0 to 1, not inf"),
    ("anthropic/claude-3.5-haiku seed=1e999", "seed must be a whole number"),
    ("anthropic/claude-3.5-haiku max_price=nan/1", "--max-price: prompt price must be a finite"),
    ("anthropic/claude-3.5-haiku provider=amazon-bedrok", "provider: Unknown provider 'amazon-bedrok'. Did you mean"),
    ("anthropic/claude-3.5-haiku zdr=maybe", "must be true or false"),
    ("anthropic/claude-3.5-haiku sort=cheapest", "must be one of price"),
    ("anthropic/claude-3.5-haiku temperature", "is not key=value"),
    ("anthropic/claude-3.5-haiku temperature=0.1 temperature=0.2", "given twice"),
    ("temperature=0.2", "starts with the model id"),
    ("claude temperature=0.2", "not a model id"),
    ("anthropic/claude-3.5-haiku system='unclosed", "check the quotes"),
    ("", "empty"),
])
def test_bad_specs_name_the_model_the_option_and_what_is_allowed(spec: str, message: str) -> None:
    with pytest.raises(ParticipantError) as info:
        parse_participant(spec)
    assert message in str(info.value)


@pytest.mark.skipif(not spec_available(), reason="the OpenAPI spec is not available")
def test_options_apply_to_that_participants_body_only() -> None:
    p = parse_participant("anthropic/claude-3.5-haiku temperature=0.2 provider=amazon-bedrock "
                          "system='Be brief' fallbacks=openai/gpt-4o-mini")
    cell = RoutePrefs(data_collection="deny", allow_fallbacks=False)
    body = p.apply_to_body(BODY, cell)
    assert body["model"] == "anthropic/claude-3.5-haiku" and body["temperature"] == 0.2
    assert body["max_tokens"] == 50  # the cell's, as the participant sets none
    assert body["messages"][0] == {"role": "system", "content": "Be brief"}
    assert BODY["messages"][0]["content"] == "cell system"  # the cell's body is untouched
    assert body["provider"] == {"order": ["amazon-bedrock"], "allow_fallbacks": False, "data_collection": "deny"}
    assert body["models"] == ["openai/gpt-4o-mini"]
    validate(body, "ChatRequest")
    plain = parse_participant("openai/gpt-4o-mini").apply_to_body({**BODY, "provider": {"only": ["x"]}})
    assert "provider" not in plain and plain["temperature"] == 1.0
    no_system = parse_participant("openai/gpt-4o system=Hi").apply_to_body(
        {"model": "x/y", "messages": [{"role": "user", "content": "q"}]})
    assert [m["role"] for m in no_system["messages"]] == ["system", "user"]


def test_a_participant_route_that_cannot_work_names_the_model() -> None:
    p = parse_participant("openai/gpt-4o-mini ignore=azure")
    with pytest.raises(ParticipantError, match=r"^openai/gpt-4o-mini: azure is both allowed"):
        p.apply_to_body(BODY, RoutePrefs(only=["azure"]))
    route, warnings = parse_participant("openai/gpt-4o-mini provider=azure").resolved_route(RoutePrefs(sort="price"))
    assert route.order == ["azure"] and warnings and "does not reorder" in warnings[0]


def test_same_model_twice_is_fine_with_different_options_only() -> None:
    parts = participants.parse_participants(["openai/gpt-4o-mini temperature=0", "openai/gpt-4o-mini temperature=1"])
    assert [p.key for p in parts] == ["openai/gpt-4o-mini [temperature=0]", "openai/gpt-4o-mini [temperature=1]"]
    with pytest.raises(ParticipantError, match="given twice"):
        participants.parse_participants(["openai/gpt-4o-mini seed=1", "openai/gpt-4o-mini  seed=1"])


def test_named_sets_are_saved_canonical_listed_loaded_and_removed(edge_env: dict[str, str]) -> None:
    from edge_jupyter import preferences

    saved = participants.save_set("trio", ["anthropic/claude-3.5-haiku provider='Amazon Bedrock' temperature=0.20",
                                           "openai/gpt-4o-mini"])
    assert all(isinstance(p, ParticipantSpec) for p in saved)
    assert preferences.load().participants == {
        "trio": ["anthropic/claude-3.5-haiku provider=amazon-bedrock temperature=0.2", "openai/gpt-4o-mini"]}
    assert participants.load_set("trio")[1] == "openai/gpt-4o-mini"
    both = participants.resolve(["deepseek/deepseek-r1 sort=price"], "trio")
    assert [p.model for p in both] == ["anthropic/claude-3.5-haiku", "openai/gpt-4o-mini", "deepseek/deepseek-r1"]
    with pytest.raises(ParticipantError, match="given twice"):
        participants.resolve(["openai/gpt-4o-mini"], "trio")
    with pytest.raises(ParticipantError, match=r"No participant set named 'tri0'\. Did you mean trio\?"):
        participants.load_set("tri0")
    participants.save_set("solo", ["mistralai/mistral-small-3.1-24b-instruct"])
    assert sorted(participants.list_sets()) == ["solo", "trio"]
    participants.delete_set("trio")
    assert list(participants.list_sets()) == ["solo"]
    for name, specs, message in [("bad name", ["openai/gpt-4o"], "not a participant set name"),
                                 ("empty", [], "at least one model"),
                                 ("broken", ["openai/gpt-4o temp=1"], "Did you mean temperature")]:
        with pytest.raises(ParticipantError, match=message):
            participants.save_set(name, specs)
    assert list(participants.list_sets()) == ["solo"]  # nothing half-saved
    participants.delete_set("solo")
    with pytest.raises(ParticipantError, match="None is saved yet"):
        participants.load_set("solo")
