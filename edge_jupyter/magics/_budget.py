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


def session_id() -> str:
    from ..ledger import current_context

    return current_context().session_id


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


class CellBudget:
    """A ``--budget USD`` covering every model of one cell."""

    def __init__(self, limit_usd: float | None) -> None:
        self.limit_usd = limit_usd
        self.reserved = 0.0


def pre_call(client: OpenRouterClient, model: str, body: dict[str, Any], cell_budget: CellBudget,
             record: CallRecord) -> PreCall:
    """Write the pending row; when limits apply, reserve the worst case first or refuse."""
    from ..ledger import BudgetExceeded, Limit, StreamGuard, estimate_prompt_tokens, worst_case_cost

    prefs = preferences.load()
    limits = [Limit(scope, float(usd)) for scope, usd in prefs.budgets.items() if usd is not None]
    if not limits and cell_budget.limit_usd is None:
        return PreCall(_recorder.begin(record))
    info = _model_info(client, model)
    if info is None:
        # Unknown here: the request will fail with OpenRouter's own message (and cost nothing).
        return PreCall(_recorder.begin(record))
    prompt_tokens = estimate_prompt_tokens(body["messages"])
    max_tokens = body.get("max_tokens") or info.max_completion_tokens or info.context_length or 0
    worst = worst_case_cost(prompt_tokens, max_tokens, info.pricing)
    remaining = [lim.limit_usd - _recorder.ledger().spent(lim.scope, notebook=record.notebook,
                                                          session_id=record.session_id)
                 for lim in limits]
    if cell_budget.limit_usd is not None:
        cell_left = cell_budget.limit_usd - cell_budget.reserved
        if worst > cell_left:
            raise EdgeCellError(_refusal("this cell's --budget", cell_budget.limit_usd,
                                         cell_budget.reserved, worst, model, max_tokens,
                                         bool(body.get("max_tokens"))))
        remaining.append(cell_left)
    try:
        row = _recorder.begin(record, worst_case_usd=worst, limits=limits)
    except BudgetExceeded as exc:
        raise EdgeCellError(str(exc)) from None
    cell_budget.reserved += worst
    return PreCall(row, StreamGuard(min(remaining), info.pricing, prompt_tokens), worst)


def _refusal(what: str, limit: float, spent: float, worst: float, model: str, max_tokens: int,
             explicit: bool) -> str:
    tokens = f"{max_tokens:,} completion tokens" + ("" if explicit else " (no --max-tokens given)")
    return (f"Refused before sending: {model} could cost up to {short_usd(worst)} with {tokens}, "
            f"but {what} of {short_usd(limit)} has {short_usd(max(0.0, limit - spent))} left. "
            "Lower --max-tokens, pick a cheaper model, or raise the budget.")
