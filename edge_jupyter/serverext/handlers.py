"""Thin tornado handlers for connecting: each one reads the request, calls the logic, answers.

Every method carries ``@web.authenticated`` (jupyter_server 2 lets undecorated
handlers through by default) and ``@authorized`` (so JupyterHub-style authorizers
can restrict the ``edge_jupyter`` resource).  Pages are ``JupyterHandler`` (a browser
without a login is sent to the login page); JSON is ``APIHandler`` (a JSON 403).

Secrets: the callback's ``code`` is in its URL, and tornado logs the URL of any
raised ``HTTPError`` and of any uncaught exception.  So the callback never raises:
it renders its error page with a status, and :meth:`_EdgeMixin.log_exception`
scrubs the URL should anything slip through.  The key itself only passes through
local variables on its way from the exchange to the key store.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from jupyter_server.log import _scrub_uri
from tornado import web
from tornado.log import app_log

from .. import keystore
from . import pages, urls
from .flows import ID_PATTERN, FlowError

if TYPE_CHECKING:
    from types import TracebackType

    from .app import EdgeExtensionApp

AUTH_RESOURCE = "edge_jupyter"
_KEYS_PAGE = "https://openrouter.ai/settings/keys"
_ID_RE = re.compile(ID_PATTERN)

T = TypeVar("T")


async def _in_thread(fn: Callable[..., T], *args: Any) -> T:
    """Keyring (D-Bus) and HTTP calls are blocking: keep them off the tornado loop."""
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


class _EdgeMixin(ExtensionHandlerMixin):
    """Shared by the edge handlers: the app, the flow store, scrubbed exception logs."""

    auth_resource = AUTH_RESOURCE

    @property
    def edge(self) -> EdgeExtensionApp:
        return self.extensionapp  # type: ignore[return-value]

    def _request_summary(self) -> str:
        request = self.request  # type: ignore[attr-defined]
        return f"{request.method} {_scrub_uri(request.uri)} ({request.remote_ip})"

    def log_exception(self, typ: type[BaseException] | None, value: BaseException | None,
                      tb: TracebackType | None) -> None:
        """tornado's version prints ``repr(request)``, i.e. the URL with its ``code``."""
        if isinstance(value, web.HTTPError):
            message = value.get_message()
            if message:
                self.log.warning("%d %s: %s", value.status_code, self._request_summary(), message)
        else:
            app_log.error("Uncaught exception %s", self._request_summary(),
                          exc_info=(typ, value, tb))  # type: ignore[arg-type]


class _PageHandler(_EdgeMixin, JupyterHandler):
    def render_page(self, page: pages.Page, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")
        self.set_header("Referrer-Policy", "no-referrer")
        self.finish(page.html())

    @property
    def connect_href(self) -> str:
        """Where "Try again" goes: a path, so the browser keeps its own host."""
        return urls.public_path(self.base_url) + urls.CONNECT_PATH


class ConnectHandler(_PageHandler):
    """``GET edge/connect[?limit=USD][&watch=ID]``: start a flow, redirect to OpenRouter."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        watch = self.get_argument("watch", None)
        if watch is not None and not _ID_RE.fullmatch(watch):
            watch = None
        try:
            limit = urls.parse_limit(self.get_argument("limit", None))
        except ValueError as exc:
            self.edge.flows.set_watch(watch, "error", str(exc))
            self.render_page(pages.error(
                "That credit limit is not valid", str(exc),
                ["Use a plain number of dollars, for example `%edge connect --limit 5`."],
                reason="bad-limit", retry_href=self.connect_href), 400)
            return
        try:
            store = await _in_thread(keystore.check_store)
        except keystore.KeyStoreError as exc:
            self.edge.flows.set_watch(watch, "error", str(exc))
            self.render_page(_store_error_page(exc, before=True, retry=self.connect_href), 503)
            return
        try:
            base = urls.public_base(base_url=self.base_url, request_protocol=self.request.protocol,
                                    request_host=self.request.host,
                                    configured=self.edge.public_url)
        except ValueError as exc:
            self.edge.flows.set_watch(watch, "error", str(exc))
            self.render_page(pages.error("This server's public address is misconfigured",
                                         str(exc), ["Fix `c.EdgeExtensionApp.public_url`."],
                                         reason="bad-public-url"), 500)
            return
        flow = self.edge.flows.create(limit=limit, watch_id=watch)
        callback = urls.callback_url(base, flow.flow_id)
        problem = urls.callback_problem(callback, self.edge.openrouter_url)
        if problem:
            self.edge.flows.pop(flow.flow_id)
            self.edge.flows.set_watch(watch, "error", problem)
            self.render_page(pages.error(
                "OpenRouter cannot send you back here", problem,
                ["Serve Jupyter over https, or open it as `localhost` on this machine.",
                 "Behind an https proxy: set `c.ServerApp.trust_xheaders = True` so the "
                 "proxy's `X-Forwarded-Proto` counts.",
                 "Or name the public address yourself: "
                 "`c.EdgeExtensionApp.public_url = \"https://your.host/prefix/\"`."],
                reason="callback-not-https"), 400)
            return
        self.log.info("edge_jupyter: connect flow started (key store: %s%s)", store.backend,
                      f", limit ${urls.format_limit(limit)}" if limit is not None else "")
        self.redirect(urls.authorize_url(self.edge.openrouter_url, callback, flow.challenge, limit))


class CallbackHandler(_PageHandler):
    """``GET edge/oauth/callback/<flow_id>?code=…``: exchange, store, say so.  Never raises."""

    @web.authenticated
    @authorized
    async def get(self, flow_id: str) -> None:
        try:
            await self._callback(flow_id)
        except Exception:  # the page must still render, and the URL must not be logged
            self.log.error("edge_jupyter: the OAuth callback failed unexpectedly", exc_info=True)
            if not self._finished:
                self.render_page(pages.error(
                    "Connecting failed", "Something unexpected went wrong on this server.",
                    ["Try again; if it keeps failing, look at the Jupyter server log."],
                    reason="internal", retry_href=self.connect_href), 500)

    async def _callback(self, flow_id: str) -> None:
        flows = self.edge.flows
        try:
            flow = flows.pop(flow_id)
        except FlowError as exc:
            self.render_page(_flow_error_page(exc.reason, self.connect_href), 400)
            return
        watch = flow.watch_id
        error = self.get_argument("error", None)
        if error is not None:
            page = _denied_page(error, self.connect_href)
            flows.set_watch(watch, "error", page.what_happened)
            self.render_page(page, 400)
            return
        code = self.get_argument("code", None)
        if not code:
            message = "OpenRouter sent you back without a sign-in code."
            flows.set_watch(watch, "error", message)
            self.render_page(pages.error("Connecting failed", message,
                                         ["Start again."], reason="no-code",
                                         retry_href=self.connect_href), 400)
            return
        from ..openrouter import OpenRouterError

        try:
            key = await _in_thread(self.edge.exchange_code, code, flow.verifier)
        except OpenRouterError as exc:
            from ..connect import exchange_failure  # not the chat-call hint of str(exc)

            message = _scrub(exchange_failure(exc), code, flow.verifier)
            self.log.warning("edge_jupyter: the key exchange failed: %s", message)
            flows.set_watch(watch, "error", f"OpenRouter did not issue a key: {message}")
            self.render_page(pages.error(
                "OpenRouter did not issue a key", message,
                ["Start again: a sign-in code works once, for 10 minutes, and only for the "
                 "browser tab that asked for it.",
                 f"Check that this server can reach {self.edge.openrouter_url}."],
                reason="exchange-failed", retry_href=self.connect_href), 502)
            return
        try:
            where = await _in_thread(keystore.store_api_key, key)
        except keystore.KeyStoreError as exc:
            self.log.warning("edge_jupyter: the key could not be stored: %s", exc)
            flows.set_watch(watch, "error", str(exc))
            self.render_page(_store_error_page(exc, before=False, retry=self.connect_href), 503)
            return
        finally:
            del key
        described = (await _in_thread(keystore.describe_store)).backend
        self.log.info("edge_jupyter: connected to OpenRouter; key stored in %s", described)
        limit = f"${flow.limit:,.2f}" if flow.limit is not None else ""
        env_shadow = bool(os.environ.get(keystore.ENV_API_KEY))
        flows.set_watch(watch, "connected", "Connected to OpenRouter.", stored_in=where,
                        backend=described)
        self.render_page(pages.success(stored_in=described, limit=limit, env_shadow=env_shadow))


class WatchHandler(_EdgeMixin, APIHandler):
    """``GET edge/api/connect/<watch_id>``: how the flow the kernel started ended."""

    @web.authenticated
    @authorized
    async def get(self, watch_id: str) -> None:
        state = self.edge.flows.watch(watch_id)
        if state is None:
            self.set_status(404)
            self.finish(json.dumps({"state": "unknown", "message": "No such connect flow."}))
            return
        self.finish(json.dumps(state.as_json()))


class StatusHandler(_EdgeMixin, APIHandler):
    """``GET edge/api/status``: connected or not, key source, label and limits.  Never the key."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        resolved = await _in_thread(keystore.resolve_api_key)
        store = await _in_thread(keystore.describe_store)
        body: dict[str, Any] = {
            "connected": resolved.connected,
            "source": resolved.source,
            "backend": resolved.backend,
            "problem": resolved.problem,
            "store": {"kind": store.kind, "backend": store.backend, "secure": store.secure,
                      "problem": store.problem},
            "origin": self.edge.openrouter_url,
            "base_url": self.base_url,
            "connect_url": urls.public_path(self.base_url) + urls.CONNECT_PATH,
            "key": None,
        }
        if resolved.connected and self.get_argument("details", "1") != "0":
            from ..openrouter import OpenRouterError

            # The client scrubbed every server text in these (OpenRouterClient.scrub).
            try:
                info = await _in_thread(self.edge.key_info, resolved.key)
            except OpenRouterError as exc:
                body["key_error"] = str(exc)
            else:
                body["key"] = {"label": info.label, "limit": info.limit,
                               "limit_remaining": info.limit_remaining,
                               "limit_reset": info.limit_reset, "usage": info.usage,
                               "is_free_tier": info.is_free_tier}
        self.finish(json.dumps(body))


class DisconnectHandler(_EdgeMixin, APIHandler):
    """``POST edge/api/disconnect``: remove the stored key; conversations and ledger stay."""

    @web.authenticated
    @authorized
    async def post(self) -> None:
        try:
            removed = await _in_thread(keystore.delete_api_key)
        except keystore.KeyStoreError as exc:
            self.set_status(503)
            self.finish(json.dumps({"removed": False, "error": str(exc)}))
            return
        after = await _in_thread(keystore.resolve_api_key)
        self.log.info("edge_jupyter: disconnect (stored key removed: %s)", removed)
        self.finish(json.dumps({"removed": removed, "connected": after.connected,
                                "source": after.source,
                                "message": keystore.disconnect_message(removed, after.source)}))


# -- pages for each failure ---------------------------------------------------------------------


def _scrub(text: str, *secrets: str) -> str:
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, "…")
    return text


def _flow_error_page(reason: str, retry: str) -> pages.Page:
    what = {
        "used": "This sign-in link was already used. Each link works exactly once.",
        "expired": "This sign-in link expired: links are valid for 10 minutes.",
    }.get(reason, "This sign-in link is unknown to this Jupyter server (the server may have "
                  "restarted since you clicked Connect).")
    return pages.error("This sign-in link cannot be used", what,
                       ["Start again from your notebook with `%edge connect`, or use the button "
                        "below."], reason=f"flow-{reason}", retry_href=retry)


def _denied_page(error: str, retry: str) -> pages.Page:
    if error == "access_denied":
        return pages.error("Connection declined",
                           "You chose not to authorize edge_jupyter on OpenRouter.",
                           ["Nothing changes: run `%edge connect` again whenever you want to "
                            "connect."], reason="denied", retry_href=retry)
    shown = re.sub(r"[^A-Za-z0-9_.:-]", "", error)[:60] or "unknown"
    return pages.error("OpenRouter reported an error",
                       f"OpenRouter sent you back with the error {shown!r}.",
                       ["Start again; if it keeps happening, try later."],
                       reason="provider-error", retry_href=retry)


def _store_error_page(exc: keystore.KeyStoreError, *, before: bool, retry: str) -> pages.Page:
    if isinstance(exc, keystore.KeyringLocked):
        title = "Your keyring is locked"
    elif isinstance(exc, keystore.NoSecureStore):
        title = "No secure place to keep your key"
    else:
        title = "The key could not be stored"
    steps = list(exc.steps) or ["Fix the problem above, then connect again."]
    if not before:
        steps.append("OpenRouter created a key that was not kept; you can delete it at "
                     f"{_KEYS_PAGE}.")
    return pages.error(title, exc.summary, steps, reason="store-" + type(exc).__name__,
                       retry_href=retry)
