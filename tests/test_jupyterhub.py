"""A real JupyterHub on 127.0.0.1 with the documented config: a capped key per user.

One hub for the module (``hub_fixtures.running_hub``: jupyterhub from PyPI,
configurable-http-proxy from npm, DummyAuthenticator, local processes), loading
``jupyter-config/jupyterhub_config.py`` as written, against the sandbox as OpenRouter
(its management key as the provisioning key). Alice and bob log in together; each
server gets its own key and runs ``%%edge`` over its kernel websocket. The tests run
in file order, as the story of one class: first spawns, calls, the admin's usage table,
a cap reached, a respawn, a user's own key, a user removed, a spawn the hub cannot give a
key, the store at rest, and at the end no key anywhere it must not be.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hub_fixtures import Hub, UserServer, chp_command, running_hub
from kernel_harness import CellRun

from edge_jupyter.money import exact_usd, short_usd

pytestmark = pytest.mark.skipif(
    not Path(chp_command()).exists(),
    reason="configurable-http-proxy not installed (bash scripts/test.sh installs it)")

#: What the documented config sets (the test checks the keys OpenRouter holds against it).
HUB_NAME = "class-2026"
LIMIT_USD = 5.0
LIMIT_RESET = "monthly"
USERS = ["alice", "bob"]
EDGE_CELL = "%%edge -m openai/gpt-4o-mini --max-tokens 50\nSay hello to the class"


def clean_env() -> dict[str, str]:
    """This process's environment without its own edge settings or any HTTP proxy."""
    proxies = {"http_proxy", "https_proxy", "all_proxy"}
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("EDGE_", "OPENROUTER_")) and k.lower() not in proxies}
    env["NO_PROXY"] = "127.0.0.1,localhost"
    return env


class Story:
    """What the module's tests share: the hub, each user's server and kernel, every cell run."""

    def __init__(self, hub: Hub, sandbox: Any) -> None:
        self.hub = hub
        self.sandbox = sandbox
        self.servers: dict[str, UserServer] = {}
        self.kernels: dict[str, str] = {}
        self.cells: list[CellRun] = []
        self.messages: list[str] = []  # what the hub's pages showed
        self.plaintext: dict[str, str] = {}  # user -> key, from the sandbox's own registry

    def start(self, names: list[str]) -> None:
        for name, server in self.hub.start_servers(names).items():
            self.servers[name] = server
            self.kernels[name] = server.start_kernel()
            self.run(name, "%load_ext edge_jupyter")

    def run(self, name: str, code: str) -> CellRun:
        """Run a cell in ``name``'s kernel, kept for the leak check at the end."""
        cell = self.servers[name].execute(self.kernels[name], code)
        self.cells.append(cell)
        return cell

    def ok(self, name: str, code: str) -> CellRun:
        cell = self.run(name, code)
        assert cell.status == "ok", f"{name}: {code}\n{cell.all_text}"
        return cell

    def keys(self) -> dict[str, Any]:
        """The hub's keys as the sandbox holds them (disabled ones too), by user."""
        prefix = f"edge-jupyter:{HUB_NAME}:"
        records = [rec for rec in self.sandbox.accounts.listed(include_disabled=True)
                   if rec.name.startswith(prefix)]
        found = {rec.name[len(prefix):]: rec for rec in records}
        assert len(found) == len(records), f"a user has two keys: {records}"
        for user, rec in found.items():
            self.plaintext[user] = rec.key
        return found

    def hub_cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``edge-jupyter hub ...`` as the hub admin runs it (provisioning key in the env)."""
        env = clean_env()
        env.update(EDGE_PROVISIONING_KEY=self.sandbox.management_key,
                   EDGE_OPENROUTER_URL=self.sandbox.url, EDGE_HUB_NAME=HUB_NAME)
        return subprocess.run([sys.executable, "-m", "edge_jupyter.cli", "hub", *args],
                              capture_output=True, text=True, env=env, timeout=60)


@pytest.fixture(scope="module")
def story(sandbox, tmp_path_factory) -> Iterator[Story]:
    sandbox.reset()
    root = tmp_path_factory.mktemp("hub")
    # The hub's whole environment: what an admin exports before `jupyterhub` (the
    # provisioning key, where OpenRouter is, the crypt key JupyterHub uses for auth_state),
    # nothing of this test run's own edge settings.
    env = clean_env()
    env.update(EDGE_PROVISIONING_KEY=sandbox.management_key, EDGE_OPENROUTER_URL=sandbox.url,
               JUPYTERHUB_CRYPT_KEY=os.urandom(32).hex())
    with running_hub(root, env) as hub:
        story = Story(hub, sandbox)
        for name in USERS:
            hub.create_user(name)
        story.start(USERS)
        yield story
    sandbox.reset()


def chat(sandbox: Any, key: str) -> httpx.Response:
    return httpx.post(f"{sandbox.url}/api/v1/chat/completions", trust_env=False, timeout=30,
                      headers={"Authorization": f"Bearer {key}"},
                      json={"model": "openai/gpt-4o-mini", "max_tokens": 5,
                            "messages": [{"role": "user", "content": "hi"}]})


def test_each_user_gets_their_own_capped_key(story):
    keys = story.keys()
    assert sorted(keys) == USERS  # one key per user, made at the first spawn
    for user, rec in keys.items():
        assert rec.name == f"edge-jupyter:{HUB_NAME}:{user}"
        assert float(rec.limit) == LIMIT_USD and rec.limit_reset == LIMIT_RESET
        assert not rec.disabled
    assert keys["alice"].key != keys["bob"].key
    # each server has its own key and no more: compared by a digest, so no key is printed
    for user in USERS:
        seen = story.ok(user, "import hashlib, os\n"
                              "print(hashlib.sha256(os.environ['OPENROUTER_API_KEY'].encode())"
                              ".hexdigest(), 'EDGE_PROVISIONING_KEY' in os.environ)")
        digest = hashlib.sha256(keys[user].key.encode()).hexdigest()
        assert seen.texts()[-1].split() == [digest, "False"]


def test_each_user_runs_edge_in_their_own_server_at_once(story):
    for user in USERS:
        before = {u: rec.usage for u, rec in story.keys().items()}
        cell = story.ok(user, EDGE_CELL)
        sent = story.sandbox.completions[-1]
        cost_line = next(t for t in cell.texts() if t.startswith("💰"))
        assert exact_usd(sent.usage["cost"]) in cost_line
        after = {u: rec.usage for u, rec in story.keys().items()}
        # charged to this user's own key, nobody else's
        assert float(after[user] - before[user]) == pytest.approx(sent.usage["cost"])
        assert all(after[u] == before[u] for u in USERS if u != user)


def test_hub_usage_shows_each_users_spend(story):
    done = story.hub_cli("usage")
    assert done.returncode == 0, done.stderr
    keys = story.keys()
    lines = {line.split()[0]: line for line in done.stdout.splitlines() if line.split()}
    for user in USERS:
        assert user in lines, done.stdout
        spent = float(keys[user].usage)
        assert spent > 0 and short_usd(spent) in lines[user], done.stdout
        assert short_usd(LIMIT_USD) in lines[user], done.stdout


def test_a_user_over_their_cap_gets_a_clear_message(story):
    done = story.hub_cli("set-limit", "bob", "0.000001")
    assert done.returncode == 0, done.stderr
    cell = story.run("bob", EDGE_CELL)
    # OpenRouter's 403 as the one-line error the cell shows for it (KeyLimitExceeded)
    assert cell.status == "error" and cell.error["ename"] == "EdgeCellError", cell.all_text
    assert "Key limit exceeded" in cell.error["evalue"], cell.error["evalue"]
    assert "spending limit is used up" in cell.error["evalue"], cell.error["evalue"]
    assert len(cell.error["traceback"]) == 1, cell.error["traceback"]
    # alice's cap is her own: she still gets answers
    story.ok("alice", EDGE_CELL)


def test_a_respawn_reuses_the_key(story):
    before = story.keys()["alice"]
    story.hub.stop_server("alice")
    asked = len(story.sandbox.requests)
    story.start(["alice"])
    # the stored key, with no request to OpenRouter's /keys at all
    assert not [r for r in story.sandbox.requests[asked:] if r.path.startswith("/api/v1/keys")]
    after = story.keys()
    assert sorted(after) == USERS  # still two keys on OpenRouter
    assert after["alice"].hash == before.hash and after["alice"].key == before.key
    spent = after["alice"].usage
    story.ok("alice", EDGE_CELL)
    assert story.keys()["alice"].usage > spent


def test_a_user_who_brings_their_own_key_uses_it_until_they_disconnect(story):
    assert "provisioned by JupyterHub" in story.ok("alice", "%edge status").all_text
    own = story.sandbox.issue_key()  # a key of alice's own OpenRouter account
    story.plaintext["alice's own"] = own
    handed = story.hub.root / "alice-own-key.txt"  # read by the cell: no key in its source
    handed.write_text(own, encoding="utf-8")
    # what `%edge connect` stores once OpenRouter's page approves (in the file store the
    # documented config chooses: EDGE_KEY_STORE=file)
    story.ok("alice", f"from edge_jupyter import keystore\n"
                      f"keystore.store_api_key(open({str(handed)!r}).read())")
    hub_spent = story.keys()["alice"].usage
    story.ok("alice", EDGE_CELL)
    assert story.sandbox.accounts.lookup(own).usage > 0  # her own key now
    assert story.keys()["alice"].usage == hub_spent
    back = story.ok("alice", "%edge disconnect").all_text
    assert "JupyterHub provisioned for you" in back, back
    story.ok("alice", EDGE_CELL)
    assert story.keys()["alice"].usage > hub_spent  # the hub's key again


def test_a_removed_users_key_is_disabled(story):
    bob = story.keys()["bob"]
    story.hub.delete_user("bob")
    assert story.keys()["bob"].disabled
    assert chat(story.sandbox, bob.key).status_code == 401
    assert chat(story.sandbox, story.keys()["alice"].key).status_code == 200


def test_a_spawn_that_cannot_get_a_key_says_what_to_do(story):
    story.hub.create_user("carol")
    provisioning = story.sandbox.accounts.lookup(story.sandbox.management_key)
    story.sandbox.revoke(story.sandbox.management_key)  # as if the admin deleted it
    try:
        message = story.hub.spawn_failure("carol")
    finally:
        provisioning.revoked = False
    story.messages.append(message)
    assert "could not make an OpenRouter key for carol" in message, message
    assert "EDGE_PROVISIONING_KEY" in message and "provisioning-keys" in message, message
    assert not story.hub.user("carol")["servers"]  # no server without its key


def test_the_hubs_store_keeps_the_keys_encrypted_and_private(story):
    store = story.hub.root / "edge-keys"  # EDGE_HUB_STORE's folder (hub_fixtures)
    files = sorted(p for p in store.iterdir() if p.is_file())
    assert files and store.stat().st_mode & 0o777 == 0o700
    for path in files:
        assert path.stat().st_mode & 0o077 == 0, f"{path.name} is readable by others"
        data = path.read_bytes()
        for user, key in story.plaintext.items():
            # JUPYTERHUB_CRYPT_KEY is set: Fernet at rest, not even the key's hex part in clear
            assert key.encode() not in data and key[-64:].encode() not in data, (user, path)


def test_no_key_in_any_log_command_line_or_cell_output(story):
    story.hub.note_pids()
    secrets = {**{f"{u} key": k for u, k in story.plaintext.items()},
               "the provisioning key": story.sandbox.management_key}
    assert sorted(story.plaintext) == sorted([*USERS, "alice's own"])
    places = {**story.hub.all_logs(),
              **{f"cmdline of pid {p}": c for p, c in story.hub.cmdlines.items()},
              **{f"cell {i}": json.dumps([c.reply, *c.messages]) for i, c in enumerate(story.cells)},
              **{f"hub page message {i}": m for i, m in enumerate(story.messages)}}
    # the places were searched: the hub's log (DEBUG, with the proxy's output in it: the
    # hub starts the proxy on its own stdout), each server's log, the servers' command lines
    assert len(story.hub.all_logs()) == 1 + len(USERS) and story.messages
    assert "[D " in story.hub.log_text() and "[ConfigProxy]" in story.hub.log_text()
    assert sum("jupyterhub-singleuser" in c for c in story.hub.cmdlines.values()) >= 3
    assert any("ipykernel" in c for c in story.hub.cmdlines.values())
    for what, secret in secrets.items():
        for where, text in places.items():
            assert secret not in text, f"{what} appears in {where}"
