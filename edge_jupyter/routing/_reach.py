"""Which endpoints a route's provider lists leave OpenRouter (``only``, ``ignore``, ``order``).

Shared by the budget's worst case (``_worst_price``) and the "no endpoints" explanation
(``_no_endpoints``), so both replay OpenRouter's filtering the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from ._prefs import RoutePrefs, _join


class _Named(Protocol):
    def matches(self, name: str) -> bool: ...


E = TypeVar("E", bound=_Named)


def name_filters(route: RoutePrefs) -> list[tuple[str, Callable[[_Named], bool]]]:
    """The provider-list filters of ``route`` in OpenRouter's order, each with its flag.

    ``order`` only re-ranks while fallbacks are allowed; with ``allow_fallbacks: false`` only
    the listed providers remain (without an ``order`` it means "OpenRouter's first choice",
    which cannot be known, so nothing is removed).
    """
    only, ignore, order = route.only or [], route.ignore or [], route.order or []
    out: list[tuple[str, Callable[[_Named], bool]]] = []
    if only:
        out.append((f"--only {_join(only)}", lambda e: any(e.matches(n) for n in only)))
    if ignore:
        out.append((f"--ignore {_join(ignore)}", lambda e: not any(e.matches(n) for n in ignore)))
    if order and route.allow_fallbacks is False:
        out.append((f"--provider {_join(order)} --no-fallbacks",
                    lambda e: any(e.matches(n) for n in order)))
    return out


def reachable(endpoints: Sequence[E], route: RoutePrefs) -> list[E]:
    """The endpoints ``route``'s provider lists let OpenRouter use (``max_price`` aside)."""
    kept = list(endpoints)
    for _, keep in name_filters(route):
        kept = [e for e in kept if keep(e)]
    return kept
