"""``{expression}`` interpolation of a prompt, like an f-string; ``{{`` is a literal brace.

The result is a :class:`~edge_jupyter.content.Prompt`: the literal text and each ``{expr}``
in the order written. A value becomes what :func:`~edge_jupyter.content.to_piece` makes of
it: a figure, an image or a PDF an attachment at that place in the message, a DataFrame a
compact table (capped), anything else its text as before. ``!r``/``!s``/``!a`` and format
specs (``{x:.2f}``) still give text, exactly as an f-string would; the spec ``full``
(``{df:full}``) sends a DataFrame or Series whole, uncapped.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping
from typing import Any

from ..content import FULL_SPEC, AttachmentError, Piece, Prompt, full_syntax_hint, to_piece
from ..errors import EdgeError


class InterpolationError(EdgeError):
    """A ``{…}`` that cannot be filled; the message names it and says what to do."""


_formatter = string.Formatter()
_CONVERSIONS: dict[str, Callable[[Any], str]] = {"r": repr, "s": str, "a": ascii}


def _parse(template: str) -> list[tuple[str, str | None, str | None, str | None]]:
    try:
        return list(_formatter.parse(template))
    except ValueError as exc:
        hint = full_syntax_hint(template)
        if hint is not None:
            raise InterpolationError(hint) from None
        raise InterpolationError(
            f"The prompt has an unmatched brace ({exc}). Write {{{{ or }}}} for a literal brace.") from None


def interpolate(template: str, namespace: Mapping[str, Any]) -> Prompt:
    """Fill every ``{expr}`` (with ``!r``/``!s``/``!a`` and ``:spec`` as in f-strings)."""
    pieces: list[Piece] = []
    scope: dict[str, Any] | None = None  # the namespace copied once, when a field needs it
    for literal, field, spec, conversion in _parse(template):
        pieces.append(literal)
        if field is None:
            continue
        expression = field.strip()
        if not expression:
            raise InterpolationError("The prompt has an empty {}. Write {{}} for literal braces.")
        if conversion is not None and conversion not in _CONVERSIONS:
            raise InterpolationError(
                f"{{{expression}!{conversion}}}: unknown conversion; use !r, !s or !a "
                f"(or {{{expression}:full}} to send a table whole).")
        if scope is None:
            scope = dict(namespace)
        try:
            value = eval(expression, {"__builtins__": __builtins__}, scope)
        except NameError as exc:
            name = getattr(exc, "name", None) or str(exc)
            raise InterpolationError(
                f"{{{expression}}}: name {name!r} is not defined. Define it in a cell above, "
                f"or write {{{{{expression}}}}} to keep the braces.") from None
        except Exception as exc:
            raise InterpolationError(
                f"{{{expression}}} could not be evaluated: {type(exc).__name__}: {exc}") from None
        pieces.append(_piece(expression, value, spec or "", conversion))
    return Prompt.of(pieces)


def _piece(expression: str, value: Any, spec: str, conversion: str | None) -> Piece:
    """One field's piece: text for a conversion or a format spec, else what the value is."""
    if conversion is not None or (spec and spec != FULL_SPEC):
        if conversion is not None:
            value = _CONVERSIONS[conversion](value)
        try:
            return format(value, spec)
        except (TypeError, ValueError) as exc:
            raise InterpolationError(f"{{{expression}:{spec}}}: {exc}") from None
    try:
        return to_piece(value, full=spec == FULL_SPEC)
    except AttachmentError as exc:  # "{scan}: No such file…", "{plt.gcf()}: The figure is empty…"
        raise AttachmentError(f"{{{expression}}}: {exc}") from None
    except EdgeError:
        raise
    except Exception as exc:  # a figure that cannot be drawn, a table that cannot be read
        raise InterpolationError(
            f"{{{expression}}} could not be put into the prompt: {type(exc).__name__}: {exc}") from None
