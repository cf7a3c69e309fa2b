"""A real JupyterHub on 127.0.0.1 for the tests, driven as an admin would drive it.

``running_hub`` starts ``python -m jupyterhub`` in its own folder (free ports,
DummyAuthenticator, SimpleLocalProcessSpawner, configurable-http-proxy from npm,
everything logged at DEBUG to files) with a small wrapper config that loads the
documented ``jupyter-config/jupyterhub_config.py`` as written and overrides only
where things live: ports, paths, the sandbox as OpenRouter and its provisioning key.

:class:`Hub` talks to the Hub REST API with an admin service token
(``load_roles``): users, servers, per-user tokens. :class:`UserServer` is one
user's single-user server, reached through the proxy with that user's own token:
it starts kernels over ``/user/NAME/api/kernels`` and runs a cell over the kernel
websocket with the Jupyter messaging protocol (JSON frames, as a browser sends them),
giving back the same :class:`kernel_harness.CellRun` the other kernel tests read.

Teardown stops the hub, the proxy, every single-user server and their kernels by pid.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
from kernel_harness import CellRun, rebuild_outputs
from processes import free_port

REPO = Path(__file__).resolve().parents[1]
#: The config a hub admin copies: the test must prove it works as written.
DOCUMENTED_CONFIG = REPO / "jupyter-config" / "jupyterhub_config.py"


def chp_command() -> str:
    """configurable-http-proxy as ``scripts/test.sh`` installs it (``EDGE_CHP`` names it)."""
    return os.environ.get("EDGE_CHP") or str(
        REPO / ".cache" / "chp" / "node_modules" / ".bin" / "configurable-http-proxy")


def _wrapper_config(root: Path, *, documented: Path, hub_port: int, proxy_api_port: int,
                    service_token: str) -> str:
    """The test's jupyterhub_config.py: the documented file as written, then only what a
    test machine must change: the ports and files it may not share, logs to files, and the
    test's own admin service. (The documented file takes its listening port, key store,
    OpenRouter URL and provisioning key from the environment: :func:`running_hub` sets them.)"""
    return f'''\
import os
import subprocess

from jupyterhub.spawner import SimpleLocalProcessSpawner

c = get_config()  # noqa: F821
ROOT = {str(root)!r}

load_subconfig({str(documented)!r})  # the documented config, as written


class LoggedSpawner(SimpleLocalProcessSpawner):
    """The documented "simple" spawner, with each user's server writing its own log file
    (so the test can search it for keys); it starts servers exactly as its parent does."""

    async def start(self):
        with open(os.path.join(ROOT, "logs", f"singleuser-{{self.user.name}}.log"), "ab") as log:
            self.popen_kwargs = {{"stdout": log, "stderr": subprocess.STDOUT}}
            return await super().start()  # Popen has its own copy of the file by now


c.JupyterHub.spawner_class = LoggedSpawner
c.SimpleLocalProcessSpawner.home_dir_template = os.path.join(ROOT, "home", "{{username}}")
# Test machines often run as root; a server stops at once on the hub's SIGINT rather than
# asking "Shut down this Jupyter server (y/[n])?" on a stdin nobody reads (5 s each time).
c.Spawner.args = ["--allow-root", "--ServerApp.answer_yes=True", "--ServerApp.log_level=DEBUG"]
# Every test user is the same OS user here, and the "simple" spawner gives them homes under
# one folder of ours; their edge data (ledger, key file, conversations) must still be apart
# as on a real hub, where each user has their own home: each server gets its own EDGE_DATA_DIR.
c.Spawner.environment.update({{
    "EDGE_DATA_DIR": lambda spawner: os.path.join(ROOT, "edge-data", spawner.user.name),
}})

# Ports and files of this hub alone (several hubs may run on one test machine).
c.JupyterHub.hub_port = {hub_port}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{proxy_api_port}"
c.ConfigurableHTTPProxy.command = [{chp_command()!r}]
c.ConfigurableHTTPProxy.pid_file = os.path.join(ROOT, "proxy.pid")
c.JupyterHub.db_url = "sqlite:///" + os.path.join(ROOT, "jupyterhub.sqlite")
c.JupyterHub.cookie_secret_file = os.path.join(ROOT, "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = os.path.join(ROOT, "jupyterhub.pid")

# Everything at DEBUG (hub, proxy, servers): the test searches these logs for keys.
c.JupyterHub.log_level = "DEBUG"
c.ConfigurableHTTPProxy.debug = True
c.Spawner.debug = True

# The test's admin: a service whose token may manage users, servers and tokens.
c.JupyterHub.services = [{{"name": "edge-test", "api_token": {service_token!r}}}]
c.JupyterHub.load_roles = [{{
    "name": "edge-test-admin",
    "scopes": ["admin:users", "admin:servers", "tokens", "list:users"],
    "services": ["edge-test"],
}}]
'''


def _stat(pid: int) -> list[str]:
    """/proc/PID/stat's fields after the command name (state, ppid, ..., starttime)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def descendants(pid: int) -> dict[int, str]:
    """Every live process below ``pid`` (from /proc's parent links) → its start time, so a
    pid the system later gives to someone else's process is never taken for ours."""
    children: dict[int, list[tuple[int, str]]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = _stat(int(entry.name))
            children.setdefault(int(fields[1]), []).append((int(entry.name), fields[19]))
    found: dict[int, str] = {}
    todo = [pid]
    while todo:
        for child, started in children.get(todo.pop(), []):
            found[child] = started
            todo.append(child)
    return found


def cmdline(pid: int) -> str:
    """A process's command line as one string ('' once it is gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
            "utf-8", "replace")
    except OSError:
        return ""


def _alive(pid: int, started: str | None = None) -> bool:
    """Whether ``pid`` still runs (and is still the process that started at ``started``)."""
    try:
        fields = _stat(pid)
    except (OSError, IndexError):
        return False
    # a zombie is gone for our purposes (its parent reaps it)
    return fields[0] != "Z" and (started is None or fields[19] == started)


def _stop_pids(pids: dict[int, str | None], timeout: float = 10.0) -> None:
    """SIGTERM each of our processes, SIGKILL those still there after ``timeout``."""
    for pid, started in pids.items():
        if _alive(pid, started):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_alive(p, s) for p, s in pids.items()):
        time.sleep(0.1)
    for pid, started in pids.items():
        if _alive(pid, started):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@dataclass
class Hub:
    """A running JupyterHub and its admin's REST client."""

    proc: subprocess.Popen[bytes]
    url: str  # http://127.0.0.1:PORT/ (the proxy: what users reach)
    root: Path
    log_path: Path
    token: str
    client: httpx.Client = field(repr=False)
    #: every pid seen below the hub (proxy, servers, kernels), for teardown and /proc checks
    seen_pids: dict[int, str] = field(default_factory=dict)
    #: the command line of each of them, read while it ran
    cmdlines: dict[int, str] = field(default_factory=dict)

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.request(method, f"hub/api/{path.lstrip('/')}", **kwargs)

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def all_logs(self) -> dict[str, str]:
        """Every log file the hub's processes wrote: the hub's (with the proxy's output:
        JupyterHub starts the proxy on its own stdout) and each single-user server's."""
        return {p.name: p.read_text(encoding="utf-8", errors="replace")
                for p in sorted((self.root / "logs").glob("*.log"))}

    def _fail(self, what: str) -> AssertionError:
        return AssertionError(f"{what}\n--- hub log (tail) ---\n{self.log_text()[-4000:]}")

    def note_pids(self) -> dict[int, str]:
        pids = descendants(self.proc.pid)
        self.seen_pids.update(pids)
        for pid in (self.proc.pid, *pids):
            self.cmdlines[pid] = cmdline(pid) or self.cmdlines.get(pid, "")
        return pids

    # -- users --------------------------------------------------------------
    def create_user(self, name: str) -> None:
        r = self.api("POST", f"users/{name}")
        assert r.status_code in (201, 409), r.text

    def delete_user(self, name: str) -> None:
        r = self.api("DELETE", f"users/{name}")
        assert r.status_code == 204, r.text

    def user(self, name: str) -> dict[str, Any]:
        r = self.api("GET", f"users/{name}")
        assert r.status_code == 200, r.text
        return r.json()

    def user_token(self, name: str) -> str:
        r = self.api("POST", f"users/{name}/tokens", json={"note": "edge-test",
                                                           "expires_in": 3600})
        assert r.status_code in (200, 201), r.text
        return str(r.json()["token"])

    # -- servers ------------------------------------------------------------
    def start_server(self, name: str, timeout: float = 60.0) -> UserServer:
        """Spawn ``name``'s server, wait until the hub says it is ready, return it."""
        return self.start_servers([name], timeout)[name]

    def start_servers(self, names: list[str], timeout: float = 60.0) -> dict[str, UserServer]:
        """Spawn several users' servers at once (as a class logging in together would),
        wait until each is ready; each with a token of its own user."""
        # at once: the hub answers a spawn request only when the server is up or after
        # its slow_spawn_timeout (10 s), so one request after the other would queue them
        with ThreadPoolExecutor(len(names)) as pool:
            answers = list(pool.map(lambda n: self.api("POST", f"users/{n}/server"), names))
        for name, r in zip(names, answers, strict=True):
            if r.status_code not in (201, 202):
                raise self._fail(f"spawn of {name} refused: {r.status_code} {r.text}")
        deadline = time.monotonic() + timeout
        waiting = list(names)
        while waiting:
            model = self.user(waiting[0])
            server = model.get("servers", {}).get("")
            if server and server.get("ready"):
                waiting.pop(0)
                continue
            if not server and not model.get("pending"):
                raise self._fail(f"spawn of {waiting[0]} failed")
            if time.monotonic() > deadline:
                raise self._fail(f"server of {waiting[0]} not ready in {timeout}s")
            time.sleep(0.1)
        self.note_pids()
        return {name: UserServer(self, name, self.user_token(name)) for name in names}

    def spawn_failure(self, name: str) -> str:
        """Spawn ``name``'s server expecting it to fail: the message the hub's spawn page
        shows (the last event of the spawn's progress stream)."""
        self.api("POST", f"users/{name}/server")  # its answer: a bare 500 (JupyterHub 6)
        events = self.api("GET", f"users/{name}/server/progress", timeout=60)
        assert events.status_code == 200, events.text
        data = [json.loads(line[len("data:"):]) for line in events.text.splitlines()
                if line.startswith("data:")]
        assert data and data[-1].get("failed"), events.text
        return str(data[-1]["message"])

    def stop_server(self, name: str, timeout: float = 30.0) -> None:
        self.note_pids()
        r = self.api("DELETE", f"users/{name}/server")
        assert r.status_code in (202, 204), r.text
        deadline = time.monotonic() + timeout
        while True:
            model = self.user(name)
            if not model.get("servers", {}).get("") and not model.get("pending"):
                return
            if time.monotonic() > deadline:
                raise self._fail(f"server of {name} did not stop in {timeout}s")
            time.sleep(0.1)


@dataclass
class UserServer:
    """One user's single-user server, reached through the proxy with the user's token."""

    hub: Hub
    name: str
    token: str

    @property
    def base(self) -> str:
        return f"{self.hub.url}user/{self.name}/"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def start_kernel(self) -> str:
        r = httpx.post(self.base + "api/kernels", json={"name": "python3"},
                       headers=self.headers, timeout=60, trust_env=False)
        assert r.status_code == 201, r.text
        self.hub.note_pids()
        return str(r.json()["id"])

    def execute(self, kernel_id: str, code: str, *, timeout: float = 60.0) -> CellRun:
        """Run one cell in the kernel over its websocket; the cell's messages and outputs."""
        ws_url = self.base.replace("http://", "ws://", 1) + f"api/kernels/{kernel_id}/channels"
        return asyncio.run(execute_over_websocket(ws_url, self.headers, code, timeout))


def _message(msg_type: str, content: dict[str, Any], session: str) -> dict[str, Any]:
    """A Jupyter protocol message in the JSON form the kernel websocket takes."""
    return {
        "header": {"msg_id": uuid.uuid4().hex, "msg_type": msg_type, "session": session,
                   "username": "edge-test", "version": "5.3",
                   "date": datetime.now(timezone.utc).isoformat()},
        "parent_header": {}, "metadata": {}, "content": content, "buffers": [],
        "channel": "shell",
    }


async def execute_over_websocket(ws_url: str, headers: dict[str, str], code: str,
                                 timeout: float) -> CellRun:
    """Send ``execute_request`` on the shell channel; collect the iopub messages of that
    request until the kernel is idle again and the ``execute_reply`` has come."""
    # tornado is what jupyter_server itself runs on; imported here, only hub tests need it
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    deadline = time.monotonic() + timeout
    conn = await websocket_connect(HTTPRequest(ws_url, headers=headers,
                                               connect_timeout=timeout, request_timeout=timeout))
    try:
        request = _message("execute_request", {
            "code": code, "silent": False, "store_history": True, "user_expressions": {},
            "allow_stdin": False, "stop_on_error": True}, session=uuid.uuid4().hex)
        msg_id = request["header"]["msg_id"]
        await conn.write_message(json.dumps(request))
        messages: list[dict[str, Any]] = []
        reply: dict[str, Any] | None = None
        idle = False
        while reply is None or not idle:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"cell did not finish in {timeout}s: {code[:80]!r}")
            raw = await asyncio.wait_for(conn.read_message(), remaining)
            if raw is None:
                raise ConnectionError(f"kernel websocket closed: {conn.close_reason}")
            msg = json.loads(raw)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            msg["msg_type"] = msg["header"]["msg_type"]
            if msg["channel"] == "shell" and msg["msg_type"] == "execute_reply":
                reply = msg
            elif msg["channel"] == "iopub":
                if msg["msg_type"] == "status":
                    idle = idle or msg["content"]["execution_state"] == "idle"
                else:
                    messages.append(msg)
    finally:
        conn.close()
    return CellRun(messages, reply, rebuild_outputs(messages))


@contextlib.contextmanager
def running_hub(root: Path, env: dict[str, str], *, documented: Path = DOCUMENTED_CONFIG,
                timeout: float = 60.0) -> Iterator[Hub]:
    """Start JupyterHub in ``root`` with ``env`` (the hub's whole environment); stop it,
    its proxy and every server and kernel below it by pid when done."""
    (root / "logs").mkdir(parents=True, exist_ok=True)
    port, hub_port, proxy_api_port = free_port(), free_port(), free_port()
    token = "edge-test-" + os.urandom(16).hex()
    config = root / "jupyterhub_test_config.py"
    config.write_text(_wrapper_config(root, documented=documented, hub_port=hub_port,
                                      proxy_api_port=proxy_api_port, service_token=token),
                      encoding="utf-8")
    # what the documented config reads from the environment: where the hub listens, the store
    env = {**env, "EDGE_HUB_IP": "127.0.0.1", "EDGE_HUB_PORT": str(port),
           "EDGE_HUB_STORE": str(root / "edge-keys" / "edge-keys.sqlite"),
           "EDGE_HUB_NAME": env.get("EDGE_HUB_NAME", "class-2026")}  # required by the config
    log_path = root / "logs" / "jupyterhub.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "jupyterhub", "-f", str(config)],
                                stdout=log, stderr=subprocess.STDOUT, env=env, cwd=root,
                                start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    client = httpx.Client(base_url=url, headers={"Authorization": f"token {token}"},
                          timeout=30, trust_env=False)
    hub = Hub(proc, url, root, log_path, token, client)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise hub._fail(f"jupyterhub exited with {proc.returncode}")
            with contextlib.suppress(httpx.TransportError):
                if hub.api("GET", "/").status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise hub._fail(f"jupyterhub not ready in {timeout}s")
            time.sleep(0.1)
        hub.note_pids()
        yield hub
    finally:
        client.close()
        hub.note_pids()
        # the hub first: it stops its servers and the proxy itself; then whatever is left
        _stop_pids({proc.pid: None}, timeout=20)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
        _stop_pids(dict(hub.seen_pids))
