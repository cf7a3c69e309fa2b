"""When to try a failed request again, and how long to wait (pure arithmetic)."""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait, from ``Retry-After`` (seconds or HTTP date) or ``X-RateLimit-Reset``.

    ``X-RateLimit-Reset`` is undocumented: epoch seconds or milliseconds, so both are read.
    """
    now = time.time() if now is None else now
    value = headers.get("retry-after")
    if value:
        value = value.strip()
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                return max(0.0, parsedate_to_datetime(value).timestamp() - now)
            except (TypeError, ValueError):
                pass
    reset = headers.get("x-ratelimit-reset")
    if reset:
        try:
            stamp = float(reset)
        except ValueError:
            return None
        if stamp > 1e11:  # milliseconds
            stamp /= 1000.0
        return max(0.0, stamp - now) if stamp > 1e9 else max(0.0, stamp)
    return None


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter that honours the server's ``Retry-After``.

    ``max_wait`` bounds a single wait: a longer ``Retry-After`` is reported to the
    user instead of silently blocking the cell.
    """

    max_retries: int = 2
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_wait: float = 20.0

    def delay(self, attempt: int, retry_after: float | None) -> float | None:
        """Seconds to sleep before retry number ``attempt`` (1-based), or None to give up."""
        if attempt > self.max_retries:
            return None
        if retry_after is not None:
            return retry_after if retry_after <= self.max_wait else None
        backoff = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return backoff * (0.75 + random.random() * 0.5)
