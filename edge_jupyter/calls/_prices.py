"""What a request can cost at most: the endpoints of every model it can reach, fetched and priced.

The arithmetic is :func:`edge_jupyter.routing.dearest_price` (pure); this module only fetches
``/models/{author}/{slug}/endpoints`` for the request's model and each ``models`` fallback,
and keeps what it fetched for five minutes (as :meth:`OpenRouterClient.models` does), so a
``map`` over 200 rows asks once. When OpenRouter does not answer, a list fetched earlier in
this kernel may still serve; the price then says how old it is. The /endpoints look-ups of one
request end within :data:`PRICE_DEADLINE` seconds, however slowly /endpoints answers. A
``:free`` variant is priced at its own providers, not its base model's; ``:floor`` and ``:nitro``
at their base model's (they only re-rank its providers). ``service_tier: "priority"`` counts
each provider's listed priority price. Nothing here guesses: a
model that cannot be priced comes back as an unknown :class:`~edge_jupyter.routing.WorstPrice`
with the reason and the way out, and the budget code refuses the call.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from typing import Any

from ..openrouter import NotFound, OpenRouterClient, OpenRouterError, RequestTimeout, RetryPolicy
from ..routing import (
    RoutePrefs,
    WorstPrice,
    dearest_price,
    request_models,
    request_route,
    request_tier,
    route_variant,
    unknown_price,
    worst_of,
)

#: Same freshness as ``/models`` (OpenRouter caches both for five minutes at its edge).
ENDPOINTS_TTL = 300.0
#: A price list is asked for before a call is sent: fail fast rather than hold the cell.
_PRICE_RETRY = RetryPolicy(max_retries=1, base_delay=0.25, max_delay=1.0, max_wait=2.0)
#: Seconds the whole price look-up of one request may take (every model, retries and slow
#: bodies included), as for balance look-ups: a /endpoints trickling a byte a second must not
#: hold every budgeted cell. Past it the price is unknown, and under a budget that refuses.
PRICE_DEADLINE = 5.0

_cache: dict[tuple[str, str], tuple[float, Any]] = {}
_lock = threading.Lock()


def _age(seconds: float) -> str:
    minutes = round(seconds / 60)
    return "under a minute ago" if minutes < 1 else f"{minutes} minute{'s' if minutes != 1 else ''} ago"


@dataclass(frozen=True)
class Fetched:
    """What :func:`endpoints_of` found: the list, or why there is none and what to do."""

    data: Any | None
    note: str = ""  # e.g. "priced from the list fetched 7 minutes ago"
    error: str = ""
    fix: str = ""
    not_found: bool = False  # /endpoints answered 404


def _fetch(client: OpenRouterClient, model: str, deadline: float) -> Any:
    """The provider list of ``model`` (a ``:free`` variant's own), ended by ``deadline``."""
    left = deadline - time.monotonic()
    if left <= 0:  # an earlier model of the request used the time up
        raise RequestTimeout(f"/models/{model}/endpoints was not asked: the {PRICE_DEADLINE:g} s "
                             "allowed for the prices were up")
    return client.with_retry(_PRICE_RETRY).model_endpoints(model, timeout=left, deadline=deadline)


def endpoints_of(client: OpenRouterClient, model: str, *, max_age: float = ENDPOINTS_TTL,
                 deadline: float | None = None) -> Fetched:
    """The provider list of ``model``, with a note to show, or (``data`` None) why there is
    nothing to price with and what to do.

    A list younger than ``max_age`` is used as is; otherwise it is fetched (by ``deadline``,
    ``time.monotonic``; :data:`PRICE_DEADLINE` from now by default), and if that fails an
    older list of this kernel serves with a note saying so.
    """
    key = (client.origin, model)  # with its :variant: a :free model is not priced as its base
    now = time.monotonic()
    with _lock:
        cached = _cache.get(key)
    if cached is not None and now - cached[0] < max_age:
        return Fetched(cached[1])
    try:
        data = _fetch(client, model, now + PRICE_DEADLINE if deadline is None else deadline)
    except NotFound:
        return Fetched(None, error=f"OpenRouter does not list {model} (its /endpoints answered 404)",
                       fix="check the model id (`%edge models SEARCH` lists them), or remove the budget",
                       not_found=True)
    except OpenRouterError as exc:
        if cached is not None:
            return Fetched(cached[1], note=(f"{model} is priced from its provider list fetched "
                                            f"{_age(now - cached[0])} (OpenRouter's /endpoints did "
                                            f"not answer: {exc})"))
        return Fetched(None, error=f"the prices of {model} could not be fetched ({exc})",
                       fix=(f"retry when OpenRouter's /models/{model}/endpoints answers, or remove the "
                            "budget (`%edge budget clear`, or drop --budget) to send it unguarded"))
    with _lock:
        _cache[key] = (now, data)
    return Fetched(data)


def _catalogue_entry(client: OpenRouterClient, model: str, deadline: float) -> Any:
    """The ``/models`` entry of ``model`` (exact id, else its base id), or None: fetched
    under the same price deadline as the provider lists."""
    from ._checks import model_info

    return model_info(client, model, deadline=deadline)


def _model_price(client: OpenRouterClient, model: str, route: RoutePrefs, deadline: float,
                 tier: str | None = None) -> WorstPrice:
    # :floor / :nitro only re-rank the base model's providers (and :floor lets a flex tier
    # serve, never dearer): the base model's list prices them, its dearest still the bound.
    model = route_variant(model)[0]
    fetched = endpoints_of(client, model, deadline=deadline)
    data = fetched.data
    listed = _catalogue_entry(client, model, deadline) if fetched.not_found else None
    if listed is not None:
        # Listed, yet no provider list: its one /models price may not be the dearest (a model
        # can have providers at several times it), so only a --max-price cap can bound it.
        why = (f"OpenRouter lists {model} in /models but not its providers (/endpoints answered "
               "404), so its dearest price is unknown")
        blind = replace(listed.pricing, prompt=None, completion=None, reasoning=None,
                        unknown=("prompt", "completion"), unknown_reason=why)
        price = dearest_price({"id": model, "endpoints": []}, route, model=model, catalogue=blind,
                              catalogue_limits=(listed.context_length, listed.max_completion_tokens))
        return price if price.known else unknown_price(
            model, why, "add --max-price PROMPT/COMPLETION to cap what it may cost, or remove the budget")
    if data is None:
        return unknown_price(model, fetched.error, fetched.fix)
    endpoints = data.get("endpoints") if isinstance(data, dict) else None
    catalogue = limits = None
    if not endpoints:
        # Routers (openrouter/auto) have no endpoints of their own: only /models prices them,
        # and it says "-1" (variable). That is the one case the catalogue price stands in.
        info = _catalogue_entry(client, model, deadline)
        if info is not None:
            catalogue, limits = info.pricing, (info.context_length, info.max_completion_tokens)
    price = dearest_price(data, route, model=model, catalogue=catalogue,
                          catalogue_limits=limits or (None, None), tier=tier)
    return replace(price, notes=(*price.notes, fetched.note)) if fetched.note else price


def request_price(client: OpenRouterClient, body: dict[str, Any]) -> WorstPrice:
    """The dearest price ``body`` can be billed at: its model and every ``models`` fallback,
    each over the endpoints its ``provider`` preferences reach (unknown says why)."""
    try:
        route = request_route(body)
    except ValueError as exc:  # RoutingError: a hand-made provider object we cannot read
        return unknown_price(str(body.get("model")), f"its provider preferences cannot be read ({exc})",
                       "fix the provider preferences, or remove the budget")
    models = request_models(body)
    if not models:
        return unknown_price("this request", "it names no model", "name the model with -m")
    deadline = time.monotonic() + PRICE_DEADLINE  # one deadline for the model and its fallbacks
    tier = request_tier(body)  # priority: its listed price counts
    return worst_of([_model_price(client, m, route, deadline, tier) for m in models])


def clear_cache() -> None:
    """Forget every fetched provider list (the next price asks OpenRouter again)."""
    with _lock:
        _cache.clear()
