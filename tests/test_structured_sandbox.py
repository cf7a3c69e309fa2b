"""The sandbox's JSON-Schema answers (``sandbox/_structured.py``, standard library only): the
smallest value that fits a schema really fits it (checked with ``jsonschema``, not with the
code that built it), a broken answer (the ``invalid_json`` fault) does not parse and the
response-healing plugin's repair does, a malformed ``response_format`` is a 400; over HTTP the
fault breaks the JSON a request asked for, billed as usual."""

from __future__ import annotations

import dataclasses
import json
from typing import Literal

import httpx
import jsonschema
import pydantic
import pytest

from edge_jupyter.sandbox import Fault, Sandbox
from edge_jupyter.sandbox._errors import ApiError
from edge_jupyter.sandbox._structured import (
    answer_tokens_for,
    broken,
    faulty_tokens,
    healed,
    heals,
    minimal_instance,
    requested_schema,
    structured_answer,
)
from edge_jupyter.structured import schema_of


class Tag(pydantic.BaseModel):
    label: str
    weight: float


class Order(pydantic.BaseModel):
    id: int
    status: Literal["open", "closed"]
    tags: list[Tag]
    lead: Tag
    note: str | None = None


@dataclasses.dataclass
class Flat:
    name: str
    count: int
    ok: bool


HAND = {"type": "object", "additionalProperties": False, "required": ["n", "items", "kind"],
        "properties": {"n": {"type": "integer", "minimum": 3},
                       "items": {"type": "array", "minItems": 2, "items": {"type": "string",
                                                                          "minLength": 2}},
                       "kind": {"const": "fixed"}, "extra": {"type": "number"}}}


def body_for(schema: dict, **extra: object) -> dict:
    return {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}],
            "response_format": {"type": "json_schema",
                                "json_schema": {"name": "x", "strict": True, "schema": schema}},
            **extra}


@pytest.mark.parametrize("schema", [schema_of(Order).json_schema, schema_of(Flat).json_schema, HAND],
                         ids=["nested-pydantic", "dataclass", "hand-written"])
def test_the_smallest_instance_fits_its_schema(schema: dict) -> None:
    text = structured_answer(body_for(schema))
    assert text is not None
    jsonschema.validate(json.loads(text), schema)
    assert structured_answer(body_for(schema)) == text  # deterministic


def test_nested_refs_and_minimums_are_followed() -> None:
    value = minimal_instance(schema_of(Order).json_schema)
    assert value["lead"] == {"label": "sandbox", "weight": 0.0} and value["status"] == "open"
    assert minimal_instance(HAND)["n"] == 3 and len(minimal_instance(HAND)["items"]) == 2


def test_the_invalid_json_fault_breaks_the_answer_and_healing_repairs_it() -> None:
    text = structured_answer(body_for(schema_of(Order).json_schema))
    assert text is not None
    bad = broken(text)
    with pytest.raises(ValueError):
        json.loads(bad)
    assert json.loads(healed(bad)) == json.loads(text)
    assert healed('Sure! {"a": [1, 2], "b": "c"} hope that helps') == '{"a": [1, 2], "b": "c"}'


def test_the_healing_plugin_and_a_plain_request() -> None:
    assert heals({"plugins": [{"id": "response-healing"}]})
    assert not heals({"plugins": [{"id": "response-healing", "enabled": False}]})
    assert not heals({})
    assert requested_schema({"messages": []}) is None
    assert structured_answer({"response_format": {"type": "json_object"}}) == "{}"


@pytest.mark.parametrize("fmt", [{"type": "yaml"}, {"type": "json_schema"},
                                 {"type": "json_schema", "json_schema": {"name": ""}},
                                 {"type": "json_schema", "json_schema": {"name": "x" * 65}}])
def test_a_malformed_response_format_is_a_400(fmt: dict) -> None:
    with pytest.raises(ApiError) as caught:
        requested_schema({"response_format": fmt})
    assert caught.value.status == 400


def test_the_plan_hooks_stream_the_json_as_tokens_and_echo_wins() -> None:
    body = body_for(schema_of(Flat).json_schema)
    tokens = answer_tokens_for(body, body["messages"])
    assert tokens is not None and len(tokens) > 3
    assert json.loads("".join(tokens)) == {"name": "sandbox", "count": 0, "ok": False}
    echo = [{"role": "user", "content": "[sandbox:echo]not json"}]
    assert answer_tokens_for(body, echo) is None
    bad = "".join(faulty_tokens(body, tokens))
    with pytest.raises(ValueError):
        json.loads(bad)
    fixed = faulty_tokens({**body, "plugins": [{"id": "response-healing"}]}, tokens)
    assert json.loads("".join(fixed)) == json.loads("".join(tokens))


def test_the_invalid_json_fault_over_http_breaks_the_answer_once_and_bills_it(
        sb: Sandbox, client: httpx.Client) -> None:
    body = body_for(schema_of(Flat).json_schema)
    good = client.post("/api/v1/chat/completions", json=body).json()
    text = good["choices"][0]["message"]["content"]
    assert json.loads(text) == {"name": "sandbox", "count": 0, "ok": False}
    sb.inject(Fault.invalid_json())
    bad = client.post("/api/v1/chat/completions", json=body).json()
    broken_text = bad["choices"][0]["message"]["content"]
    with pytest.raises(ValueError):
        json.loads(broken_text)
    assert broken_text == broken(text) and bad["usage"]["cost"] > 0
    assert sb.completions[-1].text == broken_text and sb.faults.pending() == []
    again = client.post("/api/v1/chat/completions", json=body).json()
    assert again["choices"][0]["message"]["content"] == text


def test_the_invalid_json_fault_is_a_known_kind() -> None:
    assert Fault.from_dict({"kind": "invalid_json", "times": 3}) == Fault.invalid_json(times=3)
    assert Fault.invalid_json().route == "chat"
