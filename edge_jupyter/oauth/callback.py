"""The OAuth callback, once for both front-ends: the flow check, the code exchange, the key
stored, the page that says so.

Two front-ends serve ``…/edge/oauth/callback/<flow_id>?code=…``: the jupyter-server
extension (:mod:`edge_jupyter.serverext.handlers`, behind the Jupyter login) and the
terminal's one-shot server (:mod:`edge_jupyter.connect`, on 127.0.0.1).  Each one
only reads the request and writes the answer; :func:`handle_callback` decides
everything in between, so both refuse, exchange and store the same way.  What differs
between them (a "Try again" button or none, "your notebook" or "your terminal") is a
:class:`Site`.

Blocking (the exchange is HTTP, the keyring is D-Bus): the server runs it in a thread.
No tornado and no IPython here.

Secrets: the ``code`` and the verifier are cut out of every sentence that leaves this
module (pages, watch messages, log lines); the key only passes through a local
variable on its way from the exchange to the key store.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from .. import keystore
from ..money import short_usd
from . import pages
from .flows import FlowError, FlowStore


@dataclass(frozen=True)
class Site:
    """The front-end serving the callback: how to exchange a code, and its words."""

    #: PKCE step 3: ``(code, verifier) -> key`` (blocking; no retries: a code works once).
    exchange: Callable[[str, str], str]
    #: The OpenRouter origin the exchange talks to (named when it cannot be reached).
    origin: str
    #: Where a "Try again" button goes; "" shows none (the terminal has nothing to go back to).
    retry_href: str = ""
    #: Who holds the flows, as the "unknown link" page names it.
    holder: str = "this Jupyter server (the server may have restarted since you clicked Connect)"
    #: Where the user starts again.
    home: str = "your notebook"
    #: The machine that talks to OpenRouter.
    machine: str = "this server"
    #: Where the traceback of an unexpected failure went.
    log_place: str = "the Jupyter server log"


@dataclass(frozen=True)
class CallbackResult:
    """What the front-end answers, and how the flow ended for whoever waits on it."""

    status: int
    page: pages.Page
    #: "connected" | "error"; "" when no flow ended (an unknown, used or expired link).
    state: str = ""
    #: The one sentence for the waiting kernel or terminal (never a secret).
    message: str = ""
    #: A line for the server's log, with its level (None: nothing to log).
    log: tuple[int, str] | None = None
    #: More for the watch on success: where the key went (never the key).
    detail: dict[str, str] = field(default_factory=dict)


def exchange_failure(exc: Exception) -> str:
    """Why the key exchange failed, said for connecting.

    The client's errors end with a hint for chat calls ("Check the model id and the flags
    of the cell" on a 400, "run `%edge connect`" on a 401), which mislead here: the server's
    own words are kept and the hint is one for a sign-in code.
    """
    from ..openrouter import APIStatusError, OpenRouterError

    if isinstance(exc, APIStatusError):
        what = f"OpenRouter error {exc.status}: {exc.message.strip()}"
    elif isinstance(exc, OpenRouterError):
        what = exc.message.strip()
    else:
        what = str(exc).strip()
    what = what.rstrip(".") or "OpenRouter did not say why"
    return (f"{what}. A sign-in code works only once, for 10 minutes: run `%edge connect` "
            "again (and check that this machine can reach OpenRouter).")


def handle_callback(flows: FlowStore, flow_id: str, params: Mapping[str, str], site: Site) -> \
        CallbackResult:
    """The whole callback: pop the flow (one use), then exchange, store, and say how it went.

    ``params`` is the callback's query (``code``, or ``error``).  Never raises for anything
    the user or OpenRouter can cause; the flow's watch (if the kernel started one) gets
    the same ending as the result.
    """
    try:
        flow = flows.pop(flow_id)
    except FlowError as exc:
        return CallbackResult(400, flow_error_page(exc.reason, site))
    result = _finish_flow(flow.verifier, flow.limit, params, site)
    flows.set_watch(flow.watch_id, result.state, result.message, **result.detail)
    return result


def _finish_flow(verifier: str, limit: float | None, params: Mapping[str, str],
                 site: Site) -> CallbackResult:
    error = params.get("error")
    if error is not None:
        page = denied_page(error, site)
        return CallbackResult(400, page, "error", page.what_happened)
    code = params.get("code")
    if not code:
        message = "OpenRouter sent you back without a sign-in code."
        return CallbackResult(400, pages.error("Connecting failed", message, ["Start again."],
                                               reason="no-code", retry_href=site.retry_href),
                              "error", message)
    from ..openrouter import OpenRouterError

    try:
        key = site.exchange(code, verifier)
    except OpenRouterError as exc:
        message = scrub(exchange_failure(exc), code, verifier)  # not the chat-call hint
        return CallbackResult(502, pages.error(
            "OpenRouter did not issue a key", message,
            ["Start again: a sign-in code works once, for 10 minutes, and only for the "
             "browser tab that asked for it.",
             f"Check that {site.machine} can reach {site.origin}."],
            reason="exchange-failed", retry_href=site.retry_href),
            "error", f"OpenRouter did not issue a key: {message}",
            (logging.WARNING, f"edge_jupyter: the key exchange failed: {message}"))
    try:
        where = keystore.store_api_key(key)
    except keystore.KeyStoreError as exc:
        return CallbackResult(503, store_error_page(exc, before=False, retry=site.retry_href),
                              "error", str(exc),
                              (logging.WARNING, f"edge_jupyter: the key could not be stored: {exc}"))
    finally:
        del key
    described = keystore.describe_store().backend
    shown_limit = short_usd(limit) if limit is not None else ""
    # a key JupyterHub provisioned comes after the stored one: it shadows nothing
    env_shadow = bool(os.environ.get(keystore.ENV_API_KEY)) and not keystore.provisioned_by()
    return CallbackResult(200, pages.success(stored_in=described, limit=shown_limit,
                                             env_shadow=env_shadow),
                          "connected", "Connected to OpenRouter.",
                          (logging.INFO, f"edge_jupyter: connected to OpenRouter; key stored in "
                                         f"{described}"),
                          {"stored_in": where, "backend": described})


def unexpected_failure(site: Site) -> CallbackResult:
    """The page for a bug: something raised that should not have (logged by the front-end)."""
    return CallbackResult(500, pages.error(
        "Connecting failed", f"Something unexpected went wrong on {site.machine}.",
        [f"Try again; if it keeps failing, look at {site.log_place}."],
        reason="internal", retry_href=site.retry_href), "error",
        "Something unexpected went wrong while connecting.")


# -- the pages for each failure -------------------------------------------------------------------


def scrub(text: str, *secrets: str) -> str:
    """Cut one-time secrets (the code, the verifier) out of a sentence."""
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, "…")
    return text


def flow_error_page(reason: str, site: Site) -> pages.Page:
    what = {
        "used": "This sign-in link was already used. Each link works exactly once.",
        "expired": "This sign-in link expired: links are valid for 10 minutes.",
    }.get(reason, f"This sign-in link is unknown to {site.holder}.")
    button = ", or use the button below." if site.retry_href else "."
    return pages.error("This sign-in link cannot be used", what,
                       [f"Start again from {site.home} with `%edge connect`{button}"],
                       reason=f"flow-{reason}", retry_href=site.retry_href)


def denied_page(error: str, site: Site) -> pages.Page:
    if error == "access_denied":
        return pages.error("Connection declined",
                           "You chose not to authorize edge_jupyter on OpenRouter.",
                           ["Nothing changes: run `%edge connect` again whenever you want to "
                            "connect."], reason="denied", retry_href=site.retry_href)
    shown = re.sub(r"[^A-Za-z0-9_.:-]", "", error)[:60] or "unknown"
    return pages.error("OpenRouter reported an error",
                       f"OpenRouter sent you back with the error {shown!r}.",
                       ["Start again; if it keeps happening, try later."],
                       reason="provider-error", retry_href=site.retry_href)


def store_error_page(exc: keystore.KeyStoreError, *, before: bool, retry: str = "") -> pages.Page:
    """No usable key store: before the user approves (connect) or after (callback)."""
    if isinstance(exc, keystore.KeyringLocked):
        title = "Your keyring is locked"
    elif isinstance(exc, keystore.NoSecureStore):
        title = "No secure place to keep your key"
    else:
        title = "The key could not be stored"
    steps = list(exc.steps) or ["Fix the problem above, then connect again."]
    if not before:
        steps.append("OpenRouter created a key that was not kept; you can delete it at "
                     f"{keystore.KEYS_PAGE}.")
    return pages.error(title, exc.summary, steps, reason="store-" + type(exc).__name__,
                       retry_href=retry)


