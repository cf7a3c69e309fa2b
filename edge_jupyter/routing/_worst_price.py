"""The dearest price a request can be billed at: every endpoint its route can reach.

A model on OpenRouter is served by several providers (endpoints) at different prices; the
``/models`` price is one of them, not the dearest. A budget has to reserve what the call
*can* cost, so the worst case is taken over every endpoint the request's route can reach
(``/models/{author}/{slug}/endpoints`` filtered as OpenRouter filters), and over every model
of the ``models`` fallback list (any of them may answer). Pure: endpoint lists and a
:class:`RoutePrefs` in, a :class:`WorstPrice` out.

What the route does to the endpoints, replayed here:

* ``only`` keeps, ``ignore`` drops the endpoints they name (slug, ``slug/variant`` or display name);
* ``order`` only re-ranks while fallbacks are allowed (every other endpoint stays reachable);
  with ``allow_fallbacks: false`` only the listed ones remain. ``allow_fallbacks: false``
  without an ``order`` means "OpenRouter's first choice", which we cannot know: all stay;
* ``max_price`` excludes endpoints over the cap, and bounds an endpoint whose price is
  variable: OpenRouter never bills a token above it, so such a price becomes the cap;
* ``sort`` and the latency/throughput preferences only re-rank: they change nothing here.

Filters we cannot replay (data policy, ``zdr``, quantisations: ``/endpoints`` does not publish
them) only ever remove endpoints, so leaving them out keeps the estimate on the safe side.
Prices are taken per token type independently (the dearest prompt price and the dearest
completion price may be two endpoints): an over-estimate, never an under-estimate. Tiered
prices (``pricing.overrides``, e.g. dearer above 200,000 prompt tokens) count as well;
``discount`` is ignored (full price is the safe side).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..user_numbers import whole
from ._max_price import _MILLION, MaxPrice
from ._no_endpoints import _endpoint_dicts
from ._prefs import RoutePrefs
from ._reach import reachable

if TYPE_CHECKING:  # imported where used: edge_jupyter.openrouter loads httpx, routing stays light
    from ..openrouter import Pricing

#: Pricing fields compared one by one (``reasoning``: ``internal_reasoning``, billed as completion).
_FIELDS = ("prompt", "completion", "request", "image", "reasoning")


@dataclass(frozen=True)
class _Endpoint:
    label: str
    names: frozenset[str]
    pricing: Pricing
    context_length: int | None
    max_completion_tokens: int | None
    #: the service tiers ``/endpoints`` lists a price for (``service_tiers``)
    tiers: frozenset[str] = frozenset()

    def matches(self, name: str) -> bool:
        from ._names import _covers

        return any(_covers(name.lower(), n) for n in self.names)


@dataclass(frozen=True)
class WorstPrice:
    """The dearest prices a request can be billed at, or why they cannot be known.

    ``pricing`` is ``None`` when unknown; then ``reason`` says why and ``fix`` what to do.
    ``limits`` holds the (context length, max completion tokens) of each reachable endpoint,
    so :meth:`completion_ceiling` can take the largest completion any of them allows.
    ``notes`` are facts the user should see next to the answer (e.g. priced at the cap).
    """

    model: str
    pricing: Pricing | None
    reason: str = ""
    fix: str = ""
    dearest: str = ""
    limits: tuple[tuple[int | None, int | None], ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def known(self) -> bool:
        return self.pricing is not None

    def completion_ceiling(self, max_tokens: int | None, prompt_tokens: int) -> int:
        """The most completion tokens any reachable endpoint can produce for this call."""
        from ..ledger import completion_ceiling

        limits = self.limits or ((None, None),)
        return max(completion_ceiling(max_tokens, prompt_tokens=prompt_tokens, context_length=c,
                                      max_completion_tokens=m) for c, m in limits)


def unknown(model: str, reason: str, fix: str) -> WorstPrice:
    """A :class:`WorstPrice` that says the price of ``model`` cannot be known, and why."""
    return WorstPrice(model, None, reason=reason, fix=fix)


def _dearer(a: Pricing, b: Pricing) -> Pricing:
    """Field by field, the dearer of two prices; a field unknown in either stays unknown."""
    from ..openrouter import Pricing

    values: dict[str, float | None] = {}
    for name in _FIELDS:
        x, y = getattr(a, name), getattr(b, name)
        if name in a.unknown or name in b.unknown:
            values[name] = None
        elif x is None or y is None:  # only "reasoning" may be None while known (not priced apart)
            values[name] = x if y is None else y
        else:
            values[name] = max(x, y)
    gone = tuple(n for n in _FIELDS if n in a.unknown or n in b.unknown)
    reasons = list(dict.fromkeys(r for r in (a.unknown_reason, b.unknown_reason) if r))
    return Pricing(prompt=values["prompt"], completion=values["completion"], request=values["request"],
                   image=values["image"], reasoning=values["reasoning"], unknown=gone,
                   unknown_reason="; ".join(reasons) or None)


def _pricing_of(raw: Any) -> Pricing:
    """An endpoint's ``pricing`` object with its tiers (``overrides``) folded in, dearest first."""
    from ..openrouter import Pricing

    base = dict(raw) if isinstance(raw, Mapping) else {}
    overrides = base.pop("overrides", None)
    pricing = Pricing.from_json(base)
    for tier in overrides if isinstance(overrides, list) else []:
        if isinstance(tier, Mapping):  # absent keys inherit the base price
            pricing = _dearer(pricing, Pricing.from_json({**base, **tier}))
    return pricing


def _at_tier(row: Mapping[str, Any], tier: str | None) -> Pricing:
    """An endpoint's price for a request asking ``tier``: the standard price, or the dearer
    of it and the tier's where ``service_tiers`` lists one (a sandbox extension OpenRouter's
    spec lacks). A flex tier never lowers it: a provider may serve the default tier instead,
    billed at the default price, so a worst case counts that."""
    pricing = _pricing_of(row.get("pricing"))
    tiers = row.get("service_tiers")
    listed = tiers.get(tier) if tier and isinstance(tiers, Mapping) else None
    if not isinstance(listed, Mapping):
        return pricing
    raw = row.get("pricing")
    return _dearer(pricing, _pricing_of({**(raw if isinstance(raw, Mapping) else {}), **listed}))


def _reduce(rows: Sequence[Mapping[str, Any]], tier: str | None = None) -> list[_Endpoint]:
    from ._providers import _LOWER_DISPLAY

    out = []
    for row in rows:
        provider = str(row.get("provider_name") or "")
        tag = str(row.get("tag") or "").lower()
        names = {provider.lower(), tag, tag.split("/", 1)[0]}
        if provider.lower() in _LOWER_DISPLAY:
            names.add(_LOWER_DISPLAY[provider.lower()])
        label = f"{provider or tag or '?'}" + (f" ({tag})" if tag and provider.lower() != tag else "")
        pricing = _at_tier(row, tier)
        if tier == "priority" and pricing != _pricing_of(row.get("pricing")):
            label += " at its priority tier"  # what made this endpoint's case the worst
        out.append(_Endpoint(label, frozenset(n for n in names if n), pricing,
                             # 0 or below is no limit we can use: unknown
                             whole(row.get("context_length"), low=1),
                             whole(row.get("max_completion_tokens"), low=1),
                             frozenset(row["service_tiers"]) if isinstance(row.get("service_tiers"), Mapping)
                             else frozenset()))
    return out


def _exact(price: float | None) -> Decimal:
    return Decimal(0) if price is None else Decimal(str(price))


def _own_rows(rows: list[Mapping[str, Any]], model: str | None) -> list[Mapping[str, Any]]:
    """The endpoints of ``model`` itself, when the list names which are (``model_id``).

    A base model's list may carry its variants' endpoints and a variant's its base's: a
    ``:free`` model priced at its base's paid providers is refused by a budget it fits, and
    the base priced at $0 would be unguarded. When no row names ``model`` every row counts
    (the safe side: the dearest of them).
    """
    own = [r for r in rows if model and r.get("model_id") == model]
    return own or rows


def _per_token(cap: Decimal | None) -> float | None:
    return None if cap is None else float(cap / _MILLION)


def _under_cap(ep: _Endpoint, cap: MaxPrice) -> _Endpoint | None:
    """The endpoint as the cap lets OpenRouter bill it, or None when the cap excludes it.

    A known price over the cap excludes the endpoint; an unknown (variable) prompt or
    completion price becomes the cap, since OpenRouter bills no token above it.
    """
    from ..openrouter import Pricing

    p = ep.pricing
    prompt, completion = _per_token(cap.prompt), _per_token(cap.completion)
    # A price not known (None) is never over the cap here: it is filled with the cap below.
    if not cap.admits(_exact(p.prompt), _exact(p.completion)):
        return None
    if p.known:
        return ep
    fill = {"prompt": prompt, "completion": completion, "reasoning": completion}
    values = {n: getattr(p, n) for n in _FIELDS}
    still = []
    for name in p.unknown:
        if fill.get(name) is not None:
            values[name] = fill[name]
        else:
            still.append(name)
    reason = p.unknown_reason if still else None
    return replace(ep, pricing=Pricing(**values, unknown=tuple(still), unknown_reason=reason))


def dearest_price(endpoints: Any, route: RoutePrefs, *, model: str | None = None,
                  catalogue: Pricing | None = None,
                  catalogue_limits: tuple[int | None, int | None] = (None, None),
                  tier: str | None = None) -> WorstPrice:
    """The dearest prices of the endpoints ``route`` can reach for one model (asking the
    service ``tier``: ``priority`` counts each endpoint's listed priority price).

    ``endpoints`` is what ``OpenRouterClient.model_endpoints`` returns (or the raw response).
    When it lists no endpoint (routers such as ``openrouter/auto`` have none of their own),
    ``catalogue`` (the ``/models`` price, with ``catalogue_limits``) stands in for the model.
    """
    from ..openrouter import Pricing

    listed, rows = _endpoint_dicts(endpoints)
    model = model or listed or "this model"
    eps = _reduce(_own_rows(rows, model), tier)
    notes: list[str] = []
    if not eps and catalogue is not None:
        eps = [_Endpoint("", frozenset(), catalogue, *catalogue_limits)]
    if not eps:
        return unknown(model, f"OpenRouter lists no provider (endpoint) for {model}",
                       "pick another model, or remove the budget")
    kept = reachable(eps, route)
    if not kept:
        # OpenRouter will answer "no endpoints" and charge nothing; should its matching of
        # names differ from ours, every endpoint stays priced (the safe side).
        kept = eps
    cap = route.max_price
    if cap is not None:
        capped = [c for c in (_under_cap(e, cap) for e in kept) if c is not None]
        if not capped:  # nothing within the cap: OpenRouter refuses the call, at no cost
            return WorstPrice(model, Pricing(), dearest="", limits=(),
                              notes=(f"no provider of {model} is within --max-price {cap.flag()}",))
        if any(not e.pricing.known for e in kept) and all(c.pricing.known for c in capped):
            notes.append(f"{model}'s variable price is counted at your --max-price {cap.flag()} "
                         "(OpenRouter bills no token above it)")
        kept = capped
    if tier == "priority" and not any("priority" in e.tiers for e in kept):
        notes.append(f"no provider of {model} lists a priority price: counted at the standard "
                     "price; OpenRouter bills the tier that serves, which may cost more")
    pricing = kept[0].pricing
    for e in kept[1:]:
        pricing = _dearer(pricing, e.pricing)
    limits = tuple(dict.fromkeys((e.context_length, e.max_completion_tokens) for e in kept))
    if not pricing.known:
        variable = pricing.is_variable
        fix = ("add --max-price PROMPT/COMPLETION (USD per million tokens, e.g. --max-price 1/2) to cap "
               "what it may cost, or remove the budget" if variable else
               "pick another model or provider (--only/--ignore), or remove the budget")
        return WorstPrice(model, None, reason=f"{model}: {pricing.unknown_reason}", fix=fix, limits=limits)
    dear = max(kept, key=lambda e: ((e.pricing.completion or 0.0), (e.pricing.prompt or 0.0)))
    return WorstPrice(model, pricing, dearest=dear.label, limits=limits, notes=tuple(notes))


def worst_of(prices: Sequence[WorstPrice]) -> WorstPrice:
    """The worst case over a model and its ``models`` fallbacks: any of them may answer.

    Unknown if any is unknown (the first unknown one's reason); else the dearest of each price.
    """
    if not prices:
        raise ValueError("worst_of() needs at least one price")
    for p in prices:
        if not p.known:
            return p
    served = [p for p in prices if p.limits] or list(prices[:1])
    pricing = served[0].pricing
    assert pricing is not None
    for p in served[1:]:
        assert p.pricing is not None
        pricing = _dearer(pricing, p.pricing)
    dearest = max(served, key=lambda p: ((p.pricing.completion or 0.0), (p.pricing.prompt or 0.0)))  # type: ignore[union-attr]
    label = f"{dearest.model} via {dearest.dearest}" if dearest.dearest else dearest.model
    limits = tuple(dict.fromkeys(limit for p in served for limit in p.limits))
    notes = tuple(dict.fromkeys(n for p in prices for n in p.notes))
    return WorstPrice(" or ".join(p.model for p in prices), pricing, dearest=label, limits=limits,
                      notes=notes)


def request_models(body: Mapping[str, Any]) -> list[str]:
    """Every model a chat request body can be answered by: ``model``, then ``models``."""
    chain = [body.get("model"), *(body.get("models") or [])]
    return list(dict.fromkeys(m for m in chain if isinstance(m, str) and m))


def request_tier(body: Mapping[str, Any]) -> str | None:
    """The service tier a body asks for (``fast`` is priority), or None."""
    asked = body.get("service_tier")
    return ("priority" if asked == "fast" else asked) if isinstance(asked, str) else None


def request_route(body: Mapping[str, Any]) -> RoutePrefs:
    """The routing preferences a request body carries (its ``provider`` and ``models``)."""
    provider = body.get("provider")
    data = dict(provider) if isinstance(provider, Mapping) else {}
    data["fallbacks"] = [m for m in request_models(body)[1:]]
    return RoutePrefs.from_json(data)
