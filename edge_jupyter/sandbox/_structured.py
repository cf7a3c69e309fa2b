"""``response_format`` ``json_schema`` answers for the sandbox (standard library only).

A request that asks for a JSON Schema is answered with the *smallest* JSON value that fits
it, built deterministically from the schema (types, ``required``, ``enum``/``const``,
``minItems``, ``minLength``, ``minimum``, nested objects, ``$ref`` into ``$defs``,
``anyOf``): a client's validation is tested against a real, valid answer. ``[sandbox:echo]``
still wins, so a test can send the exact JSON it wants (valid or not).

For ``_chat.plan_chat`` (:func:`answer_tokens_for`: the answer's tokens) and for an
``invalid_json`` fault (:func:`faulty_tokens`: the answer broken, cut short with text after
it; repaired instead when the ``response-healing`` plugin is on, as OpenRouter documents it).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ._errors import ApiError
from ._text import is_echo, tokens_of

FORMAT_TYPES = ("text", "json_object", "json_schema", "grammar", "python")
HEALING = "response-healing"


def _bad(where: str, detail: str) -> ApiError:
    return ApiError(400, f"Invalid request parameters: {where}: {detail}")


def requested_schema(body: Mapping[str, Any]) -> dict[str, Any] | None:
    """The JSON Schema a body asks for (``{}`` for ``json_object``), None for plain text;
    a malformed ``response_format`` is a 400 (``ChatFormatJsonSchemaConfig``)."""
    fmt = body.get("response_format")
    if fmt is None:
        return None
    if not isinstance(fmt, Mapping) or fmt.get("type") not in FORMAT_TYPES:
        raise _bad("response_format.type", f"expected one of {', '.join(FORMAT_TYPES)}")
    if fmt["type"] == "json_object":
        return {}
    if fmt["type"] != "json_schema":
        return None
    config = fmt.get("json_schema")
    if not isinstance(config, Mapping):
        raise _bad("response_format.json_schema", "required, an object")
    name = config.get("name")
    if not isinstance(name, str) or not name or len(name) > 64:
        raise _bad("response_format.json_schema.name", "a string of 1 to 64 characters")
    if "strict" in config and not isinstance(config["strict"], bool | None):
        raise _bad("response_format.json_schema.strict", "a boolean")
    schema = config.get("schema", {})
    if not isinstance(schema, Mapping):
        raise _bad("response_format.json_schema.schema", "a JSON Schema object")
    return dict(schema)


def heals(body: Mapping[str, Any]) -> bool:
    """Does the body turn on the response-healing plugin (``enabled`` defaults to true)?"""
    plugins = body.get("plugins")
    return isinstance(plugins, list) and any(
        isinstance(p, Mapping) and p.get("id") == HEALING and p.get("enabled", True) is not False
        for p in plugins)


def minimal_instance(schema: Mapping[str, Any], defs: Mapping[str, Any] | None = None,
                     depth: int = 0) -> Any:
    """The smallest value that fits ``schema`` (deterministic)."""
    defs = schema.get("$defs", {}) if defs is None else defs
    if depth > 32:  # a schema that refers to itself forever: stop with the smallest thing
        return None
    if "$ref" in schema:
        target = defs.get(str(schema["$ref"]).rsplit("/", 1)[-1], {})
        return minimal_instance(target, defs, depth + 1)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            # the first non-null option: a nullable field still gets a real value
            chosen = next((o for o in options if o.get("type") != "null"), options[0])
            return minimal_instance(chosen, defs, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "string"
    if kind == "object":
        props = schema.get("properties") or {}
        required = schema.get("required")
        keys = list(props) if required is None and schema.get("additionalProperties") is False \
            else [k for k in (required or []) if k in props]
        return {k: minimal_instance(props[k], defs, depth + 1) for k in keys}
    if kind == "array":
        items = schema.get("items")
        items = items if isinstance(items, Mapping) else {}
        return [minimal_instance(items, defs, depth + 1)
                for _ in range(int(schema.get("minItems", 0) or 0))]
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum"))
        value = 0 if low is None else low + (1 if "exclusiveMinimum" in schema else 0)
        return int(value) if kind == "integer" else float(value)
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    return "x" * int(schema.get("minLength", 0) or 0) if schema.get("minLength") else "sandbox"


def structured_answer(body: Mapping[str, Any]) -> str | None:
    """The answer text for a body that asks for JSON (None: it does not). Compact JSON."""
    schema = requested_schema(body)
    if schema is None:
        return None
    value = minimal_instance(schema) if schema else {}
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def answer_tokens_for(body: Mapping[str, Any], messages: list[dict[str, Any]]
                      ) -> list[str] | None:
    """The tokens of a JSON-Schema answer for ``plan_chat`` (None: not asked for JSON, or
    ``[sandbox:echo]`` given, which wins: the usual answer then)."""
    if is_echo(messages):
        requested_schema(body)  # still a 400 when malformed
        return None
    text = structured_answer(body)
    return None if text is None else tokens_of(text)


def faulty_tokens(body: Mapping[str, Any], content: list[str]) -> list[str]:
    """The ``invalid_json`` fault applied to a planned answer: broken JSON, or, with the
    response-healing plugin on, the answer repaired (the plugin's documented job)."""
    bad = broken("".join(content))
    return tokens_of(healed(bad) if heals(body) else bad)


def broken(text: str) -> str:
    """``text`` made invalid JSON, as a model that lost its way: cut short, chatter after."""
    return text[:-1] + " — and that is all." if text else "{"


def healed(text: str) -> str:
    """What the response-healing plugin makes of a broken answer: the JSON value it starts
    with, completed (closing brackets) when it was cut short."""
    start = min((i for i in (text.find("{"), text.find("[")) if i >= 0), default=-1)
    if start < 0:
        return text
    decoder = json.JSONDecoder()
    try:
        value, _ = decoder.raw_decode(text, start)
        return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    except ValueError:
        pass
    closing = {"{": "}", "[": "]"}
    stack: list[str] = []
    in_string = escaped = False
    cut = start
    for i, ch in enumerate(text[start:], start):
        if in_string:
            escaped = not escaped and ch == "\\"
            if ch == '"' and not escaped:
                in_string = False
            continue
        if ch == '"':
            in_string = True
        elif ch in closing:
            stack.append(closing[ch])
        elif ch in "}]":
            if not stack:
                break
            stack.pop()
        elif ch not in " \t\r\n,:-.0123456789eEtruefalsn":
            break
        cut = i + 1
    candidate = text[start:cut].rstrip(" ,:") + "".join(reversed(stack))
    try:
        return json.dumps(json.loads(candidate), ensure_ascii=False, separators=(", ", ": "))
    except ValueError:
        return text
