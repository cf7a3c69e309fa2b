"""A user's key, made once and kept: the blocking work behind the hook and ``delete_user``.

Everything here runs in a worker thread (the hook calls it through ``asyncio.to_thread``)
under the caller's per-user lock, so one user never has two of these at once.

Rows are found by the user's identity (JupyterHub's id and creation time), so:

- a renamed user keeps their key; its name on OpenRouter follows (``PATCH name``), so
  ``edge-jupyter hub usage|set-limit`` find it under the new name;
- a name given to somebody new never brings the earlier user's key: a row of another
  identity under that name first moves to that user's current name (they were renamed and
  have not spawned since: JupyterHub's database says so) or, if that user is gone, is
  disabled on OpenRouter (by its hash) and dropped.

Keys are disabled by their stored hash, never by name alone: two hubs on one OpenRouter
account with the same ``hub_name`` would otherwise disable each other's keys.

Lost answers: ``POST /keys`` is never retried (a key made before an error would be made
twice), and the store marks the user ``pending`` just before it.  If the answer never
arrives (timeout, dropped connection, the hub killed), OpenRouter may hold a key nobody
has the plaintext of.  The next first spawn sees the marker, lists the account's keys,
disables the enabled keys with this user's name made since the marker was written, and
only then makes a new one, so an orphan never keeps working unseen.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from ..money import short_usd
from ._errors import HubError
from ._names import key_name
from ._store import HubKeyStore, StoredKey, is_v1, same_user

if TYPE_CHECKING:
    from ..openrouter import OpenRouterClient, OpenRouterError

PROVISIONING_KEYS_PAGE = "https://openrouter.ai/settings/provisioning-keys"
KEYS_PAGE = "https://openrouter.ai/settings/keys"
#: How far OpenRouter's clock may be behind the hub's when a lost key is looked for.
CLOCK_SLACK = timedelta(minutes=2)


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


def _when(text: str | None) -> datetime | None:
    try:
        when = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def disable_hash(client: OpenRouterClient, key_hash: str, name: str, log: logging.Logger) -> bool:
    """Disable one key by its hash; False when OpenRouter no longer has it."""
    from ..openrouter import NotFound

    try:
        now = client.update_key(key_hash, disabled=True)
    except NotFound:  # deleted on OpenRouter already: nothing left that works
        return False
    if not now.disabled:
        raise HubError(f"OpenRouter did not disable the key {name!r} (hash "
                       f"{key_hash[:12]}…): disable it at {KEYS_PAGE}.")
    log.info("edge_jupyter: disabled OpenRouter key %r (hash %s…)", name, key_hash[:12])
    return True


def disable_orphans(client: OpenRouterClient, name: str, since: str, log: logging.Logger) -> int:
    """Disable the enabled keys called ``name`` made since ``since`` (a pending row's time).

    Only those: a key of that name made before is not this lost answer's (another hub
    with the same ``hub_name``, an earlier user).
    """
    start = _when(since)
    done = 0
    for key in client.list_keys(include_disabled=False):
        if key.name != name or not key.hash:
            continue
        made = _when(key.created_at)
        if start is None or made is None or made < start - CLOCK_SLACK:
            if start is None or made is None:
                log.warning("edge_jupyter: the key %r (hash %s…) may be left from a lost "
                            "answer; its time cannot be read, so it was left enabled: check "
                            "it at %s.", name, key.hash[:12], KEYS_PAGE)
            continue
        done += disable_hash(client, key.hash, name, log)
    return done


def retire(stored: StoredKey, *, store: HubKeyStore, client: OpenRouterClient,
           log: logging.Logger) -> int:
    """Disable a row's key on OpenRouter (by hash; a pending row's lost key by name and
    time), then drop the row; how many keys were disabled."""
    if stored.state == "pending":
        done = disable_orphans(client, stored.name, stored.created_at, log)
    else:
        done = int(disable_hash(client, stored.hash, stored.name, log)) if stored.hash else 0
    store.drop(stored.identity)
    return done


def others_under(identity: str, username: str, name: str, store: HubKeyStore
                 ) -> list[StoredKey]:
    """Rows of other people under ``username`` (its earlier holder: renamed since, or
    removed past ``delete_user``) or whose key is still called ``name`` on OpenRouter (a
    renamed user whose key's new name could not be set yet)."""
    rows = {row.identity: row for row in store.named(username) + store.called(name)}
    return [row for row in rows.values() if not same_user(row.identity, identity)]


def key_for(identity: str, username: str, *, policy: KeyPolicy, store: HubKeyStore,
            client: OpenRouterClient, log: logging.Logger,
            owners: Mapping[str, str | None] | None = None) -> str:
    """The user's key: the stored one (no network), else a new capped one, stored first.

    ``owners``: for rows of other people under this name (:func:`others_under`), their
    user's name in the hub now, or None when that user is gone (read from JupyterHub's
    database by the caller, on the hub's event loop); a row missing from it is taken as
    gone.
    """
    from ..openrouter import APIStatusError, OpenRouterError

    name = key_name(policy.hub_name, username)
    owners = owners or {}
    try:
        # another person's row under this name (the name was freed by a rename or a removal
        # JupyterHub did not tell us of): that key must not stay with the name.  A user who
        # still exists (renamed) keeps it under their new name; a gone one's is disabled.
        for stale in others_under(identity, username, name, store):
            # unknown to the caller: a row already renamed (only its key's name is left
            # behind) is that user's under the name it carries; one under this name, gone
            now_called = owners.get(stale.identity,
                                    stale.username if stale.username != username else None)
            if now_called is not None and now_called != username and stale.state == "active":
                _move(client, stale, username, now_called, key_name(policy.hub_name, now_called),
                      store=store, log=log)
                continue
            gone = retire(stale, store=store, client=client, log=log)
            log.warning("edge_jupyter: the name %s had belonged to another JupyterHub user, "
                        "%s; their OpenRouter key %r was disabled (%d) and forgotten.",
                        username, "who is gone" if stale.identity in owners else
                        "not found in JupyterHub's database", stale.name, gone)
        stored = store.get(identity)
        # the row's own identity: ``created`` may have been read with other precision then
        identity = stored.identity if stored is not None else identity
        if stored is not None and stored.state == "active" and stored.key:
            if stored.username != username:  # renamed in the hub: the row follows now
                store.rename(identity, username, stored.name)
            if stored.name != name:  # ... and the key's name on OpenRouter (retried if it fails)
                _rename_key(client, stored, username, name, store=store, log=log)
            log.debug("edge_jupyter: reusing the stored OpenRouter key %r for %s", name,
                      username)
            return stored.key
        if stored is not None:  # pending: a POST /keys whose answer never came back
            orphans = disable_orphans(client, stored.name, stored.created_at, log)
            log.warning("edge_jupyter: a key for %s was being made when an earlier spawn "
                        "failed; %d key(s) named %r left from it were disabled before a new "
                        "one is made.", username, orphans, stored.name)
        store.mark_pending(identity, username, name)
        try:
            created = client.create_key(name, limit=policy.limit_usd,
                                        limit_reset=policy.limit_reset,
                                        include_byok_in_limit=policy.include_byok_in_limit)
        except APIStatusError as exc:
            if exc.status < 500:  # refused: OpenRouter made nothing, so nothing is pending
                store.drop(identity)
            raise
    except OpenRouterError as exc:
        raise HubError(f"edge_jupyter could not make an OpenRouter key for {username}: "
                       f"{explain(exc)}") from None
    store.save(identity, username, created.info.hash, name, created.key)
    log.info("edge_jupyter: made OpenRouter key %r (%s) for %s", name, policy.describe(),
             username)
    return created.key


def _rename_key(client: OpenRouterClient, stored: StoredKey, username: str, name: str, *,
                store: HubKeyStore, log: logging.Logger) -> None:
    """The key's name on OpenRouter after a rename; a failure waits for the next spawn
    (the key works under either name)."""
    from ..openrouter import OpenRouterError

    try:
        if stored.hash:
            client.update_key(stored.hash, name=name)
    except OpenRouterError as exc:
        log.warning("edge_jupyter: the OpenRouter key %r of %s keeps its old name for now "
                    "(%s); the next spawn tries again.", stored.name, username, explain(exc))
        return
    store.rename(stored.identity, username, name)
    log.info("edge_jupyter: the OpenRouter key %r is now called %r (the user was renamed)",
             stored.name, name)


def _move(client: OpenRouterClient, stale: StoredKey, freed: str, username: str, name: str,
          *, store: HubKeyStore, log: logging.Logger) -> None:
    """Another, renamed user's row and key under their current name, before the name they
    left (``freed``) is given a key of its own; a failed PATCH fails this spawn, or one
    name would have two working keys (``hub set-limit`` would change both)."""
    from ..openrouter import OpenRouterError

    store.rename(stale.identity, username, stale.name)  # the freed name no longer finds it
    try:
        if stale.hash:
            client.update_key(stale.hash, name=name)
    except OpenRouterError as exc:
        raise HubError(f"The name {freed} was given up by another JupyterHub user (now "
                       f"{username}), whose OpenRouter key is still called {stale.name!r}; it "
                       f"must be renamed before {freed} gets a key of their own: "
                       f"{explain(exc)}") from None
    store.rename(stale.identity, username, name)
    log.info("edge_jupyter: the OpenRouter key %r of %s (renamed from %s) is now called %r",
             stale.name, username, stale.username, name)


def disable_user(identity: str, username: str, *, store: HubKeyStore,
                 client: OpenRouterClient, log: logging.Logger) -> int:
    """A removed user's key disabled on OpenRouter (by its stored hash), their row dropped."""
    from ..openrouter import OpenRouterError

    own = store.get(identity, reveal=False)
    # and a row carried over from the name-keyed store (v1) under this name: its owner is
    # unknown, and it is this user's unless they spawned since (which would have replaced it)
    rows = ([own] if own is not None else []) + [
        row for row in store.named(username) if is_v1(row.identity)]
    if not rows:
        log.info("edge_jupyter: %s had no OpenRouter key from this hub", username)
        return 0
    done = 0
    for stored in rows:
        try:
            done += retire(stored, store=store, client=client, log=log)
        except OpenRouterError as exc:
            raise HubError(f"{username}'s OpenRouter key could not be disabled, so the user "
                           f"was not removed: {explain(exc)} Then remove the user again (or "
                           f"disable the key {stored.name!r} at {KEYS_PAGE}).") from None
    return done
