"""What a function returned → the text of the tool message the model reads, and one line of it.

``str`` as it is; ``None`` → ``null``; a pydantic model → ``model_dump_json()``; a dataclass,
an Enum, a tuple or set, a date → JSON; a pandas DataFrame or Series → the same CSV text a
``{df}`` in a prompt becomes (``edge_jupyter.content.to_piece``: shape, dtypes, the first and
last rows); anything else → ``json.dumps(default=str)``.  Capped at :data:`MAX_CHARS` with a
note saying how much was left out, so one huge result cannot fill the context (and the bill).
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import json
import sys
from typing import Any

from ..untrusted_text import strip_controls

#: the most characters of one result sent back to the model
MAX_CHARS = 20_000
#: the most characters of :func:`preview`
PREVIEW_CHARS = 120


def result_text(value: Any) -> str:
    """``value`` as the tool message's content (uncapped; :func:`capped` cuts it)."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if _is_pydantic(value):
        return value.model_dump_json()
    if _is_table(value):
        from ..content import to_piece

        return str(to_piece(value))
    try:
        return json.dumps(value, default=_plain, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):  # a cycle, a NaN key: its str() still says
        return _safe_str(value)


def capped(text: str, limit: int = MAX_CHARS) -> str:
    """``text``, or its first ``limit`` characters and "… (truncated: N characters)"."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n… (truncated: {len(text) - limit:,} characters)"


def preview(text: str, limit: int = PREVIEW_CHARS) -> str:
    """One line of at most ``limit`` characters: whitespace runs become one space, control
    characters go (a model's text reaches a terminal), a cut ends with "…"."""
    line = " ".join(strip_controls(text).split())
    return line if len(line) <= limit else line[:limit - 1].rstrip() + "…"


def _plain(value: Any) -> Any:
    """``json.dumps``'s ``default``: the Python values JSON has no word for."""
    if _is_pydantic(value):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if _is_table(value):
        return value.to_dict(orient="list") if hasattr(value, "columns") else value.tolist()
    return _safe_str(value)


def _is_pydantic(value: Any) -> bool:
    if sys.modules.get("pydantic") is None:
        return False
    from pydantic import BaseModel

    return isinstance(value, BaseModel)


def _is_table(value: Any) -> bool:
    """A pandas DataFrame or Series, known without importing pandas."""
    return type(value).__module__.startswith("pandas") and type(value).__name__ in (
        "DataFrame", "Series")


def _safe_str(value: Any) -> str:
    try:
        return str(value)
    except Exception as exc:  # a __str__ that raises must not lose the whole result
        return f"<{type(value).__name__} object: str() failed with {type(exc).__name__}>"
