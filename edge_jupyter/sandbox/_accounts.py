"""Account state: keys, credits, per-key limits, PKCE auth codes, generations.

One lock guards everything, because every operation is tiny and the sandbox
must stay consistent under concurrent streams (a charge and a ``/key`` read
must never interleave half-way). Money is ``Decimal`` throughout; floats only
appear when a JSON body is rendered.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

USER_ID = "user_sandbox"


def new_key() -> str:
    """A fresh key in OpenRouter's format, ``sk-or-v1-`` + 64 hex digits."""
    return "sk-or-v1-" + secrets.token_hex(32)


def mask(key: str) -> str:
    """The label OpenRouter shows for an unnamed key: ``sk-or-v1-abc...xyz``."""
    return f"{key[:12]}...{key[-3:]}"


def s256(verifier: str) -> str:
    """PKCE S256: base64url(sha256(verifier)) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass
class KeyRecord:
    """One API (or management) key and what it has spent."""

    key: str
    limit: Decimal | None = None
    usage: Decimal = Decimal(0)
    byok_usage: Decimal = Decimal(0)
    management: bool = False
    revoked: bool = False

    @property
    def limit_remaining(self) -> Decimal | None:
        """USD left under the key's cap, ``None`` when uncapped."""
        return None if self.limit is None else max(Decimal(0), self.limit - self.usage)

    def info(self, free_tier: bool) -> dict[str, Any]:
        """The ``data`` of ``GET /api/v1/key`` (all usage windows equal lifetime usage)."""
        usage = float(self.usage)
        byok = float(self.byok_usage)
        remaining = self.limit_remaining
        return {
            "label": mask(self.key),
            "limit": None if self.limit is None else float(self.limit),
            "limit_remaining": None if remaining is None else float(remaining),
            "limit_reset": None,
            "include_byok_in_limit": False,
            "usage": usage,
            "usage_daily": usage,
            "usage_weekly": usage,
            "usage_monthly": usage,
            "byok_usage": byok,
            "byok_usage_daily": byok,
            "byok_usage_weekly": byok,
            "byok_usage_monthly": byok,
            "is_free_tier": free_tier,
            "is_management_key": self.management,
            "is_provisioning_key": self.management,
            "expires_at": None,
            "creator_user_id": USER_ID,
            "rate_limit": {
                "requests": -1,
                "interval": "10s",
                "note": "This field is deprecated and safe to ignore.",
            },
        }


@dataclass
class AuthCode:
    """A PKCE authorization code waiting to be exchanged for a key."""

    challenge: str
    method: str
    limit: Decimal | None
    issued: float = field(default_factory=time.monotonic)

    def verifies(self, verifier: str) -> bool:
        """Whether ``verifier`` matches the stored challenge (constant time)."""
        expected = s256(verifier) if self.method == "S256" else verifier
        return hmac.compare_digest(expected.encode(), self.challenge.encode())


@dataclass
class Generation:
    """What ``GET /api/v1/generation`` reports once the record is "ready"."""

    id: str
    key: str
    data: dict[str, Any]
    ready_at: float


class Accounts:
    """Keys, balance, auth codes and generation records of the one sandbox user."""

    def __init__(self, credits: float) -> None:
        self._lock = threading.Lock()
        self.initial_credits = Decimal(str(credits))
        self.total_credits = self.initial_credits
        self.total_usage = Decimal(0)
        self._keys: dict[str, KeyRecord] = {}
        self._codes: dict[str, AuthCode] = {}
        self._generations: dict[str, Generation] = {}

    # -- keys ---------------------------------------------------------------
    def add_key(self, key: str | None = None, *, limit: float | Decimal | None = None,
                management: bool = False) -> str:
        """Create (or register) a key and return it."""
        key = key or new_key()
        lim = None if limit is None else Decimal(str(limit))
        with self._lock:
            self._keys[key] = KeyRecord(key, limit=lim, management=management)
        return key

    def lookup(self, key: str) -> KeyRecord | None:
        """The live record for ``key``; ``None`` if unknown or revoked."""
        with self._lock:
            rec = self._keys.get(key)
            return rec if rec is not None and not rec.revoked else None

    def revoke(self, key: str) -> None:
        """Make ``key`` unusable (401 ``User not found`` from now on)."""
        with self._lock:
            if key in self._keys:
                self._keys[key].revoked = True

    def key_info(self, rec: KeyRecord) -> dict[str, Any]:
        """``/key`` data for ``rec``, read consistently."""
        with self._lock:
            return rec.info(free_tier=self.total_credits <= 0)

    # -- money --------------------------------------------------------------
    @property
    def remaining(self) -> Decimal:
        """Account balance left: credits bought minus credits used."""
        with self._lock:
            return self.total_credits - self.total_usage

    def charge(self, rec: KeyRecord, cost: Decimal, byok_upstream: Decimal) -> None:
        """Take ``cost`` off the balance and the key; note BYOK spend on the key."""
        with self._lock:
            self.total_usage += cost
            rec.usage += cost
            rec.byok_usage += byok_upstream

    def credits_json(self) -> dict[str, Any]:
        """The ``data`` of ``GET /api/v1/credits``."""
        with self._lock:
            return {"total_credits": float(self.total_credits), "total_usage": float(self.total_usage)}

    # -- PKCE ---------------------------------------------------------------
    def issue_code(self, challenge: str, method: str, limit: Decimal | None) -> str:
        """Store a challenge and return the single-use code that redeems it."""
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = AuthCode(challenge, method, limit)
        return code

    def take_code(self, code: str) -> AuthCode | None:
        """Remove and return the code's record: any exchange attempt burns the code."""
        with self._lock:
            return self._codes.pop(code, None)

    # -- generations --------------------------------------------------------
    def add_generation(self, gen: Generation) -> None:
        """Remember a finished completion for ``/generation``."""
        with self._lock:
            self._generations[gen.id] = gen

    def generation(self, gen_id: str, key: str) -> dict[str, Any] | None:
        """The record if it exists, belongs to ``key`` and is ready yet."""
        with self._lock:
            gen = self._generations.get(gen_id)
        if gen is None or gen.key != key or time.monotonic() < gen.ready_at:
            return None
        return gen.data

    def reset(self, keep_valid: tuple[str, ...] = ()) -> None:
        """Restore the balance, zero every key's usage, un-revoke ``keep_valid``;
        forget codes and generations."""
        with self._lock:
            self.total_credits = self.initial_credits
            self.total_usage = Decimal(0)
            for rec in self._keys.values():
                rec.usage = Decimal(0)
                rec.byok_usage = Decimal(0)
                if rec.key in keep_valid:
                    rec.revoked = False
            self._codes.clear()
            self._generations.clear()
