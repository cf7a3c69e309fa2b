"""What a request can cost at most: the endpoints of every model it can reach, fetched and priced.

The arithmetic is :func:`edge_jupyter.routing.dearest_price` (pure); this module only fetches
``/models/{author}/{slug}/endpoints`` for the request's model and each ``models`` fallback,
and keeps what it fetched for five minutes (as :meth:`OpenRouterClient.models` does), so a
``map`` over 200 rows asks once. When OpenRouter does not answer, a list fetched earlier in
this kernel may still serve; the price then says how old it is. Nothing here guesses: a
model that cannot be priced comes back as an unknown :class:`~edge_jupyter.routing.WorstPrice`
with the reason and the way out, and the budget code refuses the call.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from typing import Any

from ..openrouter import NotFound, OpenRouterClient, OpenRouterError, RetryPolicy
from ..routing import RoutePrefs, WorstPrice, dearest_price, request_models, request_route, worst_of
from ..routing._worst_price import unknown

#: Same freshness as ``/models`` (OpenRouter caches both for five minutes at its edge).
ENDPOINTS_TTL = 300.0
#: A price list is asked for before a call is sent: fail fast rather than hold the cell.
_PRICE_RETRY = RetryPolicy(max_retries=1, base_delay=0.25, max_delay=1.0, max_wait=2.0)

_cache: dict[tuple[str, str], tuple[float, Any]] = {}
_lock = threading.Lock()


def _age(seconds: float) -> str:
    minutes = round(seconds / 60)
    return "under a minute ago" if minutes < 1 else f"{minutes} minute{'s' if minutes != 1 else ''} ago"


def endpoints_of(client: OpenRouterClient, model: str, *, max_age: float = ENDPOINTS_TTL
                 ) -> tuple[Any | None, str, str, str]:
    """``(endpoints, note, error, fix)`` for ``model``: the list (or None), a note to show,
    and when there is nothing to price with, why and what to do.

    A list younger than ``max_age`` is used as is; otherwise it is fetched, and if that fails
    an older list of this kernel serves with a note saying so.
    """
    key = (client.origin, model.split(":", 1)[0])
    now = time.monotonic()
    with _lock:
        cached = _cache.get(key)
    if cached is not None and now - cached[0] < max_age:
        return cached[1], "", "", ""
    try:
        data = client.with_retry(_PRICE_RETRY).model_endpoints(model)
    except NotFound:
        return None, "", f"OpenRouter does not list {model} (its /endpoints answered 404)", (
            "check the model id (`%edge models SEARCH` lists them), or remove the budget")
    except OpenRouterError as exc:
        if cached is not None:
            return cached[1], (f"{model} is priced from its provider list fetched {_age(now - cached[0])} "
                               f"(OpenRouter's /endpoints did not answer: {exc})"), "", ""
        return None, "", f"the prices of {model} could not be fetched ({exc})", (
            f"retry when OpenRouter's /models/{key[1]}/endpoints answers, or remove the budget "
            "(`%edge budget clear`, or drop --budget) to send it unguarded")
    with _lock:
        _cache[key] = (now, data)
    return data, "", "", ""


def _catalogue_entry(client: OpenRouterClient, model: str) -> Any:
    """The ``/models`` entry of ``model`` (exact id, else its base id), or None."""
    from ._budget import _model_info

    return _model_info(client, model)


def _model_price(client: OpenRouterClient, model: str, route: RoutePrefs) -> WorstPrice:
    data, note, error, fix = endpoints_of(client, model)
    if error:
        return unknown(model, error, fix)
    endpoints = data.get("endpoints") if isinstance(data, dict) else None
    catalogue = limits = None
    if not endpoints:
        # Routers (openrouter/auto) have no endpoints of their own: only /models prices them,
        # and it says "-1" (variable). That is the one case the catalogue price stands in.
        info = _catalogue_entry(client, model)
        if info is not None:
            catalogue, limits = info.pricing, (info.context_length, info.max_completion_tokens)
    price = dearest_price(data, route, model=model, catalogue=catalogue,
                          catalogue_limits=limits or (None, None))
    return replace(price, notes=(*price.notes, note)) if note else price


def request_price(client: OpenRouterClient, body: dict[str, Any]) -> WorstPrice:
    """The dearest price ``body`` can be billed at: its model and every ``models`` fallback,
    each over the endpoints its ``provider`` preferences reach (unknown says why)."""
    try:
        route = request_route(body)
    except ValueError as exc:  # RoutingError: a hand-made provider object we cannot read
        return unknown(str(body.get("model")), f"its provider preferences cannot be read ({exc})",
                       "fix the provider preferences, or remove the budget")
    models = request_models(body)
    if not models:
        return unknown("this request", "it names no model", "name the model with -m")
    return worst_of([_model_price(client, m, route) for m in models])


def clear_cache() -> None:
    """Forget every fetched provider list (the next price asks OpenRouter again)."""
    with _lock:
        _cache.clear()
