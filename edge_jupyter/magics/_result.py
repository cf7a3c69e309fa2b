"""``_edge``: the result of a call, with the usage ledger's field names."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..money import exact_usd
from ..record import CallRecord


@dataclass(repr=False)
class EdgeResult(CallRecord):
    """One model's answer and its figures.  ``str(result)`` is the answer's text;
    ``value`` is what the chosen format made of it (parsed JSON, extracted code…)."""

    value: Any = None

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        preview = self.text if len(self.text) <= 60 else self.text[:57] + "…"
        return (f"EdgeResult(model={self.model!r}, status={self.status!r}, "
                f"cost_usd={exact_usd(self.cost_usd)}, completion_tokens={self.completion_tokens}, "
                f"text={preview!r})")

    def _repr_markdown_(self) -> str:
        return self.text
