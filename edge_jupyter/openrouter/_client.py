"""The OpenRouter client: chat completions (streamed or not) and account endpoints."""

from __future__ import annotations

import dataclasses
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from .. import settings as _settings
from ..scrub import scrub, scrub_obj
from ..untrusted_text import strip_controls
from ._account_types import ActivityRow, ApiKey, CreatedKey
from ._errors import (
    AuthenticationError,
    ConnectionFailed,
    MalformedResponse,
    NotFound,
    OpenRouterError,
    RequestTimeout,
    StreamInterrupted,
    error_for_status,
)
from ._http import shared_client
from ._retry import RetryPolicy, parse_retry_after
from ._sse import SSEFramer
from ._stream import (
    CitationCollector,
    Started,
    StreamAssembler,
    StreamEvent,
    TextDelta,
    ToolCallMerger,
    server_name,
)
from ._types import Completion, Credits, Generation, ImpossibleFigure, KeyInfo, ModelInfo, Usage

RetryHook = Callable[[OpenRouterError, float, int], None]

_MODELS_TTL = 300.0  # OpenRouter's own edge cache for /models is max-age=300

#: The most of an error body that is read (counted decoded, as it streams): OpenRouter's
#: error bodies are a few hundred bytes; 1 MiB keeps any provider's verbose message whole
#: while a gzip bomb (1 MB that inflates to gigabytes) stops here.
ERROR_BODY_CAP = 1 << 20
#: After one oversized error body, a retry reads only this much of the next one.
ERROR_BODY_CAP_AGAIN = 4 << 10
#: The most of a JSON document that is read: ``/models`` is ~1 MB today (≈350 models of
#: ~3 KB); 32 MiB leaves 30x room for growth and for long non-streamed answers, and
#: bounds what a broken server can make the kernel hold.
DOCUMENT_CAP = 32 << 20
#: After ``[DONE]`` the body's end (the chunked terminator) is read, so the connection goes back
#: to the pool: closing a response not read to its end closes its connection, and every call
#: then pays a new TCP (and, on openrouter.ai, TLS) handshake. A server that sends more than
#: this, or does not end the body within DRAIN_SECONDS, is cut off instead (the answer is
#: complete already).
DRAIN_BYTES = 64 << 10
DRAIN_SECONDS = 0.5


#: The Batch API's root, beside ``/api/v1`` (OpenRouter's batch quickstart).
BATCHES_PATH = "/api/beta/batches"


def _object(data: Any, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise MalformedResponse(f"{what} was not a JSON object.")
    return data


#: OpenRouter's response cache: the request header that asks for it, and the response header
#: that says whether the answer came from it (documented, not in the spec, so one place to
#: change should the name change: ``EDGE_CACHE_STATUS_HEADER`` overrides it).
RESPONSE_CACHE_HEADER = "X-OpenRouter-Cache"
CACHE_STATUS_HEADER = "X-OpenRouter-Cache-Status"


def cache_status(headers: httpx.Headers) -> str | None:
    """The response cache's word on an answer ("HIT", "MISS"), upper case; None: not said."""
    import os

    value = headers.get(os.environ.get("EDGE_CACHE_STATUS_HEADER") or CACHE_STATUS_HEADER)
    return strip_controls(value).strip().upper()[:16] or None if value else None


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


class _TooLarge(Exception):
    """A body went over its cap (it was closed there, not read to its end)."""


class _TooSlow(Exception):
    """A body was still arriving at the caller's deadline."""


def read_capped(response: httpx.Response, cap: int, *, deadline: float | None = None) -> bytes:
    """The body of a streamed ``response``, at most ``cap`` decoded bytes, then closed.

    ``iter_bytes`` yields content already decompressed, so the count is of what the
    kernel would hold, not of what crossed the wire.  ``deadline`` (``time.monotonic``)
    bounds the whole read, not each network read: a server trickling a byte a second
    cannot hold the caller beyond it.
    """
    pieces: list[bytes] = []
    size = 0
    try:
        for piece in response.iter_bytes():
            size += len(piece)
            if size > cap:
                raise _TooLarge
            pieces.append(piece)
            if deadline is not None and time.monotonic() > deadline:
                raise _TooSlow
    finally:
        response.close()
    return b"".join(pieces)
_models_cache: dict[str, tuple[float, list[ModelInfo]]] = {}


def clear_models_cache() -> None:
    """Forget every cached ``/models`` list (the next :meth:`OpenRouterClient.models` asks)."""
    with _models_lock:
        _models_cache.clear()
_models_lock = threading.Lock()


class _Secret:
    """Holds the key so that no repr, log or traceback of a client shows it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "<secret>"

    __str__ = __repr__


#: The most ``/models`` pages followed (OpenRouter lists a few hundred models, one page today).
_MAX_MODEL_PAGES = 100


def _next_page(origin: str, link: Any) -> str | None:
    """The path of ``/models``'s ``links.next`` on ``origin``, None at the end.

    Only a link to the same origin is followed (a path, or a URL whose scheme and host are
    the origin's): a catalogue page must not send the client anywhere else.
    """
    if link is None or link == "":
        return None
    if not isinstance(link, str):
        raise MalformedResponse("/models answered with a links.next that is not a link.")
    from urllib.parse import urlsplit

    parts = urlsplit(link)
    if (parts.scheme or parts.netloc) and f"{parts.scheme}://{parts.netloc}".lower() != origin.lower():
        raise MalformedResponse("/models answered with a links.next on another site; it was not followed.")
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    if not path.startswith("/"):
        raise MalformedResponse("/models answered with a links.next that is not a path.")
    return path  # "/api/v1/models?offset=…" from the origin, "/models?…" from the API base


#: ``GET /keys``' page: OpenRouter answers at most this many keys at a time, so a shorter
#: page is the last one (a sandbox with a smaller page is read with ``page_size=`` to match).
KEYS_PAGE_SIZE = 100
#: The most ``/keys`` pages followed.
_MAX_KEY_PAGES = 100


def _key_path(key_hash: str) -> str:
    """``/keys/{hash}`` with the hash as one path segment, whatever it holds."""
    from urllib.parse import quote

    if not key_hash:
        raise NotFound("No key hash to look up.", status=404)
    return f"/keys/{quote(key_hash, safe='')}"


class OpenRouterClient:
    """Talks to ``{origin}/api/v1`` with one pooled httpx client.

    ``api_key`` may be None for the public endpoints (``models``, ``exchange_code``).
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        origin: str | None = None,
        retry: RetryPolicy | None = None,
        http: httpx.Client | None = None,
    ) -> None:
        self._key = _Secret(api_key) if api_key else None
        self.origin = _settings.normalise_origin(origin) if origin else _settings.current().origin
        self.api_base = f"{self.origin}/api/v1"
        self.retry = retry or RetryPolicy()
        self._http = http

    def __repr__(self) -> str:
        return f"OpenRouterClient(origin={self.origin!r}, key={'set' if self._key else 'none'})"

    def with_retry(self, retry: RetryPolicy) -> OpenRouterClient:
        """The same key, origin and connection pool with another retry policy."""
        clone = OpenRouterClient(None, origin=self.origin, retry=retry, http=self._http)
        clone._key = self._key
        return clone

    @property
    def key_fingerprint(self) -> str:
        """A short digest that tells keys apart (for caches) without revealing one."""
        import hashlib

        return hashlib.sha256((self._key_text() or "").encode()).hexdigest()[:16]

    def matches_label(self, label: str) -> bool:
        """Whether ``label``, a masked key (``sk-or-v1-abc...xyz``), can stand for this
        client's key: its start and its end are the key's. The key stays in here."""
        key = self._key_text()
        head, dots, tail = label.partition("...")
        return bool(key and dots and head and tail and key.startswith(head) and key.endswith(tail))

    @property
    def http(self) -> httpx.Client:
        return self._http or shared_client()

    # -- plumbing ---------------------------------------------------------------------------

    def _headers(self, auth: bool = True) -> dict[str, str]:
        headers = _settings.attribution_headers()
        if auth:
            if self._key is None:
                raise AuthenticationError(
                    "Not connected: no OpenRouter API key.", status=401,
                    hint="Run `%edge connect` (or set OPENROUTER_API_KEY).")
            headers["Authorization"] = f"Bearer {self._key.reveal()}"
        return headers

    def _key_text(self) -> str | None:
        return self._key.reveal() if self._key else None

    def scrub(self, text: str) -> str:
        """A server's text with this client's key (in any encoding) and any key masked, and
        without control characters (an OSC 52 in an error or a label would reach stdout,
        the ledger and CSV exports): everything a server says is cleaned here, on arrival."""
        return strip_controls(scrub(text, self._key_text()))

    def error_from_response(self, response: httpx.Response, body: bytes | None = None
                            ) -> OpenRouterError:
        """Build the typed error for a non-2xx answer.

        ``body`` is what was read of it (:func:`read_capped`); ``None`` means it was over
        the cap and was not read to the end.  Every quoted text is scrubbed.
        """
        status = response.status_code
        metadata: dict[str, Any] | None = None
        if body is None:
            message = self.scrub(f"HTTP {status} {response.reason_phrase}: the error body was "
                                 f"larger than {ERROR_BODY_CAP >> 20} MiB, so it was not read")
            return error_for_status(status, message,
                                    retry_after=parse_retry_after(response.headers))
        try:
            parsed = json.loads(body)
            err = parsed.get("error") if isinstance(parsed, dict) else None
            if isinstance(err, dict):
                message = str(err.get("message") or f"HTTP {status}")
                metadata = err.get("metadata") if isinstance(err.get("metadata"), dict) else None
            else:
                message = f"HTTP {status}"
        except ValueError:
            snippet = body[:4096].decode("utf-8", "replace").strip().replace("\n", " ")[:200]
            message = f"HTTP {status} {response.reason_phrase}" + (f": {snippet}" if snippet else "")
        message = self.scrub(message)
        if metadata is not None:
            metadata = scrub_obj(metadata, self.scrub)
        return error_for_status(status, message, metadata=metadata,
                                retry_after=parse_retry_after(response.headers))

    def _send(self, method: str, path: str, *, auth: bool = True,
              on_retry: RetryHook | None = None, deadline: float | None = None,
              cancel: threading.Event | None = None, headers: dict[str, str] | None = None,
              **kwargs: Any) -> httpx.Response:
        """Send with retries; returns a 2xx response whose body is still to be read.

        ``headers``: this request's own, beside the key and attribution (the response
        cache's ``X-OpenRouter-Cache``).

        The request is always streamed, so an error body is read through
        :func:`read_capped` (``ERROR_BODY_CAP``) and never held whole.  ``cancel`` set
        (from any thread) ends the back-off at once and sends nothing more: the error
        that led to it is raised, as if retries had run out.
        """
        attempt = 0
        error_cap = ERROR_BODY_CAP
        while True:
            # "/api/…" paths sit beside /api/v1 (the Batch API's /api/beta/batches)
            url = self.origin + path if path.startswith("/api/") else self.api_base + path
            request = self.http.build_request(method, url, headers={**self._headers(auth),
                                                                    **(headers or {})}, **kwargs)
            try:
                response = self.http.send(request, stream=True)
                if response.is_success:
                    return response
                try:
                    body: bytes | None = read_capped(response, error_cap, deadline=deadline)
                except _TooLarge:
                    body = None
                    error_cap = ERROR_BODY_CAP_AGAIN  # retried, but never read in full again
                error: OpenRouterError = self.error_from_response(response, body)
            except _TooSlow:
                raise RequestTimeout(f"{path} was still arriving from {self.origin} after the "
                                     "time allowed for it.") from None
            except httpx.TimeoutException as exc:
                error = RequestTimeout(
                    f"No answer from {self.origin} in time ({type(exc).__name__}).")
            except httpx.TransportError as exc:
                error = ConnectionFailed(f"Could not reach {self.origin} ({type(exc).__name__}).")
            attempt += 1
            wait = self.retry.delay(attempt, getattr(error, "retry_after", None)) \
                if error.retryable else None
            if deadline is not None and wait is not None and time.monotonic() + wait > deadline:
                wait = None
            if wait is None or (cancel is not None and cancel.is_set()):
                raise error
            if on_retry is not None:
                on_retry(error, wait, attempt)
            if cancel is None:
                time.sleep(wait)
            elif cancel.wait(wait):  # cancelled during the back-off: no further request
                raise error

    def _json(self, method: str, path: str, *, deadline: float | None = None,
              cancel: threading.Event | None = None, **kwargs: Any) -> tuple[httpx.Response, Any]:
        """Send, then read the answer (at most ``DOCUMENT_CAP``) as JSON."""
        response = self._send(method, path, deadline=deadline, cancel=cancel, **kwargs)
        try:
            body = read_capped(response, DOCUMENT_CAP, deadline=deadline)
        except _TooLarge:
            raise MalformedResponse(f"{path} answered with more than {DOCUMENT_CAP >> 20} MiB; "
                                    "it was not read to the end.") from None
        except _TooSlow:
            raise RequestTimeout(f"{path} was still arriving from {self.origin} after the "
                                 "time allowed for it.") from None
        except httpx.TimeoutException as exc:
            raise RequestTimeout(f"No answer from {self.origin} in time ({type(exc).__name__}).") \
                from exc
        except httpx.TransportError as exc:
            raise ConnectionFailed(f"The connection to {self.origin} broke while {path} was "
                                   f"being read ({type(exc).__name__}).") from exc
        try:
            return response, json.loads(body)
        except ValueError as exc:
            raise MalformedResponse(f"{path} answered with something that is not JSON.") from exc

    def _get_json(self, path: str, *, auth: bool = True, **kwargs: Any) -> Any:
        return self._json("GET", path, auth=auth, **kwargs)[1]

    # -- chat ---------------------------------------------------------------------------------

    def stream_chat(self, body: dict[str, Any], *, on_retry: RetryHook | None = None,
                    cancel: threading.Event | None = None,
                    headers: dict[str, str] | None = None) -> ChatStream:
        """A streamed completion; the request is sent when the result is iterated.

        ``cancel`` (set from any thread) cancels it like ``close()``, even before the
        stream object reaches the caller who would close it. ``headers``: the request's own
        (``X-OpenRouter-Cache``); the completion's ``cache_status`` is the answer's.
        """
        return ChatStream(self, body, on_retry=on_retry, cancel=cancel, headers=headers)

    def complete(self, body: dict[str, Any], *, on_retry: RetryHook | None = None,
                 cancel: threading.Event | None = None,
                 headers: dict[str, str] | None = None) -> Completion:
        """A non-streamed completion; ``cancel`` set during a retry's back-off ends it
        with the error that was being retried, and sends nothing more."""
        payload = {**body, "stream": False, "usage": {"include": True}}
        response, data = self._json("POST", "/chat/completions", json=payload, on_retry=on_retry,
                                    cancel=cancel, headers=headers)
        if not isinstance(data, dict):
            raise MalformedResponse("The completion was not a JSON object.")
        completion = Completion(
            generation_id=_text_or_none(data.get("id")) or response.headers.get("x-generation-id"),
            model=self._name(data.get("model")), provider=self._name(data.get("provider")),
            service_tier=self._name(data.get("service_tier")),
            cache_status=cache_status(response.headers))
        choices = data.get("choices") or []
        if choices:
            choice = choices[0]
            message = choice.get("message") or {}
            completion.text = message.get("content") or ""
            completion.reasoning = message.get("reasoning") or ""
            details = message.get("reasoning_details")
            if isinstance(details, list):  # kept as they came: they go back unmodified
                completion.reasoning_details = [d for d in details if isinstance(d, dict)]
            calls = message.get("tool_calls")
            if calls:  # one whole piece per call, through the streamed pieces' merger
                merger = ToolCallMerger(completion.notes)
                merger.add([{**c, "index": i} if isinstance(c, dict) else c
                            for i, c in enumerate(calls if isinstance(calls, list) else [calls])])
                completion.tool_calls = merger.result(self.scrub)
            if message.get("annotations"):
                citations = CitationCollector(completion.notes, self.scrub)
                citations.add(message["annotations"])
                completion.annotations = citations.result()
            completion.finish_reason = self._name(choice.get("finish_reason"))
            completion.native_finish_reason = self._name(choice.get("native_finish_reason"))
            if choice.get("error"):
                err = choice["error"] if isinstance(choice["error"], dict) else {}
                completion.extra["error"] = error_for_status(
                    int(err.get("code") or 502) if str(err.get("code", "")).isdigit() else 502,
                    self.scrub(str(err.get("message") or "provider error")),
                    during_stream=True)
        if data.get("usage"):
            try:
                completion.usage = Usage.from_json(data["usage"])
            except ImpossibleFigure as exc:
                completion.notes.append(f"OpenRouter sent {exc}: it was not recorded, and the "
                                        "exact cost is read from /generation instead.")
        return completion

    # -- account and catalogue -----------------------------------------------------------------

    def models(self, *, refresh: bool = False, timeout: float | None = None,
               deadline: float | None = None) -> list[ModelInfo]:
        """``GET /models`` (public), cached for five minutes per origin.

        ``timeout`` bounds each network read, ``deadline`` (``time.monotonic``) the whole call.
        """
        now = time.monotonic()
        with _models_lock:
            cached = _models_cache.get(self.origin)
            if cached and not refresh and now - cached[0] < _MODELS_TTL:
                return cached[1]
        extra: dict[str, Any] = {"timeout": timeout} if timeout else {}
        # Paginated when OpenRouter says so: ``links.next`` is followed until it is null, and
        # ``total_count`` checked, so a price is never missing because it was on page 2.
        models: list[ModelInfo] = []
        path: str | None = "/models"
        pages = 0
        total: Any = None
        while path is not None:
            pages += 1
            if pages > _MAX_MODEL_PAGES:
                raise MalformedResponse(f"/models still had a next page after {_MAX_MODEL_PAGES} pages; "
                                        "the catalogue was not read to the end. Try again later.")
            data = self._get_json(path, auth=False, deadline=deadline, **extra)
            data = data if isinstance(data, dict) else {}
            models += [ModelInfo.from_json(m) for m in (data.get("data") or []) if isinstance(m, dict)]
            total = data.get("total_count", total)
            links = data.get("links")
            path = _next_page(self.origin, links.get("next") if isinstance(links, dict) else None)
        if isinstance(total, int) and not isinstance(total, bool) and pages > 1 and total != len(models):
            raise MalformedResponse(f"/models listed {len(models)} models over {pages} pages but "
                                    f"said it has {total}; try again (the catalogue may have changed).")
        with _models_lock:
            _models_cache[self.origin] = (now, models)
        return models

    def model_endpoints(self, model_id: str, *, timeout: float | None = None,
                        deadline: float | None = None) -> dict[str, Any]:
        """``GET /models/{author}/{slug}/endpoints``: the providers serving a model.

        A ``:variant`` (``:free``) is asked for as named, since it has providers of its own at
        its own price; only when OpenRouter has no list under that name is the base id's
        fetched (its rows' ``model_id`` says which serve the variant). ``timeout`` bounds each
        network read, ``deadline`` (``time.monotonic``) the whole call.
        """
        extra: dict[str, Any] = {"timeout": timeout} if timeout else {}
        try:
            data = self._get_json(f"/models/{model_id}/endpoints", auth=False, deadline=deadline, **extra)
        except NotFound:
            if ":" not in model_id:
                raise
            data = self._get_json(f"/models/{model_id.split(':', 1)[0]}/endpoints", auth=False,
                                  deadline=deadline, **extra)
        return data.get("data", {}) if isinstance(data, dict) else {}

    def key_info(self, *, timeout: float | None = None, deadline: float | None = None) -> KeyInfo:
        """``GET /key``: the key's cap, what is left of it and its spend (label scrubbed).

        ``timeout`` bounds each network read; ``deadline`` (``time.monotonic``) the whole call.
        """
        extra: dict[str, Any] = {"timeout": timeout} if timeout else {}
        info = KeyInfo.from_json(self._get_json("/key", deadline=deadline, **extra))
        if info.expires_at:
            info = dataclasses.replace(info, expires_at=self.scrub(info.expires_at))
        return dataclasses.replace(info, label=self.scrub(info.label)) if info.label else info

    def credits(self, *, timeout: float | None = None, deadline: float | None = None) -> Credits:
        """Account balance; needs a management key (others get PermissionDenied)."""
        extra: dict[str, Any] = {"timeout": timeout} if timeout else {}
        return Credits.from_json(self._get_json("/credits", deadline=deadline, **extra))

    # -- the account's keys and activity (management key only; others get PermissionDenied)

    def list_keys(self, include_disabled: bool = False, *,
                  page_size: int = KEYS_PAGE_SIZE) -> list[ApiKey]:
        """``GET /keys``: the account's keys (management keys are not listed).

        Pages (``offset``) are followed until one is shorter than ``page_size`` (the last:
        an account of 3 keys is one request), empty, or brings no key not seen before (a
        server that ignores ``offset`` is not asked 100 times); at most 100 pages.
        """
        keys: dict[str, ApiKey] = {}
        unnamed: list[ApiKey] = []
        for _ in range(_MAX_KEY_PAGES):
            params = {"include_disabled": "true" if include_disabled else "false",
                      "offset": str(len(keys) + len(unnamed))}
            data = self._get_json("/keys", params=params)
            items = data.get("data") if isinstance(data, dict) else None
            if not isinstance(items, list):
                raise MalformedResponse("/keys answered without a list of keys.")
            page = [ApiKey.from_json(i).scrubbed(self.scrub) for i in items if isinstance(i, dict)]
            new = [k for k in page if not k.hash or k.hash not in keys]
            if not new:
                break
            for k in new:
                if k.hash:
                    keys[k.hash] = k
                else:  # no usable hash: listed (it counts for the offset), never acted on
                    unnamed.append(k)
            if len(items) < page_size:
                break
        return [*keys.values(), *unnamed]

    def create_key(self, name: str, *, limit: float | None, limit_reset: str | None,
                   include_byok_in_limit: bool = False, expires_at: str | None = None
                   ) -> CreatedKey:
        """``POST /keys``: a new key; its plaintext is in this answer only.

        Never retried: a key OpenRouter made before an error would be made twice.
        """
        body = {"name": name, "limit": limit, "limit_reset": limit_reset,
                "include_byok_in_limit": include_byok_in_limit, "expires_at": expires_at}
        once = self.with_retry(RetryPolicy(max_retries=0))
        data = _object(once._json("POST", "/keys", json=body)[1], "The new key")
        key = data.get("key")
        if not isinstance(key, str) or not key:
            raise MalformedResponse("The new key's answer held no key.")
        info = ApiKey.from_json(data.get("data"))
        # the label is the masked key: scrub (which masks whole keys) leaves it as it is
        return CreatedKey(info.scrubbed(self.scrub), key)

    def get_key(self, key_hash: str) -> ApiKey:
        """``GET /keys/{hash}`` (NotFound for a hash the account does not have)."""
        return self._one_key("GET", key_hash)

    def update_key(self, key_hash: str, **fields: Any) -> ApiKey:
        """``PATCH /keys/{hash}`` with any of ``name, disabled, limit, limit_reset,
        include_byok_in_limit``; the key as OpenRouter now has it."""
        return self._one_key("PATCH", key_hash, json=fields)

    def delete_key(self, key_hash: str) -> None:
        """``DELETE /keys/{hash}``: the key stops working at once (401 from then on)."""
        self._json("DELETE", _key_path(key_hash))

    def _one_key(self, method: str, key_hash: str, **kwargs: Any) -> ApiKey:
        data = _object(self._json(method, _key_path(key_hash), **kwargs)[1], "The key")
        return ApiKey.from_json(data).scrubbed(self.scrub)

    def activity(self, *, date: str | None = None, api_key_hash: str | None = None
                 ) -> list[ActivityRow]:
        """``GET /activity``: spend per (UTC date, model, endpoint) over the last 30
        completed UTC days, through every app of the account (today is never in it)."""
        params = {k: v for k, v in (("date", date), ("api_key_hash", api_key_hash)) if v}
        data = self._get_json("/activity", params=params)
        items = data.get("data") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise MalformedResponse("/activity answered without a list of rows.")
        rows = (ActivityRow.from_json(i) for i in items)
        return [r.scrubbed(self.scrub) for r in rows if r is not None]

    def generation(self, generation_id: str) -> Generation:
        """Exact final record of a call; NotFound for a moment after it ends.

        A record whose figures cannot be true is :class:`MalformedResponse`: it never
        settles a row (the ledger tries again on a later pass).
        """
        data = self._get_json("/generation", params={"id": generation_id})
        try:
            gen = Generation.from_json(data)
        except ImpossibleFigure as exc:
            raise MalformedResponse(f"OpenRouter's /generation record for {generation_id} holds "
                                    f"{exc}; the cost stays unknown for now.") from None
        return dataclasses.replace(gen, model=self.scrub(gen.model),
                                   provider=self._name(gen.provider))

    def _name(self, value: Any) -> str | None:
        return server_name(value, self.scrub)

    def wait_for_generation(self, generation_id: str, timeout: float = 10.0) -> Generation:
        """Poll ``/generation`` until the record exists (it lags the stream by ~0.5-1 s)."""
        deadline = time.monotonic() + timeout
        delay = 0.2
        while True:
            try:
                return self.generation(generation_id)
            except NotFound:
                if time.monotonic() + delay > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 1.6, 1.5)

    # -- the Batch API (beta; documented, not in the spec: shapes read in ``edge_jupyter.batch_api``)

    def create_batch(self, model: str, requests: list[dict[str, Any]]) -> dict[str, Any]:
        """``POST {origin}/api/beta/batches``: ``requests`` are ``{"custom_id", "body"}``.

        The body's keys go in the documented order (``endpoint``, ``model``, then
        ``requests``). Never retried: a batch the server made before an error would be
        paid for twice.
        """
        body = {"endpoint": "/v1/chat/completions", "model": model, "requests": requests}
        once = self.with_retry(RetryPolicy(max_retries=0))
        return _object(once._json("POST", BATCHES_PATH, json=body)[1], "The new batch")

    def get_batch(self, batch_id: str, *, cancel: threading.Event | None = None) -> dict[str, Any]:
        """``GET {origin}/api/beta/batches/{id}`` (with its results once completed)."""
        return _object(self._json("GET", f"{BATCHES_PATH}/{batch_id}", cancel=cancel)[1], "The batch")

    def cancel_batch(self, batch_id: str) -> dict[str, Any]:
        """``POST {origin}/api/beta/batches/{id}/cancel``."""
        return _object(self._json("POST", f"{BATCHES_PATH}/{batch_id}/cancel")[1], "The batch")

    def list_batches(self) -> list[dict[str, Any]]:
        """``GET {origin}/api/beta/batches``: this key's batches (without their results)."""
        data = self._get_json(BATCHES_PATH)
        items = data.get("data") if isinstance(data, dict) else data
        return [b for b in items if isinstance(b, dict)] if isinstance(items, list) else []

    def exchange_code(self, code: str, code_verifier: str, method: str = "S256") -> str:
        """PKCE step 3: trade the callback's code for a user API key."""
        _, data = self._json("POST", "/auth/keys", auth=False,
                             json={"code": code, "code_verifier": code_verifier,
                                   "code_challenge_method": method})
        key = data.get("key") if isinstance(data, dict) else None
        if not key or not isinstance(key, str):
            raise MalformedResponse("The key exchange answer held no key.")
        return str(key)


class ChatStream:
    """One streamed completion: iterate for events; ``close()`` (any thread) cancels it.

    After iteration, ``completion`` holds the text, ids and usage; after an error it
    holds what arrived before the error, so partial answers are never lost.
    """

    def __init__(self, client: OpenRouterClient, body: dict[str, Any], *,
                 on_retry: RetryHook | None = None, cancel: threading.Event | None = None,
                 headers: dict[str, str] | None = None) -> None:
        self._client = client
        self._headers = headers
        self._body = {**body, "stream": True, "usage": {"include": True},
                      "stream_options": {"include_usage": True}}
        self._on_retry = on_retry
        self._assembler = StreamAssembler(scrub=client.scrub)
        self._response: httpx.Response | None = None
        # The caller's event when given: its cancel then reaches the retry loop of a stream
        # it has not been handed yet; close() sets it too.
        self._cancelled = cancel if cancel is not None else threading.Event()
        self.done = False
        #: chunks that were not JSON of the expected shape (or over the line cap): skipped
        self.malformed = 0
        self._noted = False

    @property
    def completion(self) -> Completion:
        return self._assembler.result()

    @property
    def text_so_far(self) -> str:
        return self._assembler.text_so_far

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def close(self) -> None:
        """Cancel: closing the connection stops generation (and billing) at most providers.

        Called from another thread (an interrupt of several models), ``response.close()``
        alone may leave the streaming thread blocked in ``recv`` until the next byte; a
        ``shutdown`` of the socket ends that read at once.
        """
        self._cancelled.set()
        response = self._response
        if response is not None:
            _shutdown_socket(response)
            response.close()

    def __enter__(self) -> ChatStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[StreamEvent]:
        if self._cancelled.is_set():
            return  # cancelled before anything was sent
        try:
            response = self._client._send("POST", "/chat/completions", json=self._body,
                                          on_retry=self._on_retry, cancel=self._cancelled,
                                          headers=self._headers)
        except OpenRouterError:
            if self._cancelled.is_set():
                return  # cancelled during a retry's back-off: nothing more was sent
            raise
        self._response = response
        self._assembler.completion.cache_status = cache_status(response.headers)
        header_id = response.headers.get("x-generation-id")
        if self._cancelled.is_set():
            # Cancelled while the server was answering: the generation exists and may be
            # billed, so its id stays in the completion for /generation to price it.
            if header_id:
                self._assembler.completion.generation_id = header_id
            _shutdown_socket(response)
            response.close()
            return
        if header_id:
            # Known before the first chunk: hand it over now, so an interrupt that
            # comes before any chunk can still be priced from /generation.
            self._assembler.completion.generation_id = header_id
            yield Started(header_id, None, None)
        if "text/event-stream" not in response.headers.get("content-type", ""):
            response.close()
            got = self._client.scrub(response.headers.get("content-type") or "no content type")
            raise MalformedResponse(f"Expected an event stream, got {got}.")
        framer = SSEFramer()
        try:
            yield from self._events(response, framer)
        except httpx.TimeoutException as exc:
            if not self._cancelled.is_set():
                raise StreamInterrupted("The answer stalled: no data for too long.") from exc
        except (httpx.TransportError, httpx.StreamError, AttributeError, OSError) as exc:
            # AttributeError/StreamError/OSError: httpcore raising on a response closed
            # (or a socket shut down) by close() in another thread
            if not self._cancelled.is_set():
                raise StreamInterrupted("The connection dropped in the middle of the answer.") from exc
        finally:
            response.close()
            self._note_skipped(framer)
        # A note (a skipped chunk) is no proof the stream reached its end; a usage chunk is,
        # even one refused as impossible.
        completion = self._assembler.completion
        if not (self.done or self._cancelled.is_set() or self._assembler.usage_seen
                or completion.finish_reason):
            raise StreamInterrupted("The connection closed before the answer was complete.")

    def _note_skipped(self, framer: SSEFramer) -> None:
        skipped = self.malformed + framer.skipped
        if skipped and not self._noted:
            self._noted = True
            self._assembler.completion.notes.append(
                f"{skipped} malformed chunk{'s' if skipped != 1 else ''} from the server "
                f"{'were' if skipped != 1 else 'was'} skipped; the answer may miss a few words.")

    def _events(self, response: httpx.Response, framer: SSEFramer) -> Iterator[StreamEvent]:
        """The events of the stream, a network read at a time.

        The ordinary chunks of one read (text only) become one ``TextDelta``: at a
        model's pace that is one chunk, as it arrives; when the client falls behind
        (a burst, a fast model) a whole read is handed over at once, so the consumer's
        per-update work does not grow with the number of tokens.  A chunk that is not
        JSON of the expected shape is skipped and counted (``malformed``): one broken
        chunk must not end an answer that goes on after it.
        """
        assembler = self._assembler
        loads = json.loads
        plain_text = assembler.plain_text
        texts: list[str] = []
        reads = response.iter_text()
        for read in reads:
            for data in framer.feed(read):
                if data == "[DONE]":
                    self.done = True
                    break
                try:
                    chunk = loads(data)
                    if type(chunk) is not dict:
                        self.malformed += 1
                        continue
                    text = plain_text(chunk)
                    if text is None:
                        events = assembler.feed(chunk)
                except OpenRouterError:
                    if texts:  # what came before an error inside the stream reaches the consumer
                        yield TextDelta("".join(texts), len(texts))
                    raise
                except (ValueError, TypeError, AttributeError, KeyError):
                    self.malformed += 1
                    continue
                if text is not None:
                    texts.append(text)
                    continue
                if texts:
                    yield TextDelta("".join(texts), len(texts))
                    texts = []
                yield from events
            if texts:
                yield TextDelta("".join(texts), len(texts))
                texts = []
            if self.done:
                _drain(response, reads)
                return


def _drain(response: httpx.Response, reads: Iterator[str]) -> None:
    """Read to the end of a body whose answer is complete, within DRAIN_BYTES and
    DRAIN_SECONDS (see there); any failure only means the connection is not reused."""
    timer = threading.Timer(DRAIN_SECONDS, _shutdown_socket, (response,))
    timer.daemon = True
    timer.start()
    try:
        left = DRAIN_BYTES
        for read in reads:
            left -= len(read)
            if left < 0:
                return
    except (httpx.HTTPError, httpx.StreamError, OSError, AttributeError):
        return
    finally:
        timer.cancel()


def _shutdown_socket(response: httpx.Response) -> None:
    """Shut the response's socket down (both ways), so a read blocked in another thread ends."""
    stream = response.extensions.get("network_stream")
    get_info = getattr(stream, "get_extra_info", None)
    sock = get_info("socket") if get_info is not None else None
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed
