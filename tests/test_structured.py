"""Structured answers in this process, against the sandbox: the schema of a pydantic model, a
dataclass, a TypedDict and a JSON-Schema dict sent as ``response_format`` (validated against
OpenRouter's published ChatRequest schema), the answer validated into an instance, an answer
that does not fit kept with a one-line reason, and ``%load_ext`` importing no pydantic.

The sandbox answers exactly what follows ``[sandbox:echo]``, so each test sends the JSON it
wants back."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from typing import Literal, TypedDict

import pydantic
import pytest
from media_files import asked
from sandbox_fixtures import spec_available

import edge_jupyter as edge
from edge_jupyter.structured import AnswerInvalid, SchemaError, schema_of, validate

MINI = "openai/gpt-4o-mini"


class Person(pydantic.BaseModel):
    name: str
    age: int
    tags: list[str]


@dataclasses.dataclass
class Address:
    city: str
    zip: str


@dataclasses.dataclass
class Customer:
    name: str
    address: Address
    tier: Literal["gold", "silver"]
    score: float | None = None


class Point(TypedDict):
    x: int
    y: int


POINT_DICT = {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"],
              "additionalProperties": False}


def echo(value: object) -> str:
    return "[sandbox:echo]" + (value if isinstance(value, str) else json.dumps(value))


@pytest.mark.skipif(not spec_available(), reason="no OpenAPI spec")
@pytest.mark.parametrize("target", [Person, Customer, Point, POINT_DICT],
                         ids=["pydantic", "dataclass", "typeddict", "dict"])
def test_each_kind_of_schema_is_sent_as_a_strict_json_schema_response_format(edge_env, sb, target):
    from sandbox_fixtures import validate as against_spec

    answer = {"x": 1, "y": 2} if target in (Point, POINT_DICT) else (
        {"name": "Ada", "age": 36, "tags": []} if target is Person else
        {"name": "Ada", "address": {"city": "Paris", "zip": "75001"}, "tier": "gold", "score": None})
    if target is POINT_DICT:
        answer = {"x": 1}
    edge.ask(echo(answer), model=MINI, schema=target, heal=True)
    body = asked(sb)[-1].json
    against_spec(body, "ChatRequest")
    fmt = body["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    schema = fmt["json_schema"]["schema"]
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    # strict mode: every property required, also one with a default (Customer.score)
    assert schema["required"] == list(schema["properties"])
    assert body["plugins"] == [{"id": "response-healing"}]


def test_a_pydantic_answer_is_validated_into_an_instance(edge_env, sb):
    r = edge.ask(echo({"name": "Ada", "age": 36, "tags": ["math"]}), model=MINI, schema=Person)
    assert r.value == Person(name="Ada", age=36, tags=["math"])
    assert r.status == "ok" and r.error == ""
    assert "plugins" not in asked(sb)[-1].json  # no healing unless asked for


def test_a_dataclass_answer_is_built_with_its_nested_dataclass(edge_env, sb):
    r = edge.ask(echo({"name": "Ada", "address": {"city": "Paris", "zip": "75001"},
                       "tier": "gold", "score": 2}), model=MINI, schema=Customer)
    assert r.value == Customer("Ada", Address("Paris", "75001"), "gold", 2.0)
    assert asked(sb)[-1].json["response_format"]["json_schema"]["name"] == "Customer"


def test_an_answer_that_is_not_json_is_kept_paid_for_with_a_one_line_reason(edge_env, sb):
    with pytest.raises(AnswerInvalid) as caught:
        edge.ask(echo('{"name": "Ada", "age":'), model=MINI, schema=Person)
    message = str(caught.value)
    assert "not valid JSON for the schema Person" in message and "\n" not in message
    result = caught.value.result
    assert result.text == '{"name": "Ada", "age":' and result.value is None
    assert result.status == "ok" and result.cost_usd is not None  # it was paid for
    row = edge.usage().iloc[-1]
    assert row["status"] == "ok" and "not valid JSON" in row["error"]


def test_an_answer_of_the_wrong_shape_names_the_field(edge_env, sb):
    chat = edge.Chat(MINI, schema=Person)
    with pytest.raises(AnswerInvalid, match=r"schema Person: age: "):
        chat.ask(echo({"name": "Ada", "age": "old", "tags": []}))
    assert chat.results[-1].invalid and chat.results[-1].text.startswith('{"name"')
    # per ask: the next one asks for another schema
    r = chat.ask(echo({"x": 1, "y": 2}), schema=Point)
    assert r.value == {"x": 1, "y": 2}


def test_something_that_is_not_a_schema_is_refused_before_sending(edge_env, sb):
    with pytest.raises(edge.ApiUsageError, match="not a schema"):
        edge.ask("hi", model=MINI, schema=Person(name="a", age=1, tags=[]))
    with pytest.raises(edge.ApiUsageError, match="JSON Schema of an object"):
        edge.ask("hi", model=MINI, schema={"answer": "int"})
    assert asked(sb) == []


def test_the_standard_library_path_checks_dataclasses_without_pydantic() -> None:
    """What runs when pydantic is not installed (``_plain``), called directly."""
    from edge_jupyter.structured import _plain

    described = _plain.describe(Customer)
    assert described["required"] == ["name", "address", "tier"]
    _plain.check({"name": "A", "address": {"city": "P", "zip": "1"}, "tier": "gold"}, described)
    with pytest.raises(ValueError, match="tier: 'bronze' is not one of"):
        _plain.check({"name": "A", "address": {"city": "P", "zip": "1"}, "tier": "bronze"},
                     described)
    with pytest.raises(ValueError, match="address: the field 'zip' is missing"):
        _plain.check({"name": "A", "address": {"city": "P"}, "tier": "gold"}, described)
    built = _plain.build(Customer, {"name": "A", "address": {"city": "P", "zip": "1"},
                                    "tier": "gold"})
    assert built == Customer("A", Address("P", "1"), "gold")


def test_a_json_schema_dict_is_checked_by_the_standard_library() -> None:
    schema = schema_of(POINT_DICT, "point")
    assert validate(schema, '{"x": 3}') == {"x": 3}
    with pytest.raises(ValueError, match="unexpected field 'y'"):
        validate(schema, '{"x": 3, "y": 4}')
    with pytest.raises(SchemaError):
        schema_of(42)


def test_load_ext_imports_no_pydantic() -> None:
    code = ("import sys\nfrom IPython.testing.globalipapp import start_ipython\n"
            "ip = start_ipython()\nip.run_line_magic('load_ext', 'edge_jupyter')\n"
            "assert 'pydantic' not in sys.modules, 'pydantic imported'\n"
            "from edge_jupyter.magics import parse_cell_line\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]


def test_map_with_a_schema_gives_one_typed_column_per_field(edge_env, sb):
    import pandas as pd

    class Review(pydantic.BaseModel):
        stars: int
        score: float
        spam: bool
        summary: str
        tags: list[str]

    good = {"stars": 4, "score": 0.5, "spam": False, "summary": "fine", "tags": ["a"]}
    rows = pd.Series([echo(good), echo({**good, "stars": "many"}), echo("not json")],
                     index=["r1", "r2", "r3"])
    frame = edge.map(rows, "{text}", MINI, schema=Review, progress=False, confirm_over=None)
    assert list(frame.columns[:5]) == ["stars", "score", "spam", "summary", "tags"]
    assert str(frame["stars"].dtype) == "Int64" and str(frame["spam"].dtype) == "boolean"
    assert frame["score"].dtype == "float64" and str(frame["summary"].dtype).startswith("str")
    assert frame["tags"].dtype == object
    assert frame.loc["r1", "stars"] == 4 and frame.loc["r1", "tags"] == ["a"]
    assert list(frame["status"]) == ["ok", "invalid", "invalid"]
    assert pd.isna(frame.loc["r2", "stars"]) and "stars" in frame.loc["r2", "error"]
    assert "not valid JSON" in frame.loc["r3", "error"]
    assert frame.loc["r2", "cost_usd"] > 0  # paid for all the same
    assert all(q.json["response_format"]["json_schema"]["name"] == "Review" for q in asked(sb))


def test_without_pydantic_a_dataclass_is_described_and_validated_by_the_standard_library() -> None:
    code = ("import sys, dataclasses\nsys.modules['pydantic'] = None  # as if not installed\n"
            "from edge_jupyter.structured import schema_of, validate\n"
            "@dataclasses.dataclass\nclass Box:\n    side: int\n    label: str | None = None\n"
            "s = schema_of(Box)\nassert not s.by_pydantic, s\n"
            "assert s.json_schema['required'] == ['side', 'label'], s.json_schema  # strict\n"
            "assert validate(s, '{\"side\": 2}') == Box(2)\n"
            "try:\n    validate(s, '{\"side\": \"2\"}')\nexcept ValueError as e:\n"
            "    assert 'side: expected integer' in str(e), e\nelse:\n    raise SystemExit('accepted')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_invalid_json_fault_gives_an_answer_kept_with_its_raw_text(edge_env, sb):
    """The sandbox's own schema answer validates; under ``Fault.invalid_json`` the same ask
    is paid for, kept with its raw (broken) text and a one-line reason, in the ledger too."""
    from edge_jupyter.sandbox import Fault

    good = edge.ask("a person please", model=MINI, schema=Person)
    assert good.value == Person(name="sandbox", age=0, tags=[])  # the sandbox's smallest fit
    sb.inject(Fault.invalid_json())
    with pytest.raises(AnswerInvalid, match="not valid JSON for the schema Person") as caught:
        edge.ask("a person please", model=MINI, schema=Person)
    result = caught.value.result
    assert result.text == sb.completions[-1].text and result.text != good.text
    assert result.text.startswith('{"name": "sandbox"') and result.value is None
    assert result.status == "ok" and result.cost_usd is not None and result.cost_usd > 0
    row = edge.usage().iloc[-1]
    assert row["status"] == "ok" and "not valid JSON" in row["error"]
    again = edge.ask("a person please", model=MINI, schema=Person)  # the fault was used up
    assert again.value == good.value


def test_the_healing_plugin_repairs_an_invalid_json_answer(edge_env, sb):
    from edge_jupyter.sandbox import Fault

    sb.inject(Fault.invalid_json())
    r = edge.ask("a person please", model=MINI, schema=Person, heal=True)
    assert r.value == Person(name="sandbox", age=0, tags=[])
    assert sb.faults.pending() == []  # the fault did strike (healed, as OpenRouter's plugin)


def test_the_control_api_queues_an_invalid_json_fault(sb):
    import httpx

    r = httpx.post(sb.url + "/_sandbox/faults", json={"kind": "invalid_json", "times": 2})
    assert r.status_code == 200, r.text
    assert [(f["kind"], f["times"]) for f in r.json()["pending"]] == [("invalid_json", 2)]


FREE = "meta-llama/llama-3.1-8b-instruct:free"  # the sandbox's one model without structured outputs


def test_a_schema_for_a_model_without_structured_outputs_is_refused_before_sending(edge_env, sb):
    from edge_jupyter import calls
    from edge_jupyter.sandbox import MODELS

    assert edge.ask("hi", model=FREE).status == "ok"  # the model itself answers
    sent, rows = len(asked(sb)), len(edge.usage())
    with pytest.raises(calls.CallRefused) as caught:
        edge.ask("a person please", model=FREE, schema=Person)
    message = str(caught.value)
    assert message.startswith(f"{FREE} does not take a schema") and "\n" not in message
    named = message.split("Models that do: ")[1].split(" — ")[0].split(", ")
    assert named and all("response_format" in MODELS[m].supported_parameters for m in named)
    assert FREE not in named and "response_format" not in MODELS[FREE].supported_parameters
    assert len(asked(sb)) == sent and len(edge.usage()) == rows


def test_map_with_a_schema_for_a_model_without_structured_outputs_sends_no_row(edge_env, sb):
    import pandas as pd

    from edge_jupyter import calls

    rows = pd.Series(["one", "two"])
    with pytest.raises(calls.CallRefused, match=f"{FREE} does not take a schema"):
        edge.map(rows, "{text}", FREE, schema=Person, progress=False, confirm_over=None)
    assert asked(sb) == [] and len(edge.usage()) == 0
