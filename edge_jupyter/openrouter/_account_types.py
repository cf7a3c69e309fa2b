"""What OpenRouter's management API returns (``/keys``, ``/activity``), parsed defensively.

Every route here needs a management (provisioning) key.  Parsing is tolerant like
:meth:`KeyInfo.from_json <edge_jupyter.openrouter.KeyInfo.from_json>`: a figure that is not a
finite number reads as ``None`` (a limit) or 0 (a spend), a missing text as "".  The client
scrubs every text on arrival (:meth:`ApiKey.scrubbed`), so a server cannot put a key or a
control character into a table through a key's name.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..user_numbers import whole
from ._types import _left, _spend

#: OpenRouter's key hashes are 64 hex digits; anything else that is only letters, digits,
#: ``-`` and ``_`` is kept too (a future format), while a hash with ``/`` or ``..`` is not:
#: it goes into a URL path (``/keys/{hash}``), where it must stay one segment.
_SAFE_HASH = re.compile(r"[A-Za-z0-9_-]{1,128}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
#: The resets OpenRouter knows (``None``: the limit never resets).
LIMIT_RESETS = ("daily", "weekly", "monthly")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _optional_text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _tokens(value: Any) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return whole(value, low=0) or 0


@dataclass(frozen=True)
class ApiKey:
    """One key of the account as ``GET /keys`` and ``/keys/{hash}`` describe it.

    ``label`` is the masked key (``sk-or-v1-abc...xyz``), the same text ``GET /key`` gives the
    key itself: the only way to tell which listed key is the connected one (``hash`` is an
    id, not something a client can compute from the key).
    """

    hash: str
    name: str = ""
    label: str = ""
    disabled: bool = False
    limit: float | None = None
    limit_remaining: float | None = None
    limit_reset: str | None = None
    include_byok_in_limit: bool = False
    usage: float = 0.0
    usage_daily: float = 0.0
    usage_weekly: float = 0.0
    usage_monthly: float = 0.0
    byok_usage: float = 0.0
    byok_usage_daily: float = 0.0
    byok_usage_weekly: float = 0.0
    byok_usage_monthly: float = 0.0
    created_at: str | None = None
    updated_at: str | None = None
    expires_at: str | None = None
    creator_user_id: str | None = None
    workspace_id: str | None = None

    @classmethod
    def from_json(cls, data: Any) -> ApiKey:
        """One ApiKeyJSON (or ``{"data": ApiKeyJSON}``); a hash that is unsafe in a URL is ""."""
        d = data.get("data", data) if isinstance(data, dict) else None
        d = d if isinstance(d, dict) else {}
        raw_hash = d.get("hash")
        reset = d.get("limit_reset")
        return cls(
            hash=raw_hash if isinstance(raw_hash, str) and _SAFE_HASH.fullmatch(raw_hash) else "",
            name=_text(d.get("name")),
            label=_text(d.get("label")),
            disabled=d.get("disabled") is True,
            limit=_left(d.get("limit")),
            limit_remaining=_left(d.get("limit_remaining")),
            limit_reset=reset if reset in LIMIT_RESETS else None,
            include_byok_in_limit=d.get("include_byok_in_limit") is True,
            usage=_spend(d.get("usage")),
            usage_daily=_spend(d.get("usage_daily")),
            usage_weekly=_spend(d.get("usage_weekly")),
            usage_monthly=_spend(d.get("usage_monthly")),
            byok_usage=_spend(d.get("byok_usage")),
            byok_usage_daily=_spend(d.get("byok_usage_daily")),
            byok_usage_weekly=_spend(d.get("byok_usage_weekly")),
            byok_usage_monthly=_spend(d.get("byok_usage_monthly")),
            created_at=_optional_text(d.get("created_at")),
            updated_at=_optional_text(d.get("updated_at")),
            expires_at=_optional_text(d.get("expires_at")),
            creator_user_id=_optional_text(d.get("creator_user_id")),
            workspace_id=_optional_text(d.get("workspace_id")),
        )

    def scrubbed(self, scrub: Callable[[str], str]) -> ApiKey:
        """The same key with every text the server wrote passed through ``scrub``."""
        texts = ("name", "label", "created_at", "updated_at", "expires_at", "creator_user_id",
                 "workspace_id")
        changes: dict[str, Any] = {n: scrub(getattr(self, n)) for n in texts if getattr(self, n)}
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class CreatedKey:
    """``POST /keys``'s answer: the new key's description and its plaintext (given once).

    The plaintext is never in a repr, so printing one (or a traceback showing it) leaks nothing.
    """

    info: ApiKey
    key: str = field(repr=False)


@dataclass(frozen=True)
class ActivityRow:
    """One row of ``GET /activity``: a (UTC date, model, endpoint)'s spend and tokens."""

    date: str
    model: str
    model_permaslug: str = ""
    endpoint_id: str = ""
    provider_name: str = ""
    usage: float = 0.0
    byok_usage_inference: float = 0.0
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0

    @classmethod
    def from_json(cls, data: Any) -> ActivityRow | None:
        """One activity item; None when it has no ``YYYY-MM-DD`` date (it belongs to no day)."""
        d = data if isinstance(data, dict) else {}
        date = d.get("date")
        if not isinstance(date, str) or not _DATE.fullmatch(date[:10]):
            return None
        return cls(
            date=date[:10],
            model=_text(d.get("model")),
            model_permaslug=_text(d.get("model_permaslug")),
            endpoint_id=_text(d.get("endpoint_id")),
            provider_name=_text(d.get("provider_name")),
            usage=_spend(d.get("usage")),
            byok_usage_inference=_spend(d.get("byok_usage_inference")),
            requests=_tokens(d.get("requests")),
            prompt_tokens=_tokens(d.get("prompt_tokens")),
            completion_tokens=_tokens(d.get("completion_tokens")),
            reasoning_tokens=_tokens(d.get("reasoning_tokens")),
        )

    def scrubbed(self, scrub: Callable[[str], str]) -> ActivityRow:
        texts = ("model", "model_permaslug", "endpoint_id", "provider_name")
        changes: dict[str, Any] = {n: scrub(getattr(self, n)) for n in texts}
        return dataclasses.replace(self, **changes)
