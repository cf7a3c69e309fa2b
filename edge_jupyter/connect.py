"""Kernel side of connecting: ``%edge connect`` and ``%edge disconnect``.

In a kernel that belongs to a Jupyter server (found by :mod:`.jupyter_servers` from
the servers' runtime files), ``%edge connect`` shows a button to that server's
``edge/connect`` route, which runs the OAuth dance and stores the key; the kernel
polls the server until the flow it started ends, and then says "connected" with
the key's limit.

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
import secrets
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from . import keystore, settings
from .jupyter_servers import ServerInfo, find_server
from .magics import in_kernel, sub_parser
from .money import short_left_usd, short_usd
from .user_numbers import SECONDS, USD

if TYPE_CHECKING:  # account imports the client (httpx): only when --revoke is asked
    from .account import Revocation

#: How long ``%edge connect`` waits for the user to approve (OpenRouter codes live 10 min).
DEFAULT_TIMEOUT = 300.0
POLL_INTERVAL = 0.5


# -- argument parsing ----------------------------------------------------------------------------
# The magics' own parser: a bad flag raises UsageError, so the cell fails with one line
# (a "Run All" stops here) instead of printing an error and carrying on.


def _connect_parser() -> argparse.ArgumentParser:
    p = sub_parser("connect", "Connect this notebook to your OpenRouter account: approve on "
                              "OpenRouter, and the key is kept in your OS keyring.")
    p.add_argument("--limit", type=USD.argtype(), metavar="USD",
                   help="ask OpenRouter for a key with this credit limit (enforced by OpenRouter)")
    p.add_argument("--timeout", type=SECONDS.argtype(), default=DEFAULT_TIMEOUT, metavar="SECONDS",
                   help=f"stop waiting after this long (default {DEFAULT_TIMEOUT:g})")
    p.add_argument("--no-browser", action="store_true",
                   help="terminal only: print the link instead of opening a browser")
    return p


# -- showing progress ----------------------------------------------------------------------------


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
        if not in_kernel():
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
    cap = f" A key with a {short_usd(limit)} credit limit will be created." \
        if limit is not None else ""
    text = f"Open this link to connect to OpenRouter: {absolute}{cap}"
    if not in_kernel():
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
    from .openrouter import OpenRouterClient, OpenRouterError

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
    label = info.label or "your key"  # key_info scrubbed it (OpenRouterClient.scrub)
    if info.limit is not None:
        left = info.limit_remaining if info.limit_remaining is not None else info.limit - info.usage
        money = f"limit {short_usd(info.limit)}, {short_left_usd(left, info.limit)} left"
    else:
        money = f"no credit limit on this key, {short_usd(info.usage)} used so far"
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
    """The terminal flow's callback server: one flow, one successful callback, then done.

    Only the HTTP plumbing is here: the callback itself is :func:`edge_jupyter.oauth.
    handle_callback`, the same code the server extension's handler runs.
    """

    def __init__(self, origin: str, limit: float | None) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        from .oauth import FlowStore

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

    def _exchange(self, code: str, verifier: str) -> str:
        from .openrouter import OpenRouterClient, RetryPolicy

        # No retries: a code works once.
        return OpenRouterClient(origin=self.origin, retry=RetryPolicy(max_retries=0)) \
            .exchange_code(code, verifier)

    def handle(self, raw_path: str) -> tuple[int, str]:
        """Route, then hand the callback to the shared implementation; returns (status, page)."""
        from urllib.parse import parse_qs

        from .oauth import Site, handle_callback, pages, unexpected_failure

        parts = urlsplit(raw_path)
        prefix = "/edge/oauth/callback/"
        if not parts.path.startswith(prefix):
            return 404, pages.error("Not found", "This address is not part of connecting.",
                                    ["Go back to your terminal."], reason="not-found").html()
        site = Site(exchange=self._exchange, origin=self.origin,
                    holder="this run of `%edge connect` (the link may be from an earlier one)",
                    home="your terminal", machine="this machine",
                    log_place="the traceback printed in your terminal")
        params = {k: v[0] for k, v in parse_qs(parts.query).items()}
        try:
            result = handle_callback(self.flows, parts.path[len(prefix):], params, site)
        except Exception:
            traceback.print_exc()  # what the HTTP server did with it before; never the key
            result = unexpected_failure(site)
        if result.state:
            self._end(result.state, result.message)
        return result.status, result.page.html()

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
    """``%edge connect [--limit USD] [--timeout S] [--no-browser]``.

    Bad flags raise :class:`~edge_jupyter.magics._args.UsageError` and ``--help`` raises
    ``HelpRequested``; the magic shows either as one line.
    """
    args = _connect_parser().parse_args(argv)
    status = _Status()
    current = keystore.resolve_api_key()
    if current.source == "environment" and current.provisioned:
        status.show("ℹ️", "Calls use the key JupyterHub provisioned for you; the key you are "
                          "about to store will be used instead (`%edge disconnect` goes back "
                          "to the hub's key).")
        status = _Status()
    elif current.source == "environment":
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
    """``%edge disconnect``: remove the stored key; conversations and the ledger stay.

    ``--revoke`` first deletes the key on OpenRouter (with a management key) and checks that
    it then gets 401; the local copy is removed either way, and a key that still works says
    so as the cell's error, with where to delete it.
    """
    p = sub_parser("disconnect", "Remove the stored OpenRouter key. Your conversations, "
                                 "preferences and usage ledger are kept.")
    p.add_argument("--revoke", action="store_true",
                   help="also delete the key on OpenRouter (needs a management key: "
                        "`%%edge balance --management-key`)")
    args = p.parse_args(argv)
    revoked: Revocation | None = None
    if args.revoke:
        from .account import revoke_connected

        revoked = revoke_connected()
    try:
        removed = keystore.delete_api_key()
    except keystore.KeyStoreError as exc:
        if revoked and revoked.done:
            print(revoked.sentence)  # what happened on OpenRouter is said whatever the store did
        print(f"Could not disconnect: {exc}", file=sys.stderr)
        removed = None
    if removed is not None:
        after = keystore.resolve_api_key()
        message = keystore.disconnect_message(
            removed, after.source, still_on_openrouter=revoked is None,
            environment_revoked=bool(revoked and revoked.environment))
        print(f"{revoked.sentence} {message}" if revoked and revoked.done else message)
    if revoked and not revoked.done:
        from .magics import EdgeCellError

        raise EdgeCellError(revoked.sentence)
