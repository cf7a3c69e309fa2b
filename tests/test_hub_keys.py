"""edge_jupyter.hub against the real sandbox, with real JupyterHub spawners and authenticators.

No hub runs here (``tests/test_jupyterhub.py`` starts a real one): the hook and
``delete_user`` are called on real ``jupyterhub.spawner.LocalProcessSpawner`` and wrapped
``DummyAuthenticator`` objects built from the config ``EdgeKeys.install`` wrote, as the hub
builds them.  OpenRouter is the sandbox over HTTP; its record of requests shows what was
sent.  A lost ``POST /keys`` answer is a real one: a small HTTP hop in front of the sandbox
forwards the request (the key is made) and closes the connection without the answer.
"""

from __future__ import annotations

import asyncio
import base64
import http.server
import logging
import os
import secrets
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from sandbox_fixtures import auth, chat_body

pytest.importorskip("jupyterhub")
pytest.importorskip("cryptography")

from jupyterhub.spawner import LocalProcessSpawner
from traitlets.config import Config

from edge_jupyter import keystore
from edge_jupyter.cli import main as cli_main
from edge_jupyter.hub import (
    EdgeKeys,
    HubError,
    HubKeyStore,
    HubStoreError,
    identity_of,
    key_name,
    user_of,
)
from edge_jupyter.openrouter import OpenRouterClient

HUB = "class-test"
HEX_KEY = "a" * 64
OTHER_HEX_KEY = "b" * 64
ENV_NAMES = ("JUPYTERHUB_CRYPT_KEY", "EDGE_HUB_CRYPT_KEY", "EDGE_PROVISIONING_KEY",
             "EDGE_OPENROUTER_URL", "EDGE_HUB_NAME", "EDGE_KEY_PROVISIONED", "OPENROUTER_API_KEY")


_IDS: dict[str, int] = {}
CREATED = datetime(2026, 1, 5, 9, 30, tzinfo=timezone.utc)


class HubUser:
    """What the hook reads of JupyterHub's ``User`` wrapper: name, id, created (the wrapper
    forwards the last two to its ORM row).  One name is one person unless ``id`` says not."""

    def __init__(self, name: str, id: int | None = None, created: datetime | None = None) -> None:
        self.name = name
        self.id = _IDS.setdefault(name, len(_IDS) + 1) if id is None else id
        self.created = created or CREATED
        self.url = f"/user/{name}/"


def stored(edge: EdgeKeys, user: str | HubUser) -> Any:
    """The store's row of ``user`` (a name means HubUser(name))."""
    return edge.store().get(identity_of(HubUser(user) if isinstance(user, str) else user))


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
def hub_log() -> Iterator[tuple[logging.Logger, list[logging.LogRecord]]]:
    """The spawners' log at DEBUG, every record kept (the hub runs its log like this)."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep(logging.DEBUG)
    loggers = [logging.getLogger(n) for n in ("test.hub", "traitlets", "edge_jupyter", "httpx",
                                               "httpcore")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
        lg.addHandler(handler)
    yield loggers[0], records
    for lg, level in zip(loggers, levels, strict=True):
        lg.removeHandler(handler)
        lg.setLevel(level)


def no_secret_in(records: list[logging.LogRecord], *secret: str) -> None:
    assert records, "nothing was logged: the capture is broken"
    for record in records:
        text = record.getMessage() + repr(record.args) + str(record.exc_info or "")
        for s in secret:
            assert s not in text, f"a key in a log record: {record.name}: {record.msg}"


def install(sb: Any, tmp_path: Path, *, origin: str | None = None, environment: dict | None = None,
            **kwargs: Any) -> tuple[EdgeKeys, Config]:
    c = Config()
    c.JupyterHub.authenticator_class = "dummy"
    if environment is not None:
        c.Spawner.environment = environment
    kwargs.setdefault("store_path", tmp_path / "hub" / "edge-keys.sqlite")
    edge = EdgeKeys(limit_usd=5.0, limit_reset="monthly", hub_name=HUB,
                    provisioning_key=sb.management_key, openrouter_url=origin or sb.url, **kwargs)
    edge.install(c)
    return edge, c


def spawner(c: Config, user: str | HubUser, log: logging.Logger | None = None
            ) -> LocalProcessSpawner:
    extra = {"log": log} if log is not None else {}
    return LocalProcessSpawner(user=HubUser(user) if isinstance(user, str) else user, config=c,
                               **extra)


def spawn(c: Config, user: str | HubUser, log: logging.Logger | None = None
          ) -> LocalProcessSpawner:
    """Run the configured pre_spawn_hook as the hub does before ``Spawner.start``."""
    s = spawner(c, user, log)

    async def run() -> None:
        await s.run_pre_spawn_hook()

    asyncio.run(run())
    return s


def key_requests(sb: Any) -> list[Any]:
    return [r for r in sb.requests if r.path.startswith("/api/v1/keys")]


def listed(sb: Any) -> list[Any]:
    return OpenRouterClient(sb.management_key, origin=sb.url).list_keys(include_disabled=True)


def chat(sb: Any, key: str) -> httpx.Response:
    return httpx.post(sb.api_url + "/chat/completions", headers=auth(key), timeout=10,
                      json=chat_body("[sandbox:tokens=8] hi", max_tokens=8))


# -- names --------------------------------------------------------------------------------------


def test_a_key_name_says_hub_and_user_and_reads_back() -> None:
    assert key_name("class-2026", "alice") == "edge-jupyter:class-2026:alice"
    assert user_of("edge-jupyter:class-2026:alice", "class-2026") == "alice"
    assert user_of("edge-jupyter:class-2026:a:b", "class-2026") == "a:b"
    assert user_of("edge-jupyter:other:alice", "class-2026") is None
    assert user_of("Sandbox key", "class-2026") is None
    with pytest.raises(HubError, match="without ':'"):
        key_name("a:b", "alice")


# -- the hook -----------------------------------------------------------------------------------


def test_first_spawn_makes_a_capped_key_named_after_hub_and_user(sb, tmp_path, clean_env,
                                                                 hub_log) -> None:
    log, records = hub_log
    configured = {"EDGE_KEY_STORE": "file"}
    _, c = install(sb, tmp_path, environment=configured)
    s = spawn(c, "alice", log)
    assert [r.method for r in key_requests(sb)] == ["POST"]  # one request: the new key

    env = s.environment
    key = env["OPENROUTER_API_KEY"]
    assert env["EDGE_KEY_PROVISIONED"] == "jupyterhub"
    assert env["EDGE_OPENROUTER_URL"] == sb.url
    assert env["EDGE_KEY_STORE"] == "file"  # the configured environment is kept
    assert c.Spawner.environment == {"EDGE_KEY_STORE": "file"}  # …and not written into
    assert configured == {"EDGE_KEY_STORE": "file"}
    assert sb.management_key not in env.values()
    (made,) = [k for k in listed(sb) if k.name.startswith("edge-jupyter:")]
    assert made.name == f"edge-jupyter:{HUB}:alice"
    assert (made.limit, made.limit_reset, made.disabled) == (5.0, "monthly", False)
    info = httpx.get(sb.api_url + "/key", headers=auth(key), timeout=10).json()["data"]
    assert info["label"] == made.label and info["limit"] == 5.0  # the env holds that very key
    assert chat(sb, key).status_code == 200  # and it works at once
    no_secret_in(records, key, sb.management_key)


def test_a_later_spawn_reuses_the_key_without_a_request(sb, tmp_path, clean_env, hub_log) -> None:
    log, records = hub_log
    _, c = install(sb, tmp_path)
    first = spawn(c, "alice", log).environment["OPENROUTER_API_KEY"]
    before = len(sb.requests)
    again = spawn(c, "alice", log).environment["OPENROUTER_API_KEY"]
    assert again == first
    assert len(sb.requests) == before  # not one request to OpenRouter
    # a restarted hub (a new EdgeKeys on the same store) reuses it too
    _, c2 = install(sb, tmp_path)
    assert spawn(c2, "alice", log).environment["OPENROUTER_API_KEY"] == first
    assert len(sb.requests) == before
    assert len([k for k in listed(sb) if k.name.startswith("edge-jupyter:")]) == 1
    no_secret_in(records, first, sb.management_key)


def test_a_hook_on_a_spawner_class_section_runs_and_so_does_ours(sb, tmp_path, clean_env) -> None:
    from jupyterhub.spawner import SimpleLocalProcessSpawner

    ran: list[str] = []
    c = Config()
    c.JupyterHub.authenticator_class = "dummy"
    c.SimpleLocalProcessSpawner.pre_spawn_hook = lambda s: ran.append(s.user.name)  # the site's
    EdgeKeys(limit_usd=5.0, hub_name=HUB, store_path=tmp_path / "k.sqlite",
             provisioning_key=sb.management_key, openrouter_url=sb.url).install(c)
    s = SimpleLocalProcessSpawner(user=HubUser("hana"), config=c)
    asyncio.run(s.run_pre_spawn_hook())
    assert ran == ["hana"]  # the site's hook ran first
    assert chat(sb, s.environment["OPENROUTER_API_KEY"]).status_code == 200  # and then ours


def test_two_spawns_at_once_make_one_key_and_two_users_two(sb, tmp_path, clean_env) -> None:
    _, c = install(sb, tmp_path)
    spawners = [spawner(c, name) for name in ("alice", "alice", "bob", "alice")]

    async def run() -> None:
        await asyncio.gather(*(s.run_pre_spawn_hook() for s in spawners))

    asyncio.run(run())
    keys = [s.environment["OPENROUTER_API_KEY"] for s in spawners]
    assert keys[0] == keys[1] == keys[3] != keys[2]
    assert len([r for r in key_requests(sb) if r.method == "POST"]) == 2
    names = sorted(k.name for k in listed(sb) if k.name.startswith("edge-jupyter:"))
    assert names == [key_name(HUB, "alice"), key_name(HUB, "bob")]


class LosingHop:
    """A real HTTP hop in front of the sandbox: forwards every request; the first
    ``POST /api/v1/keys`` is forwarded (OpenRouter makes the key) and its answer dropped."""

    def __init__(self, upstream: str, *, lose_next_create: bool = True) -> None:
        hop = self
        self.lose_next_create = lose_next_create
        self.refuse_renames = False  # PATCH /keys/{hash} with a name: a 502, not forwarded

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.command == "PATCH" and hop.refuse_renames and b'"name"' in body:
                    self.send_response(502)
                    answer = b'{"error": {"code": 502, "message": "upstream went away"}}'
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                    return
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() in ("authorization", "content-type")}
                r = httpx.request(self.command, upstream + self.path, headers=headers,
                                  content=body, timeout=10)
                if self.command == "POST" and self.path == "/api/v1/keys" and hop.lose_next_create:
                    hop.lose_next_create = False
                    self.close_connection = True  # the key exists; its answer never arrives
                    return
                self.send_response(r.status_code)
                self.send_header("Content-Type", r.headers.get("content-type", "application/json"))
                self.send_header("Content-Length", str(len(r.content)))
                self.end_headers()
                self.wfile.write(r.content)

            do_GET = do_POST = do_PATCH = do_DELETE = _forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_lost_create_answer_leaves_no_working_orphan(sb, tmp_path, clean_env, hub_log) -> None:
    log, records = hub_log
    hop = LosingHop(sb.url)
    try:
        edge, c = install(sb, tmp_path, origin=hop.url)
        with pytest.raises(HubError, match="could not make an OpenRouter key for alice") as err:
            spawn(c, "alice", log)
        assert "try again" in str(err.value)
        (orphan,) = [k for k in listed(sb) if k.name == key_name(HUB, "alice")]
        assert not orphan.disabled  # made on OpenRouter, nobody holds its plaintext
        assert stored(edge, "alice").state == "pending"

        key = spawn(c, "alice", log).environment["OPENROUTER_API_KEY"]
    finally:
        hop.close()
    alices = {k.hash: k for k in listed(sb) if k.name == key_name(HUB, "alice")}
    assert len(alices) == 2
    assert alices[orphan.hash].disabled  # the orphan no longer works
    (live,) = [k for k in alices.values() if not k.disabled]
    assert stored(edge, "alice").hash == live.hash
    assert chat(sb, key).status_code == 200
    assert any("were disabled" in r.getMessage() for r in records)
    no_secret_in(records, key, sb.management_key)


def test_a_refused_provisioning_key_fails_the_spawn_with_what_to_do(sb, tmp_path, clean_env) -> None:
    c = Config()
    edge = EdgeKeys(limit_usd=1, hub_name=HUB, store_path=tmp_path / "s.sqlite",
                    provisioning_key=sb.key, openrouter_url=sb.url)  # an ordinary key
    edge.install(c)
    with pytest.raises(HubError) as err:
        spawn(c, "alice")
    text = str(err.value)
    assert "provisioning (management) key" in text and "settings/provisioning-keys" in text
    assert sb.key not in text
    assert stored(edge, "alice") is None  # refused: nothing pending, nothing to clean up


def test_no_provisioning_key_stops_the_hub_at_its_config(clean_env, tmp_path) -> None:
    with pytest.raises(HubError, match="EDGE_PROVISIONING_KEY"):
        EdgeKeys(limit_usd=5, hub_name=HUB, store_path=tmp_path / "s.sqlite")
    clean_env.setenv("EDGE_PROVISIONING_KEY", "sk-or-v1-" + "0" * 64)
    edge = EdgeKeys(limit_usd=5, hub_name=HUB, store_path=tmp_path / "s.sqlite")
    assert "0" * 64 not in repr(edge) and "provisioning_key=<set>" in repr(edge)


# -- a removed user ---------------------------------------------------------------------------


def test_removing_a_user_disables_their_key(sb, tmp_path, clean_env, hub_log) -> None:
    log, records = hub_log
    edge, c = install(sb, tmp_path)
    key = spawn(c, "alice", log).environment["OPENROUTER_API_KEY"]
    bob = spawn(c, "bob", log).environment["OPENROUTER_API_KEY"]
    authenticator = c.JupyterHub.authenticator_class(config=c)
    from jupyterhub.auth import DummyAuthenticator

    assert isinstance(authenticator, DummyAuthenticator)
    authenticator.allowed_users = {"alice", "bob"}

    asyncio.run(authenticator.delete_user(HubUser("alice")))

    assert authenticator.allowed_users == {"bob"}  # JupyterHub's own delete_user ran too
    (alice,) = [k for k in listed(sb) if k.name == key_name(HUB, "alice")]
    assert alice.disabled
    assert chat(sb, key).status_code == 401
    assert chat(sb, bob).status_code == 200
    assert stored(edge, "alice") is None
    # a user who comes back gets a new key
    assert spawn(c, "alice", log).environment["OPENROUTER_API_KEY"] != key
    no_secret_in(records, key, bob, sb.management_key)


def test_removing_a_user_while_openrouter_is_unreachable_keeps_them(sb, tmp_path,
                                                                   clean_env) -> None:
    hop = LosingHop(sb.url)
    hop.lose_next_create = False
    edge, c = install(sb, tmp_path, origin=hop.url)
    key = spawn(c, "alice").environment["OPENROUTER_API_KEY"]
    hop.close()  # OpenRouter is gone for a while
    authenticator = c.JupyterHub.authenticator_class(config=c)
    authenticator.allowed_users = {"alice"}
    with pytest.raises(HubError) as err:
        asyncio.run(authenticator.delete_user(HubUser("alice")))
    text = str(err.value)
    assert "could not be disabled, so the user was not removed" in text and "try again" in text
    assert key not in text
    assert authenticator.allowed_users == {"alice"}  # the hub keeps the user: try again later
    assert stored(edge, "alice").key == key
    assert chat(sb, key).status_code == 200


# -- renamed users, reused names (JupyterHub renames by changing the name only) ---------------


def test_a_renamed_user_keeps_their_key_and_its_name_follows(sb, tmp_path, clean_env) -> None:
    edge, c = install(sb, tmp_path)
    alice = HubUser("alice", id=101)
    key = spawn(c, alice).environment["OPENROUTER_API_KEY"]
    alice.name = "alice2"  # what PATCH /hub/api/users/alice {"name": "alice2"} does
    again = spawn(c, alice).environment["OPENROUTER_API_KEY"]
    assert again == key  # no second key for the same person
    (rec,) = [k for k in listed(sb) if k.name and ":alice" in k.name]
    assert rec.name == key_name(HUB, "alice2") and not rec.disabled
    assert stored(edge, alice).username == "alice2"
    # removing the renamed user disables that key (found by who she is, not her old name)
    asyncio.run(c.JupyterHub.authenticator_class(config=c).delete_user(alice))
    assert chat(sb, key).status_code == 401
    assert stored(edge, alice) is None


def test_a_user_read_back_in_whole_seconds_is_the_same_user(sb, tmp_path, clean_env,
                                                             hub_log) -> None:
    # MySQL/MariaDB keep JupyterHub's users.created in whole seconds, rounded: after a hub
    # restart the same user's ``created`` has lost its microseconds (or gained a second)
    log, records = hub_log
    edge, c = install(sb, tmp_path)
    made = datetime(2026, 12, 1, 22, 6, 36, 693904)  # naive UTC, as JupyterHub's orm has it
    key = spawn(c, HubUser("erin", id=501, created=made), log).environment["OPENROUTER_API_KEY"]
    for reloaded in (made.replace(microsecond=0), made.replace(microsecond=0) + timedelta(seconds=1)):
        again = spawn(c, HubUser("erin", id=501, created=reloaded), log)
        assert again.environment["OPENROUTER_API_KEY"] == key
    assert chat(sb, key).status_code == 200  # never disabled as "another user's"
    assert [k.name for k in listed(sb)].count(key_name(HUB, "erin")) == 1
    assert not [r for r in records if "another JupyterHub user" in r.getMessage()]
    # ... and removing them after the restart disables that key
    rounded = HubUser("erin", id=501, created=made.replace(microsecond=0) + timedelta(seconds=1))
    assert asyncio.run(edge.disable_user(rounded, log)) == 1
    assert chat(sb, key).status_code == 401
    assert edge.store().named("erin") == []
    # a row whose user had no creation time (NULL) is matched on the id alone
    frank = HubUser("frank", id=502)
    frank.created = None  # type: ignore[assignment]
    first = spawn(c, frank, log).environment["OPENROUTER_API_KEY"]
    assert stored(edge, frank).identity == "502@"
    later = spawn(c, HubUser("frank", id=502, created=made), log)
    assert later.environment["OPENROUTER_API_KEY"] == first
    no_secret_in(records, key, first, sb.management_key)


class Hub:
    """JupyterHub's own database (a real ``jupyterhub.sqlite``) and its ``User`` wrappers:
    what the hook reads when it asks whether a name's earlier holder still exists."""

    def __init__(self, tmp_path: Path, c: Config) -> None:
        import sqlalchemy
        from jupyterhub import orm

        # JupyterHub's own tables and session settings; not orm.new_session_factory, whose
        # alembic run reconfigures the process's logging (a stderr handler left behind)
        engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path}/jupyterhub.sqlite")
        orm.Base.metadata.create_all(engine)
        self.orm = orm
        self.db = sqlalchemy.orm.sessionmaker(bind=engine, expire_on_commit=False)()
        self.c = c

    def add(self, name: str) -> Any:
        from jupyterhub.user import User

        row = self.orm.User(name=name)
        self.db.add(row)
        self.db.commit()
        return User(row, {"config": self.c}, db=self.db)

    def rename(self, user: Any, name: str) -> None:  # what PATCH /hub/api/users/... does
        user.orm_user.name = name
        self.db.commit()

    def drop(self, user: Any) -> None:  # removed past delete_user (delete_invalid_users)
        self.db.delete(user.orm_user)
        self.db.commit()


def test_a_freed_name_never_brings_the_earlier_users_key(sb, tmp_path, clean_env, hub_log) -> None:
    log, records = hub_log
    edge, c = install(sb, tmp_path)
    hub = Hub(tmp_path, c)
    first = hub.add("carol")
    old = spawn(c, first, log).environment["OPENROUTER_API_KEY"]
    hub.rename(first, "carol-old")  # never spawned since, so the row still says carol
    newcomer = hub.add("carol")  # somebody else, given the freed name
    new = spawn(c, newcomer, log).environment["OPENROUTER_API_KEY"]
    assert new != old and chat(sb, new).status_code == 200
    # the earlier user still exists: their key moved to their new name, still working
    assert chat(sb, old).status_code == 200
    assert [r.identity for r in edge.store().named("carol")] == [identity_of(newcomer)]
    assert stored(edge, first).username == "carol-old"
    names = sorted(k.name for k in listed(sb) if not k.disabled and user_of(k.name, HUB))
    assert names == [key_name(HUB, "carol"), key_name(HUB, "carol-old")]
    assert spawn(c, first, log).environment["OPENROUTER_API_KEY"] == old
    # once that user is gone from the hub (not through delete_user), the next holder of
    # their name never gets their key: it is disabled
    hub.drop(first)
    later = spawn(c, hub.add("carol-old"), log).environment["OPENROUTER_API_KEY"]
    assert later != old and chat(sb, old).status_code == 401
    # the same id with another creation time (a new jupyterhub.sqlite) is another person too
    reborn = HubUser("carol", id=newcomer.id, created=datetime(2026, 3, 1, tzinfo=timezone.utc))
    assert spawn(c, reborn, log).environment["OPENROUTER_API_KEY"] not in (old, new)
    assert chat(sb, new).status_code == 401
    no_secret_in(records, old, new, later, sb.management_key)


def test_two_users_swapping_names_keep_their_own_keys(sb, tmp_path, clean_env, hub_log) -> None:
    log, records = hub_log
    edge, c = install(sb, tmp_path)
    hub = Hub(tmp_path, c)
    alice, bob = hub.add("alice"), hub.add("bob")
    ka = spawn(c, alice, log).environment["OPENROUTER_API_KEY"]
    kb = spawn(c, bob, log).environment["OPENROUTER_API_KEY"]
    hub.rename(bob, "carol")
    hub.rename(alice, "bob")  # and alice spawns first, under bob's old name
    assert spawn(c, alice, log).environment["OPENROUTER_API_KEY"] == ka
    assert chat(sb, kb).status_code == 200  # carol's running server keeps working
    assert spawn(c, bob, log).environment["OPENROUTER_API_KEY"] == kb
    live = {k.hash: k.name for k in listed(sb) if not k.disabled and user_of(k.name, HUB)}
    assert sorted(live.values()) == [key_name(HUB, "bob"), key_name(HUB, "carol")]
    assert live[stored(edge, alice).hash] == key_name(HUB, "bob")
    assert not [r for r in records if "another JupyterHub user" in r.getMessage()]
    no_secret_in(records, ka, kb, sb.management_key)


def test_a_rename_openrouter_missed_never_leaves_two_working_keys_on_one_name(
        sb, tmp_path, clean_env, hub_log, capsys) -> None:
    log, records = hub_log
    hop = LosingHop(sb.url, lose_next_create=False)
    try:
        edge, c = install(sb, tmp_path, origin=hop.url)
        hub = Hub(tmp_path, c)
        alice = hub.add("alice")
        key = spawn(c, alice, log).environment["OPENROUTER_API_KEY"]
        hop.refuse_renames = True
        hub.rename(alice, "alice2")
        assert spawn(c, alice, log).environment["OPENROUTER_API_KEY"] == key  # name: not yet
        newcomer = hub.add("alice")
        with pytest.raises(HubError, match="must be renamed before alice gets a key") as err:
            spawn(c, newcomer, log)  # the rename is tried again first, and fails again
        assert "try again" in str(err.value) or "502" in str(err.value)
        alices = [k for k in listed(sb) if k.name == key_name(HUB, "alice") and not k.disabled]
        assert len(alices) == 1  # no second key under the name
        hop.refuse_renames = False
        new = spawn(c, newcomer, log).environment["OPENROUTER_API_KEY"]
    finally:
        hop.close()
    live = {k.name: k for k in listed(sb) if not k.disabled and user_of(k.name, HUB)}
    assert sorted(live) == [key_name(HUB, "alice"), key_name(HUB, "alice2")]
    assert live[key_name(HUB, "alice2")].hash == stored(edge, alice).hash
    assert chat(sb, key).status_code == 200 and chat(sb, new).status_code == 200
    no_secret_in(records, key, new, sb.management_key)
    # one name with two working keys (e.g. a second hub of this name): set-limit refuses
    twin = OpenRouterClient(sb.management_key, origin=sb.url).create_key(
        key_name(HUB, "alice"), limit=None, limit_reset=None)
    clean_env.setenv("EDGE_OPENROUTER_URL", sb.url)
    clean_env.setenv("EDGE_PROVISIONING_KEY", sb.management_key)
    code, out, err = hub_cli(capsys, "set-limit", "alice", "9", "--hub-name", HUB)
    line = err.strip()
    assert (code, out) == (1, "") and err.count("\n") == 1 and "2 working OpenRouter keys" in line
    assert twin.info.label in line and live[key_name(HUB, "alice")].label in line
    assert (live[key_name(HUB, "alice")].limit, twin.info.limit) == (5.0, None)
    assert [k.limit for k in listed(sb) if k.hash == live[key_name(HUB, "alice")].hash] == [5.0]


def test_a_spawn_waiting_while_a_user_is_removed_and_a_later_one_share_one_key(
        sb, tmp_path, clean_env) -> None:
    edge, c = install(sb, tmp_path)
    dave = HubUser("dave", id=301)
    spawn(c, dave)

    async def race() -> tuple[str, str]:
        waiting, later = spawner(c, dave), spawner(c, dave)
        removal = asyncio.create_task(edge.disable_user(dave))
        await asyncio.sleep(0)  # the removal holds the user's lock now
        first = asyncio.create_task(waiting.run_pre_spawn_hook())  # queued on that lock
        await removal
        second = asyncio.create_task(later.run_pre_spawn_hook())
        await asyncio.gather(first, second)
        return (waiting.environment["OPENROUTER_API_KEY"],
                later.environment["OPENROUTER_API_KEY"])

    a, b = asyncio.run(race())
    assert a == b
    live = [k for k in listed(sb) if k.name == key_name(HUB, "dave") and not k.disabled]
    assert len(live) == 1


def test_two_hubs_with_one_name_never_disable_each_others_keys(sb, tmp_path, clean_env) -> None:
    _, hub_a = install(sb, tmp_path / "a")
    _, hub_b = install(sb, tmp_path / "b")  # same hub_name, same account: a misconfiguration
    bob_a, bob_b = HubUser("bob", id=401), HubUser("bob", id=401)
    key_a = spawn(hub_a, bob_a).environment["OPENROUTER_API_KEY"]
    key_b = spawn(hub_b, bob_b).environment["OPENROUTER_API_KEY"]
    asyncio.run(hub_a.JupyterHub.authenticator_class(config=hub_a).delete_user(bob_a))
    assert chat(sb, key_a).status_code == 401
    assert chat(sb, key_b).status_code == 200  # by hash: hub B's bob keeps working


def test_a_lost_answer_disables_only_keys_made_since(sb, tmp_path, clean_env) -> None:
    _, other = install(sb, tmp_path / "other")  # another hub with the same name made erin's key
    older = spawn(other, HubUser("erin", id=501)).environment["OPENROUTER_API_KEY"]
    sb.advance_clock(days=1)  # what follows happens (on OpenRouter's clock) a day later
    hop = LosingHop(sb.url)
    try:
        edge, c = install(sb, tmp_path / "this", origin=hop.url)
        erin = HubUser("erin", id=502)
        with pytest.raises(HubError):
            spawn(c, erin)
        import sqlite3

        later = (datetime.now(timezone.utc) + timedelta(hours=12)).isoformat(timespec="seconds")
        with sqlite3.connect(edge.store_path) as con:  # the lost answer: after the older key
            con.execute("UPDATE keys SET created_at = ? WHERE state = 'pending'", (later,))
        key = spawn(c, erin).environment["OPENROUTER_API_KEY"]
        erins = [k for k in listed(sb) if k.name == key_name(HUB, "erin")]
        assert sorted(k.disabled for k in erins) == [False, False, True]  # only the orphan
        assert chat(sb, older).status_code == 200 and chat(sb, key).status_code == 200
    finally:
        hop.close()
        sb.reset()


# -- the store ----------------------------------------------------------------------------------


def store_bytes(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


def test_the_store_is_encrypted_with_jupyterhubs_crypt_key(sb, tmp_path, clean_env) -> None:
    clean_env.setenv("JUPYTERHUB_CRYPT_KEY", HEX_KEY)
    edge, c = install(sb, tmp_path)
    key = spawn(c, "alice").environment["OPENROUTER_API_KEY"]
    raw = store_bytes(edge.store_path)
    assert key.encode() not in raw and b"sk-or-v1-" not in raw
    assert b"fernet" in raw
    # JupyterHub's own CryptKeeper (same variable, same format) opens what was written
    import sqlite3

    from jupyterhub.crypto import CryptKeeper

    (token,) = sqlite3.connect(edge.store_path).execute("SELECT secret FROM keys").fetchone()
    keeper = CryptKeeper(keys=[bytes.fromhex(HEX_KEY)])
    assert keeper.fernet.decrypt(token.encode()).decode() == key


def test_a_rotated_crypt_key_still_reads_and_base64_keys_work(sb, tmp_path, clean_env) -> None:
    old = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    clean_env.setenv("JUPYTERHUB_CRYPT_KEY", old)
    _, c = install(sb, tmp_path)
    key = spawn(c, "alice").environment["OPENROUTER_API_KEY"]
    clean_env.setenv("JUPYTERHUB_CRYPT_KEY", f"{HEX_KEY}; {old}")  # the new one first
    _, c2 = install(sb, tmp_path)
    before = len(sb.requests)
    assert spawn(c2, "alice").environment["OPENROUTER_API_KEY"] == key
    assert len(sb.requests) == before
    # EDGE_HUB_CRYPT_KEY wins over JupyterHub's
    clean_env.setenv("EDGE_HUB_CRYPT_KEY", OTHER_HEX_KEY)
    _, c3 = install(sb, tmp_path)
    with pytest.raises(HubStoreError, match="EDGE_HUB_CRYPT_KEY"):
        spawn(c3, "alice")


def test_a_wrong_crypt_key_is_a_clear_error_and_never_a_new_key(sb, tmp_path, clean_env) -> None:
    clean_env.setenv("JUPYTERHUB_CRYPT_KEY", HEX_KEY)
    _, c = install(sb, tmp_path)
    key = spawn(c, "alice").environment["OPENROUTER_API_KEY"]
    clean_env.setenv("JUPYTERHUB_CRYPT_KEY", OTHER_HEX_KEY)
    _, c2 = install(sb, tmp_path)
    posts = len([r for r in key_requests(sb) if r.method == "POST"])
    with pytest.raises(HubStoreError) as err:
        spawn(c2, "alice")
    text = str(err.value)
    assert "cannot be decrypted with JUPYTERHUB_CRYPT_KEY" in text and "alice" in text
    assert key not in text and HEX_KEY not in text and OTHER_HEX_KEY not in text
    assert len([r for r in key_requests(sb) if r.method == "POST"]) == posts
    # no crypt key at all: says which variable to set
    clean_env.delenv("JUPYTERHUB_CRYPT_KEY")
    _, c3 = install(sb, tmp_path)
    with pytest.raises(HubStoreError, match="no crypt key is set now"):
        spawn(c3, "alice")


def test_a_malformed_crypt_key_stops_the_hub_at_install(sb, tmp_path, clean_env) -> None:
    clean_env.setenv("JUPYTERHUB_CRYPT_KEY", "not-a-key-secretvalue")
    with pytest.raises(HubStoreError, match=r"JUPYTERHUB_CRYPT_KEY holds a key .* not 32 bytes") as e:
        install(sb, tmp_path)
    assert "secretvalue" not in str(e.value)


def test_without_a_crypt_key_the_file_is_0600_and_the_log_says_so_once(sb, tmp_path, clean_env,
                                                                      hub_log) -> None:
    log, records = hub_log
    edge, c = install(sb, tmp_path, store_path=tmp_path / "new" / "deeper" / "keys.sqlite")
    keys = [spawn(c, user, log).environment["OPENROUTER_API_KEY"] for user in ("alice", "bob")]
    assert stat.S_IMODE(edge.store_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(edge.store_path.parent.stat().st_mode) == 0o700
    said = [r for r in records if "unencrypted" in r.getMessage()]
    assert len(said) == 1 and str(edge.store_path) in said[0].getMessage()
    assert said[0].levelno == logging.WARNING
    assert stored(edge, "alice").key == keys[0]
    no_secret_in(records, *keys, sb.management_key)


def test_a_damaged_store_is_a_clear_error(tmp_path, clean_env) -> None:
    path = tmp_path / "keys.sqlite"
    path.write_bytes(b"this is not a database " * 100)
    with pytest.raises(HubStoreError, match=r"cannot be used .* move it aside"):
        HubKeyStore(path).get("1@")
    good = HubKeyStore(tmp_path / "ok.sqlite", cipher=None)
    good.save("7@", "alice", "f" * 64, key_name(HUB, "alice"), "sk-or-v1-" + "1" * 64)
    import sqlite3

    with sqlite3.connect(good.path) as con:
        con.execute("UPDATE keys SET secret = NULL")
    with pytest.raises(HubStoreError, match=r"damaged \(it holds no key\).*edge-jupyter hub forget alice"):
        good.get("7@")


def test_a_store_keyed_by_name_is_upgraded_and_its_keys_replaced(sb, tmp_path, clean_env) -> None:
    """Version 1 rows (by username) cannot say who they belonged to: the name's next spawn
    disables that key and makes a new one, rather than handing it to whoever has the name."""
    import sqlite3

    _, old_hub = install(sb, tmp_path / "old")
    old = spawn(old_hub, "ivan").environment["OPENROUTER_API_KEY"]
    (rec,) = [k for k in listed(sb) if k.name == key_name(HUB, "ivan")]
    path = tmp_path / "v1" / "keys.sqlite"
    path.parent.mkdir()
    with sqlite3.connect(path) as con:  # the file an earlier edge_jupyter wrote
        con.execute("CREATE TABLE keys (username TEXT PRIMARY KEY, hash TEXT, name TEXT NOT NULL, "
                    "secret TEXT, scheme TEXT, created_at TEXT NOT NULL, state TEXT NOT NULL)")
        con.execute("INSERT INTO keys VALUES ('ivan', ?, ?, ?, 'plain', '2026-01-01T00:00:00+00:00', "
                    "'active')", (rec.hash, rec.name, old))
        con.execute("PRAGMA user_version = 1")
    edge, c = install(sb, tmp_path, store_path=path)
    new = spawn(c, "ivan").environment["OPENROUTER_API_KEY"]
    assert new != old and chat(sb, old).status_code == 401 and chat(sb, new).status_code == 200
    assert edge.store().usernames() == ["ivan"]


def v1_store(sb: Any, tmp_path: Path, username: str, version: int = 1) -> tuple[Path, str]:
    """A version 1 (name-keyed) store holding ``username``'s working key, and that key."""
    import sqlite3

    made = OpenRouterClient(sb.management_key, origin=sb.url).create_key(
        key_name(HUB, username), limit=5.0, limit_reset="monthly")
    path = tmp_path / "v1" / "keys.sqlite"
    path.parent.mkdir(parents=True)
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE keys (username TEXT PRIMARY KEY, hash TEXT, name TEXT NOT NULL, "
                    "secret TEXT, scheme TEXT, created_at TEXT NOT NULL, state TEXT NOT NULL)")
        con.execute("INSERT INTO keys VALUES (?, ?, ?, ?, 'plain', '2026-01-01T00:00:00+00:00', "
                    "'active')", (username, made.info.hash, made.info.name, made.key))
        con.execute(f"PRAGMA user_version = {version}")
    return path, made.key


def test_a_v1_store_whose_version_was_never_written_is_upgraded_too(sb, tmp_path,
                                                                    clean_env) -> None:
    # version 1 wrote its table and its user_version in two steps: a hub killed between
    # them left a v1 table at version 0
    path, old = v1_store(sb, tmp_path, "lena", version=0)
    edge, c = install(sb, tmp_path, store_path=path)
    new = spawn(c, "lena").environment["OPENROUTER_API_KEY"]
    assert new != old and chat(sb, old).status_code == 401 and chat(sb, new).status_code == 200
    assert [r.identity for r in edge.store().named("lena")] == [identity_of(HubUser("lena"))]


def test_removing_a_user_after_the_upgrade_disables_their_v1_key(sb, tmp_path, clean_env) -> None:
    path, old = v1_store(sb, tmp_path, "judy")
    _, other = v1_store(sb, tmp_path / "x", "kim")
    edge, c = install(sb, tmp_path, store_path=path)  # the hub upgraded; judy never spawned since
    authenticator = c.JupyterHub.authenticator_class(config=c)
    asyncio.run(authenticator.delete_user(HubUser("judy")))
    assert chat(sb, old).status_code == 401
    assert edge.store().named("judy") == []
    assert chat(sb, other).status_code == 200  # another name's key is never touched


def test_a_plain_row_is_encrypted_in_place_and_a_forgotten_one_stays_gone(tmp_path,
                                                                          clean_env) -> None:
    import sqlite3

    path = tmp_path / "s.sqlite"
    plain = HubKeyStore(path, cipher=None)
    for who in ("alice", "bob"):
        plain.save(f"{who}@", who, who[0] * 64, key_name(HUB, who), f"sk-or-v1-{who}")
    clean_env.setenv("JUPYTERHUB_CRYPT_KEY", HEX_KEY)  # a crypt key set since
    hub = HubKeyStore(path)
    assert hub.get("alice@").key == "sk-or-v1-alice"  # read, and encrypted now
    # bob's row read by the hub while `hub forget` (another process) drops it, between the
    # read and the encrypting write: that write must not bring the row back
    with hub._open() as con:
        row = con.execute("SELECT identity, username, hash, name, secret, scheme, created_at, "
                          "state FROM keys WHERE identity = 'bob@'").fetchone()
    assert plain.drop("bob@")
    assert hub._stored(row, True).key == "sk-or-v1-bob"
    assert plain.usernames() == ["alice"]
    with sqlite3.connect(path) as con:
        assert con.execute("SELECT scheme FROM keys").fetchall() == [("fernet",)]


def test_two_processes_write_the_store_at_once(tmp_path, clean_env) -> None:
    path = tmp_path / "shared.sqlite"
    script = ("import sys\nfrom edge_jupyter.hub import HubKeyStore\n"
              "s = HubKeyStore(sys.argv[1], cipher=None)\n"
              "for i in range(60):\n"
              "    s.mark_pending(f'{sys.argv[2]}{i}@', f'{sys.argv[2]}{i}', 'n')\n"
              "    s.save(f'{sys.argv[2]}{i}@', f'{sys.argv[2]}{i}', 'h', 'n', 'k')\n")
    procs = [subprocess.Popen([sys.executable, "-c", script, str(path), who])
             for who in ("a", "b")]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    assert len(HubKeyStore(path, cipher=None).usernames()) == 120


def test_processes_opening_a_new_store_at_the_same_instant_all_get_it(tmp_path, clean_env) -> None:
    """Turning a new file to WAL while another process opens it answers "database is locked"
    at once, whatever busy_timeout says: every opener must wait instead (before the fix about
    one start in five failed a spawn with a "cannot be used" error)."""
    script = ("import sys, time\nfrom edge_jupyter.hub import HubKeyStore\n"
              "while time.time() < float(sys.argv[3]): pass\n"
              "s = HubKeyStore(sys.argv[1], cipher=None)\n"
              "for i in range(3):\n"
              "    s.mark_pending(f'{sys.argv[2]}{i}@', f'{sys.argv[2]}{i}', 'n')\n")
    for trial in range(4):
        path = tmp_path / f"new-{trial}.sqlite"
        start = time.time() + 0.4  # every process past its imports, then all open at once
        procs = [subprocess.Popen([sys.executable, "-c", script, str(path), who, str(start)],
                                  stderr=subprocess.PIPE) for who in "abcd"]
        results = [(p.wait(timeout=60), p.stderr.read().decode()[-300:]) for p in procs]
        assert [code for code, _ in results] == [0] * 4, results
        assert len(HubKeyStore(path, cipher=None).usernames()) == 12


# -- the admin's commands -----------------------------------------------------------------------


def hub_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli_main(["hub", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_hub_usage_lists_each_users_spend_and_whats_left(sb, tmp_path, clean_env, capsys) -> None:
    _, c = install(sb, tmp_path)
    alice = spawn(c, "alice").environment["OPENROUTER_API_KEY"]
    spawn(c, "bob")
    assert chat(sb, alice).status_code == 200
    clean_env.setenv("EDGE_PROVISIONING_KEY", sb.management_key)
    clean_env.setenv("EDGE_OPENROUTER_URL", sb.url)
    code, out, err = hub_cli(capsys, "usage", "--hub-name", HUB)
    assert (code, err) == (0, "")
    header, *rows = out.strip().splitlines()
    assert header.split() == ["user", "spent", "limit", "left", "resets", "state"]
    by_user = {row.split()[0]: row.split() for row in rows}
    assert set(by_user) == {"alice", "bob"}  # not the sandbox's own key
    (mine,) = [k for k in listed(sb) if k.name == key_name(HUB, "alice")]
    assert mine.usage > 0
    from edge_jupyter.money import short_left_usd, short_usd

    assert by_user["alice"][1:] == [short_usd(mine.usage), "$5.00",
                                    short_left_usd(mine.limit_remaining, 5.0), "monthly", "active"]
    assert by_user["bob"][1:] == ["$0", "$5.00", "$5.00", "monthly", "active"]
    assert sb.management_key not in out and alice not in out


def test_hub_usage_all_shows_disabled_keys(sb, tmp_path, clean_env, capsys) -> None:
    _, c = install(sb, tmp_path)
    spawn(c, "alice")
    asyncio.run(c.JupyterHub.authenticator_class(config=c).delete_user(HubUser("alice")))
    clean_env.setenv("EDGE_PROVISIONING_KEY", sb.management_key)
    clean_env.setenv("EDGE_OPENROUTER_URL", sb.url)
    clean_env.setenv("EDGE_HUB_NAME", HUB)
    code, out, _ = hub_cli(capsys, "usage")
    assert code == 0 and "No OpenRouter keys of hub" in out
    code, out, _ = hub_cli(capsys, "usage", "--all")
    assert code == 0 and out.splitlines()[1].split()[0] == "alice" and "disabled" in out


def test_hub_set_limit_changes_one_users_cap_confirmed(sb, tmp_path, clean_env, capsys) -> None:
    _, c = install(sb, tmp_path)
    alice = spawn(c, "alice").environment["OPENROUTER_API_KEY"]
    spawn(c, "bob")
    key_file = tmp_path / "provisioning-key"
    key_file.write_text(sb.management_key + "\n")
    clean_env.setenv("EDGE_OPENROUTER_URL", sb.url)
    code, out, err = hub_cli(capsys, "set-limit", "alice", "12.5", "--reset", "daily",
                             "--hub-name", HUB, "--key-file", str(key_file))
    assert (code, err) == (0, "")
    assert out.strip() == "alice: limit $12.50, resets daily, $12.50 left, $0 spent (confirmed by OpenRouter)."
    info = httpx.get(sb.api_url + "/key", headers=auth(alice), timeout=10).json()["data"]
    assert (info["limit"], info["limit_reset"]) == (12.5, "daily")
    (bob,) = [k for k in listed(sb) if k.name == key_name(HUB, "bob")]
    assert (bob.limit, bob.limit_reset) == (5.0, "monthly")  # only alice's changed
    code, out, _ = hub_cli(capsys, "set-limit", "alice", "none", "--reset", "never",
                           "--hub-name", HUB, "--key-file", str(key_file))
    assert code == 0 and out.startswith("alice: no limit, $0 spent")
    info = httpx.get(sb.api_url + "/key", headers=auth(alice), timeout=10).json()["data"]
    assert (info["limit"], info["limit_reset"]) == (None, None)


def test_hub_commands_fail_with_one_clear_line(sb, tmp_path, clean_env, capsys) -> None:
    _, c = install(sb, tmp_path)
    spawn(c, "alice")
    clean_env.setenv("EDGE_OPENROUTER_URL", sb.url)
    code, out, err = hub_cli(capsys, "usage", "--hub-name", HUB)  # no provisioning key
    assert (code, out) == (1, "") and "EDGE_PROVISIONING_KEY" in err and err.count("\n") == 1
    clean_env.setenv("EDGE_PROVISIONING_KEY", sb.key)  # an ordinary key: refused
    code, _, err = hub_cli(capsys, "usage", "--hub-name", HUB)
    assert code == 1 and "provisioning (management) key" in err and sb.key not in err
    clean_env.setenv("EDGE_PROVISIONING_KEY", sb.management_key)
    code, _, err = hub_cli(capsys, "set-limit", "carol", "3", "--hub-name", HUB)
    assert code == 1 and err.count("\n") == 1
    assert "'carol' has not spawned" in err and "Users with keys: alice." in err
    code, _, err = hub_cli(capsys, "usage")  # which hub?
    assert code == 1 and "--hub-name" in err
    with pytest.raises(SystemExit) as bad:
        hub_cli(capsys, "set-limit", "alice", "-3", "--hub-name", HUB)
    assert bad.value.code == 2 and "amount of USD" in capsys.readouterr().err
    # the installed command, as an admin runs it
    done = subprocess.run([sys.executable, "-m", "edge_jupyter.cli", "hub", "set-limit", "bob", "1",
                           "--hub-name", HUB], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "EDGE_PROVISIONING_KEY": sb.management_key})
    assert done.returncode == 1 and "'bob' has not spawned" in done.stderr
    assert sb.management_key not in done.stderr + done.stdout


def test_a_key_disabled_on_openrouter_is_replaced_after_hub_forget(sb, tmp_path, clean_env,
                                                                   capsys) -> None:
    edge, c = install(sb, tmp_path)
    key = spawn(c, "frank").environment["OPENROUTER_API_KEY"]
    (rec,) = [k for k in listed(sb) if k.name == key_name(HUB, "frank")]
    OpenRouterClient(sb.management_key, origin=sb.url).update_key(rec.hash, disabled=True)
    clean_env.setenv("EDGE_OPENROUTER_URL", sb.url)
    clean_env.setenv("EDGE_PROVISIONING_KEY", sb.management_key)
    code, _, err = hub_cli(capsys, "set-limit", "frank", "3", "--hub-name", HUB)
    assert code == 1 and "next spawn makes a new one" not in err
    assert "edge-jupyter hub forget frank" in err
    # the stored key is reused as it is (no request): it still gets 401 until forgotten
    assert spawn(c, "frank").environment["OPENROUTER_API_KEY"] == key
    code, out, err = hub_cli(capsys, "forget", "frank", "--store", str(edge.store_path))
    assert (code, err) == (0, "") and "their next spawn makes a new key" in out
    assert stored(edge, "frank") is None
    new = spawn(c, "frank").environment["OPENROUTER_API_KEY"]
    assert new != key and chat(sb, new).status_code == 200
    code, _, err = hub_cli(capsys, "forget", "nobody", "--store", str(edge.store_path))
    assert code == 1 and "'nobody' has no row" in err and "frank" in err
    code, _, err = hub_cli(capsys, "forget", "frank")  # which store?
    assert code == 1 and "--store" in err and err.count("\n") == 1


def test_forget_disables_a_working_key_and_the_hint_quotes_the_name(sb, tmp_path, clean_env,
                                                                    capsys) -> None:
    edge, c = install(sb, tmp_path)
    odd = "x' OR username <> 'x"  # JupyterHub accepts a quote in a username
    key = spawn(c, odd).environment["OPENROUTER_API_KEY"]
    keep = spawn(c, "gina").environment["OPENROUTER_API_KEY"]
    import sqlite3

    with sqlite3.connect(edge.store_path) as con:  # a damaged row
        con.execute("UPDATE keys SET secret = NULL WHERE username = ?", (odd,))
    with pytest.raises(HubStoreError) as err:
        spawn(c, odd)
    hint = str(err.value).split("run `", 1)[1].split("`", 1)[0]
    import shlex

    words = shlex.split(hint)
    assert words[:4] == ["edge-jupyter", "hub", "forget", odd]
    clean_env.setenv("EDGE_OPENROUTER_URL", sb.url)
    clean_env.setenv("EDGE_PROVISIONING_KEY", sb.management_key)
    code, _, _ = hub_cli(capsys, *words[2:])  # what the admin is told to run
    assert code == 0
    assert chat(sb, key).status_code == 401 and chat(sb, keep).status_code == 200
    assert edge.store().usernames() == ["gina"]


# -- bring your own key -------------------------------------------------------------------------


def test_a_connected_key_wins_over_the_provisioned_one(sb, tmp_path, clean_env) -> None:
    _, c = install(sb, tmp_path)
    provisioned = spawn(c, "alice").environment["OPENROUTER_API_KEY"]
    own = sb.issue_key()
    clean_env.setenv("EDGE_KEY_STORE", "file")
    clean_env.setenv("EDGE_DATA_DIR", str(tmp_path / "alice-data"))
    clean_env.setenv("OPENROUTER_API_KEY", provisioned)
    clean_env.setenv("EDGE_KEY_PROVISIONED", "jupyterhub")

    first = keystore.resolve_api_key()
    assert (first.key, first.source, first.provisioned) == (provisioned, "environment", "jupyterhub")
    keystore.store_api_key(own)  # what %edge connect does
    chosen = keystore.resolve_api_key()
    assert (chosen.key, chosen.source, chosen.provisioned) == (own, "file", "")
    assert keystore.delete_api_key()  # %edge disconnect
    after = keystore.resolve_api_key()
    assert after.key == provisioned
    text = keystore.disconnect_message(True, after.source)
    assert "Calls now use the key JupyterHub provisioned for you" in text
    assert "unset it" not in text  # the user cannot unset the hub's key, nor needs to
    # without the mark, the environment wins as it always did
    clean_env.delenv("EDGE_KEY_PROVISIONED")
    keystore.store_api_key(own)
    assert keystore.resolve_api_key().key == provisioned


def test_outside_the_magic_a_provisioned_key_is_never_said_to_shadow_or_need_unsetting(
        sb, tmp_path, clean_env) -> None:
    from connect_fixtures import decide, query_of

    from edge_jupyter import preferences
    from edge_jupyter.oauth import FlowStore, Site, handle_callback
    from edge_jupyter.panel._model import Spending, account_view
    from edge_jupyter.panel._source import Source
    from edge_jupyter.serverext.urls import authorize_url

    _, c = install(sb, tmp_path)
    provisioned = spawn(c, "alice").environment["OPENROUTER_API_KEY"]
    clean_env.setenv("EDGE_KEY_STORE", "file")
    clean_env.setenv("EDGE_DATA_DIR", str(tmp_path / "alice-data"))
    clean_env.setenv("OPENROUTER_API_KEY", provisioned)
    clean_env.setenv("EDGE_KEY_PROVISIONED", "jupyterhub")

    view = account_view(preferences.Preferences(), Source.key_status(), None, Spending())
    assert view.source.startswith("provisioned by JupyterHub")
    assert "unset" not in view.disconnect_hint and "%edge connect" in view.disconnect_hint

    def connect() -> list[str]:  # %edge connect's OAuth callback, against the sandbox
        flows = FlowStore()
        flow = flows.create()
        back = decide(authorize_url(sb.url, "http://127.0.0.1:9/cb", flow.challenge))
        site = Site(exchange=lambda code, verifier: OpenRouterClient(origin=sb.url)
                    .exchange_code(code, verifier), origin=sb.url)
        result = handle_callback(flows, flow.flow_id, query_of(back), site)
        assert result.state == "connected", result.message
        return list(result.page.what_to_do)

    assert not any("precedence" in step for step in connect())  # the stored key wins here
    assert keystore.resolve_api_key().source == "file"
    keystore.delete_api_key()
    clean_env.delenv("EDGE_KEY_PROVISIONED")  # a key the user set: it does shadow the store
    assert any("takes precedence" in step for step in connect())


def test_in_a_kernel_a_provisioned_key_works_and_status_says_whose(sb, tmp_path, clean_env) -> None:
    from kernel_harness import Kernel

    _, c = install(sb, tmp_path)
    env = spawn(c, "alice").environment
    provisioned = env["OPENROUTER_API_KEY"]
    k = Kernel({**env, "EDGE_DATA_DIR": str(tmp_path / "alice-data"), "EDGE_KEY_STORE": "file",
                "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"})
    try:
        k.ok("%load_ext edge_jupyter")
        status = k.ok("%edge status").all_text
        assert "provisioned by JupyterHub" in status and provisioned not in status

        def spent(key: str) -> float:
            return httpx.get(sb.api_url + "/key", headers=auth(key), timeout=10).json()["data"]["usage"]

        run = k.ok("%%edge -m openai/gpt-4o-mini\nSay hi [sandbox:tokens=5]")
        assert provisioned not in run.all_text
        assert spent(provisioned) > 0  # billed to alice's key: no connect step
        own = sb.issue_key()
        k.ok(f"from edge_jupyter import keystore; keystore.store_api_key({own!r})")
        status = k.ok("%edge status").all_text
        assert "provisioned by" not in status and "key source: file" in status
        before = spent(provisioned)
        k.ok("%%edge -m openai/gpt-4o-mini\nSay hi again [sandbox:tokens=5]")
        assert spent(own) > 0 and spent(provisioned) == before  # the user's own key now
        said = k.ok("%edge disconnect").all_text
        assert "Calls now use the key JupyterHub provisioned for you" in said
        assert "provisioned by JupyterHub" in k.ok("%edge status").all_text
    finally:
        k.shutdown()


# -- the benchmark ------------------------------------------------------------------------------


def test_the_provisioning_benchmark_runs_and_reports_both_spawns(clean_env) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks import __main__ as bench_cli
    from benchmarks import hub_provision

    assert bench_cli.BENCHMARKS["hub_provision"][0] is hub_provision
    first, later = hub_provision.run(repeats=2)
    for row in (first, later):
        assert row.value > 0 and row.baseline and row.baseline > 0
    # the counts measured, not a fixed text: one POST per first spawn, none for a later one
    assert "2 request(s) sent for 2 first spawn(s);" in first.note
    assert later.note.startswith("no request sent;")
    assert "one POST /keys" in first.target and "no request" in later.target
    assert "JUPYTERHUB_CRYPT_KEY" not in os.environ  # the run put the environment back
