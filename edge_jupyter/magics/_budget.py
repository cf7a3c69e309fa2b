"""Money checks around a call: low-balance alert before, budget reservation, stream guard."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import balance, preferences
from ..money import short_usd
from ..openrouter import ModelInfo, OpenRouterClient, OpenRouterError
from ..record import CallRecord
from . import _recorder
from ._errors import EdgeCellError

TOP_UP = "https://openrouter.ai/settings/credits"


def low_balance_warnings(client: OpenRouterClient) -> list[str]:
    """A warning shown above the answer when what is left is under the alert threshold."""
    threshold = preferences.load().alert_threshold_usd
    if threshold <= 0:
        return []
    try:
        bal = balance.get(client)
    except Exception:
        return []
    remaining = bal.remaining
    if remaining is None or remaining >= threshold:
        return []
    return [f"Low balance: {short_usd(remaining)} left on your {bal.remaining_source}, under your "
            f"alert threshold of {short_usd(threshold)}. Top up at {TOP_UP} "
            "(or change the alert with `%edge alert USD`)."]


def refresh_balance_later(client: OpenRouterClient) -> None:
    balance.refresh_in_background(client)


@dataclass
class PreCall:
    row_id: int
    guard: Any = None  # a ledger StreamGuard when a budget applies
    worst_case_usd: float = 0.0


def _model_info(client: OpenRouterClient, model: str) -> ModelInfo | None:
    try:
        models = client.models()
    except OpenRouterError:
        return None
    base = model.split(":", 1)[0]
    for info in models:
        if info.id == model:
            return info
    for info in models:
        if info.id.split(":", 1)[0] == base:
            return info
    return None


def pre_call(client: OpenRouterClient, model: str, body: dict[str, Any], cell_budget: float | None,
             record: CallRecord) -> PreCall:
    """Write the pending row; when limits apply, reserve the worst case first or refuse.

    The reservation is made inside one ledger transaction, so cells and kernels running
    at the same time see each other's worst cases and cannot overspend together.
    """
    from ..ledger import (
        BudgetExceeded,
        Limit,
        StreamGuard,
        completion_ceiling,
        estimate_prompt_tokens,
        worst_case_cost,
    )

    prefs = preferences.load()
    limits = [Limit(scope, float(usd)) for scope, usd in prefs.budgets.items() if usd is not None]
    if cell_budget is not None:
        limits.append(Limit("cell", cell_budget))
    if not limits:
        return PreCall(_recorder.begin(record))
    info = _model_info(client, model)
    if info is None:
        # Unknown here: the request will fail with OpenRouter's own message (and cost nothing).
        return PreCall(_recorder.begin(record))
    prompt_tokens = estimate_prompt_tokens(body["messages"])
    ceiling = completion_ceiling(body.get("max_tokens"), prompt_tokens=prompt_tokens,
                                 context_length=info.context_length,
                                 max_completion_tokens=info.max_completion_tokens)
    worst = worst_case_cost(prompt_tokens, ceiling, info.pricing)
    try:
        row = _recorder.begin(record, worst_case_usd=worst, limits=limits)
    except BudgetExceeded as exc:
        hint = "" if body.get("max_tokens") else f" (no --max-tokens given: up to {ceiling:,} tokens)"
        raise EdgeCellError(f"Refused before sending to {model}{hint}: {exc}") from None
    left = _recorder.ledger().remaining(limits, record, exclude_id=row)
    return PreCall(row, StreamGuard(left, info.pricing, prompt_tokens), worst)
