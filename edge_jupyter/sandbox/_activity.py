"""``GET /api/v1/activity``: what the account spent, per UTC day, model and endpoint.

Built from the sandbox's own billing: every charge (``Accounts.charge``: chat
completions streamed or not, batch rows) adds an entry, whichever client made the
call, so a test can reconcile calls made straight to the sandbox against a ledger.
As on OpenRouter, only the last 30 *completed* UTC days are reported (today never,
on the sandbox's clock), and ``date=`` for a day outside them is a 400 with
OpenRouter's own words (reported in steipete/CodexBar#3133).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ._errors import ApiError

if TYPE_CHECKING:
    from ._http import Request
    from ._routes import Handler

#: How many completed UTC days ``/activity`` covers.
DAYS = 30
_OUT_OF_RANGE = "Date must be within the last 30 (completed) UTC days"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def endpoint_id(tag: str) -> str:
    """The id the sandbox gives an endpoint (``/generation``'s ``provider_responses`` too)."""
    return "ep_sandbox_" + tag.replace("/", "_")


@dataclass(frozen=True)
class Billed:
    """What a charged call was, as ``/activity`` groups and counts it."""

    model: str
    permaslug: str
    endpoint_id: str
    provider_name: str
    prompt_tokens: int
    completion_tokens: int
    reasoning_tokens: int


@dataclass(frozen=True)
class _Entry:
    day: date
    key_hash: str
    billed: Billed
    usage: Decimal
    byok: Decimal


class ActivityLog:
    """Every charged call, kept until ``Sandbox.reset`` (behind its own lock)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[_Entry] = []

    def add(self, at: datetime, key_hash: str, billed: Billed, usage: Decimal, byok: Decimal) -> None:
        """Note one charged call: ``usage`` what OpenRouter billed, ``byok`` what the
        provider billed the user's own key (BYOK), on the UTC day of ``at``."""
        with self._lock:
            self._entries.append(_Entry(at.date(), key_hash, billed, usage, byok))

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def rows(self, today: date, *, day: date | None = None,
             key_hash: str | None = None) -> list[dict[str, Any]]:
        """One row per (UTC date, model, endpoint) of the last ``DAYS`` completed days,
        oldest day first, then by model and endpoint."""
        first = today - timedelta(days=DAYS)
        groups: dict[tuple[date, str, str], list[_Entry]] = {}
        with self._lock:
            entries = list(self._entries)
        for e in entries:
            if not first <= e.day < today or (day is not None and e.day != day):
                continue
            if key_hash is not None and e.key_hash != key_hash:
                continue
            groups.setdefault((e.day, e.billed.model, e.billed.endpoint_id), []).append(e)
        return [_row(day_, group) for (day_, _, _), group in sorted(groups.items())]


def _row(day: date, group: list[_Entry]) -> dict[str, Any]:
    first = group[0].billed
    return {
        "date": day.isoformat(),
        "model": first.model,
        "model_permaslug": first.permaslug,
        "endpoint_id": first.endpoint_id,
        "provider_name": first.provider_name,
        "usage": float(sum((e.usage for e in group), Decimal(0))),
        "byok_usage_inference": float(sum((e.byok for e in group), Decimal(0))),
        "requests": len(group),
        "prompt_tokens": sum(e.billed.prompt_tokens for e in group),
        "completion_tokens": sum(e.billed.completion_tokens for e in group),
        "reasoning_tokens": sum(e.billed.reasoning_tokens for e in group),
    }


def _day(value: str | None, today: date) -> date | None:
    """The ``date`` filter: absent, or one of the last ``DAYS`` completed days; else 400."""
    if value is None or value == "":
        return None
    try:
        day = date.fromisoformat(value) if _DATE.match(value) else None
    except ValueError:
        day = None
    if day is None:
        raise ApiError(400, "Invalid request parameters: date must be a UTC date as YYYY-MM-DD")
    if not today - timedelta(days=DAYS) <= day < today:
        raise ApiError(400, _OUT_OF_RANGE)
    return day


def get_activity(h: Handler, req: Request) -> None:
    """``GET /api/v1/activity?date=&api_key_hash=`` (management keys only)."""
    from ._keys import manager  # _keys imports the completions module, which imports this one

    manager(h, req)
    accounts = h.sandbox.accounts
    today = accounts.clock.today()
    day = _day(req.query.get("date"), today)
    key_hash = req.query.get("api_key_hash") or None
    h.send_json(200, {"data": accounts.activity.rows(today, day=day, key_hash=key_hash)})
