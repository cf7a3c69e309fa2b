"""``/api/v1/keys`` and ``/api/v1/keys/{hash}``: OpenRouter's key management API.

Management keys only; an ordinary key gets OpenRouter's 403. Bodies are checked
field by field and a bad one is a 400 naming the field, so a client that sends
the wrong type finds out here rather than on OpenRouter. The plaintext of a new
key is in the ``POST`` answer only; every other answer shows its ``label``.
The state itself (records, windows, the clock) lives in ``_accounts``.
"""

from __future__ import annotations

import math
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ._accounts import WORKSPACE_ID, KeyRecord
from ._clock import PERIODS
from ._completions import authenticate
from ._errors import ApiError

if TYPE_CHECKING:
    from ._http import Request
    from ._routes import Handler

PREFIX = "/api/v1/keys"
#: OpenRouter's page size for ``GET /keys`` (``Sandbox.keys_page_size`` changes it)
PAGE_SIZE = 100
_CREATE = frozenset({"name", "limit", "limit_reset", "include_byok_in_limit", "expires_at",
                     "creator_user_id", "workspace_id"})
_UPDATE = frozenset({"name", "disabled", "limit", "limit_reset", "include_byok_in_limit"})
#: The spec's 404 text for an unknown hash
NOT_FOUND = "Resource not found"


def manager(h: Handler, req: Request) -> KeyRecord:
    """The calling key when it is a management key; else 401 or OpenRouter's 403."""
    rec = authenticate(h, req)
    if not rec.management:
        raise ApiError(403, "Only management keys can perform this operation")
    return rec


def _bad(field: str, what: str) -> ApiError:
    return ApiError(400, f"Invalid request parameters: {field} {what}")


def _object(req: Request) -> dict[str, Any]:
    try:
        body = req.json()
    except ValueError:
        raise ApiError(400, "Invalid request parameters: the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "Invalid request parameters: the body must be a JSON object")
    return body


def _limit(value: Any) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _bad("limit", "must be a number of US dollars or null")
    if value < 0:
        raise _bad("limit", "must not be negative")
    return Decimal(str(value))


def _expiry(value: Any, now: datetime) -> datetime | None:
    if value is None:
        return None
    moment = None
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            moment = None
    offset = moment.utcoffset() if moment is not None else None
    if moment is None or offset is None or offset.total_seconds() != 0:
        raise _bad("expires_at", "must be an ISO 8601 UTC timestamp such as 2027-12-31T23:59:59Z")
    if moment <= now:
        raise _bad("expires_at", "must be in the future")
    return moment


def checked(body: dict[str, Any], *, create: bool, now: datetime) -> dict[str, Any]:
    """The settings a ``POST``/``PATCH`` body asks for, as ``KeyRecord`` fields; 400 on
    an unknown field or a wrong value (the message names the field)."""
    allowed = _CREATE if create else _UPDATE
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise _bad(unknown[0], f"is not a field of this request (known: {', '.join(sorted(allowed))})")
    if create and "name" not in body:
        raise _bad("name", "is required")
    out: dict[str, Any] = {}
    if "name" in body:
        if not isinstance(body["name"], str) or not body["name"].strip():
            raise _bad("name", "must be a non-empty string")
        out["name"] = body["name"]
    if "limit" in body:
        out["limit"] = _limit(body["limit"])
    if "limit_reset" in body:
        if body["limit_reset"] is not None and body["limit_reset"] not in PERIODS:
            raise _bad("limit_reset", "must be daily, weekly, monthly or null")
        out["limit_reset"] = body["limit_reset"]
    for flag in ("include_byok_in_limit", "disabled"):
        if flag in body:
            if not isinstance(body[flag], bool):
                raise _bad(flag, "must be true or false")
            out[flag] = body[flag]
    if "expires_at" in body:
        out["expires_at"] = _expiry(body["expires_at"], now)
    if body.get("creator_user_id") is not None and not isinstance(body["creator_user_id"], str):
        raise _bad("creator_user_id", "must be a string or null")
    if "workspace_id" in body and body["workspace_id"] != WORKSPACE_ID:
        raise _bad("workspace_id", "is not a workspace of this account")
    return out


def _flag(value: str | None) -> bool:
    if value in (None, "", "false"):
        return False
    if value == "true":
        return True
    raise _bad("include_disabled", "must be true or false")


def _offset(value: str | None) -> int:
    if value in (None, ""):
        return 0
    if not value.isdigit():
        raise _bad("offset", "must be a whole number, at least 0")
    return int(value)


# -- routes (wired in ``_routes``) ------------------------------------------------------
def list_keys(h: Handler, req: Request) -> None:
    """``GET /api/v1/keys?include_disabled=&offset=``: one page, management keys not listed."""
    manager(h, req)
    accounts = h.sandbox.accounts
    include = _flag(req.query.get("include_disabled"))
    start = _offset(req.query.get("offset"))
    size = h.sandbox.keys_page_size or PAGE_SIZE
    page = accounts.listed(include)[start:start + size]
    h.send_json(200, {"data": [accounts.key_json(rec) for rec in page]})


def create_key(h: Handler, req: Request) -> None:
    """``POST /api/v1/keys``: 201 with the new key's plaintext, the only time it is shown."""
    manager(h, req)
    accounts = h.sandbox.accounts
    settings = checked(_object(req), create=True, now=accounts.clock.now())
    rec = accounts.create_key(settings)
    h.send_json(201, {"data": accounts.key_json(rec), "key": rec.key})


def key_route(h: Handler, req: Request) -> bool:
    """``GET|PATCH|DELETE /api/v1/keys/{hash}``; False for other paths."""
    if not req.path.startswith(PREFIX + "/"):
        return False
    key_hash = req.path[len(PREFIX) + 1:]
    if not key_hash or "/" in key_hash:
        return False
    if req.method not in ("GET", "HEAD", "PATCH", "DELETE"):
        raise ApiError(405, "Method Not Allowed", headers={"Allow": "GET, PATCH, DELETE"})
    manager(h, req)
    accounts = h.sandbox.accounts
    rec = accounts.find(key_hash)
    if rec is None:
        raise ApiError(404, NOT_FOUND)
    if req.method == "DELETE":
        accounts.delete(rec)
        h.send_json(200, {"deleted": True})
        return True
    if req.method == "PATCH":
        accounts.update(rec, checked(_object(req), create=False, now=accounts.clock.now()))
    h.send_json(200, {"data": accounts.key_json(rec)})
    return True
