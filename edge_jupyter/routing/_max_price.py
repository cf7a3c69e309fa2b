"""``max_price``: the highest price accepted, in USD per million tokens (``--max-price``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ..money import exact_usd
from ..user_numbers import USD_PER_M, NumberError
from ._errors import RoutingError

_MILLION = Decimal(1_000_000)


def _usd(text: str, what: str) -> Decimal:
    """One price, checked by the rule every USD figure a user types is checked by (finite,
    not negative: ``nan`` and ``1e999`` are refused), then kept exact as a Decimal."""
    try:
        USD_PER_M.read(text, f"{what} price")
    except NumberError as exc:
        raise RoutingError(f"--max-price: {exc}.") from None
    return Decimal(USD_PER_M.cleaned(text))


def _plain(value: Decimal) -> str:
    """``Decimal("1.50")`` -> ``"1.5"``; never exponent notation (``1E+2``)."""
    return format(value.normalize(), "f")


@dataclass(frozen=True)
class MaxPrice:
    """Highest price accepted, in USD per **million** tokens (as the spec's ``max_price`` says)."""

    prompt: Decimal | None = None
    completion: Decimal | None = None

    def to_object(self) -> dict[str, str]:
        """The ``max_price`` object. The spec types its members as strings (the docs show
        numbers and OpenRouter takes both); strings keep the request schema-valid and exact."""
        out: dict[str, str] = {}
        if self.prompt is not None:
            out["prompt"] = _plain(self.prompt)
        if self.completion is not None:
            out["completion"] = _plain(self.completion)
        return out

    @classmethod
    def from_object(cls, data: Any) -> MaxPrice:
        """Read ``{"prompt": "1", "completion": 2}`` (strings or numbers)."""
        if not isinstance(data, Mapping):
            raise RoutingError("max_price must be an object with prompt and/or completion.")
        values = {k: _usd(str(data[k]), k) for k in ("prompt", "completion") if data.get(k) is not None}
        if not values:
            raise RoutingError("max_price needs a prompt and/or a completion price.")
        return cls(**values)

    def flag(self) -> str:
        """The ``--max-price`` argument that gives this value back."""
        p = _plain(self.prompt) if self.prompt is not None else ""
        c = _plain(self.completion) if self.completion is not None else ""
        return f"{p}/{c}"

    def describe(self) -> str:
        parts = []
        if self.prompt is not None:
            parts.append(f"{exact_usd(self.prompt)}/M prompt")
        if self.completion is not None:
            parts.append(f"{exact_usd(self.completion)}/M completion")
        return "at most " + " and ".join(parts)

    def admits(self, prompt_per_token: Decimal, completion_per_token: Decimal) -> bool:
        """Is an endpoint with these per-token prices within the limit?"""
        if self.prompt is not None and prompt_per_token * _MILLION > self.prompt:
            return False
        return not (self.completion is not None and completion_per_token * _MILLION > self.completion)


def parse_max_price(text: str) -> MaxPrice:
    """``"1/2"`` -> $1/M prompt, $2/M completion; ``"1/"`` prompt only; ``"/2"`` completion only.

    A single number is refused rather than guessed: prompt and completion prices differ
    by 4-5x for most models, so "1" alone would silently mean very different things.
    """
    if "/" not in text:
        raise RoutingError(f"--max-price {text!r}: give PROMPT/COMPLETION in USD per million tokens, "
                           "e.g. 1/2 (or 1/ for prompt only, /2 for completion only).")
    prompt, _, completion = text.partition("/")
    if "/" in completion:
        raise RoutingError(f"--max-price {text!r}: give exactly PROMPT/COMPLETION, e.g. 1/2.")
    values: dict[str, Decimal] = {}
    if prompt.strip():
        values["prompt"] = _usd(prompt, "prompt")
    if completion.strip():
        values["completion"] = _usd(completion, "completion")
    if not values:
        raise RoutingError("--max-price needs at least one price, e.g. 1/2.")
    return MaxPrice(**values)
