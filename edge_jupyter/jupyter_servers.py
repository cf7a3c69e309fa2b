"""Which Jupyter server this kernel belongs to (read from the servers' runtime files).

Each running Jupyter server writes ``jpserver-<pid>.json`` (URL, base URL, token, or
a Unix socket) into the runtime directory; a kernel finds its own server by asking
each live one, with its token, whether it runs this kernel.  Used by ``%edge connect``
(to send the user to the server's ``edge/connect`` route) and by the panel.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

_LOCAL = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class ServerInfo:
    """A running Jupyter server, as read from its ``jpserver-<pid>.json`` runtime file."""

    #: Where this kernel can reach the server, e.g. ``http://127.0.0.1:8888/user/alice/``.
    url: str
    base_url: str
    token: str = field(repr=False)
    pid: int = 0
    sock: str = ""
    runtime_file: str = ""

    @property
    def public_path(self) -> str:
        """The path browsers use: JUPYTERHUB_SERVICE_PREFIX under JupyterHub, else base_url."""
        prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX") or self.base_url or "/"
        return "/" + prefix.strip("/") + "/" if prefix.strip("/") else "/"

    def browser_link(self, path: str) -> str:
        """A link for the notebook page: a path, so the browser keeps the host it is on
        (under JupyterHub the kernel's view of the server is not the browser's)."""
        return self.public_path + path.lstrip("/")

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"} if self.token else {}

    def client(self, timeout: float = 3.0) -> Any:
        import httpx

        transport = httpx.HTTPTransport(uds=self.sock) if self.sock else None
        host = urlsplit(self.url).hostname or ""
        return httpx.Client(base_url=self.url, headers=self.headers(), timeout=timeout,
                            trust_env=False, transport=transport,
                            verify=host not in _LOCAL)  # a local self-signed cert is fine


def kernel_id() -> str | None:
    """This kernel's id, from its connection file name ``kernel-<id>.json``."""
    try:
        from ipykernel.connect import get_connection_file

        name = Path(get_connection_file()).name
    except Exception:  # not in a kernel (terminal IPython, plain Python)
        return None
    if name.startswith("kernel-") and name.endswith(".json"):
        return name[len("kernel-"):-len(".json")]
    return None


def _connection_dir() -> Path | None:
    try:
        from ipykernel.connect import get_connection_file

        return Path(get_connection_file()).resolve().parent
    except Exception:
        return None


def _runtime_files() -> list[Path]:
    """``jpserver-*.json`` in the runtime dir and next to this kernel's connection file."""
    dirs: list[Path] = []
    try:
        from jupyter_core.paths import jupyter_runtime_dir

        dirs.append(Path(jupyter_runtime_dir()))
    except Exception:
        pass
    own = _connection_dir()
    if own is not None:
        dirs.append(own)
    seen: set[Path] = set()
    found: list[Path] = []
    for d in dirs:
        with contextlib.suppress(OSError):
            for path in sorted(d.glob("jpserver-*.json"), key=lambda p: -p.stat().st_mtime):
                if path.resolve() not in seen:
                    seen.add(path.resolve())
                    found.append(path)
    return found


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return True  # unknown: let the HTTP probe decide
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _server_from_file(path: Path) -> ServerInfo | None:
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict) or not _pid_alive(int(info.get("pid") or 0)):
        return None
    base_url = str(info.get("base_url") or "/")
    url = str(info.get("url") or "")
    parts = urlsplit(url)
    if not url or parts.hostname in ("0.0.0.0", "::", ""):
        scheme = "https" if info.get("secure") else "http"
        url = f"{scheme}://127.0.0.1:{info.get('port')}{base_url}"
    if not url.endswith("/"):
        url += "/"
    token = str(info.get("token") or "") or os.environ.get("JUPYTERHUB_API_TOKEN", "")
    return ServerInfo(url=url, base_url=base_url, token=token, pid=int(info.get("pid") or 0),
                      sock=str(info.get("sock") or ""), runtime_file=str(path))


def find_server(kernel: str | None = None) -> ServerInfo | None:
    """The Jupyter server this kernel belongs to, or None (terminal IPython, nbclient…).

    Each live server found in the runtime files is asked, with its token, whether it
    runs this kernel (``GET api/kernels/<id>``): several servers may be running.
    """
    kernel = kernel or kernel_id()
    if not kernel:
        return None
    import httpx

    for path in _runtime_files():
        server = _server_from_file(path)
        if server is None:
            continue
        try:
            with server.client(timeout=2.0) as client:
                response = client.get(f"api/kernels/{kernel}")
        except httpx.HTTPError:
            continue
        if response.status_code == 200:
            return server
    return None
