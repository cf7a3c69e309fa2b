"""OpenRouter's "no endpoints" answer: which preference excluded every provider of a model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from ..money import per_million_usd
from ._names import _covers
from ._prefs import RoutePrefs
from ._providers import _LOWER_DISPLAY, PRIVACY_URL, SLUG_TO_DISPLAY
from ._reach import name_filters


@dataclass(frozen=True)
class _Endpoint:
    """One provider endpoint of a model, reduced to what routing looks at."""

    label: str
    names: frozenset[str]
    prompt: Decimal | None
    completion: Decimal | None

    def matches(self, name: str) -> bool:
        return any(_covers(name.lower(), n) for n in self.names)


def _price(pricing: Any, key: str) -> Decimal | None:
    try:
        return Decimal(str(pricing[key]))
    except (KeyError, TypeError, InvalidOperation):
        return None


def _endpoint_dicts(endpoints: Any) -> tuple[str | None, list[Mapping[str, Any]]]:
    """Accept the whole ``/endpoints`` response, its ``data``, or the bare endpoint list."""
    data = endpoints
    if isinstance(data, Mapping) and isinstance(data.get("data"), Mapping):
        data = data["data"]
    if isinstance(data, Mapping):
        model = data.get("id") if isinstance(data.get("id"), str) else None
        rows = data.get("endpoints") or []
    else:
        model, rows = None, data or []
    return model, [r for r in rows if isinstance(r, Mapping)]


def _reduce(rows: list[Mapping[str, Any]]) -> list[_Endpoint]:
    named = [str(r.get("provider_name") or r.get("tag") or "?") for r in rows]
    out = []
    for row, label in zip(rows, named, strict=True):
        tag = str(row.get("tag") or "").lower()
        names = {label.lower(), tag, tag.split("/", 1)[0]}
        if label.lower() in _LOWER_DISPLAY:
            names.add(_LOWER_DISPLAY[label.lower()])
        if named.count(label) > 1 and tag:
            label = f"{label} ({tag})"
        pricing = row.get("pricing") or {}
        out.append(_Endpoint(label, frozenset(n for n in names if n), _price(pricing, "prompt"),
                             _price(pricing, "completion")))
    return out


def _from_metadata(metadata: Mapping[str, Any] | None) -> list[_Endpoint]:
    """OpenRouter's "No allowed providers" 404 lists ``available_providers`` (slugs)."""
    slugs = (metadata or {}).get("available_providers") or []
    return [_Endpoint(SLUG_TO_DISPLAY.get(str(s), str(s)), frozenset({str(s).lower()}), None, None)
            for s in slugs]


def _labels(eps: Sequence[_Endpoint]) -> str:
    return ", ".join(e.label for e in eps)


def _per_m(value: Decimal | None) -> str:
    """A per-token price as USD per million, at least two decimals: ``$0.80``, ``$0.055``."""
    return per_million_usd(value) if value is not None else "?"


def is_no_endpoints_error(status: int, message: str, metadata: Mapping[str, Any] | None = None) -> bool:
    """Is this OpenRouter's "nothing can serve this request" answer (400/404)?

    Recognised by the messages OpenRouter is seen to send ("No endpoints found …",
    "No allowed providers are available …") or the documented ``availability`` codes.
    """
    if status not in (400, 404):
        return False
    low = message.lower()
    if "no endpoints" in low or "no allowed providers" in low:
        return True
    meta = metadata or {}
    raw = meta.get("availability")
    availability: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    return "available_providers" in meta or availability.get("code") in (
        "no_endpoints", "constraint_filtered", "privacy_restricted")


def explain_no_endpoints(prefs: RoutePrefs, endpoints: Any, *, model: str | None = None,
                         message: str = "", metadata: Mapping[str, Any] | None = None) -> str:
    """Say which preference excluded every provider of the model, in one or two sentences.

    ``endpoints`` is what ``OpenRouterClient.model_endpoints(model)`` returns (or the raw
    response, or ``None`` when it could not be fetched: then the 404's own
    ``available_providers`` metadata is used). The filters are replayed in OpenRouter's
    order (``only``, ``ignore``, ``order`` without fallbacks, ``max_price``); the first
    that leaves nobody is named. Data policy (``--data-collection deny``, ``--zdr``)
    cannot be replayed: the endpoint list does not publish it, so it is named when it is
    the only preference left that could explain the answer.
    """
    listed_model, rows = _endpoint_dicts(endpoints)
    model = model or listed_model or "this model"
    eps = _reduce(rows) if rows else _from_metadata(metadata)
    said = f" (OpenRouter: {message.strip()})" if message.strip() else ""
    if not eps:
        return (f"OpenRouter lists no provider for {model} right now, so no routing preference "
                f"can help; try another model{said}.")
    head = (f"the only provider of {model} ({_labels(eps)})" if len(eps) == 1
            else f"all {len(eps)} providers of {model} ({_labels(eps)})")
    fix = " Loosen it for this cell, or change the defaults with `%edge route`."
    filters: list[tuple[str, Any]] = list(name_filters(prefs))
    cap = prefs.max_price
    if cap is not None:
        filters.append((f"--max-price {cap.flag()}",
                        lambda e: e.prompt is None or e.completion is None or cap.admits(e.prompt, e.completion)))
    alive = eps
    narrowed: list[tuple[str, list[_Endpoint]]] = []
    for flag, keep in filters:
        kept = [e for e in alive if keep(e)]
        if not kept:
            detail = ""
            if flag.startswith("--max-price"):
                detail = " (" + "; ".join(f"{e.label} {_per_m(e.prompt)}/{_per_m(e.completion)} per M"
                                          for e in alive) + ")"
            if not narrowed:
                return f"`{flag}` excluded {head}{detail}.{fix}"
            steps = "; ".join(f"`{f}` left {_labels(k)}" for f, k in narrowed)
            return (f"Of {head.removeprefix('all ')}: {steps}; then `{flag}` excluded "
                    f"{'it' if len(alive) == 1 else 'those'}{detail}.{fix}")
        if len(kept) < len(alive):
            narrowed.append((flag, kept))
        alive = kept
    policy = [f for f, on in (("--data-collection deny", prefs.data_collection == "deny"),
                              ("--zdr", bool(prefs.zdr))) if on]
    rest = (f"the remaining provider{'s' if len(alive) != 1 else ''} ({_labels(alive)})"
            if len(alive) < len(eps) else head)
    if policy:
        flag = " ".join(policy)
        verdict = "none of them meets" if len(alive) > 1 else "it does not meet"
        fix = (" Drop it for this cell, or pick a model with a compliant provider "
               f"(your account-wide policy is at {PRIVACY_URL}).")
        if not narrowed:
            return f"`{flag}` excluded {head}: {verdict} that data policy.{fix}"
        steps = "; ".join(f"`{f}` left {_labels(k)}" for f, k in narrowed)
        return (f"Of {head.removeprefix('all ')}: {steps}; then `{flag}` excluded "
                f"{'it' if len(alive) == 1 else 'those'}: {verdict} that data policy.{fix}")
    if "data policy" in message.lower():
        return (f"Your account's data policy excluded {rest}; change it at {PRIVACY_URL} "
                f"or pick another model{said}.")
    flags = prefs.flags()
    mine = f"Your routing preferences ({flags}) leave" if flags else "No routing preference of yours excludes"
    return (f"{mine} {_labels(alive)} for {model}, yet OpenRouter found no endpoint{said}. "
            f"Your account-wide provider settings ({PRIVACY_URL}) also apply: check its "
            "allowed and ignored providers.")
