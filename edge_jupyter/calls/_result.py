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
    #: for a replayed answer: what the original call cost
    saved_usd: float | None = None
    #: the participant's own options ("temperature=0.2, provider=azure"), if any
    options: str = ""

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        preview = self.text if len(self.text) <= 60 else self.text[:57] + "…"
        return (f"EdgeResult(model={self.model!r}, status={self.status!r}, "
                f"cost_usd={exact_usd(self.cost_usd)}, completion_tokens={self.completion_tokens}, "
                f"text={preview!r})")

    def _repr_html_(self) -> str:
        # Not _repr_markdown_: the frontend would render raw HTML in the answer (see _render).
        from ..untrusted_text import markdown_to_safe_html

        return markdown_to_safe_html(self.text)


class EdgeResults(list):
    """The results of a cell that asked several models: a list of :class:`EdgeResult`,
    plus ``comparison``, the same figures side by side as a DataFrame."""

    @property
    def comparison(self) -> Any:
        import pandas as pd

        rows = [{"model": r.model, "options": r.options, "provider": r.provider, "status": r.status,
                 "cost_usd": r.cost_usd, "upstream_cost_usd": r.upstream_cost_usd,
                 "is_byok": r.is_byok, "prompt_tokens": r.prompt_tokens,
                 "completion_tokens": r.completion_tokens, "reasoning_tokens": r.reasoning_tokens,
                 "ttft_s": r.ttft_s, "tokens_per_s": r.tokens_per_second(), "latency_s": r.latency_s,
                 "finish_reason": r.finish_reason} for r in self]
        return pd.DataFrame(rows).set_index("model")

    # OpenRouter credits (cost_usd) and the provider's own bill for BYOK calls
    # (upstream_cost_usd) are different bills: the columns are kept apart, never summed.
