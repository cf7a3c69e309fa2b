"""The sandbox's own "now": real UTC plus an offset a test can move forward.

Key limits reset at 00:00 UTC and ``/activity`` only reports completed UTC days, so
a test needs tomorrow without waiting for it: ``sb.advance_clock(days=1)``. Only
billing uses this clock (key windows, expiry, activity dates); streams, pacing and
timeouts keep real time.
"""

from __future__ import annotations

import math
import threading
from datetime import date, datetime, timedelta, timezone

#: How a key's limit resets (OpenRouter's ``limit_reset``); ``None`` = never (the whole life).
PERIODS = ("daily", "weekly", "monthly")


class Clock:
    """Real UTC + an offset; thread-safe, and only ever moved forward."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offset = timedelta(0)

    def now(self) -> datetime:
        """The sandbox's current time (timezone-aware UTC)."""
        with self._lock:
            return datetime.now(timezone.utc) + self._offset

    def today(self) -> date:
        """The sandbox's current UTC date."""
        return self.now().date()

    def advance(self, days: float) -> datetime:
        """Move the clock ``days`` forward (a fraction is fine); returns the new now."""
        if isinstance(days, bool) or not isinstance(days, int | float):
            raise TypeError("days must be a number")
        if not math.isfinite(days) or days < 0:
            raise ValueError("days must be a finite number, at least 0 (the clock never goes back)")
        with self._lock:
            self._offset += timedelta(days=days)
        return self.now()

    def reset(self) -> None:
        """Back to real time."""
        with self._lock:
            self._offset = timedelta(0)


def window_start(period: str | None, now: datetime) -> datetime | None:
    """Start of the current limit window: today 00:00 UTC, this Monday, the 1st of the
    month; ``None`` for a key that never resets (its window is its whole life)."""
    midnight = now.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "daily":
        return midnight
    if period == "weekly":
        return midnight - timedelta(days=midnight.weekday())
    if period == "monthly":
        return midnight.replace(day=1)
    return None


def iso(moment: datetime | None) -> str | None:
    """OpenRouter's timestamp form, ``2025-08-24T10:30:00.000Z`` (UTC, milliseconds)."""
    if moment is None:
        return None
    utc = moment.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
