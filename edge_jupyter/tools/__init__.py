"""Python functions as tools a model can call (OpenRouter function calling).

- :func:`function_tool` (``_schema``): a callable → its ``ChatFunctionTool`` (name, the
  docstring's words, the JSON Schema of its parameters from the signature and type hints);
- :class:`ToolBox` / :class:`ToolOutcome` (``_run``): the request's ``tools`` and the safe
  running of each call the model makes — every failure is an error result sent back to the
  model, never an exception (an interrupt excepted);
- ``_convert``: a JSON argument → the value the hint asks for (dataclass, Enum, pydantic
  model…), or the reason it does not fit;
- ``_result``: the returned value → the tool message's text (capped), and its one-line preview;
- :func:`can_confirm` / :func:`confirm_call` (``_confirm``): ``--confirm-tools``;
- :func:`tools_from_names`: ``--tools f,g`` → the callables of the notebook's namespace;
- ``_errors``: :class:`ToolError`, a function that cannot be a tool.

Nothing heavy is imported: pydantic only when a hint or a result is a pydantic model (then it
was imported already), docstring_parser when a tool is made, pandas never.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

from ._confirm import can_confirm, confirm_call
from ._errors import ToolError
from ._result import MAX_CHARS
from ._run import ToolBox, ToolOutcome, call_text
from ._schema import function_tool

__all__ = ["MAX_CHARS", "ToolBox", "ToolError", "ToolOutcome", "call_text", "can_confirm",
           "confirm_call", "function_tool", "tools_from_names"]


def tools_from_names(spec: str, namespace: Mapping[str, Any]) -> list[Callable[..., Any]]:
    """``"f,g"`` or ``"mod.f"`` → the callables those names hold in ``namespace`` (a dotted
    name's first part may also be an importable module: ``math.sqrt``); raises
    :class:`ToolError` naming the first name that holds nothing callable."""
    names = [n.strip() for n in spec.split(",") if n.strip()]
    if not names:
        raise ToolError("--tools names no function: give the names of functions in the "
                        "notebook, separated by commas (--tools get_weather,convert).")
    found: list[Callable[..., Any]] = []
    for name in names:
        value = _lookup(name, namespace)
        if not callable(value):
            raise ToolError(f"The tool {name!r} is a {type(value).__name__}, not a function: "
                            "--tools takes the names of functions (or other callables).")
        found.append(value)
    return found


def _lookup(name: str, namespace: Mapping[str, Any]) -> Any:
    head, *rest = name.split(".")
    if head in namespace:
        value = namespace[head]
    elif rest:
        try:
            value = importlib.import_module(head)
        except ImportError:
            raise ToolError(f"The tool {name!r} names {head!r}, which is neither defined in the "
                            "notebook nor a module: run the cell that defines it, or fix the "
                            "name.") from None
    else:
        raise ToolError(f"The tool {name!r} is not defined in the notebook: run the cell that "
                        "defines it, or fix the name in --tools.")
    for i, part in enumerate(rest):
        try:
            value = getattr(value, part)
        except AttributeError:
            where = ".".join([head, *rest[:i]])
            raise ToolError(f"The tool {name!r} is not found: {where} has no {part!r}.") from None
    return value
