"""Helpers shared by the fixtures that start real servers as subprocesses."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    """A port nobody listens on right now (bind probe on 127.0.0.1)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def loaded_by(statement: str, modules: Iterable[str]) -> list[str]:
    """Which of ``modules`` a fresh interpreter has loaded after running ``statement``."""
    code = (f"import json, sys\n{statement}\n"
            f"print(json.dumps(sorted(m for m in {sorted(modules)!r} if m in sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def stop_group(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGTERM the process group (server and its kernels), SIGKILL if it lingers."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


@dataclass
class JupyterProcess:
    """A running ``python -m jupyter_server`` or ``python -m jupyterlab`` with token auth."""

    proc: subprocess.Popen[bytes]
    url: str  # http://127.0.0.1:PORT/base/
    token: str
    log_path: Path
    root: Path

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def api(self, path: str) -> str:
        return self.url + path.lstrip("/")

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}


@contextlib.contextmanager
def jupyter_process(module: str, tmp: Path, env: dict[str, str], *, base_url: str = "/",
                    extra_args: Iterable[str] = (), timeout: float = 30.0,
                    stop_timeout: float = 10.0) -> Iterator[JupyterProcess]:
    """Start ``python -m module`` on a free port with a random token, wait until its
    ``api/status`` answers, and stop it (and its kernels) by its process group."""
    port = free_port()
    token = "edge-test-" + os.urandom(8).hex()
    root = tmp / "root"
    root.mkdir(parents=True, exist_ok=True)
    log_path = tmp / f"{module}.log"
    args = [sys.executable, "-m", module, "--no-browser", "--allow-root",
            f"--ServerApp.port={port}", "--ServerApp.ip=127.0.0.1", "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}", f"--ServerApp.base_url={base_url}",
            f"--ServerApp.root_dir={root}", *extra_args]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp,
                                start_new_session=True)
    server = JupyterProcess(proc, f"http://127.0.0.1:{port}{base_url}", token, log_path, root)
    try:
        deadline = time.monotonic() + timeout
        with httpx.Client(trust_env=False, timeout=2) as client:
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"{module} exited:\n{server.log_text()[-3000:]}")
                with contextlib.suppress(httpx.TransportError):
                    if client.get(server.api("api/status"), headers=server.auth).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{module} not ready:\n{server.log_text()[-3000:]}")
                time.sleep(0.1)
        yield server
    finally:
        stop_group(proc, timeout=stop_timeout)
