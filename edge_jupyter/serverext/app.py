"""The jupyter_server extension: configuration (traitlets) and route table.

Configure it like any Jupyter app, e.g. in ``jupyter_server_config.py``::

    c.EdgeExtensionApp.openrouter_url = "https://openrouter.ai"
    c.EdgeExtensionApp.public_url = "https://hub.example.org/user/alice/"
    c.EdgeExtensionApp.flow_ttl = 600
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jupyter_server.extension.application import ExtensionApp
from traitlets import Float, Unicode, default, validate

from .. import settings
from ..oauth import DEFAULT_TTL, ID_PATTERN, FlowStore
from .handlers import (
    CallbackHandler,
    ConnectHandler,
    DisconnectHandler,
    StatusHandler,
    WatchHandler,
)
from .urls import CALLBACK_PATH, CONNECT_PATH

if TYPE_CHECKING:
    from ..openrouter import KeyInfo


class EdgeExtensionApp(ExtensionApp):
    """Connect/disconnect OpenRouter from the browser, under the server's ``base_url``."""

    name = "edge_jupyter"
    description = "edge_jupyter: connect Jupyter to your OpenRouter account"
    load_other_extensions = True

    openrouter_url = Unicode(
        config=True,
        help="The OpenRouter origin (default: $EDGE_OPENROUTER_URL, else https://openrouter.ai).",
    )
    public_url = Unicode(
        "",
        config=True,
        help=("The address at which a browser reaches this server's base_url, for example "
              "https://hub.example.org/user/alice/. Only needed when it cannot be derived "
              "(see edge_jupyter.serverext.urls); without a path, the base_url is appended."),
    )
    flow_ttl = Float(
        DEFAULT_TTL,
        config=True,
        help="Seconds a started connect flow stays valid (OpenRouter's codes live 10 minutes).",
    )

    @default("openrouter_url")
    def _default_openrouter_url(self) -> str:
        return settings.current().origin

    @validate("openrouter_url")
    def _normalise_openrouter_url(self, proposal: dict[str, Any]) -> str:
        return settings.normalise_origin(proposal["value"])

    def initialize_settings(self) -> None:
        self.flows = FlowStore(ttl=self.flow_ttl)
        # A browser without a login reaches the callback and is sent to
        # ``login?next=<callback URL with its code>``; Jupyter's access log scrubs ``code``
        # but not ``next``, so add it.  ``self.settings`` is copied into the web app's
        # settings after this method (a new list: never mutate the server's own).
        keys = list(self.settings.get("extra_log_scrub_param_keys") or [])
        if "next" not in keys:
            self.settings["extra_log_scrub_param_keys"] = [*keys, "next"]

    def initialize_handlers(self) -> None:
        # Patterns are relative to the server root: ExtensionApp prepends base_url.
        self.handlers.extend([
            (rf"/{CONNECT_PATH}", ConnectHandler),
            (rf"/{CALLBACK_PATH}/({ID_PATTERN})", CallbackHandler),
            (rf"/edge/api/connect/({ID_PATTERN})", WatchHandler),
            (r"/edge/api/status", StatusHandler),
            (r"/edge/api/disconnect", DisconnectHandler),
        ])

    # -- the two OpenRouter calls, kept here so tests and handlers share one origin --------------

    def exchange_code(self, code: str, verifier: str) -> str:
        """PKCE step 3 (blocking; handlers run it in a thread).  No retries: a code works once."""
        from ..openrouter import OpenRouterClient, RetryPolicy

        client = OpenRouterClient(origin=self.openrouter_url, retry=RetryPolicy(max_retries=0))
        return client.exchange_code(code, verifier)

    def key_info(self, key: str | None) -> KeyInfo:
        """``GET /key`` for the status route (blocking)."""
        from ..openrouter import OpenRouterClient, RetryPolicy

        return OpenRouterClient(key, origin=self.openrouter_url,
                                retry=RetryPolicy(max_retries=0)).key_info()
