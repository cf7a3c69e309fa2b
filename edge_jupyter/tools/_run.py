"""Running one tool call a model asked for, safely: :class:`ToolBox` and :class:`ToolOutcome`.

``ToolBox.run`` never raises (``KeyboardInterrupt`` excepted: an interrupt stops the loop,
which keeps everything done so far; a function that calls ``sys.exit`` — argparse on bad
input — is an error result like any other, not the end of the cell).  Whatever goes wrong becomes an error
*result*, sent back to the model as the tool message so it can correct itself:

- a name that is no tool → "Error: there is no tool named 'x'; the tools are: f, g."
- arguments that are not JSON, or not a JSON object → "Error: the arguments are not valid
  JSON (…); send one JSON object of the arguments."
- a required argument missing, or one the function does not take → which, and what it takes;
- an argument of the wrong type, a dataclass that does not fit, a pydantic
  ``ValidationError`` → "Error: argument 'order': quantity: Input should be a valid integer";
- an exception inside the function → "Error: ZeroDivisionError: division by zero" — the
  traceback's last line only, never a traceback (it would show the model the notebook's file
  paths and code).
"""

from __future__ import annotations

import inspect
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..structured import json_kind
from ..untrusted_text import strip_controls
from ._convert import convert
from ._errors import ToolError
from ._result import capped, preview, result_text
from ._schema import Tool, read_tool

#: the most characters of the arguments shown in :meth:`ToolOutcome.line`
ARGUMENTS_CHARS = 80
#: ``--confirm-tools`` shows the arguments whole up to this: a model could otherwise pad the
#: visible part and hide what matters (``…; DROP TABLE users``) past a short cap
CONFIRM_CHARS = 4_000


@dataclass
class ToolOutcome:
    """One tool call and what came of it (the loop sends ``content``; a view shows ``line()``)."""

    call_id: str
    name: str
    arguments_text: str  # as the model sent it
    arguments: dict[str, Any] | None  # parsed; None when it was not a JSON object
    content: str  # the tool message's content: the result's text, or "Error: …"
    preview: str  # one line, ≤ 120 characters, of the result (or the error)
    error: str | None  # "ZeroDivisionError: division by zero"; None when the function returned
    seconds: float
    #: the function returned a str (``line()`` quotes it, as Python would show it)
    returned_text: bool = False

    def line(self) -> str:
        """``get_weather(city='Paris') → '18°C, sunny' · 0.20 s`` (``→ ✗ …`` for an error)."""
        shown = f"✗ {self.preview}" if self.error is not None else (
            repr(self.preview) if self.returned_text else self.preview)
        return f"{call_text(self.name, self.arguments, self.arguments_text)} → {shown} · " \
               f"{self.seconds:.2f} s"


def call_text(name: str, arguments: dict[str, Any] | None, arguments_text: str = "", *,
              cap: int = ARGUMENTS_CHARS) -> str:
    """``get_weather(city='Paris')``: a call as Python would write it, one line, capped at
    ``cap`` characters of arguments, saying how many more there are (the model chose every
    character of it: control characters go)."""
    if arguments is None:
        inner = " ".join(arguments_text.split())
    else:  # a name that is not an identifier (a **kwargs function's) is quoted, as a value is
        inner = ", ".join(f"{k if k.isidentifier() else repr(k)}={v!r}" for k, v in arguments.items())
    inner = strip_controls(inner)
    if len(inner) > cap:
        if cap == ARGUMENTS_CHARS:  # a preview
            inner = inner[:cap - 1] + "…"
        else:  # asking before a call: its start and its end, so nothing decisive is hidden
            half = cap // 2
            inner = (f"{inner[:half]} … ({len(inner) - 2 * half:,} characters not shown) … "
                     f"{inner[-half:]}")
    return f"{strip_controls(name)}({inner})"


class ToolBox:
    """The functions offered to a model: their ``specs`` (the request's ``tools``) and
    :meth:`run` for each call it makes."""

    def __init__(self, functions: Sequence[Callable[..., Any]]) -> None:
        tools: dict[str, Tool] = {}
        for fn in functions:
            tool = read_tool(fn)
            if tool.name in tools:
                raise ToolError(f"Two tools are named {tool.name!r}: a model calls tools by "
                                "name, so each needs its own (rename one, or wrap it in a def).")
            tools[tool.name] = tool
        self._tools = tools
        self.specs: list[dict[str, Any]] = [t.spec for t in tools.values()]
        self.names: tuple[str, ...] = tuple(tools)

    def __len__(self) -> int:
        return len(self._tools)

    def run(self, name: str, arguments: str, call_id: str = "") -> ToolOutcome:
        """Run the model's call of ``name`` with the JSON ``arguments``; never raises but
        ``KeyboardInterrupt`` — every failure (``SystemExit`` included) is an error result."""
        started = time.perf_counter()
        parsed: dict[str, Any] | None = None
        try:
            parsed, problem = _parse(arguments)  # first: the line shows them even then
            tool = self._tools.get(name)
            if tool is None:
                return self._failed(call_id, name, arguments, parsed, started,
                                    f"unknown tool {name!r}",
                                    f"there is no tool named {name!r}; the tools are: "
                                    f"{', '.join(self.names) or 'none'}.")
            if problem:
                return self._failed(call_id, name, arguments, parsed, started, problem, problem)
            assert parsed is not None
            args, kwargs, problem = _bind(tool, parsed)
            if problem:
                return self._failed(call_id, name, arguments, parsed, started, problem, problem)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # a hint's own code failing (a dataclass's __post_init__)
            reason = exception_line(exc)
            return self._failed(call_id, name, arguments, parsed, started, reason,
                                f"the arguments could not be read: {reason}")
        try:
            value = _call(tool, args, kwargs)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # the function's own failure: the model is told, not us
            reason = exception_line(exc)
            return self._failed(call_id, name, arguments, parsed, started, reason, reason)
        seconds = time.perf_counter() - started
        try:
            text = result_text(value)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # a model_dump_json or to_csv that raises
            reason = f"the result could not be turned into text: {exception_line(exc)}"
            return self._failed(call_id, name, arguments, parsed, started, reason, reason)
        return ToolOutcome(call_id, name, arguments, parsed, capped(text), preview(text), None,
                           seconds, isinstance(value, str))

    @staticmethod
    def _failed(call_id: str, name: str, arguments: str, parsed: dict[str, Any] | None,
                started: float, error: str, told: str) -> ToolOutcome:
        content = capped(f"Error: {told}")
        return ToolOutcome(call_id, name, arguments, parsed, content, preview(error), error,
                           time.perf_counter() - started)


def exception_line(exc: BaseException) -> str:
    """``ZeroDivisionError: division by zero``: the traceback's last line, first line of the
    message only (a message can be pages long, or hold paths)."""
    try:
        message = str(exc).strip()
    except Exception:  # a __str__ that raises
        message = ""
    first = message.splitlines()[0] if message else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _parse(arguments: str) -> tuple[dict[str, Any] | None, str]:
    """The arguments as a dict, or a reason to send back."""
    text = arguments.strip() if isinstance(arguments, str) else arguments
    if text == "" or text is None:
        return {}, ""  # some models send "" for a call without arguments
    try:
        value = json.loads(text)
    except (TypeError, ValueError) as exc:
        return None, (f"the arguments are not valid JSON ({exc}); send one JSON object of the "
                      "arguments.")
    if isinstance(value, str) and value.strip().startswith("{"):
        try:  # encoded twice ("{\"city\": …}" as a JSON string), as some models send them
            value = json.loads(value)
        except ValueError:
            pass
    if not isinstance(value, dict):
        return None, (f"the arguments must be one JSON object of the arguments by name, not "
                      f"{json_kind(value)}.")
    return value, ""


def _bind(tool: Tool, given: dict[str, Any]) -> tuple[list[Any], dict[str, Any], str]:
    """Positional and keyword arguments for ``tool.fn``, or a reason to send back."""
    takes = ", ".join(tool.param_names) or "no arguments"
    unknown = [k for k in given if k not in tool.param_names]
    if unknown:
        return [], {}, (f"{tool.name} takes no argument {unknown[0]!r}; it takes: {takes}.")
    missing = [p.name for p in tool.params if p.required and p.name not in given]
    if missing:
        return [], {}, (f"the required argument {missing[0]!r} is missing; {tool.name} "
                        f"takes: {takes}.")
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for p in tool.params:
        if p.name not in given:
            if p.positional_only:
                args.append(p.default)  # a later positional-only argument needs its place
            continue
        try:
            value = convert(p.hint, given[p.name], p.name)
        except ValueError as exc:
            return [], {}, f"argument {exc}"
        if p.positional_only:
            args.append(value)
        else:
            kwargs[p.name] = value
    return args, kwargs, ""


def _call(tool: Tool, args: list[Any], kwargs: dict[str, Any]) -> Any:
    value = tool.fn(*args, **kwargs)
    if tool.is_async or inspect.iscoroutine(value):
        return _await(value)
    return value


def _await(coroutine: Any) -> Any:
    """An ``async def`` tool's result: awaited on its own event loop in a thread, since the
    kernel's loop is running in this one (``asyncio.run`` here would refuse)."""
    import asyncio  # here: ~80 ms to import cold (the CLI), and only async tools need it

    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["value"] = asyncio.run(coroutine)
        except BaseException as exc:  # handed to the caller's thread, raised there
            box["error"] = exc

    thread = threading.Thread(target=work, daemon=True, name="edge-tool")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")
