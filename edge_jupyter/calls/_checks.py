"""Money checks around a call: low-balance alert before, budget reservation, stream guard.

Every refusal is a :class:`CallRefused` raised before anything is sent.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import balance, preferences
from ..money import short_usd
from ..openrouter import ModelInfo, OpenRouterClient, OpenRouterError
from ..record import CallRecord
from . import _recording
from ._errors import CallRefused

if TYPE_CHECKING:
    from ..ledger import Limit
    from ..routing import WorstPrice

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
            f"alert threshold of {short_usd(threshold)}. {_what_to_do(bal.remaining_source)} "
            "(or change the alert with `%edge alert USD`)."]


def _what_to_do(source: str) -> str:
    """Credits are topped up; a key's limit is raised, by the user or by a hub's admin."""
    if source != "key limit":
        return f"Top up at {TOP_UP}"
    from ..keystore import provisioned_by

    if provisioned_by():
        return "Ask your JupyterHub's admin to raise it (`edge-jupyter hub set-limit`)"
    return ("Raise the key's limit (`%edge limit USD` with a management key, or at "
            "https://openrouter.ai/settings/keys)")


def refresh_balance_later(client: OpenRouterClient) -> None:
    balance.refresh_in_background(client)


@dataclass
class PreCall:
    row_id: int
    guard: Any = None  # a ledger StreamGuard when a budget applies
    worst_case_usd: float = 0.0
    #: Facts about the price to show with the answer (e.g. a variable price counted at the cap).
    notes: list[str] = field(default_factory=list)
    #: the worst case to show before sending ("at most $0.013"), when the call was priced
    at_most_usd: float | None = None


def model_info(client: OpenRouterClient, model: str, *,
                deadline: float | None = None) -> ModelInfo | None:
    """The catalogue entry of ``model`` (exact id, else its base id); None when not listed
    or when /models cannot be had by ``deadline`` (``time.monotonic``)."""
    try:
        if deadline is None:
            models = client.models()
        else:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            models = client.models(timeout=left, deadline=deadline)
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


#: How many models a refusal names besides the favourites.
SUGGESTED_MODELS = 5


def models_that(able: Callable[[ModelInfo], bool], models: Iterable[ModelInfo], *,
                favourites: Sequence[str] = (), others: int = SUGGESTED_MODELS,
                leave_out: str = "") -> list[str]:
    """The models a refusal names, for whatever ``able`` says the refused model lacks
    (images, reasoning, structured outputs): the favourites that can (in their order), then
    up to ``others`` more, newest first; never ``leave_out`` (the refused model itself)."""
    listed = {m.id: m for m in models if m.id != leave_out and able(m)}
    favoured = [f for f in dict.fromkeys(favourites) if f in listed]
    rest = [m.id for m in sorted(listed.values(), key=lambda m: -m.created) if m.id not in favoured]
    return [*favoured, *rest[:others]]


def check_structured(client: OpenRouterClient, models: list[str]) -> None:
    """Refuse (:class:`CallRefused`, nothing written) a schema for a model whose ``/models``
    entry lacks structured outputs, naming some that have them."""
    from ..structured import SUPPORT_PARAMETERS

    check_supported(client, models, SUPPORT_PARAMETERS,
                    "does not take a schema (no structured outputs in its supported parameters)",
                    "`%edge models --supports json` lists the models that do")


def check_tools(client: OpenRouterClient, models: list[str], *, web: bool = False) -> None:
    """Refuse functions (or, ``web``, OpenRouter's web search, a server tool the model calls)
    for a model whose ``/models`` entry lacks ``tools``, naming some that have it."""
    lacks = ("cannot search the web (OpenRouter's web search is a tool the model calls, and "
             "it has no tools in its supported parameters)" if web else
             "does not call functions (no tools in its supported parameters)")
    check_supported(client, models, ("tools",), lacks,
                    "`%edge models` lists the models with tools in their supported parameters")


def check_supported(client: OpenRouterClient, models: list[str], parameters: Sequence[str],
                    lacks: str, where_else: str) -> None:
    """Refuse (:class:`CallRefused`, nothing written) the first of ``models`` whose
    ``/models`` entry has none of ``parameters`` in its supported parameters: "M {lacks}.
    Models that do: … — pick one with -m". A model not listed, or a catalogue that cannot be
    had, is let through: OpenRouter itself answers then."""
    def supports(info: ModelInfo) -> bool:
        return any(p in info.supported_parameters for p in parameters)

    for model in models:
        info = model_info(client, model, deadline=time.monotonic() + 5.0)
        if info is None or supports(info):
            continue
        try:
            listed = client.models()
        except OpenRouterError:
            listed = []
        names = models_that(supports, listed, favourites=preferences.load().favourites,
                            leave_out=model)
        which = f"Models that do: {', '.join(names)}" if names else where_else
        raise CallRefused(f"{model} {lacks}. {which} — pick one with -m (model= in the Python "
                          "API). Nothing was sent.")


def spending_limits(budget: float | None, held_usd: float = 0.0) -> list[Limit]:
    """Every limit a call must fit in: the saved budgets, plus ``budget`` (the limit given for
    this set of calls, of which they already hold ``held_usd``). Raises :class:`CallRefused`
    when the preferences cannot be read, or were damaged and not yet shown: nothing is sent."""
    from ..ledger import Limit
    from ..storage import DataError

    try:
        prefs = preferences.load_for_spending()
    except DataError as exc:
        raise CallRefused(str(exc)) from None
    limits = [Limit(scope, float(usd)) for scope, usd in prefs.budgets.items() if usd is not None]
    if budget is not None:
        limits.append(Limit("calls", budget, held_usd))
    return limits


def check_web_bounded(client: OpenRouterClient, model: str, body: dict[str, Any]) -> None:
    """Under a budget, refuse (:class:`CallRefused`) web searches nothing bounds."""
    from ._web import web_bound

    why = web_bound(client, body).unbounded
    if why:
        raise CallRefused(f"Refused before sending to {model}: a budget applies and {why}, so "
                          "no worst case holds. Use --web-engine exa (the default; web_engine= "
                          "in Python), or remove the budget.")


def unpriced_refusal(model: str, price: WorstPrice) -> CallRefused:
    """Fail closed: under a budget an unpriced call would be an unguarded one."""
    return CallRefused(f"Refused before sending to {model}: a budget applies and the price "
                       f"cannot be known: {price.reason}. To go ahead, {price.fix}.")


def budget_refusal(model: str, body: dict[str, Any], price: WorstPrice, ceiling: int,
                   exc: Exception) -> CallRefused:
    """A limit refused the worst case: the numbers (``exc``), and what made the case worst."""
    hint = "" if body.get("max_tokens") else f" (no --max-tokens given: up to {ceiling:,} tokens)"
    dear = f" (worst case at the dearest provider it can reach: {price.dearest})" if price.dearest else ""
    return CallRefused(f"Refused before sending to {model}{hint}{dear}: {exc}")


def pre_call(client: OpenRouterClient, model: str, body: dict[str, Any], budget: float | None,
             record: CallRecord, *, held_usd: float = 0.0, price_always: bool = False) -> PreCall:
    """Write the pending row; when limits apply, reserve the worst case first or refuse.

    ``budget`` is the limit given for the set of calls this one belongs to, which already
    holds ``held_usd`` (the worst cases of the calls reserved before it). The reservation is
    made inside one ledger transaction, so cells and kernels running at the same time see
    each other's worst cases and cannot overspend together.

    ``price_always``: work out the worst case even when no limit applies (a call with
    attachments says "at most $X" before sending); a price that cannot be had then gives
    no figure, and the call goes ahead as any call without a limit.
    """
    from ..ledger import BudgetExceeded, StreamGuard
    from ._prices import request_price

    limits = spending_limits(budget, held_usd)
    if not limits and not price_always:
        return PreCall(_recording.begin(record))
    # The dearest endpoint the route can reach, over every `models` fallback: the /models
    # price is one provider's, and another (or a fallback model) may cost many times more.
    price = request_price(client, body)
    if not limits:
        at_most = _worst_case(client, body, price)[0] if price.pricing is not None else None
        return PreCall(_recording.begin(record), at_most_usd=at_most)
    if price.pricing is None:
        raise unpriced_refusal(model, price)
    check_web_bounded(client, model, body)
    worst, prompt_tokens, ceiling, images, extra = _worst_case(client, body, price)
    try:
        row = _recording.begin(record, worst_case_usd=worst, limits=limits)
    except BudgetExceeded as exc:
        raise budget_refusal(model, body, price, ceiling, exc) from None
    try:
        left = _recording.ledger().remaining(limits, record, exclude_id=row)
        guard = StreamGuard(left, price.pricing, prompt_tokens,  # the same dearest prices
                            images=images, extra_usd=extra)
    except BaseException as exc:  # the row is written and reserved: complete it, never leave it
        from ._running import describe_failure

        _recording.fail(row, record, f"not sent: {describe_failure(exc)}")
        raise
    return PreCall(row, guard, worst, list(price.notes), at_most_usd=worst)


def _worst_case(client: OpenRouterClient, body: dict[str, Any], price: WorstPrice
                ) -> tuple[float, int, int, int, float]:
    """(worst case USD, prompt tokens, completion ceiling, images, plugin USD) of ``body`` at
    the known ``price`` (the dearest over the model and its fallbacks, ``pricing.image``
    included): images at ``pricing.image`` each on top of their tokens, the pages of the
    engine that reads its PDFs, OpenRouter's paid default when a model it can reach does not
    read them and no plugin is named (:mod:`._media`), and the web searches it may run
    (:mod:`._web`)."""
    from ..ledger import estimate_body_tokens, worst_case_cost
    from ._media import has_attachments, media_price, plugin_engine, reads_files
    from ._web import web_bound

    assert price.pricing is not None
    prompt_tokens = estimate_body_tokens(body)
    ceiling = price.completion_ceiling(body.get("max_tokens"), prompt_tokens)
    # With a plugin named, who reads the PDFs is known: /models is not needed.
    needs_models = has_attachments(body) and plugin_engine(body) is None
    images, extra = media_price(body, reads_files(client, body) if needs_models else True)
    # web searches: max_uses at the dearest price, each a round more of the model
    extra += web_bound(client, body).worst_usd(price.pricing, prompt_tokens, ceiling, images=images)
    # A known WorstPrice is finite and not negative (Pricing.from_json makes any other unknown).
    worst = worst_case_cost(prompt_tokens, ceiling, price.pricing, images=images, extra_usd=extra)
    return worst, prompt_tokens, ceiling, images, extra
