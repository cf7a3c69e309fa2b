"""Account state: keys, credits, per-key limits, PKCE auth codes, generations, activity.

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
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from ._activity import ActivityLog, Billed
from ._clock import PERIODS, Clock, iso, window_start

USER_ID = "user_sandbox"
#: The one workspace every sandbox key belongs to (the account's default workspace).
WORKSPACE_ID = "00000000-0000-4000-8000-000000000001"


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


@dataclass(frozen=True)
class Charge:
    """One charge on a key, kept so spend can be counted per limit window."""

    at: datetime
    cost: Decimal
    byok: Decimal


@dataclass
class KeyRecord:
    """One API (or management) key, its settings and what it has spent.

    ``hash`` is random, as the spec's example hash is not the sha256 of its example key:
    a client must find a key by what ``/keys`` lists, never derive the hash.
    """

    key: str
    limit: Decimal | None = None
    usage: Decimal = Decimal(0)
    byok_usage: Decimal = Decimal(0)
    management: bool = False
    revoked: bool = False
    name: str = ""
    hash: str = field(default_factory=lambda: secrets.token_hex(32))
    disabled: bool = False
    limit_reset: str | None = None
    include_byok_in_limit: bool = False
    created_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    updated_at: datetime | None = None
    expires_at: datetime | None = None
    #: made by ``POST /keys``: ``Sandbox.reset`` deletes it
    via_api: bool = False
    charges: list[Charge] = field(default_factory=list)
    #: the settings it was made with, restored by ``Sandbox.reset``
    initial: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.initial = {name: getattr(self, name) for name in _SETTINGS}

    def __repr__(self) -> str:  # never the key
        return f"<KeyRecord {self.name or mask(self.key)!r} hash={self.hash[:8]}>"

    def usable(self, now: datetime) -> bool:
        """Whether calls with this key are served (not revoked, disabled or expired)."""
        expired = self.expires_at is not None and now >= self.expires_at
        return not (self.revoked or self.disabled or expired)

    def spent(self, since: datetime | None) -> tuple[Decimal, Decimal]:
        """(usage, BYOK usage) charged since ``since``; the whole life for ``None``."""
        if since is None:
            return self.usage, self.byok_usage
        usage = byok = Decimal(0)
        for charge in reversed(self.charges):  # newest last: stop at the window's start
            if charge.at < since:
                break
            usage += charge.cost
            byok += charge.byok
        return usage, byok

    def limit_left(self, now: datetime) -> Decimal | None:
        """USD left under the cap in the current window (``limit_reset``); ``None`` when uncapped."""
        if self.limit is None:
            return None
        usage, byok = self.spent(window_start(self.limit_reset, now))
        used = usage + (byok if self.include_byok_in_limit else Decimal(0))
        return max(Decimal(0), self.limit - used)

    def usage_json(self, now: datetime) -> dict[str, Any]:
        """The limit and spend figures ``/key`` and ``/keys`` share."""
        remaining = self.limit_left(now)
        body: dict[str, Any] = {
            "limit": None if self.limit is None else float(self.limit),
            "limit_remaining": None if remaining is None else float(remaining),
            "limit_reset": self.limit_reset,
            "include_byok_in_limit": self.include_byok_in_limit,
            "usage": float(self.usage),
        }
        windows = {period: self.spent(window_start(period, now)) for period in PERIODS}
        body.update({f"usage_{p}": float(u) for p, (u, _) in windows.items()})
        body["byok_usage"] = float(self.byok_usage)
        body.update({f"byok_usage_{p}": float(b) for p, (_, b) in windows.items()})
        return body

    def info(self, free_tier: bool, now: datetime) -> dict[str, Any]:
        """The ``data`` of ``GET /api/v1/key``."""
        return {
            "label": mask(self.key),
            **self.usage_json(now),
            "is_free_tier": free_tier,
            "is_management_key": self.management,
            "is_provisioning_key": self.management,
            "expires_at": iso(self.expires_at),
            "creator_user_id": USER_ID,
            "rate_limit": {
                "requests": -1,
                "interval": "10s",
                "note": "This field is deprecated and safe to ignore.",
            },
        }

    def api_json(self, now: datetime) -> dict[str, Any]:
        """The key as ``/keys`` shows it (the spec's ApiKey object); never the key itself."""
        return {
            "hash": self.hash,
            "name": self.name,
            "label": mask(self.key),
            "disabled": self.disabled,
            **self.usage_json(now),
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "expires_at": iso(self.expires_at),
            "creator_user_id": USER_ID,
            "workspace_id": WORKSPACE_ID,
        }


#: What ``POST /keys`` / ``PATCH /keys/{hash}`` may set, and ``reset`` restores.
_SETTINGS = ("name", "limit", "disabled", "limit_reset", "include_byok_in_limit", "expires_at")


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
        #: the sandbox's "now" for billing: limit windows, key expiry, activity days
        self.clock = Clock()
        #: every charged call, for ``/activity``
        self.activity = ActivityLog()

    # -- keys ---------------------------------------------------------------
    def add_key(self, key: str | None = None, *, limit: float | Decimal | None = None,
                management: bool = False, name: str = "Sandbox key") -> str:
        """Create (or register) a key and return it."""
        key = key or new_key()
        lim = None if limit is None else Decimal(str(limit))
        with self._lock:
            self._keys[key] = KeyRecord(key, limit=lim, management=management, name=name,
                                        created_at=self.clock.now())
        return key

    def create_key(self, settings: dict[str, Any]) -> KeyRecord:
        """A new key made through ``POST /keys`` (``settings``: checked by ``_keys``)."""
        with self._lock:
            now = self.clock.now()
            rec = KeyRecord(new_key(), created_at=now, updated_at=now, via_api=True, **settings)
            self._keys[rec.key] = rec
        return rec

    def lookup(self, key: str) -> KeyRecord | None:
        """The live record for ``key``; ``None`` if unknown, revoked, disabled or expired."""
        with self._lock:
            rec = self._keys.get(key)
            return rec if rec is not None and rec.usable(self.clock.now()) else None

    def find(self, key_hash: str) -> KeyRecord | None:
        """The key ``/keys/{hash}`` names; management keys and deleted keys are not found."""
        with self._lock:
            return next((r for r in self._keys.values()
                         if r.hash == key_hash and not r.management and not r.revoked), None)

    def listed(self, include_disabled: bool) -> list[KeyRecord]:
        """The keys ``GET /keys`` lists, oldest first (a stable order for ``offset`` pages)."""
        with self._lock:
            return [r for r in self._keys.values()
                    if not r.management and not r.revoked and (include_disabled or not r.disabled)]

    def update(self, rec: KeyRecord, changes: dict[str, Any]) -> None:
        """Apply a checked ``PATCH /keys/{hash}`` body."""
        with self._lock:
            for name, value in changes.items():
                setattr(rec, name, value)
            rec.updated_at = self.clock.now()

    def delete(self, rec: KeyRecord) -> None:
        """Forget the key: it gets 401 from now on, and is no longer listed."""
        with self._lock:
            self._keys.pop(rec.key, None)

    def revoke(self, key: str) -> None:
        """Make ``key`` unusable (401 ``User not found`` from now on)."""
        with self._lock:
            if key in self._keys:
                self._keys[key].revoked = True

    def key_info(self, rec: KeyRecord) -> dict[str, Any]:
        """``/key`` data for ``rec``, read consistently."""
        with self._lock:
            return rec.info(free_tier=self.total_credits <= 0, now=self.clock.now())

    def key_json(self, rec: KeyRecord) -> dict[str, Any]:
        """``rec`` as ``/keys`` shows it (the spec's ApiKey object), read consistently."""
        with self._lock:
            return rec.api_json(self.clock.now())

    def limit_left(self, rec: KeyRecord) -> Decimal | None:
        """USD left under ``rec``'s cap in its current window; ``None`` when uncapped."""
        with self._lock:
            return rec.limit_left(self.clock.now())

    # -- money --------------------------------------------------------------
    @property
    def remaining(self) -> Decimal:
        """Account balance left: credits bought minus credits used."""
        with self._lock:
            return self.total_credits - self.total_usage

    def charge(self, rec: KeyRecord, cost: Decimal, byok_upstream: Decimal,
               billed: Billed | None, *, begun: datetime | None = None) -> None:
        """Take ``cost`` off the balance and the key; note BYOK spend on the key; note the
        call for ``/activity`` unless ``billed`` is None (a call OpenRouter does not bill),
        on the UTC day of ``begun`` (when the request began, on this clock; default now):
        a ledger dates a call by its start, so a call across midnight is on that day in
        both.  The key's limit windows count the charge now, when it is billed."""
        with self._lock:
            now = self.clock.now()
            self.total_usage += cost
            rec.usage += cost
            rec.byok_usage += byok_upstream
            rec.charges.append(Charge(now, cost, byok_upstream))
            if billed is not None:
                self.activity.add(begun or now, rec.hash, billed, cost, byok_upstream)

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
        """Restore the balance, delete the keys ``POST /keys`` made, zero every other key's
        usage and restore its settings, un-revoke ``keep_valid``; forget codes,
        generations and activity; the clock back to real time."""
        with self._lock:
            self.total_credits = self.initial_credits
            self.total_usage = Decimal(0)
            for key in [k for k, rec in self._keys.items() if rec.via_api]:
                del self._keys[key]
            for rec in self._keys.values():
                rec.usage = Decimal(0)
                rec.byok_usage = Decimal(0)
                rec.charges.clear()
                for name, value in rec.initial.items():
                    setattr(rec, name, value)
                if rec.key in keep_valid:
                    rec.revoked = False
            self._codes.clear()
            self._generations.clear()
        self.activity.clear()
        self.clock.reset()
