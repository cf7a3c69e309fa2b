"""URL routing and every endpoint except chat completions (see ``_completions.py``).

Each route is a small function ``(handler, request) -> None`` that either
sends a response or raises :class:`ApiError`; :meth:`Handler.dispatch` records
the request, finds the route and renders errors in OpenRouter's shape.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from . import _pages
from ._accounts import USER_ID
from ._activity import get_activity
from ._batches import batch_route, create_batch, list_batches
from ._catalog import MODELS, endpoints_json, model_json
from ._completions import authenticate, handle_chat
from ._errors import ApiError
from ._faults import Fault, send_gzip_bomb, serve_key_fault, trickle_json
from ._http import BaseHandler, Request, log
from ._keys import create_key, key_route, list_keys
from ._records import Headers, RecordedRequest

Route = Callable[["Handler", Request], None]
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
_ENDPOINTS_RE = re.compile(r"^/api/v1/models/([^/]+)/([^/]+)/endpoints$")


# -- models ---------------------------------------------------------------------------
def _catalogue_up(h: Handler) -> None:
    """``Sandbox.catalogue_down``: the model list and price pages fail, completions do not."""
    if h.sandbox.catalogue_down:
        raise ApiError(503, "The model catalogue is temporarily unavailable (sandbox: catalogue_down)")


def _page_number(value: str | None) -> int | None:
    """A ``limit``/``offset`` query value; a bad one is a 400, as OpenRouter's validation."""
    if value is None or value == "":
        return None
    if not value.isdigit():
        raise ApiError(400, f"Invalid query parameter: {value[:20]!r} is not a whole number")
    return int(value)


def list_models(h: Handler, req: Request) -> None:
    """``GET /api/v1/models``: public, no auth."""
    _catalogue_up(h)
    fault = h.sandbox.faults.take("models")
    data = [model_json(m) for m in MODELS.values()]
    body = {"data": data, "total_count": len(data), "links": {"next": None}}
    size = _page_number(req.query.get("limit")) or h.sandbox.models_page_size
    if size:  # one page of the catalogue, linking the next
        start = _page_number(req.query.get("offset")) or 0
        more = start + size < len(data)
        body = {"data": data[start:start + size], "total_count": len(data),
                "links": {"next": f"/api/v1/models?limit={size}&offset={start + size}" if more else None}}
    if fault is not None and fault.kind == "slow_models":
        trickle_json(h, body, fault.seconds)
        return
    if fault is not None:  # a gzip bomb
        send_gzip_bomb(h, fault.status or 200, fault.size)
        return
    h.send_json(200, body, {"Cache-Control": "public, max-age=300"})


def model_endpoints(h: Handler, req: Request, author: str, slug: str) -> None:
    """``GET /api/v1/models/{author}/{slug}/endpoints``.

    A variant id (``…/llama-3.1-8b-instruct:free``) lists that variant's own endpoints, the
    base id the base model's; a base id with no model of its own finds a variant of it (for
    clients that drop the ``:variant`` suffix when they ask).
    """
    _catalogue_up(h)
    wanted = f"{author}/{slug}"
    model = MODELS.get(wanted) or next(
        (m for m in MODELS.values() if m.id.split(":", 1)[0] == wanted), None)
    if model is None:
        raise ApiError(404, "Model not found")
    fault = h.sandbox.faults.take("endpoints")
    if fault is not None:  # slow_endpoints (the only fault for this route)
        trickle_json(h, {"data": endpoints_json(model)}, fault.seconds)
        return
    h.send_json(200, {"data": endpoints_json(model)})


# -- account --------------------------------------------------------------------------
def get_key(h: Handler, req: Request) -> None:
    """``GET /api/v1/key`` (and the legacy ``/auth/key``): the calling key."""
    rec = authenticate(h, req)
    fault = h.sandbox.faults.take("key")
    if fault is not None:
        serve_key_fault(h, fault, rec.key, h.sandbox.accounts.key_info(rec))
        return
    h.send_json(200, {"data": h.sandbox.accounts.key_info(rec)})


def get_credits(h: Handler, req: Request) -> None:
    """``GET /api/v1/credits``: management keys only, like OpenRouter."""
    rec = authenticate(h, req)
    if not rec.management:
        raise ApiError(403, "Only management keys can perform this operation")
    h.send_json(200, {"data": h.sandbox.accounts.credits_json()})


def get_generation(h: Handler, req: Request) -> None:
    """``GET /api/v1/generation?id=``: 404 until ready, and for other keys' generations."""
    rec = authenticate(h, req)
    gen_id = req.query.get("id", "")
    if not gen_id:
        raise ApiError(400, "Invalid request parameters: id is required")
    data = h.sandbox.accounts.generation(gen_id, rec.key)
    if data is None:
        raise ApiError(404, "Generation not found", typed=False)
    h.send_json(200, {"data": data})


# -- OAuth PKCE -----------------------------------------------------------------------
def _callback_ok(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme == "https":
        return bool(parts.hostname)
    return parts.scheme == "http" and (parts.hostname or "") in _LOCAL_HOSTS


def _auth_params(params: dict[str, str]) -> tuple[dict[str, str], Decimal | None]:
    """Validate the ``/auth`` parameters; raises ``ValueError`` with a readable reason."""
    callback = params.get("callback_url", "")
    challenge = params.get("code_challenge", "")
    method = params.get("code_challenge_method") or "plain"
    if callback and not _callback_ok(callback):
        raise ValueError("callback_url must be an https URL, or http on localhost / 127.0.0.1.")
    if not challenge:
        raise ValueError("code_challenge is required (PKCE).")
    if method not in ("S256", "plain"):
        raise ValueError("code_challenge_method must be S256 or plain.")
    if not callback and method != "S256":
        raise ValueError("Without a callback_url (headless mode) code_challenge_method must be S256.")
    limit = None
    if params.get("limit", "") != "":
        try:
            limit = Decimal(params["limit"])
        except InvalidOperation:
            raise ValueError("limit must be a number of US dollars.") from None
        if not limit.is_finite() or limit < 0:
            raise ValueError("limit must be a number of US dollars.")
    fields = {"callback_url": callback, "code_challenge": challenge, "code_challenge_method": method}
    for name in ("limit", "state", "key_label"):
        if params.get(name):
            fields[name] = params[name]
    return fields, limit


def auth_page(h: Handler, req: Request) -> None:
    """``GET /auth``: the consent page."""
    try:
        fields, limit = _auth_params(req.query)
    except ValueError as exc:
        h.send_html(400, _pages.error_page(str(exc)))
        return
    cb = urlsplit(fields["callback_url"])
    app = cb.netloc if fields["callback_url"] else fields.get("key_label", "A command-line app")
    h.send_html(200, _pages.consent_page(fields, app, limit))


def _with_query(url: str, extra: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(extra)) if q)
    return urlunsplit(parts._replace(query=query))


def auth_decide(h: Handler, req: Request) -> None:
    """``POST /auth/decide``: the consent form's target; redirects to the callback."""
    form = dict(parse_qsl(req.body.decode("utf-8", "replace"), keep_blank_values=True))
    try:
        fields, limit = _auth_params(form)
    except ValueError as exc:
        h.send_html(400, _pages.error_page(str(exc)))
        return
    callback = fields["callback_url"]
    if form.get("decision") != "authorize":
        if callback:
            h.redirect(_with_query(callback, {"error": "access_denied"}))
        else:
            h.send_html(200, _pages.denied_page())
        return
    code = h.sandbox.accounts.issue_code(fields["code_challenge"], fields["code_challenge_method"], limit)
    if not callback:
        h.send_html(200, _pages.code_page(code))
        return
    extra = {"code": code}
    if fields.get("state"):
        extra["state"] = fields["state"]
    h.redirect(_with_query(callback, extra))


def exchange_code(h: Handler, req: Request) -> None:
    """``POST /api/v1/auth/keys``: PKCE code + verifier -> a new key."""
    try:
        body = req.json()
    except ValueError:
        raise ApiError(400, "Invalid request parameters: the body is not valid JSON") from None
    if not isinstance(body, dict) or not isinstance(body.get("code"), str) or not body["code"]:
        raise ApiError(400, "Invalid request parameters: code is required")
    sb = h.sandbox
    entry = sb.accounts.take_code(body["code"])
    if entry is None:
        raise ApiError(403, "Invalid code or code_verifier")
    if time.monotonic() - entry.issued > float(sb.code_ttl):
        raise ApiError(403, "Authorization code expired")
    method = body.get("code_challenge_method") or "plain"
    if method != entry.method:
        raise ApiError(400, "Invalid code_challenge_method")
    verifier = body.get("code_verifier")
    if not isinstance(verifier, str) or not entry.verifies(verifier):
        raise ApiError(403, "Invalid code or code_verifier")
    key = sb.accounts.add_key(limit=entry.limit)
    h.send_json(200, {"key": key, "user_id": USER_ID})


# -- control API (for a sandbox in another process) -------------------------------------
def control_faults(h: Handler, req: Request) -> None:
    """``POST /_sandbox/faults`` queues a fault; ``DELETE`` clears them."""
    if req.method == "DELETE":
        h.sandbox.clear_faults()
    else:
        try:
            h.sandbox.inject(Fault.from_dict(req.json()))
        except (ValueError, TypeError) as exc:
            raise ApiError(400, f"Invalid fault: {exc}") from None
    h.send_json(200, {"pending": [f.to_dict() for f in h.sandbox.faults.pending()]})


def control_config(h: Handler, req: Request) -> None:
    """``POST /_sandbox/config`` changes pacing/length/etc.; ``GET`` reads them."""
    if req.method == "POST":
        try:
            h.sandbox.configure(**(req.json() or {}))
        except (ValueError, TypeError) as exc:
            raise ApiError(400, f"Invalid config: {exc}") from None
    h.send_json(200, h.sandbox.config())


def control_script_tools(h: Handler, req: Request) -> None:
    """``POST /_sandbox/script_tools`` ``{"steps": [[[name, arguments], ...], ...]}`` queues
    tool-call steps (``Sandbox.script_tools``); ``GET`` lists the steps not served yet."""
    if req.method == "POST":
        body = req.json_or_none()
        if not isinstance(body, dict) or "steps" not in body:
            raise ApiError(400, 'Invalid tool script: expected {"steps": [[[name, arguments], ...], ...]}')
        try:
            h.sandbox.script_tools(body["steps"])
        except (ValueError, TypeError) as exc:
            raise ApiError(400, f"Invalid tool script: {exc}") from None
    h.send_json(200, {"steps": h.sandbox.tool_steps})


def control_advance_clock(h: Handler, req: Request) -> None:
    """``POST /_sandbox/advance_clock`` ``{"days": N}`` moves the sandbox's billing clock
    forward (``Sandbox.advance_clock``); answers ``{"now": ISO-8601}``."""
    body = req.json_or_none()
    if not isinstance(body, dict) or "days" not in body:
        raise ApiError(400, 'Invalid clock change: expected {"days": N}')
    try:
        now = h.sandbox.advance_clock(days=body["days"])
    except (ValueError, TypeError) as exc:
        raise ApiError(400, f"Invalid clock change: {exc}") from None
    h.send_json(200, {"now": now})


def control_reset(h: Handler, req: Request) -> None:
    """``POST /_sandbox/reset``."""
    h.sandbox.reset()
    h.send_json(200, h.sandbox.stats())


def control_stats(h: Handler, req: Request) -> None:
    """``GET /_sandbox/stats``."""
    h.send_json(200, h.sandbox.stats())


def control_keys(h: Handler, req: Request) -> None:
    """``POST /_sandbox/keys`` ``{"limit": x}`` -> ``{"key": ...}`` (a fresh fake key)."""
    body = req.json_or_none() or {}
    limit = body.get("limit") if isinstance(body, dict) else None
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int | float)):
        raise ApiError(400, "limit must be a number")
    h.send_json(200, {"key": h.sandbox.issue_key(limit=limit)})


def control_revoke(h: Handler, req: Request) -> None:
    """``POST /_sandbox/revoke`` ``{"key": ...}``."""
    body = req.json_or_none()
    if not isinstance(body, dict) or not isinstance(body.get("key"), str):
        raise ApiError(400, "key is required")
    h.sandbox.revoke(body["key"])
    h.send_json(200, {"revoked": True})


ROUTES: dict[str, dict[str, Route]] = {
    "/api/v1/models": {"GET": list_models},
    "/api/v1/chat/completions": {"POST": handle_chat},
    "/api/v1/generation": {"GET": get_generation},
    "/api/v1/key": {"GET": get_key},
    "/api/v1/auth/key": {"GET": get_key},
    "/api/v1/credits": {"GET": get_credits},
    "/api/v1/keys": {"GET": list_keys, "POST": create_key},
    "/api/v1/activity": {"GET": get_activity},
    "/api/v1/auth/keys": {"POST": exchange_code},
    "/api/beta/batches": {"POST": create_batch, "GET": list_batches},
    "/auth": {"GET": auth_page},
    "/auth/decide": {"POST": auth_decide},
    "/_sandbox/faults": {"POST": control_faults, "DELETE": control_faults},
    "/_sandbox/config": {"POST": control_config, "GET": control_config},
    "/_sandbox/reset": {"POST": control_reset},
    "/_sandbox/advance_clock": {"POST": control_advance_clock},
    "/_sandbox/script_tools": {"POST": control_script_tools, "GET": control_script_tools},
    "/_sandbox/stats": {"GET": control_stats},
    "/_sandbox/keys": {"POST": control_keys},
    "/_sandbox/revoke": {"POST": control_revoke},
}


class Handler(BaseHandler):
    """Routes each request and renders :class:`ApiError` as OpenRouter does."""

    def do_GET(self) -> None:
        self.dispatch()

    def do_POST(self) -> None:
        self.dispatch()

    def do_DELETE(self) -> None:
        self.dispatch()

    def do_PUT(self) -> None:
        self.dispatch()

    def do_PATCH(self) -> None:
        self.dispatch()

    def do_HEAD(self) -> None:
        self.dispatch()

    def do_OPTIONS(self) -> None:
        """CORS preflight: allow what a browser client would send."""
        self.read_body()
        self.send_response(204)
        self.cors()
        self.send_header("Access-Control-Allow-Methods", "GET, POST, PATCH, DELETE, OPTIONS")
        self.send_header("Access-Control-Allow-Headers",
                         "Authorization, Content-Type, HTTP-Referer, X-Title, X-OpenRouter-Title, "
                         "X-OpenRouter-Categories, X-OpenRouter-Metadata, X-OpenRouter-Cache")
        self.send_header("Access-Control-Max-Age", "86400")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def dispatch(self) -> None:
        """Read, record, route, and turn errors into OpenRouter error bodies."""
        try:
            body = self.read_body()
        except ValueError:
            self.close_connection = True
            self.send_json(413, ApiError(413).body())
            return
        req = Request(self.command, self.path, self.headers, body)
        self.responded = False
        if not req.path.startswith("/_sandbox/"):
            self.sandbox._record_request(RecordedRequest(
                method=req.method, path=req.path, query=req.query, json=req.json_or_none(),
                headers=Headers.scrubbed(list(self.headers.items())), time=time.time(),
            ))
        try:
            self._route(req)
        except ApiError as err:
            token = req.bearer()
            user = USER_ID if token and self.sandbox.accounts.lookup(token) else None
            headers = dict(err.headers)
            if err.status == 405:
                headers.setdefault("Allow", ", ".join(ROUTES.get(req.path, {})))
            self.send_json(err.status, err.body(user), headers)
        except OSError:
            raise  # the client went away; nothing to answer
        except Exception:  # a sandbox bug: answer like OpenRouter's masked 500, keep the trace in the log
            log.exception("sandbox error on %s %s", req.method, req.path)
            if self.responded:
                self.abort_connection()
            else:
                self.close_connection = True
                self.send_json(500, ApiError(500).body())

    def _route(self, req: Request) -> None:
        methods = ROUTES.get(req.path)
        if methods is None:
            match = _ENDPOINTS_RE.match(req.path)
            if match and req.method in ("GET", "HEAD"):
                model_endpoints(self, req, match.group(1), match.group(2))
                return
            if batch_route(self, req) or key_route(self, req):
                return
            raise ApiError(404, "Not Found")
        route = methods.get("GET" if req.method == "HEAD" else req.method)
        if route is None:
            raise ApiError(405, "Method Not Allowed")
        route(self, req)
