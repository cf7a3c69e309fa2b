"""Provider routing as OpenRouter does it: the ``provider`` object, ``models`` fallbacks, BYOK.

Pure: a request body and the sandbox's routing knobs in, a :class:`Route` (model + endpoint)
out, or an :class:`ApiError` shaped like OpenRouter's answer. The steps follow OpenRouter's
provider-selection guide ([DOCS guides/routing/provider-selection], §2.2 and §8 of
``shared/openrouter-api.md``):

1. ``only`` / ``ignore`` (slug, ``slug/variant`` or display name, any case). Nothing left:
   404 ``No allowed providers are available for the selected model.`` with
   ``metadata.available_providers`` / ``requested_providers``, as real traffic shows.
2. ``quantizations``.
3. Data policy: ``data_collection: "deny"`` drops endpoints that may train on prompts,
   ``zdr: true`` those that retain prompts. Nothing left: 404 ``No endpoints found matching
   your data policy (…). Configure: https://openrouter.ai/settings/privacy`` (observed wording).
4. ``max_price`` in USD per *million* tokens. Nothing left: 404 (sandbox wording; OpenRouter's
   own text for this case is not documented).
5. Ranking: ``sort`` (price, throughput, latency; ``exacto`` keeps the default order), then
   ``preferred_max_latency`` / ``preferred_min_throughput`` push slow endpoints back, then
   ``order`` moves its providers to the front. ``allow_fallbacks: false`` keeps only the
   ``order`` list (404 when none of it serves the model), or only the first choice.
6. BYOK endpoints (``Sandbox.byok_providers``) go first whatever ``order`` says (§8).
7. Endpoints of ``Sandbox.down_providers`` fail; the next candidate is tried, then the next
   model of ``models``. When everything failed the last error is returned: 502
   ``Provider returned error`` for a down provider.

0. Input modalities first: a model whose ``input_modalities`` lack one the content parts need
   (an image part) has no endpoint for the request; the next model of ``models`` is tried,
   and when none takes it: 404 ``No endpoints found that support image input`` (the observed
   body: message and code only).

Every other 404 also carries the documented ``error.availability`` object (§7.3).

Unknown provider *names* are not an error: the spec types ``order``/``only``/``ignore``
items as ``ProviderName | string``, so OpenRouter accepts any string and an unknown one
simply matches nothing. The object's *shape* is checked as the spec's
``ProviderPreferences`` (``additionalProperties: false``, enums, types): a violation is a
400 (with sandbox wording; OpenRouter's validation messages are not documented).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from ._catalog import DEFAULT_MODEL, MODELS, CatalogEndpoint, CatalogModel
from ._errors import ApiError

_KEYS = frozenset({
    "allow_fallbacks", "data_collection", "enforce_distillable_text", "ignore", "max_price",
    "only", "order", "preferred_max_latency", "preferred_min_throughput", "quantizations",
    "require_parameters", "sort", "zdr",
})
_BOOLS = ("allow_fallbacks", "require_parameters", "zdr", "enforce_distillable_text")
SORTS = ("price", "throughput", "latency", "exacto")
QUANTIZATIONS = ("int4", "int8", "fp4", "mxfp4", "nvfp4", "fp6", "fp8", "mxfp8", "fp16", "bf16",
                 "fp32", "unknown")
_PRICE_KEYS = ("prompt", "completion", "request", "image", "audio")
_PRIVACY_URL = "https://openrouter.ai/settings/privacy"
_DOCS_URL = "https://openrouter.ai/docs/guides/routing/provider-selection"
_MILLION = Decimal(1_000_000)


def names(values: Iterable[Any] | str | None) -> frozenset[str]:
    """Lower-cased provider names; a string may hold several, comma-separated."""
    if values is None:
        return frozenset()
    if isinstance(values, str):
        values = values.split(",")
    return frozenset(str(v).strip().lower() for v in values if str(v).strip())


# -- the shape of the provider object -----------------------------------------------------------
def _bad(detail: str) -> ApiError:
    return ApiError(400, f"Invalid request parameters: {detail}")


def _number(value: Any) -> Decimal | None:
    """A max_price member: the spec types it as a string, the docs write numbers; take both."""
    if isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() and number >= 0 else None


def _percentiles(value: Any) -> bool:
    if value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
        return True
    return isinstance(value, dict) and all(
        k in ("p50", "p75", "p90", "p99") and isinstance(v, int | float) and not isinstance(v, bool)
        for k, v in value.items())


def check_provider(prefs: Any) -> dict[str, Any] | None:
    """The request's ``provider`` object if it is valid per the spec, else a 400."""
    if prefs is None:
        return None
    if not isinstance(prefs, dict):
        raise _bad("provider must be an object")
    unknown = sorted(set(prefs) - _KEYS)
    if unknown:
        raise _bad(f"provider: unrecognized key(s) {', '.join(repr(k) for k in unknown)}")
    for key in ("order", "only", "ignore"):
        value = prefs.get(key)
        if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise _bad(f"provider.{key} must be an array of provider names")
    for key in _BOOLS:
        if prefs.get(key) is not None and not isinstance(prefs[key], bool):
            raise _bad(f"provider.{key} must be a boolean")
    if prefs.get("data_collection") not in (None, "allow", "deny"):
        raise _bad('provider.data_collection must be "allow" or "deny"')
    sort = prefs.get("sort")
    by = sort.get("by") if isinstance(sort, dict) else sort
    if not (sort is None or isinstance(sort, str | dict)) or by not in (None, *SORTS) or (
            isinstance(sort, dict) and sort.get("partition") not in (None, "model", "none")):
        raise _bad(f"provider.sort must be one of {', '.join(SORTS)} (or {{by, partition}})")
    quants = prefs.get("quantizations")
    if quants is not None and not (isinstance(quants, list) and all(q in QUANTIZATIONS for q in quants)):
        raise _bad(f"provider.quantizations must list values among {', '.join(QUANTIZATIONS)}")
    cap = prefs.get("max_price")
    if cap is not None:
        if not isinstance(cap, dict):
            raise _bad("provider.max_price must be an object")
        for key in _PRICE_KEYS:
            if cap.get(key) is not None and _number(cap[key]) is None:
                raise _bad(f"provider.max_price.{key} must be a non-negative number (USD)")
    for key in ("preferred_max_latency", "preferred_min_throughput"):
        if not _percentiles(prefs.get(key)):
            raise _bad(f"provider.{key} must be a number or an object of p50/p75/p90/p99")
    return prefs


# -- "nothing can serve this" ------------------------------------------------------------------------
def _unavailable(model: CatalogModel, message: str, code: str, excluded_by: list[str],
                 detail: str, metadata: dict[str, Any] | None = None) -> ApiError:
    availability = {
        "code": code, "retryable": False, "requested_models": [model.id],
        "affected_providers": list(dict.fromkeys(ep.provider_name for ep in model.endpoints)),
        "excluded_by": excluded_by,
        "constraint": {"field": "provider." + excluded_by[0], "detail": detail},
        "docs_url": _DOCS_URL,
    }
    meta = metadata if metadata is not None else {"error_type": "not_found"}
    return ApiError(404, message, metadata=meta, extra={"availability": availability})


def _slugs(endpoints: Iterable[CatalogEndpoint]) -> list[str]:
    return list(dict.fromkeys(ep.slug for ep in endpoints))


# -- filtering and ranking ------------------------------------------------------------------------
def _within(cap: dict[str, Any], ep: CatalogEndpoint) -> bool:
    prompt, completion = _number(cap.get("prompt")), _number(cap.get("completion"))
    if prompt is not None and ep.prompt_price * _MILLION > prompt:
        return False
    return not (completion is not None and ep.completion_price * _MILLION > completion)


def _p50(value: Any) -> float | None:
    if isinstance(value, dict):
        value = value.get("p50")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _rank(model: CatalogModel, eps: list[CatalogEndpoint], prefs: dict[str, Any]) -> list[CatalogEndpoint]:
    """Default order (the catalog's; OpenRouter load-balances by price), then sort and thresholds."""
    stats = {ep: ep.stats(model.endpoints.index(ep)) for ep in eps}
    sort = prefs.get("sort")
    by = sort.get("by") if isinstance(sort, dict) else sort
    if by == "price":
        eps = sorted(eps, key=lambda ep: ep.prompt_price + ep.completion_price)
    elif by == "throughput":
        eps = sorted(eps, key=lambda ep: -stats[ep][1])
    elif by == "latency":
        eps = sorted(eps, key=lambda ep: stats[ep][0])
    slow, fast = _p50(prefs.get("preferred_max_latency")), _p50(prefs.get("preferred_min_throughput"))
    if slow is not None or fast is not None:  # deprioritised, never excluded
        eps = sorted(eps, key=lambda ep: (slow is not None and stats[ep][0] > slow * 1000)
                     or (fast is not None and stats[ep][1] < fast))
    return eps


def candidates(model: CatalogModel, prefs: dict[str, Any] | None,
               byok: frozenset[str] = frozenset()) -> list[CatalogEndpoint]:
    """The model's endpoints in the order OpenRouter would try them, or a 404 ApiError."""
    eps = list(model.endpoints)
    prefs = prefs or {}
    only, ignore = names(prefs.get("only")), names(prefs.get("ignore"))
    order = [str(o).strip().lower() for o in prefs.get("order") or []]
    allowed = [ep for ep in eps if (not only or ep.names() & only) and not ep.names() & ignore]
    if not allowed:
        raise _unavailable(model, "No allowed providers are available for the selected model.",
                           "constraint_filtered", ["only" if only else "ignore"],
                           "only/ignore exclude every provider of this model",
                           {"available_providers": _slugs(eps),
                            "requested_providers": sorted(only) or sorted(set(order))})
    quants = prefs.get("quantizations")
    if quants:
        allowed = [ep for ep in allowed if (ep.quantization or "unknown") in quants]
        if not allowed:
            raise _unavailable(model, "No endpoints found matching your quantization preferences.",
                               "constraint_filtered", ["quantizations"], ", ".join(quants))
    if prefs.get("data_collection") == "deny":
        allowed = [ep for ep in allowed if not ep.trains_on_data]
        if not allowed:
            kind = "Free" if model.prompt_price == 0 and model.completion_price == 0 else "Paid"
            raise _unavailable(model, f"No endpoints found matching your data policy ({kind} model "
                                      f"training). Configure: {_PRIVACY_URL}",
                               "privacy_restricted", ["data_collection"], "deny")
    if prefs.get("zdr") is True:
        allowed = [ep for ep in allowed if not ep.retains_prompts]
        if not allowed:
            raise _unavailable(model, "No endpoints found matching your data policy (Zero data "
                                      f"retention). Configure: {_PRIVACY_URL}",
                               "privacy_restricted", ["zdr"], "true")
    cap = prefs.get("max_price")
    if cap:
        allowed = [ep for ep in allowed if _within(cap, ep)]
        if not allowed:
            raise _unavailable(model, f"No endpoints found for {model.id} within your max_price.",
                               "constraint_filtered", ["max_price"],
                               ", ".join(f"{k} <= {v}" for k, v in cap.items()))
    ranked = _rank(model, allowed, prefs)
    named: list[CatalogEndpoint] = []
    for name in order:
        named.extend(ep for ep in ranked if name in ep.names() and ep not in named)
    if prefs.get("allow_fallbacks") is False:
        ranked = named if order else ranked[:1]
        if not ranked:
            raise _unavailable(model, "No allowed providers are available for the selected model.",
                               "constraint_filtered", ["order"],
                               "allow_fallbacks is false and no provider in order serves this model",
                               {"available_providers": _slugs(allowed), "requested_providers": order})
    else:
        ranked = named + [ep for ep in ranked if ep not in named]
    return [ep for ep in ranked if ep.names() & byok] + [ep for ep in ranked if not ep.names() & byok]


# -- the whole decision ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Route:
    """Where a request goes: the model that answers (a fallback, maybe) and its endpoint."""

    model: CatalogModel
    endpoint: CatalogEndpoint
    byok: bool
    #: Endpoints tried first that failed (their provider was down), in order.
    failed: tuple[CatalogEndpoint, ...] = ()
    #: The model id's routing variant: "floor" (cheapest first, flex tiers eligible),
    #: "nitro" (fastest first), or "".
    variant: str = ""


#: ``:floor`` and ``:nitro``: the same model and providers, ranked by price / throughput
#: (what ``provider.sort`` does); ``:floor`` also lets a provider's flex tier serve.
VARIANT_SORTS = {"floor": "price", "nitro": "throughput"}


def split_variant(name: Any) -> tuple[Any, str]:
    """``("openai/gpt-4o-mini", "floor")`` for ``openai/gpt-4o-mini:floor``; other names as
    they are, with "" (``:free`` is a model of its own in the catalog)."""
    if isinstance(name, str) and name not in MODELS:
        base, sep, variant = name.rpartition(":")
        if sep and variant in VARIANT_SORTS and base in MODELS:
            return base, variant
    return name, ""


def model_chain(body: dict[str, Any]) -> list[CatalogModel]:
    """``model`` then the ``models`` fallbacks; ``models`` alone when ``model`` is absent.

    An unknown ``model`` is a 400; unknown fallbacks are skipped (the call can still be served).
    """
    name, fallbacks = split_variant(body.get("model"))[0], body.get("models")
    if fallbacks is not None and not (isinstance(fallbacks, list) and all(isinstance(m, str) for m in fallbacks)):
        raise _bad("models must be an array of model ids")
    fallbacks = [split_variant(m)[0] for m in fallbacks or []]
    extra = [MODELS[m] for m in dict.fromkeys(fallbacks) if m in MODELS and m != name]
    if name is None:
        if fallbacks:
            if not extra:
                raise ApiError(400, f"{fallbacks[0]} is not a valid model ID")
            return extra
        return [MODELS[DEFAULT_MODEL]]
    if not isinstance(name, str) or name not in MODELS:
        raise ApiError(400, f"{name} is not a valid model ID")
    return [MODELS[name], *extra]


def missing_input(model: CatalogModel, needs: frozenset[str]) -> ApiError | None:
    """OpenRouter's 404 when ``model`` lacks an input modality the request needs, else None.

    The body is the one observed from OpenRouter (message and code, no ``availability``):
    ``No endpoints found that support image input``.
    """
    missing = sorted(needs - set(model.input_modalities))
    if not missing:
        return None
    return ApiError(404, f"No endpoints found that support {missing[0]} input", typed=False)


def _served(chain: list[CatalogModel], prefs: dict[str, Any] | None, byok: frozenset[str],
            needs: frozenset[str] = frozenset(),
            ) -> Iterable[tuple[CatalogModel, list[CatalogEndpoint] | ApiError]]:
    """Each model of the chain with its candidate endpoints (or why it has none).

    A router (``openrouter/auto``) stands for the first of its ``routes_to`` models that the
    preferences allow (``max_price`` included), so the answer comes from, and is billed as,
    that model: what OpenRouter's Auto Router does with its "-1" (variable) price.
    A model without an input modality in ``needs`` (an image to a text-only model) has no
    endpoint for the request: the next model of the chain is tried.
    """
    for model in chain:
        if not model.routes_to:
            lacking = missing_input(model, needs)
            if lacking is not None:
                yield model, lacking
                continue
            try:
                yield model, candidates(model, prefs, byok)
            except ApiError as exc:
                yield model, exc
            continue
        first: ApiError | None = None
        for target in (MODELS[t] for t in model.routes_to if t in MODELS):
            lacking = missing_input(target, needs)
            if lacking is not None:
                first = first or lacking
                continue
            try:
                eps = candidates(target, prefs, byok)
            except ApiError as exc:
                first = first or exc
                continue
            yield target, eps
            break
        else:
            yield model, first or ApiError(404, f"No endpoints found for {model.id}.")


def route(body: dict[str, Any], *, byok: frozenset[str] = frozenset(),
          down: frozenset[str] = frozenset(), needs: frozenset[str] = frozenset()) -> Route:
    """Pick the model and endpoint for ``body``, or raise the error OpenRouter would send.

    ``needs``: input modalities the request's content parts need (``{"image"}``).
    """
    prefs = check_provider(body.get("provider"))
    variant = split_variant(body.get("model"))[1]
    if variant and not (prefs or {}).get("sort"):
        prefs = {**(prefs or {}), "sort": VARIANT_SORTS[variant]}
    failed: list[CatalogEndpoint] = []
    error: ApiError | None = None
    for model, eps_or_error in _served(model_chain(body), prefs, byok, needs):
        if isinstance(eps_or_error, ApiError):
            error = eps_or_error
            continue
        for ep in eps_or_error:
            if ep.names() & down:
                failed.append(ep)
                error = ApiError(502, "Provider returned error", metadata={
                    "provider_name": ep.provider_name, "is_byok": bool(ep.names() & byok),
                    "error_type": "provider_unavailable"})
                continue
            return Route(model, ep, bool(ep.names() & byok), tuple(failed), variant)
    assert error is not None  # a chain is never empty and every model has an endpoint
    raise error
