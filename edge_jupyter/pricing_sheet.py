"""OpenRouter's whole price sheet: the conditional ``overrides`` of a ``pricing`` object
(tiers above ``min_prompt_tokens``, daily UTC windows), its ``discount``, and one wording
of a price for people (``%edge models``, the panel).

Pure: no I/O, no clock unless none is given. :class:`edge_jupyter.openrouter.Pricing`
parses an override with :func:`parse_override` and resolves its prices with
:meth:`~edge_jupyter.openrouter.Pricing.at`; budgets price a call with :func:`dearest_soon`
(the dearer of now and the next few minutes: a call may start in one window and be billed
in the next).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from .user_numbers import finite, real

if TYPE_CHECKING:
    from .openrouter import Pricing

#: ``PricingOverride`` price keys -> :class:`Pricing` fields (audio prices are not modelled).
OVERRIDE_KEYS = {"prompt": "prompt", "completion": "completion", "input_cache_read": "cache_read",
                 "input_cache_write": "cache_write", "input_cache_write_1h": "cache_write_1h"}
#: Fields a ``discount`` scales: the per-token ones.  Per-request, per-image and per-search
#: prices stay whole (the safe side, should OpenRouter not discount them).
DISCOUNTED = ("prompt", "completion", "reasoning", "cache_read", "cache_write", "cache_write_1h")
#: How far ahead an estimate looks for a dearer window (a call started now may be billed then).
WINDOW_LOOKAHEAD = timedelta(minutes=10)


@dataclass(frozen=True)
class PriceOverride:
    """One ``PricingOverride``: its conditions and the prices it sets (``None``: not a price)."""

    min_prompt_tokens: float | None = None
    utc_start: int | None = None
    utc_end: int | None = None
    prices: tuple[tuple[str, float | None], ...] = ()

    def holds(self, prompt_tokens: int, when: datetime) -> bool:
        """Do all of this entry's conditions match a request of ``prompt_tokens`` at ``when``?"""
        if self.min_prompt_tokens is not None and not prompt_tokens > self.min_prompt_tokens:
            return False  # "strictly greater than this threshold"
        if self.utc_start is None and self.utc_end is None:
            return True
        return in_window(self.utc_start, self.utc_end, clock(when))

    def describe(self) -> str:
        """Its conditions in words: "above 200K prompt tokens", "22:00–06:00 UTC"."""
        parts = []
        if self.min_prompt_tokens is not None:
            parts.append(f"above {_tokens(self.min_prompt_tokens)} prompt tokens")
        if self.utc_start is not None or self.utc_end is not None:
            parts.append(f"{_hhmm(self.utc_start or 0)}–{_hhmm(2400 if self.utc_end is None else self.utc_end)} UTC")
        return " and ".join(parts) or "always"


def _tokens(n: float) -> str:
    return f"{n / 1000:g}K" if n >= 1000 and n % 1000 == 0 else f"{n:,.0f}"


def _hhmm(value: int) -> str:
    return f"{value // 100:02d}:{value % 100:02d}"


def clock(when: datetime) -> int:
    """``when`` as an HHMM clock number in UTC (a naive time is taken as UTC)."""
    utc = when.astimezone(timezone.utc) if when.tzinfo else when
    return utc.hour * 100 + utc.minute


def in_window(start: int | None, end: int | None, hhmm: int) -> bool:
    """Is ``hhmm`` inside the half-open daily window [start, end)?  ``start > end`` wraps past
    midnight (2200–0600 holds at 23:00 and 05:59, not at 06:00); a missing bound is the day's
    start or end; ``start == end`` is an empty window."""
    low, high = 0 if start is None else start, 2400 if end is None else end
    if low <= high:
        return low <= hhmm < high
    return hhmm >= low or hhmm < high


def _clock_number(value: Any) -> int | None:
    """An HHMM condition (``400``, ``1030.0``); None if absent or not a clock time."""
    number = finite(value, low=0, high=2400)
    if number is None or not float(number).is_integer() or int(number) % 100 >= 60:
        return None
    return int(number)


def parse_override(entry: Any) -> tuple[PriceOverride | None, str | None]:
    """(the override, None), or (None, why it cannot be used) for an entry we cannot read.

    A condition that is present but unreadable cannot be ignored (the entry would apply
    always, or never): the caller treats the price as unknown then, and so does a price
    that is variable (``"-1"``) or not a number.
    """
    if not isinstance(entry, dict):
        return None, "a price override that is not an object"
    minimum = entry.get("min_prompt_tokens")
    low = finite(minimum, low=0) if minimum is not None else None
    if minimum is not None and low is None:
        return None, f"a price override's min_prompt_tokens ({str(minimum)[:20]!r}) is not a count"
    window = {}
    for key in ("utc_start", "utc_end"):
        if entry.get(key) is not None:
            window[key] = _clock_number(entry.get(key))
            if window[key] is None:
                return None, f"a price override's {key} ({str(entry.get(key))[:20]!r}) is not an HHMM time"
    prices: list[tuple[str, float | None]] = []
    for key, name in OVERRIDE_KEYS.items():
        if entry.get(key) is None or entry.get(key) == "":
            continue
        value = None if real(entry[key], text=True) == -1 else finite(entry[key], low=0, text=True)
        prices.append((name, value))
    return PriceOverride(low, window.get("utc_start"), window.get("utc_end"), tuple(prices)), None


def read_discount(value: Any) -> tuple[float, str | None]:
    """(the fraction off, None), or (0.0, why) for a discount that is not between 0 and 1."""
    if value is None:
        return 0.0, None
    number = finite(value, low=0, high=1, text=True)
    if number is None:
        return 0.0, f"discount {str(value)[:20]!r} is not a fraction from 0 to 1"
    return number, None


def dearest_soon(pricing: Pricing, prompt_tokens: int, now: datetime | None = None) -> Pricing:
    """The prices a call of ``prompt_tokens`` may be billed at if it starts ``now``: field by
    field the dearest of :meth:`Pricing.at` now, at every window start within
    :data:`WINDOW_LOOKAHEAD`, and at its end."""
    start = now or datetime.now(timezone.utc)
    moments = [start, start + WINDOW_LOOKAHEAD]
    for override in pricing.all_overrides():
        if override.utc_start is not None:
            moments += [m for m in _window_starts(override.utc_start, start) if start < m < moments[1]]
    priced = [pricing.at(prompt_tokens, m) for m in moments]
    dearest = priced[0]
    for other in priced[1:]:
        dearest = dearest.dearer(other)
    return dearest


def _window_starts(hhmm: int, start: datetime) -> list[datetime]:
    day = (start.astimezone(timezone.utc) if start.tzinfo else start).replace(
        hour=hhmm // 100 % 24, minute=hhmm % 100, second=0, microsecond=0)
    return [day, day + timedelta(days=1)]


def price_text(pricing: Pricing) -> str:
    """A price for people, USD per million tokens: "$3.00/$15.00 (above 200K prompt tokens:
    $6.00/$22.50)", "… · 10% off", or "variable (bound it with --max-price)" for ``"-1"``."""
    from .money import per_million_usd

    if not pricing.known:
        if pricing.is_variable:
            return "variable (bound it with --max-price)"
        return f"unknown ({pricing.unknown_reason})" if pricing.unknown_reason else "unknown"

    def pair(p: Pricing) -> str:
        return f"{per_million_usd(p.prompt or 0.0)}/{per_million_usd(p.completion or 0.0)}"

    text = pair(pricing)
    tiers = [f"{o.describe()}: {pair(pricing.with_override(o))}" for o in pricing.overrides
             if any(name in ("prompt", "completion") for name, _ in o.prices)]
    if tiers:
        text += f" ({'; '.join(tiers)})"
    if pricing.discount:
        text += f" · {pricing.discount * 100:g}% off"
    return text
