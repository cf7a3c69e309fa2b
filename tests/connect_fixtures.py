"""Helpers for the connect tests: the sandbox's consent step, a real Jupyter server, leak scans.

Kept out of ``conftest.py`` (owned by the lead) and imported by the connect tests.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import httpx
from processes import JupyterProcess, jupyter_process

#: Keyring entries the tests may create; every test that touches the real keyring removes them.
KEYRING_USERNAMES = ("openrouter-api-key", "openrouter-management-key")




def decide(auth_url: str, decision: str = "authorize", *, challenge: str | None = None) -> str:
    """Do what a person does on the sandbox's consent page; return where it redirects.

    ``challenge`` replaces the flow's own code_challenge (to get a code that our
    verifier cannot redeem).
    """
    parts = urlsplit(auth_url)
    fields = dict(parse_qsl(parts.query, keep_blank_values=True))
    if challenge is not None:
        fields["code_challenge"] = challenge
    fields["decision"] = decision
    origin = f"{parts.scheme}://{parts.netloc}"
    with httpx.Client(trust_env=False) as client:
        response = client.post(f"{origin}/auth/decide", data=fields, follow_redirects=False)
    assert response.status_code in (302, 303), response.text
    return response.headers["location"]


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def find_secret(secret: str, texts: Iterable[str] = (), paths: Iterable[Path] = (),
                skip: Iterable[Path] = ()) -> list[str]:
    """Where ``secret`` appears: "text #i" or file paths (directories are walked)."""
    found = [f"text #{i}" for i, text in enumerate(texts) if secret in text]
    skipped = {Path(p).resolve() for p in skip}
    needle = secret.encode()
    for root in paths:
        root = Path(root)
        files = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        for path in files:
            if path.resolve() in skipped:
                continue
            with contextlib.suppress(OSError):
                if needle in path.read_bytes():
                    found.append(str(path))
    return found


def cleanup_keyring() -> None:
    """Remove edge_jupyter's entries from the real keyring (if there is one)."""
    try:
        import keyring
        from keyring.errors import KeyringError
    except ImportError:  # pragma: no cover
        return
    for username in KEYRING_USERNAMES:
        with contextlib.suppress(KeyringError, Exception):
            if keyring.get_password("edge_jupyter", username) is not None:
                keyring.delete_password("edge_jupyter", username)


def has_secret_service() -> bool:
    return bool(os.environ.get("DBUS_SESSION_BUS_ADDRESS"))


#: The server the connect tests drive (``srv.root`` is its root directory).
JupyterServer = JupyterProcess


@contextlib.contextmanager
def jupyter_server(tmp: Path, env: dict[str, str], *, base_url: str = "/",
                   extra_args: Iterable[str] = (), timeout: float = 30.0) -> Iterator[JupyterServer]:
    """A real Jupyter server with DEBUG logs, stopped by its process group.

    The extension is *not* named on the command line: it must be enabled by the
    jupyter-config file that ``pip install`` put in ``<prefix>/etc/jupyter``.
    """
    with jupyter_process("jupyter_server", tmp, env, base_url=base_url, timeout=timeout,
                         extra_args=["--ServerApp.log_level=DEBUG", *extra_args]) as server:
        yield server


def server_env(sb_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment for a server/kernel pointed at the sandbox, with no key in it."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENROUTER_API_KEY", "EDGE_KEY_STORE", "JUPYTER_TOKEN")}
    env.update({"EDGE_OPENROUTER_URL": sb_url, "EDGE_DATA_DIR": str(data_dir),
                "NO_PROXY": "127.0.0.1,localhost", "PYTHONUNBUFFERED": "1"})
    env.update(extra)
    return env


def json_of(response: httpx.Response | object) -> dict[str, object]:
    body = getattr(response, "body", None)
    if body is None:
        body = response.content  # type: ignore[attr-defined]
    return json.loads(body)


class BrowserThread:
    """Headless Chromium (Playwright's sync API) living in a thread of its own.

    Why a thread: Playwright's sync API keeps an asyncio loop running in the thread
    that started it, which clashes with pytest-jupyter's autouse loop fixture (it
    closes "the" loop after every test) and with jupyter_client's own ``run_sync``.
    Objects from the thread come back wrapped in a proxy whose calls run there.
    """

    def __init__(self, executable: str, args: list[str]) -> None:
        import queue
        import threading
        from concurrent.futures import Future

        self._jobs: queue.Queue[tuple[Any, Future[Any]] | None] = queue.Queue()
        ready: Future[Any] = Future()

        def run() -> None:
            from playwright.sync_api import sync_playwright

            try:
                with sync_playwright() as p:
                    browser = p.chromium.launch(executable_path=executable, headless=True,
                                                args=args)
                    ready.set_result(browser)
                    while (job := self._jobs.get()) is not None:
                        fn, fut = job
                        try:
                            fut.set_result(fn())
                        except BaseException as exc:
                            fut.set_exception(exc)
                    browser.close()
            except BaseException as exc:
                if not ready.done():
                    ready.set_exception(exc)

        self._thread = threading.Thread(target=run, name="playwright", daemon=True)
        self._thread.start()
        self.browser = self.wrap(ready.result(timeout=60))

    def call(self, fn: Any) -> Any:
        from concurrent.futures import Future

        fut: Future[Any] = Future()
        self._jobs.put((fn, fut))
        return fut.result(timeout=120)

    def wrap(self, value: Any) -> Any:
        if type(value).__module__.startswith("playwright."):
            return _InThread(value, self)
        return value

    def close(self) -> None:
        self._jobs.put(None)
        self._thread.join(timeout=30)


class _InThread:
    def __init__(self, target: Any, runner: BrowserThread) -> None:
        self._target = target
        self._runner = runner

    def __getattr__(self, name: str) -> Any:
        attr = self._runner.call(lambda: getattr(self._target, name))
        if callable(attr):
            def method(*args: Any, **kwargs: Any) -> Any:
                return self._runner.wrap(self._runner.call(lambda: attr(*args, **kwargs)))
            return method
        return self._runner.wrap(attr)
