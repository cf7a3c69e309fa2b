"""Reasoning, outside a kernel, against the real sandbox: ``--reasoning``/``reasoning=`` →
the spec's ``reasoning`` object; a model that does not reason (or cannot do what is asked)
refused before sending; the reasoning printed dim in a terminal above the answer (and not
with ``hide_reasoning``); its tokens on the cost line."""

from __future__ import annotations

import re

import pytest
from media_files import asked
from sandbox_fixtures import spec_available

import edge_jupyter as edge
from edge_jupyter import calls
from edge_jupyter.answer_format import cost_line_text
from edge_jupyter.magics import UsageError, parse_cell_line

R1 = "deepseek/deepseek-r1"  # reasons (mandatory), per the sandbox's /models
MINI = "openai/gpt-4o-mini"  # does not reason
DIM = "\x1b[2m"


def test_the_flags_are_parsed_and_an_unknown_effort_is_a_usage_error() -> None:
    args = parse_cell_line(f"-m {R1} --reasoning high --reasoning-tokens 2000 --hide-reasoning")
    assert (args.reasoning, args.reasoning_tokens, args.hide_reasoning) == ("high", 2000, True)
    with pytest.raises(UsageError, match="--reasoning"):
        parse_cell_line("--reasoning enormous")
    with pytest.raises(UsageError, match="reasoning-tokens"):
        parse_cell_line("--reasoning-tokens 0")


@pytest.mark.skipif(not spec_available(), reason="no OpenAPI spec")
def test_the_reasoning_object_is_in_the_body_and_valid_against_the_spec(edge_env, sb) -> None:
    from sandbox_fixtures import validate

    planned = calls.plan(calls.Request("Why?", models=[R1], reasoning="high",
                                       reasoning_tokens=2000)).calls[0].body
    assert planned["reasoning"] == {"effort": "high", "max_tokens": 2000}
    assert "reasoning" not in calls.plan(calls.Request("Why?", models=[R1])).calls[0].body
    edge.ask("Why is the sky blue?", model=R1, reasoning="low", max_tokens=50)
    sent = asked(sb)[-1].json
    assert sent["reasoning"] == {"effort": "low"}
    validate(sent, "ChatRequest")


def test_a_model_that_does_not_reason_is_refused_before_sending(edge_env, sb) -> None:
    before = len(asked(sb))
    with pytest.raises(calls.CallRefused) as caught:
        edge.ask("Why?", model=MINI, reasoning="high")
    message = str(caught.value)
    assert message.startswith("Refused before sending: openai/gpt-4o-mini does not reason")
    assert R1 in message  # names models that do
    assert len(asked(sb)) == before
    assert edge.usage("all").empty  # no ledger row: refused before anything was written


def test_none_is_refused_for_a_model_whose_reasoning_is_mandatory(edge_env, sb) -> None:
    before = len(asked(sb))
    with pytest.raises(calls.CallRefused, match="mandatory"):
        edge.ask("Why?", model=R1, reasoning="none")
    assert len(asked(sb)) == before


def test_bad_api_arguments_are_refused_like_bad_flags(edge_env, sb) -> None:
    with pytest.raises(edge.ApiUsageError, match="reasoning"):
        edge.ask("Why?", model=R1, reasoning="enormous")
    with pytest.raises(edge.ApiUsageError, match="reasoning_tokens"):
        edge.ask("Why?", model=R1, reasoning_tokens=-3)


def test_the_refusal_reads_the_models_entry() -> None:
    """Efforts the entry lists, and a token budget it does not take, are checked too."""
    from edge_jupyter.calls._reasoning import refusal

    entry = {"mandatory": False, "supported_efforts": ["low", "high"], "supports_max_tokens": False}
    assert refusal("x/y", {"effort": "high"}, ["reasoning"], entry, []) is None
    assert "not 'medium'" in refusal("x/y", {"effort": "medium"}, ["reasoning"], entry, [])
    assert "token budget" in refusal("x/y", {"max_tokens": 100}, ["reasoning"], entry, [])
    assert refusal("x/y", {"effort": "none"}, ["include_reasoning"], entry, []) is None


def test_the_terminal_shows_the_reasoning_dim_above_the_answer(edge_env, sb, capsys) -> None:
    result = edge.ask("Explain [sandbox:tokens=40]", model=R1, stream=True)
    out = capsys.readouterr().out
    assert out.startswith(DIM)
    reasoning_end = out.rindex("\x1b[0m")
    assert result.text and out.index(result.text) > reasoning_end  # the answer below it
    assert result.reasoning_tokens > 0
    plain = re.sub(r"\x1b\[\d*m", "", out)
    assert result.reasoning and plain.startswith(result.reasoning)
    assert f"{result.reasoning_tokens:,} reasoning" in cost_line_text(result)

    hidden = edge.ask("Explain again [sandbox:tokens=40]", model=R1, stream=True,
                      hide_reasoning=True)
    out = capsys.readouterr().out
    assert DIM not in out and hidden.text in out
    assert hidden.reasoning_tokens > 0  # display only: it still reasoned, and was billed
    assert hidden.reasoning  # and the reasoning is kept on the result


def test_streamed_reasoning_details_are_merged_as_the_unstreamed_message_has_them() -> None:
    from edge_jupyter.openrouter import _stream

    merger = _stream.DetailsMerger()
    for piece in ("Let", " me", " think"):
        merger.add([{"type": "reasoning.text", "text": piece, "format": "unknown", "index": 0}])
    merger.add([{"type": "reasoning.text", "text": None, "signature": "sig", "index": 0},
                {"type": "reasoning.encrypted", "data": "abc", "index": 1}])
    assert merger.result() == [
        {"type": "reasoning.text", "text": "Let me think", "format": "unknown", "index": 0,
         "signature": "sig"},
        {"type": "reasoning.encrypted", "data": "abc", "index": 1}]


def _assistants(body: dict) -> list[dict]:
    return [m for m in body["messages"] if m["role"] == "assistant"]


@pytest.mark.parametrize("name", [None, "thinking"])
def test_reasoning_details_go_back_unmodified_on_the_next_turn(edge_env, sb, name) -> None:
    """In memory and in a saved conversation: the second turn sends the first answer with
    its reasoning_details exactly as the sandbox sent them (it checks: 400 otherwise)."""
    chat = edge.Chat(R1, name=name)
    first = chat.ask("Think first [sandbox:tokens=40]")
    chat.ask("And then?")
    (answer,) = _assistants(asked(sb)[-1].json)
    assert answer["content"] == first.text
    assert answer["reasoning_details"][0]["type"] == "reasoning.text"
    assert answer["reasoning_details"][0]["text"]
    assert sb.reasoning_details_checked == [True]
    if name:  # the file keeps them, under their own key in the turn
        from edge_jupyter import conversations

        turn = conversations.load(name).turns[0]
        assert turn.reasoning_details[first.model] == answer["reasoning_details"]


def test_the_sandbox_refuses_modified_reasoning_details(edge_env, sb) -> None:
    import httpx

    url, auth = f"{sb.url}/api/v1/chat/completions", {"Authorization": f"Bearer {sb.key}"}
    first = httpx.post(url, headers=auth, timeout=30, json={
        "model": R1, "messages": [{"role": "user", "content": "Hi"}]}).json()
    message = first["choices"][0]["message"]
    details = message["reasoning_details"]
    history = [{"role": "user", "content": "Hi"}, None, {"role": "user", "content": "More"}]
    for sent, status in ((details, 200), ([{**details[0], "text": "edited"}], 400)):
        history[1] = {"role": "assistant", "content": message["content"],
                      "reasoning_details": sent}
        reply = httpx.post(url, headers=auth, timeout=30, json={"model": R1, "messages": history})
        assert reply.status_code == status, reply.text
    assert "unmodified" in reply.text or "exactly as" in reply.text
    assert sb.reasoning_details_checked == [True, False]


def test_a_saved_conversation_without_reasoning_details_still_loads(edge_env, sb) -> None:
    import json

    from edge_jupyter import conversations

    chat = edge.Chat(MINI, name="plain")
    chat.ask("Hello")
    path = conversations._path("plain")
    raw = json.loads(path.read_text())
    assert "reasoning_details" not in raw["turns"][0]  # older versions read it as before
    raw["turns"][0]["from_a_newer_version"] = 1
    path.write_text(json.dumps(raw))
    chat.ask("Again")
    turns = json.loads(path.read_text())["turns"]
    assert turns[0]["from_a_newer_version"] == 1 and len(turns) == 2


def test_participant_options_set_the_reasoning_of_one_model(edge_env, sb) -> None:
    from edge_jupyter.participants import ParticipantError, parse_participant

    spec = parse_participant(f"{R1} reasoning=high reasoning_tokens=500")
    assert spec.apply_to_body({"model": R1, "messages": []})["reasoning"] == {
        "effort": "high", "max_tokens": 500}
    assert parse_participant(spec.spec()).params == spec.params  # saved sets re-read it
    # the participant's effort beats the cell's; the cell's token cap stays
    cell = {"model": R1, "messages": [], "reasoning": {"effort": "low", "max_tokens": 99}}
    assert parse_participant(f"{R1} reasoning=max").apply_to_body(cell)["reasoning"] == {
        "effort": "max", "max_tokens": 99}
    with pytest.raises(ParticipantError, match="reasoning"):
        parse_participant(f"{R1} reasoning=enormous")
    before = len(asked(sb))
    with pytest.raises(calls.CallRefused, match="openai/gpt-4o-mini does not reason"):
        edge.ask("Why?", models=[R1, f"{MINI} reasoning=low"])
    assert len(asked(sb)) == before


def test_the_cli_asks_with_reasoning_and_prints_it_dim(sb, tmp_path) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "EDGE_OPENROUTER_URL": sb.url, "OPENROUTER_API_KEY": sb.key,
           "EDGE_DATA_DIR": str(tmp_path), "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}

    def ask(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "edge_jupyter.cli", "ask", "-m", R1, *argv,
                               "Why? [sandbox:tokens=30]"], env=env, capture_output=True,
                              text=True, timeout=120)

    done = ask("--reasoning", "medium")
    assert done.returncode == 0, done.stderr
    assert asked(sb)[-1].json["reasoning"] == {"effort": "medium"}
    assert done.stdout.startswith(DIM) and sb.completions[-1].text in done.stdout
    hidden = ask("--hide-reasoning")
    assert hidden.returncode == 0, hidden.stderr
    assert DIM not in hidden.stdout and "reasoning" in hidden.stdout  # the cost line's count


# The sandbox's chat planning (sandbox/_chat.py) is this helper's: its hook into the
# structured answers of sandbox/_structured.py is tested here.
def test_the_sandbox_answers_a_json_schema_request_with_json_that_fits(sb) -> None:
    import json

    import httpx

    schema = {"type": "object", "properties": {"name": {"type": "string", "minLength": 2},
                                               "age": {"type": "integer", "minimum": 3}},
              "required": ["name", "age"], "additionalProperties": False}
    reply = httpx.post(f"{sb.url}/api/v1/chat/completions",
                       headers={"Authorization": f"Bearer {sb.key}"}, timeout=30, json={
                           "model": MINI, "messages": [{"role": "user", "content": "A person"}],
                           "response_format": {"type": "json_schema", "json_schema": {
                               "name": "Person", "strict": True, "schema": schema}}})
    assert reply.status_code == 200, reply.text
    value = json.loads(reply.json()["choices"][0]["message"]["content"])
    assert set(value) == {"name", "age"}
    assert isinstance(value["name"], str) and len(value["name"]) >= 2 and value["age"] >= 3


def test_the_cost_line_gives_the_reasoning_share_of_the_cost(edge_env, sb) -> None:
    """The share is OpenRouter's completion cost split by tokens (reasoning tokens are billed
    as completion tokens), over the billed cost; labelled "≈" as the split is ours."""
    result = edge.ask("Why is the sky blue? [sandbox:tokens=60]", R1)
    usage = sb.completions[-1].usage
    completions_cost = usage["cost_details"]["upstream_inference_completions_cost"]
    reasoning = usage["completion_tokens_details"]["reasoning_tokens"]
    assert 0 < reasoning < usage["completion_tokens"]
    expected = completions_cost * reasoning / usage["completion_tokens"]
    assert result.reasoning_usd == pytest.approx(expected, rel=1e-12)
    share = expected / usage["cost"]
    assert f"{reasoning:,} reasoning ≈ {share:.0%} of the cost" in cost_line_text(result)
    plain = edge.ask("Hello", MINI)
    assert plain.reasoning_usd is None and "reasoning" not in cost_line_text(plain)
