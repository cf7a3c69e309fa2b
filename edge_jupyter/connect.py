"""Kernel side of connecting: ``%edge connect`` and ``%edge disconnect``.

In a kernel that belongs to a Jupyter server (found through the server's runtime
files), ``%edge connect`` shows a button to that server's ``edge/connect`` route,
which runs the OAuth dance and stores the key; the kernel polls the server until
the flow it started ends, and then says "connected" with the key's limit.

In terminal IPython (no server), it runs the dance itself: a one-shot callback
server on 127.0.0.1 in a thread, the browser opened with :mod:`webbrowser`.

The key never passes through an output, ``os.environ`` or a log line: it goes from
OpenRouter to the key store (on the server, or in the one-shot server here), and
the kernel reads it back from the store only to ask ``/key`` for its limit.
No tornado here: this module is imported inside kernels.
"""

from __future__ import annotations

import argparse
import contextlib
import html
import json
import os
import secrets
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlencode, urlsplit

from . import keystore, settings

#: How long ``%edge connect`` waits for the user to approve (OpenRouter codes live 10 min).
DEFAULT_TIMEOUT = 300.0
POLL_INTERVAL = 0.5
_LOCAL = ("127.0.0.1", "localhost", "::1")


# -- finding the Jupyter server ------------------------------------------------------------------


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


# -- argument parsing ----------------------------------------------------------------------------


class _Exit(Exception):
    """Raised by the parser instead of exiting the kernel."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: {message} (see `{self.prog} --help`)", file=sys.stderr)
        raise _Exit

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            print(message, file=sys.stderr)
        raise _Exit


def _usd(text: str) -> float:
    from .serverext.urls import parse_limit

    try:
        value = parse_limit(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if value is None:
        raise argparse.ArgumentTypeError("a number of US dollars is needed")
    return value


def _connect_parser() -> _Parser:
    p = _Parser(prog="%edge connect", add_help=True,
                description="Connect this notebook to your OpenRouter account: approve on "
                            "OpenRouter, and the key is kept in your OS keyring.")
    p.add_argument("--limit", type=_usd, metavar="USD",
                   help="ask OpenRouter for a key with this credit limit (enforced by OpenRouter)")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                   help=f"stop waiting after this long (default {DEFAULT_TIMEOUT:g})")
    p.add_argument("--no-browser", action="store_true",
                   help="terminal only: print the link instead of opening a browser")
    return p


# -- showing progress ----------------------------------------------------------------------------


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


class _Status:
    """One status line: updated in place (display_id) in a notebook, printed in a terminal."""

    def __init__(self) -> None:
        self._handle: Any = None
        self._last = ""
        self.history: list[str] = []

    def show(self, icon: str, text: str, *, html_extra: str = "") -> None:
        line = f"{icon} {text}"
        if line == self._last:
            return
        self._last = line
        self.history.append(line)
        if not _in_kernel():
            print(line, flush=True)
            return
        from IPython.display import display

        bundle = {"text/plain": line,
                  "text/html": (f'<div class="edge-connect-status" style="font-size:0.92em">'
                                f"{icon} {html.escape(text)}{html_extra}</div>")}
        if self._handle is None:
            self._handle = display(bundle, raw=True, display_id=True)
        else:
            self._handle.update(bundle, raw=True)


def _show_link(href: str, absolute: str, limit: float | None) -> None:
    from .serverext.urls import format_limit

    cap = f" A key with a ${format_limit(limit)} credit limit will be created." \
        if limit is not None else ""
    text = f"Open this link to connect to OpenRouter: {absolute}{cap}"
    if not _in_kernel():
        print(text, flush=True)
        return
    from IPython.display import display

    button = ("display:inline-block;padding:6px 14px;border-radius:6px;background:#3451b2;"
              "color:#fff;text-decoration:none;font-weight:600")
    display({"text/plain": text,
             "text/html": (f'<div class="edge-connect"><a class="edge-connect-link" '
                           f'href="{html.escape(href)}" target="_blank" rel="noopener" '
                           f'style="{button}">Connect to OpenRouter</a>'
                           f'<span style="margin-left:10px;color:#6b7280">Opens OpenRouter in a '
                           f"new tab; approve there, then come back here.{html.escape(cap)}"
                           "</span></div>")}, raw=True)


# -- the end: report the key ---------------------------------------------------------------------


def _connected_text() -> tuple[bool, str]:
    """Read the key back from the store and describe it (label, limit, what is left)."""
    from .openrouter import OpenRouterClient, OpenRouterError, mask_key

    resolved = keystore.resolve_api_key()
    if not resolved.key:
        why = resolved.problem or "the key is not in this kernel's key store"
        return False, (f"The key was stored, but this kernel cannot read it: {why} "
                       "(Does the kernel run with the same EDGE_KEY_STORE / EDGE_DATA_DIR and "
                       "D-Bus session as the Jupyter server?)")
    where = {"keyring": f"in {resolved.backend}", "file": "in the edge_jupyter key file",
             "environment": "from OPENROUTER_API_KEY"}.get(resolved.source, resolved.source)
    try:
        info = OpenRouterClient(resolved.key).key_info()
    except OpenRouterError as exc:
        return True, f"Connected (key {where}), but its details could not be read: {exc}"
    label = mask_key(info.label, resolved.key) or "your key"
    if info.limit is not None:
        left = info.limit_remaining if info.limit_remaining is not None else info.limit - info.usage
        money = f"limit ${info.limit:,.2f}, ${left:,.2f} left"
    else:
        money = f"no credit limit on this key, ${info.usage:,.2f} used so far"
    text = f"Connected to OpenRouter: {label} ({money}), key kept {where}."
    if resolved.source == "environment":
        text += (" Note: OPENROUTER_API_KEY is set in this kernel and takes precedence over "
                 "the stored key.")
    return True, text


# -- the two ways to wait ------------------------------------------------------------------------


def _wait(poll: Callable[[], tuple[str, str] | None], status: _Status, timeout: float,
          waiting: str) -> tuple[str, str]:
    """Call ``poll`` until it returns ("connected"|"error", message); cancellable."""
    started = time.monotonic()
    try:
        while True:
            result = poll()
            if result is not None:
                return result
            elapsed = time.monotonic() - started
            if elapsed > timeout:
                span = f"{timeout / 60:g} minutes" if timeout >= 120 else f"{timeout:g} seconds"
                return "timeout", (f"Gave up after {span} without an approval. "
                                   "Run `%edge connect` again when you are ready.")
            shown = int(elapsed) // 5 * 5
            status.show("⏳", f"{waiting} ({shown // 60}:{shown % 60:02d}; interrupt the kernel "
                             "to cancel)")
            time.sleep(POLL_INTERVAL)
    except KeyboardInterrupt:
        return "cancelled", "Cancelled: nothing was stored. Run `%edge connect` to try again."


def _connect_via_server(server: ServerInfo, args: argparse.Namespace, status: _Status) -> None:
    import httpx

    watch = secrets.token_urlsafe(18)
    query: dict[str, str] = {"watch": watch}
    if args.limit is not None:
        from .serverext.urls import format_limit

        query["limit"] = format_limit(args.limit)
    path = "edge/connect?" + urlencode(query)
    _show_link(server.browser_link(path), server.url + path, args.limit)
    client = server.client()
    misses = [0]

    def poll() -> tuple[str, str] | None:
        try:
            response = client.get(f"edge/api/connect/{watch}")
        except httpx.HTTPError:
            misses[0] += 1
            if misses[0] > 20:
                return "error", f"The Jupyter server at {server.url} stopped answering."
            return None
        if response.status_code == 404:
            try:
                response.json()
            except ValueError:
                return "error", ("This Jupyter server does not have the edge_jupyter server "
                                 "extension enabled: run `jupyter server extension enable "
                                 "edge_jupyter` and restart Jupyter.")
            return None  # the browser has not opened the link yet
        if response.status_code in (401, 403):
            return "error", "The Jupyter server refused this kernel's token."
        try:
            state = response.json()
        except ValueError:
            return None
        if isinstance(state, dict) and state.get("state") in ("connected", "error"):
            return state["state"], str(state.get("message") or "")
        return None

    try:
        outcome, message = _wait(poll, status, args.timeout,
                                 "Waiting for you to approve on OpenRouter…")
    finally:
        client.close()
    _finish(outcome, message, status)


def _finish(outcome: str, message: str, status: _Status) -> None:
    if outcome == "connected":
        ok, text = _connected_text()
        status.show("✅" if ok else "⚠️", text)
    elif outcome == "cancelled":
        status.show("⏹", message)
    else:
        status.show("❌", f"Not connected: {message}")


class _OneShot:
    """The terminal flow's callback server: one flow, one successful callback, then done."""

    def __init__(self, origin: str, limit: float | None) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        from .serverext.flows import FlowStore

        self.origin = origin
        self.limit = limit
        self.flows = FlowStore()
        self.flow = self.flows.create(limit=limit)
        self.result: tuple[str, str] | None = None
        self.done = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, body = outer.handle(self.path)
                data = body.encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Cache-Control", "no-store")
                self.send_header("Referrer-Policy", "no-referrer")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                """The default writes the request line, with its code, to stderr."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True,
                                       name="edge-jupyter-oauth-callback")

    @property
    def callback_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/edge/oauth/callback/{self.flow.flow_id}"

    @property
    def authorize_url(self) -> str:
        from .serverext.urls import authorize_url

        return authorize_url(self.origin, self.callback_url, self.flow.challenge, self.limit)

    def handle(self, raw_path: str) -> tuple[int, str]:
        """Everything the callback does; returns (status, page)."""
        from urllib.parse import parse_qs

        from .openrouter import OpenRouterClient, OpenRouterError, RetryPolicy
        from .serverext import pages
        from .serverext.flows import FlowError

        parts = urlsplit(raw_path)
        prefix = "/edge/oauth/callback/"
        if not parts.path.startswith(prefix):
            return 404, pages.error("Not found", "This address is not part of connecting.",
                                    ["Go back to your terminal."], reason="not-found").html()
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        try:
            flow = self.flows.pop(parts.path[len(prefix):])
        except FlowError as exc:
            return 400, pages.error("This sign-in link cannot be used",
                                    f"The link is {exc.reason}.",
                                    ["Run `%edge connect` again."], reason=f"flow-{exc.reason}").html()
        if "error" in query or not query.get("code"):
            denied = query.get("error") == "access_denied"
            message = ("You chose not to authorize edge_jupyter on OpenRouter." if denied
                       else "OpenRouter sent you back without a sign-in code.")
            self._end("error", message)
            return 400, pages.error("Connection declined" if denied else "Connecting failed",
                                    message, ["Run `%edge connect` again whenever you want."],
                                    reason="denied" if denied else "no-code").html()
        try:
            key = OpenRouterClient(origin=self.origin, retry=RetryPolicy(max_retries=0)) \
                .exchange_code(query["code"], flow.verifier)
        except OpenRouterError as exc:
            message = str(exc).replace(query["code"], "…")
            self._end("error", f"OpenRouter did not issue a key: {message}")
            return 502, pages.error("OpenRouter did not issue a key", message,
                                    ["Run `%edge connect` again."], reason="exchange-failed").html()
        try:
            keystore.store_api_key(key)
        except keystore.KeyStoreError as exc:
            self._end("error", str(exc))
            return 503, pages.error("The key could not be stored", exc.summary,
                                    exc.steps or ["Fix the problem, then connect again."],
                                    reason="store-" + type(exc).__name__).html()
        finally:
            del key
        self._end("connected", "Connected to OpenRouter.")
        limit = f"${self.limit:,.2f}" if self.limit is not None else ""
        return 200, pages.success(stored_in=keystore.describe_store().backend, limit=limit).html()

    def _end(self, state: str, message: str) -> None:
        self.result = (state, message)
        self.done.set()

    def __enter__(self) -> _OneShot:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def _connect_here(args: argparse.Namespace, status: _Status) -> None:
    """No Jupyter server: run the callback server ourselves and open the browser."""
    try:
        keystore.check_store()
    except keystore.KeyStoreError as exc:
        status.show("❌", f"Not connected: {exc}")
        return
    with _OneShot(settings.current().origin, args.limit) as one:
        url = one.authorize_url
        _show_link(url, url, args.limit)
        if not args.no_browser:
            import webbrowser

            with contextlib.suppress(Exception):
                webbrowser.open(url)
        outcome, message = _wait(lambda: one.result if one.done.is_set() else None, status,
                                 args.timeout, "Waiting for you to approve in the browser…")
    _finish(outcome, message, status)


# -- entry points for the %edge line magic -------------------------------------------------------


def run_connect(argv: list[str]) -> None:
    """``%edge connect [--limit USD] [--timeout S] [--no-browser]``."""
    try:
        args = _connect_parser().parse_args(argv)
    except _Exit:
        return
    status = _Status()
    current = keystore.resolve_api_key()
    if current.source == "environment":
        status.show("ℹ️", "OPENROUTER_API_KEY is set in this kernel's environment; it takes "
                          "precedence over the key you are about to store.")
        status = _Status()
    elif current.connected:
        status.show("ℹ️", f"Already connected (key in {current.backend}); approving again "
                          "replaces that key (the old one stays valid on OpenRouter until you "
                          "delete it there).")
        status = _Status()
    server = find_server()
    if server is not None:
        _connect_via_server(server, args, status)
    else:
        _connect_here(args, status)


def run_disconnect(argv: list[str]) -> None:
    """``%edge disconnect``: remove the stored key; conversations and the ledger stay."""
    parser = _Parser(prog="%edge disconnect",
                     description="Remove the stored OpenRouter key. Your conversations, "
                                 "preferences and usage ledger are kept.")
    try:
        parser.parse_args(argv)
    except _Exit:
        return
    try:
        removed = keystore.delete_api_key()
    except keystore.KeyStoreError as exc:
        print(f"Could not disconnect: {exc}", file=sys.stderr)
        return
    after = keystore.resolve_api_key()
    print(keystore.disconnect_message(removed, after.source))
