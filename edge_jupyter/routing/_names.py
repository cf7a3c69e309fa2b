"""Provider names and model ids: checked against what OpenRouter knows, with suggestions."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

from ._errors import RoutingError
from ._providers import _BASES, _LOWER_DISPLAY

_VARIANT = re.compile(r"^[a-z0-9][a-z0-9._-]*(/[a-z0-9][a-z0-9._-]*)*$")
#: ``author/slug`` with an optional ``:variant`` (and the ``~`` of ``~openai/gpt-latest`` aliases).
_MODEL_ID = re.compile(r"^~?[A-Za-z0-9][\w.-]*/[\w.-]+(:[\w.-]+)?$")


def _suggestions(text: str, extra: Iterable[str] = ()) -> list[str]:
    """Close slugs for a misspelt name (display names are matched too, slugs returned)."""
    pool = {**{b: b for b in _BASES}, **_LOWER_DISPLAY, **{e.lower(): e.lower() for e in extra}}
    found = difflib.get_close_matches(text.lower(), list(pool), n=3, cutoff=0.6)
    return list(dict.fromkeys(pool[f] for f in found))


def provider_slug(name: str, extra_known: Iterable[str] = ()) -> str:
    """The canonical slug for a slug, a ``slug/variant`` or a display name.

    ``"Amazon Bedrock"`` -> ``amazon-bedrock``; ``"google-vertex/us-east5"`` is kept (it
    targets one endpoint); anything else raises :class:`RoutingError` with close matches.
    Slugs are what the spec's ``order``/``only``/``ignore`` descriptions ask for, so we
    always send slugs even when the user typed a display name. ``extra_known`` lets
    through slugs the caller has seen elsewhere (e.g. the ``tag`` of a model's endpoints),
    for providers newer than the table above.
    """
    text = name.strip()
    if not text:
        raise RoutingError("A provider name is empty; give slugs like amazon-bedrock,azure.")
    low = text.lower()
    if low in _LOWER_DISPLAY:
        return _LOWER_DISPLAY[low]
    base, sep, variant = low.partition("/")
    extra = {e.strip().lower().split("/", 1)[0] for e in extra_known}
    if base in _BASES or base in extra:
        if sep and not _VARIANT.match(variant):
            raise RoutingError(f"Provider {text!r}: after the '/' comes an endpoint variant such "
                               "as google-vertex/us-east5 or deepinfra/turbo.")
        return low
    hint = _suggestions(text, extra)
    did = f" Did you mean {' or '.join(hint)}?" if hint else ""
    raise RoutingError(f"Unknown provider {text!r}.{did} `%edge models MODEL --endpoints` "
                       "lists the providers that serve a model.")


def parse_provider_list(text: str | Iterable[str], extra_known: Iterable[str] = ()) -> list[str]:
    """``"amazon-bedrock, Azure"`` -> ``["amazon-bedrock", "azure"]`` (checked, de-duplicated).

    Every unknown name is reported in one error, so a user fixes them in one go.
    """
    parts = text.split(",") if isinstance(text, str) else [p for t in text for p in t.split(",")]
    extra = list(extra_known)
    out: list[str] = []
    problems: list[str] = []
    for part in parts:
        if not part.strip():
            continue
        try:
            slug = provider_slug(part, extra)
        except RoutingError as exc:
            problems.append(str(exc))
            continue
        if slug not in out:
            out.append(slug)
    if problems:
        raise RoutingError(" ".join(problems))
    if not out:
        raise RoutingError("No provider named; give slugs separated by commas, e.g. amazon-bedrock,azure.")
    return out


def check_model_id(model: str) -> str:
    """A fallback model id must look like ``author/slug`` (``:variant`` allowed)."""
    model = model.strip()
    if not _MODEL_ID.match(model):
        raise RoutingError(f"{model!r} is not a model id; fallback models look like "
                           "anthropic/claude-3.5-haiku.")
    return model


#: ``service_tier`` values a user picks (``--tier``, ``tier=``): the spec's enum has more
#: (``auto``, ``default``, ``scale``), but those are the default tier's names; ``fast`` is
#: the spec's alias of priority.
SERVICE_TIERS: tuple[str, ...] = ("flex", "priority")
#: Model id variants that only rank the same providers (``provider.sort``): priced as the
#: base model. ``:free`` and ``:online`` are not among them (other providers, other bills).
ROUTE_VARIANTS: dict[str, str] = {"floor": "price", "nitro": "throughput"}


def service_tier(value: str) -> str:
    """``flex`` or ``priority`` (``fast`` read as priority), else :class:`RoutingError`."""
    low = str(value).strip().lower()
    low = "priority" if low == "fast" else low
    if low not in SERVICE_TIERS:
        raise RoutingError(f"Service tier {value!r} is not one of flex, priority "
                           "(flex: about half price, may queue; priority: faster, dearer).")
    return low


def route_variant(model: str) -> tuple[str, str]:
    """``(base id, "floor")`` for ``openai/gpt-4o-mini:floor`` (likewise ``:nitro``); any
    other id as it is, with "". The variants re-rank the base model's providers, so its
    provider list and prices are the base model's."""
    base, sep, variant = model.rpartition(":")
    if sep and base and variant in ROUTE_VARIANTS:
        return base, variant
    return model, ""


def _covers(a: str, b: str) -> bool:
    """Does the name ``a`` select endpoint name ``b``? (``google-vertex`` covers ``google-vertex/eu``.)"""
    return a == b or b.startswith(a + "/")
