"""``EdgeKeys``: the JupyterHub side, configured in ``jupyterhub_config.py`` and installed last.

::

    from edge_jupyter.hub import EdgeKeys
    edge = EdgeKeys(limit_usd=5.0, limit_reset="monthly", hub_name="class-2026",
                    store_path="/srv/jupyterhub/edge-keys.sqlite")
    edge.install(c)

``install`` sets ``c.Spawner.pre_spawn_hook`` (after any hook already configured, also on
a spawner class's own section) and
wraps ``c.JupyterHub.authenticator_class`` (:mod:`._auth`).  The hook gives each user's
server its key in the environment; the blocking parts (SQLite, HTTP) run in a worker
thread, one user at a time (an ``asyncio.Lock`` per user), so the hub's event loop never
waits on them and two spawns of one user never make two keys.

The provisioning key is read once, here, and kept out of every repr and log line.
It stays in the hub's process: JupyterHub passes a server only ``env_keep`` variables
and ``Spawner.environment``, and neither holds it.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..keystore import ENV_PROVISIONED  # set beside the key: then `%edge connect` wins over it
from ..settings import DEFAULT_ORIGIN, normalise_origin
from ._errors import HubError
from ._names import check_hub_name, key_name
from ._provision import PROVISIONING_KEYS_PAGE, KeyPolicy, disable_user, key_for, others_under
from ._store import HubKeyStore, identity_of, same_user, split_identity

if TYPE_CHECKING:
    from ..openrouter import OpenRouterClient

ENV_PROVISIONING_KEY = "EDGE_PROVISIONING_KEY"
ENV_OPENROUTER_URL = "EDGE_OPENROUTER_URL"
ENV_HUB_NAME = "EDGE_HUB_NAME"
RESETS = ("daily", "weekly", "monthly")
LOG = logging.getLogger("edge_jupyter.hub")


def read_provisioning_key(key: str | None = None, key_file: str | os.PathLike[str] | None = None
                          ) -> str:
    """The provisioning key: given, else from ``key_file``, else ``EDGE_PROVISIONING_KEY``."""
    if key_file is not None:
        path = Path(key_file).expanduser()
        try:
            key = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeError) as exc:
            raise HubError(f"The provisioning key file {path} cannot be read "
                           f"({getattr(exc, 'strerror', None) or type(exc).__name__}).") from None
        if not key:
            raise HubError(f"The provisioning key file {path} is empty.")
    key = (key or os.environ.get(ENV_PROVISIONING_KEY) or "").strip()
    if not key:
        raise HubError(f"No OpenRouter provisioning key: set {ENV_PROVISIONING_KEY} where the hub "
                       f"starts (or pass a key file); create one at {PROVISIONING_KEYS_PAGE}.")
    return key


class EdgeKeys:
    """A capped OpenRouter key per JupyterHub user, made at their first spawn and kept.

    ``limit_usd``: each new key's credit limit in USD (None: no limit, not advised).
    ``limit_reset``: "daily" | "weekly" | "monthly" | None (the limit is for the key's life).
    ``hub_name`` (required): part of each key's name on OpenRouter
    (``edge-jupyter:{hub}:{user}``); unique among the hubs that share one OpenRouter account,
    since ``edge-jupyter hub usage|set-limit`` find a hub's keys by that name.
    ``store_path``: the SQLite file the keys are kept in (see :mod:`._store`).
    ``openrouter_url``: default ``EDGE_OPENROUTER_URL``, else https://openrouter.ai.
    """

    def __init__(self, *, limit_usd: float | None, hub_name: str,
                 limit_reset: str | None = "monthly",
                 store_path: str | os.PathLike[str] = "edge-keys.sqlite",
                 include_byok_in_limit: bool = False, provisioning_key: str | None = None,
                 provisioning_key_file: str | os.PathLike[str] | None = None,
                 openrouter_url: str | None = None) -> None:
        if limit_usd is not None:
            if isinstance(limit_usd, bool) or not isinstance(limit_usd, (int, float)) \
                    or not math.isfinite(limit_usd) or limit_usd < 0:
                raise HubError(f"limit_usd must be a number of USD, 0 or more (or None for no "
                               f"limit), not {limit_usd!r}.")
            limit_usd = float(limit_usd)
        if limit_reset == "never":
            limit_reset = None
        if limit_reset is not None and limit_reset not in RESETS:
            raise HubError(f"limit_reset must be 'daily', 'weekly', 'monthly', or 'never' (None), not "
                           f"{limit_reset!r}.")
        self.policy = KeyPolicy(check_hub_name(hub_name), limit_usd, limit_reset,
                                bool(include_byok_in_limit))
        self.store_path = Path(store_path).expanduser().absolute()  # the hub may chdir later
        self.origin = normalise_origin(openrouter_url or os.environ.get(ENV_OPENROUTER_URL)
                                       or DEFAULT_ORIGIN)
        self._provisioning_key = read_provisioning_key(provisioning_key, provisioning_key_file)
        self._locks: dict[str, asyncio.Lock] = {}
        self._store: HubKeyStore | None = None
        self._client: OpenRouterClient | None = None
        self._setup_lock = threading.Lock()

    # the configured values, read-only (the policy is what every new key gets)
    hub_name = property(lambda self: self.policy.hub_name)
    limit_usd = property(lambda self: self.policy.limit_usd)
    limit_reset = property(lambda self: self.policy.limit_reset)
    include_byok_in_limit = property(lambda self: self.policy.include_byok_in_limit)

    def __repr__(self) -> str:
        return (f"EdgeKeys(hub_name={self.hub_name!r}, limit_usd={self.limit_usd!r}, "
                f"limit_reset={self.limit_reset!r}, store_path={str(self.store_path)!r}, "
                f"openrouter_url={self.origin!r}, provisioning_key=<set>)")

    # -- parts, made on first use (in the worker thread) -------------------------------------

    def store(self, log: logging.Logger | None = None) -> HubKeyStore:
        with self._setup_lock:
            if self._store is None:
                self._store = HubKeyStore(self.store_path, log=log or LOG)
            return self._store

    def client(self) -> OpenRouterClient:
        with self._setup_lock:
            if self._client is None:
                from ..openrouter import OpenRouterClient

                self._client = OpenRouterClient(self._provisioning_key, origin=self.origin)
            return self._client

    def _lock(self, username: str) -> asyncio.Lock:
        lock = self._locks.get(username)
        if lock is None:
            lock = self._locks[username] = asyncio.Lock()
        return lock

    # -- what the hub calls --------------------------------------------------------------------

    def environment(self, key: str) -> dict[str, str]:
        """What a user's server gets: the key, the mark that it was provisioned, the origin."""
        env = {"OPENROUTER_API_KEY": key, ENV_PROVISIONED: "jupyterhub"}
        if self.origin != DEFAULT_ORIGIN:
            env[ENV_OPENROUTER_URL] = self.origin
        return env

    def key_for(self, identity: str, username: str, log: logging.Logger | None = None,
                owners: dict[str, str | None] | None = None) -> str:
        """The user's key (blocking: made on OpenRouter the first time).  Raises HubError."""
        log = log or LOG
        return key_for(identity, username, policy=self.policy, store=self.store(log),
                       client=self.client(), log=log, owners=owners)

    async def pre_spawn_hook(self, spawner: Any) -> None:
        """``Spawner.pre_spawn_hook``: put the user's key into the server's environment.

        A NEW dict: traitlets gives each spawner its own copy of the configured
        ``environment``, but a dict shared by reference (set by another hook, a subclass)
        must never carry one user's key to the next.
        """
        username = spawner.user.name
        identity = identity_of(spawner.user)
        log = getattr(spawner, "log", None) or LOG
        async with self._lock(identity):
            others = await asyncio.to_thread(others_under, identity, username,
                                             key_name(self.policy.hub_name, username),
                                             self.store(log))
            owners = names_in_hub(spawner.user, [row.identity for row in others])
            key = await asyncio.to_thread(self.key_for, identity, username, log, owners)
        spawner.environment = {**(spawner.environment or {}), **self.environment(key)}

    async def disable_user(self, user: Any, log: logging.Logger | None = None) -> int:
        """Disable a removed user's key on OpenRouter and forget it (``delete_user``).

        The user's lock is kept, never dropped: a spawn already waiting on it and a later
        one must queue on the same lock, or both would make a key.
        """
        log = log or LOG
        identity = identity_of(user)
        async with self._lock(identity):
            return await asyncio.to_thread(disable_user, identity, user.name,
                                           store=self.store(log), client=self.client(), log=log)

    def __copy__(self) -> EdgeKeys:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> EdgeKeys:
        """Itself: traitlets deep-copies every config value into each spawner, and one
        hub has one EdgeKeys (one store, one lock per user), never a copy per spawner."""
        return self

    def spawn_hook(self, previous: Any = None) -> Any:
        """The function for ``c.Spawner.pre_spawn_hook``: ``previous`` (if any), then ours.

        A plain function, not the bound method: traitlets deep-copies config values, and
        a function is copied as itself.
        """
        async def edge_pre_spawn_hook(spawner: Any) -> None:
            if previous is not None:
                result = previous(spawner)
                if inspect.isawaitable(result):
                    await result
            await self.pre_spawn_hook(spawner)

        edge_pre_spawn_hook._edge_keys = self  # type: ignore[attr-defined]
        edge_pre_spawn_hook._edge_previous = previous  # type: ignore[attr-defined]
        return edge_pre_spawn_hook

    def install(self, c: Any) -> None:
        """Hook into the hub's config ``c`` (call it last in ``jupyterhub_config.py``).

        A ``pre_spawn_hook`` configured before keeps running, first, whether on
        ``c.Spawner`` or on a spawner class's own section (``c.KubeSpawner.pre_spawn_hook``).
        A hook or an authenticator set after this call is not wrapped: the hook would
        replace ours, and removed users would keep their keys.
        """
        from ._auth import wrap_authenticator

        self.store(_hub_log())  # a malformed crypt key stops the hub now, not at the first spawn
        # c.Spawner, and every spawner class's own section that sets a hook
        # (c.SimpleLocalProcessSpawner.pre_spawn_hook, c.KubeSpawner...): traitlets gives a
        # subclass's section precedence, so a hook left there alone would replace ours
        sections = ["Spawner", *(name for name in c if name != "Spawner"
                                 and _is_section(c[name]) and "pre_spawn_hook" in c[name])]
        for section in sections:
            previous = c[section].get("pre_spawn_hook") if "pre_spawn_hook" in c[section] \
                else None
            if getattr(previous, "_edge_keys", None) is self:
                previous = getattr(previous, "_edge_previous", None)  # install() ran twice
            c[section].pre_spawn_hook = self.spawn_hook(previous)
        configured = (c.JupyterHub.authenticator_class if "authenticator_class" in c.JupyterHub
                      else "default")
        c.JupyterHub.authenticator_class = wrap_authenticator(configured, self)


def names_in_hub(user: Any, identities: list[str]) -> dict[str, str | None]:
    """Each identity's user's name in JupyterHub's database now, or None if they are gone.

    Read through ``user.db`` (the hub's SQLAlchemy session, on the event loop's thread as
    it must be).  The id alone is not the person (SQLite hands a removed user's id to the
    next one): ``created`` must match too.  Identities it cannot look up are left out.
    """
    db = getattr(user, "db", None)
    if db is None or not identities:
        return {}
    from jupyterhub import orm  # type: ignore[import-untyped]  # (no stubs)

    found: dict[str, str | None] = {}
    for identity in identities:
        parts = split_identity(identity)
        if parts is None:
            continue
        row = db.get(orm.User, parts[0])
        found[identity] = (row.name if row is not None
                           and same_user(identity_of(row), identity) else None)
    return found


def _is_section(value: Any) -> bool:
    from traitlets.config import Config

    return isinstance(value, Config)


def _hub_log() -> logging.Logger:
    """The hub's own log (JupyterHub's application logger, configured after the config loads)."""
    try:
        from traitlets.log import get_logger
    except ImportError:
        return LOG
    found = get_logger()
    return found if isinstance(found, logging.Logger) else LOG


