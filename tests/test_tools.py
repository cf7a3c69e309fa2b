"""Python functions as tools (``edge_jupyter.tools``): the schema a function becomes, and the
safe running of a model's call of it.

Every tool made here is checked three ways: against the OpenAPI spec's ``ChatFunctionTool``
(what OpenRouter takes), as a JSON Schema itself (``Draft202012Validator.check_schema``),
and by arguments that must fit it and arguments that must not.  ``ToolBox.run`` is driven
through every kind of failure a model's call can have; each must come back as an error
*result* (the text the model reads), never as an exception.  ``--confirm-tools`` is tested in
a real kernel over ZeroMQ (the frontend's ``input_request``/``input_reply``) and in a real
subprocess for the terminal side.

The functions are defined at module level on purpose: this file's annotations are strings
(``from __future__ import annotations``), resolved from the function's globals, as a
notebook's functions are.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import enum
import json
import os
import pty
import queue
import select
import subprocess
import sys
import textwrap
import time
import types
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal, Optional, TypedDict, Union

import pytest
from pydantic import BaseModel, Field
from sandbox_fixtures import spec_available, validate

from edge_jupyter.errors import EdgeError
from edge_jupyter.tools import (
    MAX_CHARS,
    ToolBox,
    ToolError,
    ToolOutcome,
    function_tool,
    tools_from_names,
)

# -- the functions ---------------------------------------------------------------------------


class Unit(enum.Enum):
    CELSIUS = "celsius"
    FAHRENHEIT = "fahrenheit"


class Shape(enum.Enum):  # values that are not JSON: the model sends the names
    SQUARE = object()
    ROUND = object()


@dataclasses.dataclass
class Point:
    """A point on the map."""

    x: int
    y: float = 0.0


@dataclasses.dataclass
class Route:
    start: Point
    stops: list[Point] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Positive:
    n: int

    def __post_init__(self) -> None:
        if self.n <= 0:
            raise ValueError("n must be positive")


class Options(TypedDict, total=False):
    verbose: bool
    depth: int


class Item(BaseModel):
    name: str
    quantity: int = Field(gt=0, description="How many")


class Order(BaseModel):
    items: list[Item]
    note: str = ""


def get_weather(city: str, unit: Unit = Unit.CELSIUS) -> str:
    """Get the current weather for a city.

    Looks it up in the almanac.

    Args:
        city: The city's name, e.g. Paris.
        unit: The unit of the temperature.
    """
    return f"18°C, sunny in {city}" if unit is Unit.CELSIUS else f"64°F, sunny in {city}"


def primitives(s: str, i: int, f: float, b: bool, nothing: None = None) -> str:
    return f"{s!r} {i!r} {f!r} {b!r} {nothing!r}"


def optionals(a: Optional[int], b: int | None = None, c: Union[str, int] = "x") -> str:  # noqa: UP007, UP045
    return json.dumps([a, b, c])


def literal(mode: Literal["fast", "slow"], level: Literal[1, 2, 3] = 1) -> str:
    return f"{mode} {level}"


def enums(unit: Unit, shape: Shape = Shape.SQUARE) -> str:
    return f"{unit.name} {shape.name}"


def containers(names: list[str], scores: dict[str, float], pair: tuple[int, str],
               many: tuple[int, ...] = (), tags: set[str] | None = None,
               seq: Sequence[int] = (), table: Mapping[str, list[int]] | None = None) -> str:
    return json.dumps({"names": names, "scores": scores, "pair": list(pair), "many": list(many),
                       "tags": sorted(tags or []), "seq": list(seq),
                       "pair_is_tuple": isinstance(pair, tuple), "tags_is_set": isinstance(tags, set)})


def records(route: Route, options: Options | None = None) -> str:
    return f"{type(route.start).__name__} {route.start.x} {len(route.stops)} {options}"


def positive(value: Positive) -> int:
    return value.n


def order(order: Order, rush: bool = False) -> Order:
    """Place an order.

    Parameters
    ----------
    order : Order
        What to order.
    rush : bool
        Deliver today.
    """
    return order


def untyped(a, b=2, *args, **kwargs):
    """Add two things.

    :param a: the first thing
    :param b: the second thing
    :type b: int
    """
    return a + b


def annotated(city: Annotated[str, "The city, in English"]) -> str:
    return city


def when(day: datetime.date, at: datetime.datetime | None = None) -> str:
    return f"{type(day).__name__} {day.isoformat()} {at.isoformat() if at else None}"


def positional(a: int, b: int = 10, /, c: int = 100) -> int:
    return a + b + c


def nothing_to_take() -> None:
    """Return nothing."""


def divide(a: float, b: float) -> float:
    """Divide a by b."""
    return a / b


class Thermometer:
    """A callable object: its class's name is the tool's name."""

    def __call__(self, city: str) -> float:
        return 18.5


async def slow_lookup(key: str) -> dict[str, str]:
    """An async tool."""
    await asyncio.sleep(0)
    return {"key": key, "value": key.upper()}


SIGNATURES = [get_weather, primitives, optionals, literal, enums, containers, records, positive,
              order, untyped, annotated, when, positional, nothing_to_take, divide,
              Thermometer(), slow_lookup]


def parameters(fn: Any) -> dict[str, Any]:
    return function_tool(fn)["function"]["parameters"]


def fits(fn: Any, arguments: dict[str, Any]) -> bool:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(parameters(fn)).is_valid(arguments)


# -- the schema ------------------------------------------------------------------------------


@pytest.mark.skipif(not spec_available(), reason="the OpenAPI spec is not on this machine")
@pytest.mark.parametrize("fn", SIGNATURES, ids=lambda f: getattr(f, "__name__", type(f).__name__))
def test_every_tool_is_a_chat_function_tool_and_a_json_schema(fn: Any) -> None:
    from jsonschema import Draft202012Validator

    tool = function_tool(fn)
    validate(tool, "ChatFunctionTool")
    validate({"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "hi"}],
              "tools": [tool]}, "ChatRequest")
    assert tool["type"] == "function"
    Draft202012Validator.check_schema(tool["function"]["parameters"])
    assert tool["function"]["parameters"]["type"] == "object"
    assert tool["function"]["description"]


def test_a_docstring_gives_the_description_and_the_parameters_words() -> None:
    function = function_tool(get_weather)["function"]
    assert function["name"] == "get_weather"
    assert function["description"] == "Get the current weather for a city.\n\nLooks it up in the almanac."
    props = function["parameters"]["properties"]
    assert props["city"] == {"type": "string", "description": "The city's name, e.g. Paris."}
    assert props["unit"] == {"type": "string", "enum": ["celsius", "fahrenheit"],
                             "description": "The unit of the temperature.", "default": "celsius"}
    assert function["parameters"]["required"] == ["city"]
    assert function["parameters"]["additionalProperties"] is False


def test_numpy_and_rest_docstrings_and_no_docstring() -> None:
    props = parameters(order)["properties"]
    assert props["rush"]["description"] == "Deliver today."
    assert props["order"]["description"] == "What to order."
    untyped_props = parameters(untyped)["properties"]
    assert untyped_props["a"] == {"description": "the first thing"}  # no hint: no type
    # the docstring's type is said in words where no hint gives one
    assert untyped_props["b"] == {"description": "(int) the second thing", "default": 2}
    assert function_tool(primitives)["function"]["description"] == \
        "The Python function primitives(s, i, f, b, nothing)."


def test_primitives_none_and_defaults() -> None:
    params = parameters(primitives)
    assert params["properties"] == {"s": {"type": "string"}, "i": {"type": "integer"},
                                    "f": {"type": "number"}, "b": {"type": "boolean"},
                                    "nothing": {"type": "null", "default": None}}
    assert params["required"] == ["s", "i", "f", "b"]
    assert fits(primitives, {"s": "a", "i": 1, "f": 1.5, "b": True})
    assert not fits(primitives, {"s": "a", "i": "1", "f": 1.5, "b": True})
    assert not fits(primitives, {"s": "a", "i": 1, "f": 1.5, "b": True, "extra": 1})


def test_optional_union_literal_and_enums() -> None:
    props = parameters(optionals)["properties"]
    assert props["a"] == {"anyOf": [{"type": "integer"}, {"type": "null"}]}
    assert props["b"] == {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None}
    assert props["c"] == {"anyOf": [{"type": "string"}, {"type": "integer"}], "default": "x"}
    assert parameters(optionals)["required"] == ["a"]  # Optional without a default is required
    props = parameters(literal)["properties"]
    assert props["mode"] == {"type": "string", "enum": ["fast", "slow"]}
    assert props["level"] == {"type": "integer", "enum": [1, 2, 3], "default": 1}
    props = parameters(enums)["properties"]
    assert props["unit"] == {"type": "string", "enum": ["celsius", "fahrenheit"]}
    assert props["shape"] == {"type": "string", "enum": ["SQUARE", "ROUND"], "default": "SQUARE"}
    assert not fits(literal, {"mode": "medium"})


def test_containers() -> None:
    props = parameters(containers)["properties"]
    assert props["names"] == {"type": "array", "items": {"type": "string"}}
    assert props["scores"] == {"type": "object", "additionalProperties": {"type": "number"}}
    assert props["pair"] == {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}],
                             "minItems": 2, "maxItems": 2}
    assert props["many"] == {"type": "array", "items": {"type": "integer"}, "default": []}
    assert props["tags"]["anyOf"][0] == {"type": "array", "items": {"type": "string"}}
    assert props["seq"] == {"type": "array", "items": {"type": "integer"}, "default": []}
    assert props["table"]["anyOf"][0] == {
        "type": "object", "additionalProperties": {"type": "array", "items": {"type": "integer"}}}
    assert fits(containers, {"names": ["a"], "scores": {"a": 1}, "pair": [1, "x"]})
    assert not fits(containers, {"names": ["a"], "scores": {"a": 1}, "pair": [1, "x", 2]})


def test_dataclasses_and_typeddicts_are_objects_of_their_fields() -> None:
    props = parameters(records)["properties"]
    point = {"type": "object", "properties": {"x": {"type": "integer"}, "y": {"type": "number"}},
             "additionalProperties": False, "required": ["x"], "description": "A point on the map."}
    assert props["route"] == {"type": "object",
                              "properties": {"start": point, "stops": {"type": "array", "items": point}},
                              "additionalProperties": False, "required": ["start"]}
    # a TypedDict with total=False: nothing required; dict's docstring is not its description
    assert props["options"]["anyOf"][0] == {
        "type": "object", "properties": {"verbose": {"type": "boolean"}, "depth": {"type": "integer"}},
        "additionalProperties": False}
    assert fits(records, {"route": {"start": {"x": 1}, "stops": [{"x": 2, "y": 0.5}]}})
    assert not fits(records, {"route": {"start": {"y": 1.0}}})


def test_a_pydantic_model_is_its_own_json_schema_with_defs_at_the_top() -> None:
    params = parameters(order)
    assert params["properties"]["order"]["title"] == "Order"
    assert params["properties"]["order"]["properties"]["items"]["items"] == {"$ref": "#/$defs/Item"}
    assert set(params["$defs"]) == {"Item"}
    assert params["$defs"]["Item"]["properties"]["quantity"]["exclusiveMinimum"] == 0
    assert params["properties"]["order"]["description"] == "What to order."
    assert fits(order, {"order": {"items": [{"name": "tea", "quantity": 2}]}})
    assert not fits(order, {"order": {"items": [{"name": "tea", "quantity": 0}]}})


def test_annotated_dates_positional_and_skipped_star_arguments() -> None:
    assert parameters(annotated)["properties"]["city"] == {"type": "string",
                                                           "description": "The city, in English"}
    props = parameters(when)["properties"]
    assert props["day"] == {"type": "string", "format": "date"}
    assert props["at"]["anyOf"][0] == {"type": "string", "format": "date-time"}
    assert list(parameters(positional)["properties"]) == ["a", "b", "c"]
    assert list(parameters(untyped)["properties"]) == ["a", "b"]  # *args, **kwargs left out
    assert parameters(nothing_to_take) == {"type": "object", "properties": {},
                                           "additionalProperties": False}
    assert function_tool(Thermometer())["function"]["name"] == "Thermometer"


def bad_hint(data: bytes) -> None: ...


def int_keys(table: dict[int, str]) -> None: ...


def unknown_hint(x: NotDefinedAnywhere) -> None: ...  # noqa: F821


@dataclasses.dataclass
class Tree:
    children: list[Tree]


def recursive(tree: Tree) -> None: ...


def test_a_function_that_cannot_be_a_tool_is_one_clear_tool_error() -> None:
    def renamed(x: int) -> int:
        return x

    renamed.__name__ = "get weather"
    cases = [
        (lambda x: x, "has no name a model can call: define it with def."),
        (renamed, "The function name 'get weather' cannot be a tool name"),
        (3, "is a int, not a function"),
        (bad_hint, "The parameter 'data' of bad_hint() has the type bytes, which has no JSON form"),
        (int_keys, "is a dict with <class 'int'> keys: JSON object keys are strings"),
        (unknown_hint, "The type hints of unknown_hint() cannot be read (NameError"),
        (recursive, "refers to itself through Tree"),
    ]
    for fn, message in cases:
        with pytest.raises(ToolError) as caught:
            function_tool(fn)
        assert message in str(caught.value), (fn, str(caught.value))
        assert "\n" not in str(caught.value)
    assert issubclass(ToolError, EdgeError)


def test_a_toolbox_refuses_two_tools_of_one_name_and_lists_the_specs_in_order() -> None:
    box = ToolBox([get_weather, divide])
    assert box.names == ("get_weather", "divide")
    assert box.specs == [function_tool(get_weather), function_tool(divide)]
    other = types.FunctionType(divide.__code__, divide.__globals__, "get_weather")
    with pytest.raises(ToolError, match="Two tools are named 'get_weather'"):
        ToolBox([get_weather, other])
    with pytest.raises(ToolError, match="not a function"):
        ToolBox([get_weather, "divide"])  # type: ignore[list-item]


# -- running a call --------------------------------------------------------------------------

BOX = ToolBox([get_weather, primitives, optionals, literal, enums, containers, records, positive,
               order, untyped, when, positional, nothing_to_take, divide, Thermometer(),
               slow_lookup])


def test_a_call_returns_the_result_its_preview_and_its_line() -> None:
    out = BOX.run("get_weather", '{"city": "Paris"}', call_id="call_1")
    assert isinstance(out, ToolOutcome)
    assert (out.call_id, out.name, out.arguments, out.error) == ("call_1", "get_weather",
                                                                 {"city": "Paris"}, None)
    assert out.content == out.preview == "18°C, sunny in Paris"
    assert out.arguments_text == '{"city": "Paris"}'
    assert out.seconds >= 0
    assert out.line() == f"get_weather(city='Paris') → '18°C, sunny in Paris' · {out.seconds:.2f} s"
    shown = ToolOutcome("c", "get_weather", '{"city":"Paris"}', {"city": "Paris"}, "18°C, sunny",
                        "18°C, sunny", None, 0.2, True)
    assert shown.line() == "get_weather(city='Paris') → '18°C, sunny' · 0.20 s"
    failed = ToolOutcome("c", "divide", '{"a":1,"b":0}', {"a": 1, "b": 0},
                         "Error: ZeroDivisionError: division by zero",
                         "ZeroDivisionError: division by zero",
                         "ZeroDivisionError: division by zero", 0.0)
    assert failed.line() == "divide(a=1, b=0) → ✗ ZeroDivisionError: division by zero · 0.00 s"


def test_arguments_are_converted_to_what_the_hints_ask_for() -> None:
    assert BOX.run("get_weather", '{"city": "Oslo", "unit": "fahrenheit"}').content == \
        "64°F, sunny in Oslo"
    assert BOX.run("primitives", '{"s": "a", "i": 3.0, "f": 2, "b": false}').content == \
        "'a' 3 2.0 False None"
    assert BOX.run("enums", '{"unit": "celsius", "shape": "ROUND"}').content == "CELSIUS ROUND"
    got = json.loads(BOX.run("containers", json.dumps(
        {"names": ["a"], "scores": {"x": 1}, "pair": [1, "y"], "tags": ["b", "a"]})).content)
    assert got["pair_is_tuple"] and got["tags_is_set"] and got["tags"] == ["a", "b"]
    assert BOX.run("records", '{"route": {"start": {"x": 1}, "stops": [{"x": 2}]}, '
                              '"options": {"verbose": true}}').content == \
        "Point 1 1 {'verbose': True}"
    assert BOX.run("when", '{"day": "2026-12-01", "at": "2026-12-01T10:00:00"}').content == \
        "date 2026-12-01 2026-12-01T10:00:00"
    assert BOX.run("positional", '{"a": 1, "c": 5}').content == "16"  # b keeps its default
    assert BOX.run("untyped", '{"a": 1}').content == "3"
    out = BOX.run("order", '{"order": {"items": [{"name": "tea", "quantity": 2}]}}')
    assert out.error is None
    assert json.loads(out.content) == {"items": [{"name": "tea", "quantity": 2}], "note": ""}
    assert BOX.run("Thermometer", '{"city": "Rome"}').content == "18.5"
    assert BOX.run("nothing_to_take", "").content == "null"  # "" is no arguments
    twice = BOX.run("get_weather", json.dumps(json.dumps({"city": "Rome"})))  # encoded twice
    assert (twice.content, twice.arguments) == ("18°C, sunny in Rome", {"city": "Rome"})
    unknown = BOX.run("get_wether", '{"city": "Rome"}')
    assert unknown.arguments == {"city": "Rome"}  # shown in the line even so
    assert unknown.line().startswith("get_wether(city='Rome') → ✗ unknown tool 'get_wether'")


def test_an_async_tool_runs_even_inside_a_running_event_loop() -> None:
    assert json.loads(BOX.run("slow_lookup", '{"key": "k"}').content) == {"key": "k", "value": "K"}

    async def in_a_loop() -> ToolOutcome:  # as in a kernel, whose loop is running
        return BOX.run("slow_lookup", '{"key": "z"}')

    assert json.loads(asyncio.run(in_a_loop()).content)["value"] == "Z"


ERRORS = [
    ("nowhere", "{}", "Error: there is no tool named 'nowhere'; the tools are: get_weather, "),
    ("get_weather", '{"city": ', "Error: the arguments are not valid JSON (Expecting value: "),
    ("get_weather", '["Paris"]', "Error: the arguments must be one JSON object of the arguments "
                                 "by name, not an array."),
    ("get_weather", '"Paris"', "Error: the arguments must be one JSON object of the arguments "
                               "by name, not a string."),
    ("get_weather", "[" * 100_000 + "]" * 100_000,
     "Error: the arguments could not be read: RecursionError: maximum recursion depth exceeded"),
    ("get_weather", "{}", "Error: the required argument 'city' is missing; get_weather takes: "
                          "city, unit."),
    ("get_weather", '{"city": "Paris", "country": "FR"}',
     "Error: get_weather takes no argument 'country'; it takes: city, unit."),
    ("get_weather", '{"city": 75}', "Error: argument city: expected a string, got an integer"),
    ("get_weather", '{"city": "Paris", "unit": "kelvin"}',
     "Error: argument unit: 'kelvin' is not one of ['celsius', 'fahrenheit']"),
    ("primitives", '{"s": "a", "i": true, "f": 1, "b": true}',
     "Error: argument i: expected an integer, got a boolean"),
    ("literal", '{"mode": "medium"}', "Error: argument mode: 'medium' is not one of ['fast', 'slow']"),
    ("optionals", '{"a": "x"}', "Error: argument a: expected an integer, got a string"),
    ("containers", '{"names": ["a", 2], "scores": {}, "pair": [1, "x"]}',
     "Error: argument names[1]: expected a string, got an integer"),
    ("containers", '{"names": [], "scores": {}, "pair": [1]}',
     "Error: argument pair: expected 2 items, got 1"),
    ("records", '{"route": {"start": {"x": 1, "z": 2}}}',
     "Error: argument route.start: Point has no field 'z' (its fields: x, y)"),
    ("records", '{"route": {"stops": []}}',
     "Error: argument route: the field 'start' of Route is missing"),
    ("positive", '{"value": {"n": -1}}', "Error: argument value: Positive refused it: n must be positive"),
    ("when", '{"day": "tomorrow"}', "Error: argument day: 'tomorrow' is not an ISO 8601 date"),
    ("order", '{"order": {"items": [{"name": "tea", "quantity": "two"}]}}',
     "Error: argument order: items.0.quantity: Input should be a valid integer, unable to parse "
     "string as an integer"),
    ("order", '{"order": {"items": [{"name": "tea", "quantity": 0}]}}',
     "Error: argument order: items.0.quantity: Input should be greater than 0"),
    ("divide", '{"a": 1, "b": 0}', "Error: ZeroDivisionError: float division by zero"),
]


@pytest.mark.parametrize(("name", "arguments", "told"), ERRORS,
                         ids=[f"{i}-{e[0]}" for i, e in enumerate(ERRORS)])
def test_every_failure_is_an_error_result_for_the_model(name: str, arguments: str, told: str) -> None:
    out = BOX.run(name, arguments)
    assert out.error is not None
    assert out.content.startswith(told), out.content
    assert "\n" not in out.content and "Traceback" not in out.content
    assert "https://errors.pydantic.dev" not in out.content
    assert len(out.preview) <= 120 and "\n" not in out.preview
    assert out.line().startswith(f"{name}(") and " → ✗ " in out.line()


def test_an_exception_is_its_type_and_first_message_line_never_a_traceback() -> None:
    def boom(path: str) -> str:
        raise OSError(f"cannot open {path}\n  File \"{__file__}\", line 1\nmore")

    class Mute(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no words")

    def mute() -> None:
        raise Mute

    class Odd(BaseException):
        pass

    def odd() -> None:
        raise Odd("not an Exception")

    box = ToolBox([boom, mute, odd])
    out = box.run("boom", '{"path": "/data/x.csv"}')
    assert out.content == "Error: OSError: cannot open /data/x.csv"
    assert out.error == "OSError: cannot open /data/x.csv"
    assert out.preview == "OSError: cannot open /data/x.csv"
    assert out.line() == f"boom(path='/data/x.csv') → ✗ OSError: cannot open /data/x.csv · {out.seconds:.2f} s"
    assert box.run("mute", "{}").content == "Error: Mute"
    assert box.run("odd", "{}").content == "Error: Odd: not an Exception"


def test_an_interrupt_is_not_swallowed_and_an_exit_is_an_error_result() -> None:
    def interrupted() -> None:
        raise KeyboardInterrupt

    def leaves() -> None:  # argparse on bad input, a click command: sys.exit(2)
        raise SystemExit(3)

    box = ToolBox([interrupted, leaves])
    with pytest.raises(KeyboardInterrupt):
        box.run("interrupted", "{}")
    out = box.run("leaves", "{}")
    assert out.content == "Error: SystemExit: 3" and out.error == "SystemExit: 3"


def returning(name: str, value: Any) -> Any:
    def fn() -> Any:
        return value

    fn.__name__ = name
    return fn


def test_results_are_serialised_by_kind() -> None:
    import pandas as pd

    frame = pd.DataFrame({"city": ["Paris", "Oslo"], "temp": [18, 4]})

    class Opaque:
        def __str__(self) -> str:
            return "<opaque 7>"

    cycle: list[Any] = []
    cycle.append(cycle)
    values: dict[str, Any] = {
        "text": "plain, as is", "none": None, "number": 1.5, "mapping": {"a": [1, 2], "é": True},
        "point": Point(1, 2.0), "model": Item(name="tea", quantity=2), "unit": Unit.CELSIUS,
        "day": datetime.date(2026, 12, 1), "set": {3}, "nested": {"p": Point(3), "when": (1, 2)},
        "frame": frame, "series": frame["temp"], "opaque": Opaque(), "cycle": cycle}
    box = ToolBox([returning(key, value) for key, value in values.items()])
    got = {}
    for key in values:
        out = box.run(key, "{}")
        assert out.error is None, out
        got[key] = out.content
    assert got["text"] == "plain, as is"
    assert got["none"] == "null"
    assert got["number"] == "1.5"
    assert got["mapping"] == '{"a": [1, 2], "é": true}'
    assert got["point"] == '{"x": 1, "y": 2.0}'
    assert got["model"] == '{"name":"tea","quantity":2}'
    assert got["unit"] == '"celsius"'
    assert got["day"] == '"2026-12-01"'
    assert got["set"] == "[3]"
    assert got["nested"] == '{"p": {"x": 3, "y": 0.0}, "when": [1, 2]}'
    assert got["frame"].startswith("DataFrame: 2 rows × 2 columns\ndtypes: city ")
    assert "Paris,18" in got["frame"] and "Oslo,4" in got["frame"]
    assert got["series"].startswith('Series "temp": 2 rows, dtype int64')
    assert got["opaque"] == '"<opaque 7>"'
    assert got["cycle"] == "[[...]]"


def test_a_huge_result_is_capped_with_a_note_and_the_preview_is_one_short_line() -> None:
    def huge() -> str:
        return "line one\n\tand \x1b[31mred\x1b[0m\r\n" + "x" * 50_000

    out = ToolBox([huge]).run("huge", "{}")
    full = huge()
    assert MAX_CHARS == 20_000
    assert out.content == full[:20_000] + f"\n… (truncated: {len(full) - 20_000:,} characters)"
    assert out.content.endswith("… (truncated: 30,028 characters)")
    assert len(out.preview) == 120 and out.preview.endswith("…")
    assert out.preview.startswith("line one and [31mred[0m xxx")  # ESC, CR and TAB gone
    assert "\n" not in out.preview and "\x1b" not in out.preview


def test_the_call_line_is_one_capped_line_even_for_hostile_arguments() -> None:
    out = BOX.run("get_weather", json.dumps({"city": "P\x1b]52;c;aGk=\x07aris\n" + "y" * 300}))
    line = out.line()
    assert "\n" not in line and "\x1b" not in line and "\x07" not in line
    # repr shows the controls as escapes in the call; the preview drops them
    assert line.startswith("get_weather(city='P\\x1b]52;c;aGk=\\x07aris\\nyyy") and "…) → " in line
    assert "in P]52;c;aGk=aris yyy" in line
    bad = BOX.run("get_weather", "{not json\n at all")
    assert bad.arguments is None
    assert bad.line().startswith("get_weather({not json at all) → ✗ the arguments are not valid JSON")


# -- --tools f,g -----------------------------------------------------------------------------


def test_tools_from_names_finds_callables_in_the_namespace_and_modules() -> None:
    namespace = {"get_weather": get_weather, "divide": divide, "np": types.SimpleNamespace(
        linalg=types.SimpleNamespace(norm=abs)), "limit": 3}
    assert tools_from_names("get_weather, divide", namespace) == [get_weather, divide]
    assert tools_from_names("np.linalg.norm,", namespace) == [abs]
    import math

    assert tools_from_names("math.sqrt", namespace) == [math.sqrt]  # importable, not imported
    cases = [
        ("", "--tools names no function: give the names of functions in the notebook"),
        (" , ", "--tools names no function"),
        ("get_wether", "The tool 'get_wether' is not defined in the notebook: run the cell that "
                       "defines it, or fix the name in --tools."),
        ("limit", "The tool 'limit' is a int, not a function"),
        ("np.linalg.nrm", "The tool 'np.linalg.nrm' is not found: np.linalg has no 'nrm'."),
        ("nomodule_xyz.f", "names 'nomodule_xyz', which is neither defined in the notebook nor a "
                           "module"),
    ]
    for spec, message in cases:
        with pytest.raises(ToolError) as caught:
            tools_from_names(spec, namespace)
        assert message in str(caught.value), (spec, str(caught.value))


# -- nothing heavy at import -----------------------------------------------------------------


def test_the_package_imports_no_pydantic_and_a_plain_tool_needs_none() -> None:
    code = textwrap.dedent("""
        import sys
        import edge_jupyter.tools as t
        assert "docstring_parser" not in sys.modules
        def add(a: int, b: int = 1) -> int:
            '''Add.

            Args:
                a: first
            '''
            return a + b
        box = t.ToolBox([add])
        assert box.run("add", '{"a": 2}').content == "3"
        assert box.run("add", '{"a": "2"}').error
        print(sorted(m for m in ("pydantic", "pandas", "IPython", "numpy") if m in sys.modules))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


# -- --confirm-tools: a terminal -------------------------------------------------------------

_CONFIRM = ("from edge_jupyter.tools import can_confirm, confirm_call\n"
            "print(can_confirm(), confirm_call('get_weather', '{\"city\": \"Paris\"}'), flush=True)")


@pytest.mark.parametrize(("given", "answer"), [("y\n", True), ("YES\n", True), ("n\n", False),
                                               ("\n", False), ("", False)])
def test_confirm_call_reads_stdin_and_a_pipe_is_not_someone_to_ask(given: str, answer: bool) -> None:
    done = subprocess.run([sys.executable, "-c", _CONFIRM], input=given, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"Run get_weather(city='Paris')? [y/N] False {answer}\n"


def test_a_terminal_can_confirm() -> None:
    main, child = pty.openpty()
    # stderr too: with a terminal on stdin and stdout, input() writes its prompt to stderr
    proc = subprocess.Popen([sys.executable, "-c", _CONFIRM], stdin=child, stdout=child,
                            stderr=child)
    os.close(child)
    seen = b""
    try:
        seen = _read_until(main, b"[y/N] ")
        os.write(main, b"y\n")
        seen += _read_until(main, b"True True")
        assert proc.wait(timeout=60) == 0, seen
    finally:
        os.close(main)
        if proc.poll() is None:
            proc.kill()
    assert seen.startswith(b"Run get_weather(city='Paris')? [y/N] ")


def _read_until(fd: int, wanted: bytes, timeout: float = 60) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while wanted not in seen:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            raise AssertionError(f"no {wanted!r} from the terminal; got {seen!r}")
        try:
            seen += os.read(fd, 1024)
        except OSError:  # the other end closed
            raise AssertionError(f"the terminal closed before {wanted!r}; got {seen!r}") from None
    return seen


# -- --confirm-tools: a real kernel ----------------------------------------------------------


def _run_with_stdin(kernel: Any, code: str, reply: str | None) -> tuple[str, list[str]]:
    """Run ``code`` with ``allow_stdin`` (``reply`` None: without), answering each
    ``input_request`` with ``reply`` as a frontend does; the stdout text and the prompts."""
    kc = kernel.kc
    msg_id = kc.execute(code, allow_stdin=reply is not None)
    prompts: list[str] = []
    out = ""
    idle = False
    while not idle:
        if reply is not None:
            try:
                request = kc.get_stdin_msg(timeout=0.05)
            except queue.Empty:
                pass
            else:
                prompts.append(request["content"]["prompt"])
                kc.input(reply)
        try:
            m = kc.get_iopub_msg(timeout=0.05)
        except queue.Empty:
            continue
        if m["parent_header"].get("msg_id") != msg_id:
            continue
        if m["msg_type"] == "stream" and m["content"]["name"] == "stdout":
            out += m["content"]["text"]
        elif m["msg_type"] == "error":
            raise AssertionError("\n".join(m["content"]["traceback"]))
        idle = m["msg_type"] == "status" and m["content"]["execution_state"] == "idle"
    return out, prompts


def test_in_a_kernel_the_frontend_is_asked_when_it_allows_stdin(kernel: Any) -> None:
    out, prompts = _run_with_stdin(kernel, _CONFIRM, "y")
    assert prompts == ["Run get_weather(city='Paris')? [y/N] "]
    assert out.strip() == "True True"
    out, prompts = _run_with_stdin(kernel, _CONFIRM, "no")
    assert out.strip() == "True False"
    # nbconvert, papermill: no stdin; nobody is asked and the answer is no
    out, prompts = _run_with_stdin(kernel, _CONFIRM, None)
    assert prompts == [] and out.strip() == "False False"



def test_the_confirm_prompt_shows_the_end_of_long_arguments_and_quotes_odd_names() -> None:
    """A model cannot pad an argument to push what matters past what the person reads."""
    from edge_jupyter.tools._run import CONFIRM_CHARS, call_text

    query = "SELECT name FROM users" + " " * 9_000 + "; DROP TABLE users"
    shown = call_text("run_sql", {"query": query}, cap=CONFIRM_CHARS)
    assert shown.endswith("; DROP TABLE users')") and "characters not shown" in shown
    odd = call_text("f", {"path\n\u202e": 1})
    assert "\n" not in odd and "\u202e" not in odd and "'path\\n\\u202e'=1" in odd
