"""The OpenRouter account from the notebook: the connected key's limit, its revocation, activity.

All of it needs a management (provisioning) key (``%edge balance --management-key`` stores
one; ``OPENROUTER_MANAGEMENT_KEY`` works too): OpenRouter's ``/keys`` and ``/activity`` refuse
every other key.  ``GET /key`` tells a key about itself but not its ``hash``, the id
``/keys/{hash}`` needs, so :func:`find_connected_key` finds the connected key in the
account's list by its masked ``label`` (never by hashing the key: OpenRouter's hash is an id,
not a digest a client can compute).

No IPython here: the magics (``%edge limit``, ``%edge disconnect --revoke``, ``%edge activity``)
show what these functions return.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .errors import EdgeError
from .openrouter import (
    ActivityRow,
    ApiKey,
    AuthenticationError,
    KeyInfo,
    KeyLimitExceeded,
    NotFound,
    OpenRouterClient,
    PermissionDenied,
)

#: Where a user manages (and deletes) keys on OpenRouter.
KEYS_PAGE = "https://openrouter.ai/settings/keys"
#: Where a user creates a management (provisioning) key.
PROVISIONING_PAGE = "https://openrouter.ai/settings/provisioning-keys"
#: How to add a management key, the end of every "needs a management key" sentence.
ADD_MANAGEMENT_KEY = (f"store one with `%edge balance --management-key` (create it at "
                      f"{PROVISIONING_PAGE})")


class AccountError(EdgeError):
    """The account cannot do what was asked (no management key, the connected key not found
    among the account's keys, a change OpenRouter did not confirm); ``str()`` says what to do."""


class _Unset:
    """A change not asked for (``None`` is a value: no limit, no reset)."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


def management_client(origin: str) -> OpenRouterClient | None:
    """A client with the management key (environment, then the key store) on ``origin``;
    None when there is none (or the store cannot be read)."""
    from .keystore import resolve_management_key

    try:
        resolved = resolve_management_key()
    except Exception:
        return None
    key = resolved.key
    return OpenRouterClient(key, origin=origin) if key else None


def require_manager(origin: str, action: str) -> OpenRouterClient:
    """:func:`management_client`, or an :class:`AccountError` saying how to add one.

    ``action`` completes "… needs a management key": "Changing the key's limit".
    """
    manager = management_client(origin)
    if manager is None:
        raise AccountError(f"{action} needs an OpenRouter management key, and none is stored: "
                           f"{ADD_MANAGEMENT_KEY}.")
    return manager


@contextlib.contextmanager
def as_manager(action: str) -> Iterator[None]:
    """Turn what OpenRouter says to a key that is not a (valid) management key into one line.

    For the management key's calls only: the connected key's own errors pass through.
    """
    try:
        yield
    except KeyLimitExceeded:
        raise
    except PermissionDenied as exc:
        which, fix = _management_key_source()
        raise AccountError(
            f"{action}: OpenRouter refused {which} ({exc.message.rstrip('.')}): "
            f"it is an ordinary key, not a management key. {fix}.") from None
    except AuthenticationError as exc:
        which, fix = _management_key_source()
        raise AccountError(
            f"{action}: OpenRouter does not know {which} ({exc.message.rstrip('.')}): it was "
            f"deleted or mistyped. {fix}.") from None


def _management_key_source() -> tuple[str, str]:
    """Which management key was used, and how to replace it: storing another one does not
    help while ``OPENROUTER_MANAGEMENT_KEY`` is set, as the environment's key wins."""
    from .keystore import ENV_MANAGEMENT_KEY, resolve_management_key

    try:
        source = resolve_management_key().source
    except Exception:
        source = ""
    if source == "environment":
        return (f"the management key in {ENV_MANAGEMENT_KEY}",
                f"Fix or unset {ENV_MANAGEMENT_KEY} where Jupyter starts")
    return "the stored management key", f"Replace it: {ADD_MANAGEMENT_KEY}"


def find_connected_key(manager: OpenRouterClient, key_client: OpenRouterClient,
                       info: KeyInfo | None = None) -> ApiKey:
    """The account's entry (``GET /keys``) for the key ``key_client`` holds.

    ``GET /key`` gives the connected key's ``label`` L (``info``, when already read); the
    candidates are the listed keys labelled L whose label is consistent with the key itself
    (``A...B``: the key starts with A and ends with B; a label without that form is taken as
    it is); several are narrowed to the enabled ones, then to those with the same ``usage``.
    None left, or still more than one: :class:`AccountError`.
    """
    info = info or key_client.key_info()
    label = info.label
    with as_manager("Finding the connected key"):
        listed = manager.list_keys(include_disabled=True)
    candidates = [k for k in listed if k.hash and label and k.label == label
                  and ("..." not in label or key_client.matches_label(label))]
    if len(candidates) > 1:
        candidates = [k for k in candidates if not k.disabled] or candidates
    if len(candidates) > 1:
        candidates = [k for k in candidates
                      if math.isclose(k.usage, info.usage, rel_tol=1e-9, abs_tol=1e-12)] or candidates
    shown = label or "without a label"
    if not candidates:
        raise AccountError(
            f"The connected key ({shown}) is not among the keys the management key can see "
            f"({len(listed)} listed): the management key may belong to another account or "
            f"workspace. Manage the key at {KEYS_PAGE}.")
    if len(candidates) > 1:
        raise AccountError(
            f"{len(candidates)} keys of the account look like the connected one ({shown}: same "
            f"label and spend), so it cannot be told which to change. Manage it at {KEYS_PAGE}.")
    return candidates[0]


@dataclass(frozen=True)
class LimitChange:
    """A ``%edge limit`` change: the key as OpenRouter listed it, as it confirmed it (``GET /key``)."""

    key: ApiKey
    confirmed: KeyInfo


def set_limit(manager: OpenRouterClient, key_client: OpenRouterClient, *,
              limit: float | None = UNSET, limit_reset: str | None = UNSET,
              include_byok_in_limit: bool = UNSET) -> LimitChange:
    """Change the connected key's limit (``PATCH /keys/{hash}``), then confirm it with a fresh
    ``GET /key`` by the key itself; a confirmation that differs from the request is an
    :class:`AccountError`. ``UNSET`` leaves a field as it is; ``limit=None`` removes the limit,
    ``limit_reset=None`` makes it never reset."""
    fields = {name: value for name, value in (("limit", limit), ("limit_reset", limit_reset),
                                              ("include_byok_in_limit", include_byok_in_limit))
              if value is not UNSET}
    if not fields:
        raise AccountError("Nothing to change: give an amount (or `none`), --reset or --include-byok.")
    key = find_connected_key(manager, key_client)
    with as_manager("Changing the key's limit"):
        try:
            manager.update_key(key.hash, **fields)
        except NotFound:
            raise AccountError(f"The connected key ({key.label}) was deleted on OpenRouter while "
                               f"it was being changed. See {KEYS_PAGE}.") from None
    _changed()
    confirmed = key_client.key_info()
    wrong = _mismatches(fields, confirmed)
    if wrong:
        raise AccountError(
            f"OpenRouter accepted the change, but GET /key now reports {'; '.join(wrong)}. "
            f"Check the key at {KEYS_PAGE}.")
    return LimitChange(key, confirmed)


def _mismatches(fields: dict[str, Any], info: KeyInfo) -> list[str]:
    from .money import exact_usd

    wrong = []
    if "limit" in fields:
        asked = fields["limit"]
        got = info.limit
        if (asked is None) != (got is None) or (
                asked is not None and got is not None
                and not math.isclose(asked, got, rel_tol=1e-9, abs_tol=1e-12)):
            wrong.append(f"limit {'none' if got is None else exact_usd(got)} (asked "
                         f"{'none' if asked is None else exact_usd(asked)})")
    if "limit_reset" in fields and fields["limit_reset"] != info.limit_reset:
        wrong.append(f"reset {info.limit_reset or 'never'} (asked {fields['limit_reset'] or 'never'})")
    if "include_byok_in_limit" in fields and fields["include_byok_in_limit"] != info.include_byok_in_limit:
        wrong.append(f"BYOK {'included' if info.include_byok_in_limit else 'not included'} in "
                     f"the limit (asked {'included' if fields['include_byok_in_limit'] else 'not'})")
    return wrong


def revoke(manager: OpenRouterClient, key_client: OpenRouterClient,
           info: KeyInfo | None = None) -> ApiKey:
    """Delete the connected key on OpenRouter (``DELETE /keys/{hash}``) and check that the key
    itself now gets 401 from ``GET /key``; the deleted key's entry. An answer lost after the
    delete (a 404 when retried) counts as deleted once the check confirms it."""
    key = find_connected_key(manager, key_client, info)
    with as_manager("Revoking the key"), contextlib.suppress(NotFound):
        manager.delete_key(key.hash)
    _changed()
    try:
        key_client.key_info()
    except AuthenticationError:
        return key
    raise AccountError(f"OpenRouter said the key {key.label} was deleted, but it still "
                       f"answers: delete it at {KEYS_PAGE}.")


@dataclass(frozen=True)
class Revocation:
    """What ``%edge disconnect --revoke`` did on OpenRouter.

    ``done``: revoked (or nothing left to revoke); ``sentence`` says so, or says plainly that
    the key STILL WORKS and where to delete it; ``environment``: ``OPENROUTER_API_KEY`` holds
    the key now revoked (calls fail until it is unset)."""

    done: bool
    sentence: str
    environment: bool = False


def revoke_connected() -> Revocation:
    """``%edge disconnect --revoke``'s part on OpenRouter. Never raises an EdgeError.

    The key revoked is the one the disconnect removes: the stored key (``%edge connect``'s),
    even when ``OPENROUTER_API_KEY`` is set too — revoking the environment's key and then
    removing the stored one would leave a live key nobody was told about. Only with no
    stored key is the environment's key (the one calls use) revoked; a JupyterHub's never.
    """
    from .errors import EdgeError
    from .keystore import ENV_API_KEY, ENV_PROVISIONED, stored_api_key

    stored = stored_api_key()
    environment = os.environ.get(ENV_API_KEY) or None
    from_env = False
    if stored.key:
        secret = stored.key
    elif environment and os.environ.get(ENV_PROVISIONED):
        return Revocation(False, "This key was provisioned by JupyterHub, so it is not revoked "
                                 "from here: ask the hub's admin (it STILL WORKS).")
    elif environment:
        secret, from_env = environment, True
    else:
        return Revocation(True, "No OpenRouter key is connected, so none was revoked.")

    def the_key(label: str = "") -> str:
        """Which key ("The …"): both can be there, so each sentence names the one it means."""
        parts = ("The", "" if from_env else "stored", "key", label,
                 f"in {ENV_API_KEY}" if from_env else "")
        return " ".join(part for part in parts if part)

    key_client = OpenRouterClient(secret)
    try:
        info = key_client.key_info()
    except AuthenticationError:
        return Revocation(True, f"OpenRouter no longer accepts {_lower_first(the_key())} (401), so "
                                f"there was nothing to revoke.", secret == environment)
    except EdgeError as exc:
        return Revocation(False, f"{the_key()} STILL WORKS as far as is known: OpenRouter could "
                                 f"not be asked about it ({_clause(exc)}). Delete it at "
                                 f"{KEYS_PAGE}.")
    label = info.label or "(no label)"
    still = f"{the_key(label)} STILL WORKS on OpenRouter"
    where = f"delete it at {KEYS_PAGE}, where its label is {label}."
    manager = management_client(key_client.origin)
    if manager is None:
        return Revocation(False, f"{still}: revoking it from here needs a management key, and "
                                 f"none is stored; {where}")
    try:
        key = revoke(manager, key_client, info)
    except EdgeError as exc:
        return Revocation(False, f"{still} ({_clause(exc)}); {where}")
    named = f" (named {key.name!r})" if key.name and key.name != key.label else ""
    return Revocation(True, f"Revoked on OpenRouter: {_lower_first(the_key(label))}{named} was "
                            f"deleted and now gets 401 there.", secret == environment)


def _lower_first(text: str) -> str:
    """A sentence's start inside another sentence ("The key" → "the key"; names keep their case)."""
    return text[:1].lower() + text[1:]


def _clause(exc: Exception) -> str:
    """An error's sentence inside another one: no full stop at its end."""
    return str(exc).strip().rstrip(".")


def activity(manager: OpenRouterClient) -> list[ActivityRow]:
    """``GET /activity`` with the management key (its refusals as one line)."""
    with as_manager("Reading the account's activity"):
        return manager.activity()


def _changed() -> None:
    """The account changed: cached balances are stale, and the panel refreshes."""
    from . import balance, events

    balance.clear_cache()
    events.publish(events.ACCOUNT_CHANGED)
