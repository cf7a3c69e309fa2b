"""The routing flags of ``%%edge`` and ``%edge route``, and the saved routing defaults."""

from __future__ import annotations

import argparse
from typing import Any

from ._errors import RoutingError
from ._max_price import MaxPrice, parse_max_price
from ._names import check_model_id, parse_provider_list, service_tier
from ._prefs import RoutePrefs, validate
from ._providers import DATA_COLLECTION, SORTS


def _names_arg(text: str) -> list[str]:
    if text.strip().lower() == "none":  # clears a saved default for one cell
        return []
    try:
        return parse_provider_list(text)
    except RoutingError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _models_arg(text: str) -> list[str]:
    if text.strip().lower() == "none":
        return []
    try:
        return [check_model_id(m) for m in text.split(",") if m.strip()]
    except RoutingError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def tier_arg(text: str) -> str:
    """``--tier``'s argparse type (the magic's and ``edge-jupyter ask``'s): the routing
    check's sentence as argparse's message."""
    try:
        return service_tier(text)
    except RoutingError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _max_price_arg(text: str) -> MaxPrice:
    try:
        return parse_max_price(text)
    except RoutingError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_route_arguments(parser: argparse.ArgumentParser, *, cell: bool = True) -> Any:
    """Add the provider-routing flags to ``parser`` (``%%edge`` and ``%edge route`` share them).

    Destinations are prefixed ``route_`` so they cannot collide with the magic's own flags;
    read them back with :func:`route_from_args`. Lists may be repeated or comma-separated,
    and ``none`` clears a saved default for one cell (``--ignore none``). ``cell=True``
    adds ``--no-route-defaults`` (ignore the saved defaults for this cell).
    """
    g = parser.add_argument_group(
        "provider routing",
        "OpenRouter's provider preferences. Names are provider slugs (amazon-bedrock, azure, "
        "google-vertex/us-east5 …); `%edge models MODEL --endpoints` lists a model's providers.")
    many = {"action": "extend", "type": _names_arg, "metavar": "NAME[,NAME…]"}
    g.add_argument("--provider", dest="route_order", help="try these providers first, in this order",
                   **many)  # type: ignore[arg-type]
    g.add_argument("--only", dest="route_only", help="use only these providers", **many)  # type: ignore[arg-type]
    g.add_argument("--ignore", dest="route_ignore", help="never use these providers", **many)  # type: ignore[arg-type]
    fb = g.add_mutually_exclusive_group()
    fb.add_argument("--no-fallbacks", dest="route_allow_fallbacks", action="store_const", const=False,
                    help="no backup provider: only the --provider list (or OpenRouter's first choice)")
    fb.add_argument("--allow-fallbacks", dest="route_allow_fallbacks", action="store_const", const=True,
                    help="allow backup providers (overrides a saved --no-fallbacks)")
    g.add_argument("--data-collection", dest="route_data_collection", choices=DATA_COLLECTION,
                   help="deny: only providers that do not store or train on your data")
    g.add_argument("--zdr", dest="route_zdr", action=argparse.BooleanOptionalAction, default=None,
                   help="only zero-data-retention endpoints")
    g.add_argument("--sort", dest="route_sort", choices=SORTS,
                   help="rank providers by price, throughput or latency (when no --provider order)")
    g.add_argument("--max-price", dest="route_max_price", type=_max_price_arg, metavar="PROMPT/COMPLETION",
                   help="highest price in USD per million tokens, e.g. 1/2")
    g.add_argument("--fallback", dest="route_fallbacks", action="extend", type=_models_arg,
                   metavar="MODEL", help="another model to try if this one fails (repeatable)")
    if cell:
        g.add_argument("--no-route-defaults", dest="route_no_defaults", action="store_true",
                       help="ignore the routing defaults saved with `%%edge route` for this cell")
    return g


def route_from_args(namespace: argparse.Namespace) -> RoutePrefs:
    """The :class:`RoutePrefs` given by the flags of :func:`add_route_arguments` (unset = None)."""
    get = vars(namespace).get
    return RoutePrefs(
        order=get("route_order"), only=get("route_only"), ignore=get("route_ignore"),
        allow_fallbacks=get("route_allow_fallbacks"), data_collection=get("route_data_collection"),
        zdr=get("route_zdr"), sort=get("route_sort"), max_price=get("route_max_price"),
        fallbacks=get("route_fallbacks"),
    )


def effective_route(namespace: argparse.Namespace, defaults: RoutePrefs
                    ) -> tuple[RoutePrefs, list[str]]:
    """The cell's flags over the saved defaults (unless ``--no-route-defaults``), validated.

    Returns the preferences to send and any warnings to show; raises :class:`RoutingError`.
    """
    return effective_prefs(route_from_args(namespace), defaults,
                           use_defaults=not vars(namespace).get("route_no_defaults"))


def effective_prefs(prefs: RoutePrefs, defaults: RoutePrefs, *, use_defaults: bool = True
                    ) -> tuple[RoutePrefs, list[str]]:
    """A call's own preferences over the saved defaults (unless ``use_defaults`` is off),
    validated: the preferences to send and any warnings; raises :class:`RoutingError`."""
    merged = prefs.merged_over(defaults) if use_defaults else prefs
    return merged, validate(merged)


def load_defaults() -> RoutePrefs:
    """The routing defaults saved in the preferences file (``%edge route``)."""
    from .. import preferences

    return RoutePrefs.from_json(preferences.load().route)


def save_defaults(prefs: RoutePrefs, *, over_saved: bool = False) -> None:
    """Save ``prefs`` as the routing defaults (validated first, so a bad set is never stored).

    ``over_saved``: ``prefs`` is a change, merged over the defaults as saved at that moment,
    inside the preferences lock (another kernel's change made meanwhile is kept).
    """
    from .. import preferences

    def change(saved: preferences.Preferences) -> None:
        merged = prefs.merged_over(RoutePrefs.from_json(saved.route)) if over_saved else prefs
        validate(merged)
        saved.route = merged.to_json()

    if not over_saved:
        validate(prefs)
    preferences.edit(change)
