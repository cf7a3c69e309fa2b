"""A user's key, made once and kept: the blocking work behind the hook and ``delete_user``.

Everything here runs in a worker thread (the hook calls it through ``asyncio.to_thread``)
under the caller's per-user lock, so one user never has two of these at once.

Lost answers: ``POST /keys`` is never retried (a key made before an error would be made
twice), and the store marks the user ``pending`` just before it.  If the answer never
arrives (timeout, dropped connection, the hub killed), OpenRouter may hold a key nobody
has the plaintext of.  The next first spawn sees the marker, lists the account's keys,
disables every enabled key with this user's name, and only then makes a new one, so an
orphan never keeps working unseen.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..money import short_usd
from ._errors import HubError
from ._names import key_name
from ._store import HubKeyStore

if TYPE_CHECKING:
    from ..openrouter import ApiKey, OpenRouterClient, OpenRouterError

PROVISIONING_KEYS_PAGE = "https://openrouter.ai/settings/provisioning-keys"
KEYS_PAGE = "https://openrouter.ai/settings/keys"


@dataclass(frozen=True)
class KeyPolicy:
    """What every user's new key gets: its name's hub part, its cap and when the cap resets."""

    hub_name: str
    limit_usd: float | None
    limit_reset: str | None
    include_byok_in_limit: bool = False

    def describe(self) -> str:
        cap = f"limit {short_usd(self.limit_usd)}" if self.limit_usd is not None else "no limit"
        return f"{cap}, resets {self.limit_reset}" if self.limit_reset else cap


def explain(exc: OpenRouterError) -> str:
    """What OpenRouter's refusal means for a hub admin, and what to do (never a key).

    The client's own hints speak to a notebook user (``%edge connect``); here the key is
    the hub's provisioning key, so the advice is about that one.
    """
    from ..openrouter import AuthenticationError, PermissionDenied, TransportError

    said = exc.message.strip().rstrip(".")
    if isinstance(exc, AuthenticationError):
        return (f"OpenRouter refused the hub's provisioning key ({said}): create one at "
                f"{PROVISIONING_KEYS_PAGE} and set it as EDGE_PROVISIONING_KEY where the hub "
                "starts.")
    if isinstance(exc, PermissionDenied):
        return (f"OpenRouter refused the request ({said}): EDGE_PROVISIONING_KEY must be a "
                f"provisioning (management) key, made at {PROVISIONING_KEYS_PAGE}, not an "
                "ordinary API key.")
    if isinstance(exc, TransportError):
        return f"OpenRouter could not be reached ({said}): try again in a minute."
    status = getattr(exc, "status", None)
    return (f"OpenRouter answered {status}: {said}." if status else f"{said}.")


def _named(client: OpenRouterClient, name: str, *, include_disabled: bool) -> list[ApiKey]:
    return [k for k in client.list_keys(include_disabled=include_disabled) if k.name == name]


def disable_named(client: OpenRouterClient, name: str, log: logging.Logger,
                  also_hash: str | None = None) -> int:
    """Disable every enabled key called ``name`` (and ``also_hash``); how many were disabled."""
    from ..openrouter import NotFound

    hashes = [k.hash for k in _named(client, name, include_disabled=False) if k.hash]
    if also_hash and also_hash not in hashes:
        hashes.append(also_hash)
    done = 0
    for key_hash in hashes:
        try:
            now = client.update_key(key_hash, disabled=True)
        except NotFound:  # deleted on OpenRouter already: nothing left that works
            continue
        if not now.disabled:
            raise HubError(f"OpenRouter did not disable the key {name!r} (hash "
                           f"{key_hash[:12]}…): disable it at {KEYS_PAGE}.")
        done += 1
        log.info("edge_jupyter: disabled OpenRouter key %r (hash %s…)", name, key_hash[:12])
    return done


def key_for(username: str, *, policy: KeyPolicy, store: HubKeyStore,
            client: OpenRouterClient, log: logging.Logger) -> str:
    """The user's key: the stored one (no network), else a new capped one, stored first."""
    from ..openrouter import APIStatusError, OpenRouterError

    stored = store.get(username)
    if stored is not None and stored.state == "active" and stored.key:
        log.debug("edge_jupyter: reusing the stored OpenRouter key %r for %s", stored.name,
                  username)
        return stored.key
    name = key_name(policy.hub_name, username)
    try:
        if stored is not None:  # pending: a POST /keys whose answer never came back
            orphans = disable_named(client, stored.name, log)
            log.warning("edge_jupyter: a key for %s was being made when an earlier spawn "
                        "failed; %d key(s) named %r left from it were disabled before a new "
                        "one is made.", username, orphans, stored.name)
        store.mark_pending(username, name)
        try:
            created = client.create_key(name, limit=policy.limit_usd,
                                        limit_reset=policy.limit_reset,
                                        include_byok_in_limit=policy.include_byok_in_limit)
        except APIStatusError as exc:
            if exc.status < 500:  # refused: OpenRouter made nothing, so nothing is pending
                store.drop(username)
            raise
    except OpenRouterError as exc:
        raise HubError(f"edge_jupyter could not make an OpenRouter key for {username}: "
                       f"{explain(exc)}") from None
    store.save(username, created.info.hash, name, created.key)
    log.info("edge_jupyter: made OpenRouter key %r (%s) for %s", name, policy.describe(),
             username)
    return created.key


def disable_user(username: str, *, hub_name: str, store: HubKeyStore,
                 client: OpenRouterClient, log: logging.Logger) -> int:
    """A removed user's keys disabled on OpenRouter (by name and stored hash), their row dropped.

    By name as well as by hash: a pending row has no hash, and a key whose answer was
    lost is found only by its name.
    """
    from ..openrouter import OpenRouterError

    stored = None
    try:
        stored = store.get(username)
    except HubError:
        pass  # an unreadable row still names the user: disable by name, then drop it
    name = stored.name if stored is not None else key_name(hub_name, username)
    try:
        done = disable_named(client, name, log, also_hash=stored.hash if stored else None)
    except OpenRouterError as exc:
        raise HubError(f"{username}'s OpenRouter key could not be disabled, so the user was "
                       f"not removed: {explain(exc)} Then remove the user again (or disable "
                       f"the key {name!r} at {KEYS_PAGE}).") from None
    store.drop(username)
    return done
