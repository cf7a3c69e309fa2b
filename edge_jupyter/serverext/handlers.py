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
from ..money import short_usd
from ..oauth import ID_PATTERN, Site, handle_callback, pages, store_error_page, unexpected_failure
from . import urls

if TYPE_CHECKING:
    from types import TracebackType

    from .app import EdgeExtensionApp

AUTH_RESOURCE = "edge_jupyter"
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
            self.render_page(store_error_page(exc, before=True, retry=self.connect_href), 503)
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
                      f", limit {short_usd(limit)}" if limit is not None else "")
        self.redirect(urls.authorize_url(self.edge.openrouter_url, callback, flow.challenge, limit))


class CallbackHandler(_PageHandler):
    """``GET edge/oauth/callback/<flow_id>?code=…``: exchange, store, say so.  Never raises.

    Everything between the request and the page is :func:`edge_jupyter.oauth.handle_callback`,
    the same code the terminal's one-shot server runs.
    """

    @web.authenticated
    @authorized
    async def get(self, flow_id: str) -> None:
        site = Site(exchange=self.edge.exchange_code, origin=self.edge.openrouter_url,
                    retry_href=self.connect_href)
        params = {name: value for name in ("code", "error")
                  if (value := self.get_argument(name, None)) is not None}
        try:
            result = await _in_thread(handle_callback, self.edge.flows, flow_id, params, site)
        except Exception:  # the page must still render, and the URL must not be logged
            self.log.error("edge_jupyter: the OAuth callback failed unexpectedly", exc_info=True)
            result = unexpected_failure(site)
            if self._finished:
                return
        if result.log is not None:
            self.log.log(*result.log)
        self.render_page(result.page, result.status)


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
            "provisioned": resolved.provisioned,  # "jupyterhub": the hub's key, not the user's
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
