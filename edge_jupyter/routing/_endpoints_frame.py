"""``%edge models MODEL --endpoints``: the providers serving a model as a DataFrame."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..user_numbers import finite
from ._max_price import _MILLION
from ._no_endpoints import _endpoint_dicts

if TYPE_CHECKING:
    import pandas as pd

_FRAME_COLUMNS = ["provider", "tag", "quantization", "context_length", "max_completion_tokens",
                  "prompt_usd_per_m", "completion_usd_per_m", "uptime_30m", "latency_p50_ms",
                  "throughput_p50", "status", "pricing", "price"]


def _pricing_word(raw: Any) -> str:
    """"per token", or "variable" for OpenRouter's "-1", or "unknown" for a missing or broken price."""
    from ..openrouter import Pricing

    pricing = Pricing.from_json(dict(raw) if isinstance(raw, Mapping) else {})
    return "per token" if pricing.known else "variable" if pricing.is_variable else "unknown"


def endpoints_frame(endpoints_json: Any) -> pd.DataFrame:
    """The providers serving a model as a DataFrame, prices in USD per million tokens.

    Columns: provider, tag (what ``--provider``/``--only`` accept), quantization, context
    and completion limits, prompt/completion price, uptime over 30 minutes (%), median
    latency (ms, time to first token) and throughput (tokens/s), and OpenRouter's status
    code (0 = normal), and ``pricing``: "per token", or "variable" where OpenRouter gives
    ``"-1"`` (the price columns are then empty, never -1,000,000). Missing values stay missing: OpenRouter omits stats for
    unauthenticated calls. ``frame.attrs["model"]`` holds the model id.
    """
    import pandas as pd

    from ..openrouter import Pricing  # here, not at import: openrouter loads httpx
    from ..pricing_sheet import price_text

    model, rows = _endpoint_dicts(endpoints_json)

    def per_m(value: Any) -> float | None:
        # "-1" is OpenRouter's variable price: no number (the ``pricing`` column says so).
        # Checked as every server price is; multiplied as a Decimal so "0.0000015" is 1.5, exactly.
        if finite(value, low=0, text=True) is None:
            return None
        return float(Decimal(str(value)) * _MILLION)

    def p50(stats: Any) -> float | None:
        return stats.get("p50") if isinstance(stats, Mapping) else None

    records = []
    for r in rows:
        pricing = r.get("pricing") or {}
        records.append({
            "provider": r.get("provider_name"), "tag": r.get("tag"),
            "quantization": r.get("quantization"), "context_length": r.get("context_length"),
            "max_completion_tokens": r.get("max_completion_tokens"),
            "prompt_usd_per_m": per_m(pricing.get("prompt")),
            "completion_usd_per_m": per_m(pricing.get("completion")),
            "uptime_30m": r.get("uptime_last_30m"), "latency_p50_ms": p50(r.get("latency_last_30m")),
            "throughput_p50": p50(r.get("throughput_last_30m")), "status": r.get("status"),
            "pricing": _pricing_word(pricing),
            # the whole sheet in words: a tier, a window, a discount, "variable (bound it …)"
            "price": price_text(Pricing.from_json(pricing if isinstance(pricing, dict) else {})),
        })
    frame = pd.DataFrame(records, columns=_FRAME_COLUMNS)
    frame = frame.astype({"context_length": "Int64", "max_completion_tokens": "Int64", "status": "Int64",
                          "prompt_usd_per_m": "float64", "completion_usd_per_m": "float64",
                          "uptime_30m": "float64", "latency_p50_ms": "float64", "throughput_p50": "float64"})
    frame.attrs["model"] = model
    return frame
