"""The OpenRouter client: chat completions (streamed or not) and account endpoints."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from .. import settings as _settings
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
from ._stream import StreamAssembler, StreamEvent, TextDelta
from ._types import Completion, Credits, Generation, KeyInfo, ModelInfo, Usage

RetryHook = Callable[[OpenRouterError, float, int], None]

_MODELS_TTL = 300.0  # OpenRouter's own edge cache for /models is max-age=300
_models_cache: dict[str, tuple[float, list[ModelInfo]]] = {}
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


def mask_key(text: str, key: str | None) -> str:
    """Remove the key from a text that came from elsewhere (a server message)."""
    if key and key in text:
        text = text.replace(key, "sk-or-…")
    return text


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

    def error_from_response(self, response: httpx.Response) -> OpenRouterError:
        """Build the typed error for a non-2xx answer (its body must have been read)."""
        status = response.status_code
        metadata: dict[str, Any] | None = None
        try:
            body = response.json()
            err = body.get("error") if isinstance(body, dict) else None
            if isinstance(err, dict):
                message = str(err.get("message") or f"HTTP {status}")
                metadata = err.get("metadata") if isinstance(err.get("metadata"), dict) else None
            else:
                message = f"HTTP {status}"
        except ValueError:
            snippet = response.text.strip().replace("\n", " ")[:200]
            message = f"HTTP {status} {response.reason_phrase}" + (f": {snippet}" if snippet else "")
        message = mask_key(message, self._key_text())
        return error_for_status(status, message, metadata=metadata,
                                retry_after=parse_retry_after(response.headers))

    def _send(self, method: str, path: str, *, auth: bool = True, stream: bool = False,
              on_retry: RetryHook | None = None, **kwargs: Any) -> httpx.Response:
        """Send with retries; returns a 2xx response (streamed responses still open)."""
        attempt = 0
        while True:
            request = self.http.build_request(method, self.api_base + path,
                                              headers=self._headers(auth), **kwargs)
            try:
                response = self.http.send(request, stream=stream)
            except httpx.TimeoutException as exc:
                error: OpenRouterError = RequestTimeout(
                    f"No answer from {self.origin} in time ({type(exc).__name__}).")
            except httpx.TransportError as exc:
                error = ConnectionFailed(f"Could not reach {self.origin} ({type(exc).__name__}).")
            else:
                if response.is_success:
                    return response
                try:
                    response.read()
                finally:
                    response.close()
                error = self.error_from_response(response)
            attempt += 1
            wait = self.retry.delay(attempt, getattr(error, "retry_after", None)) \
                if error.retryable else None
            if wait is None:
                raise error
            if on_retry is not None:
                on_retry(error, wait, attempt)
            time.sleep(wait)

    def _get_json(self, path: str, *, auth: bool = True, **kwargs: Any) -> Any:
        response = self._send("GET", path, auth=auth, **kwargs)
        try:
            return response.json()
        except ValueError as exc:
            raise MalformedResponse(f"{path} answered with something that is not JSON.") from exc

    # -- chat ---------------------------------------------------------------------------------

    def stream_chat(self, body: dict[str, Any], *, on_retry: RetryHook | None = None) -> ChatStream:
        """Start a streamed completion; iterate the result for events."""
        return ChatStream(self, body, on_retry=on_retry)

    def complete(self, body: dict[str, Any], *, on_retry: RetryHook | None = None) -> Completion:
        """A non-streamed completion."""
        payload = {**body, "stream": False, "usage": {"include": True}}
        response = self._send("POST", "/chat/completions", json=payload, on_retry=on_retry)
        try:
            data = response.json()
        except ValueError as exc:
            raise MalformedResponse("The completion was not JSON.") from exc
        completion = Completion(generation_id=data.get("id") or response.headers.get("x-generation-id"),
                                model=data.get("model"), provider=data.get("provider"))
        choices = data.get("choices") or []
        if choices:
            choice = choices[0]
            message = choice.get("message") or {}
            completion.text = message.get("content") or ""
            completion.reasoning = message.get("reasoning") or ""
            completion.finish_reason = choice.get("finish_reason")
            completion.native_finish_reason = choice.get("native_finish_reason")
            if choice.get("error"):
                err = choice["error"]
                completion.extra["error"] = error_for_status(
                    int(err.get("code") or 502) if str(err.get("code", "")).isdigit() else 502,
                    mask_key(str(err.get("message") or "provider error"), self._key_text()),
                    during_stream=True)
        if data.get("usage"):
            completion.usage = Usage.from_json(data["usage"])
        return completion

    # -- account and catalogue -----------------------------------------------------------------

    def models(self, *, refresh: bool = False) -> list[ModelInfo]:
        """``GET /models`` (public), cached for five minutes per origin."""
        now = time.monotonic()
        with _models_lock:
            cached = _models_cache.get(self.origin)
            if cached and not refresh and now - cached[0] < _MODELS_TTL:
                return cached[1]
        data = self._get_json("/models", auth=False)
        models = [ModelInfo.from_json(m) for m in (data.get("data") or []) if isinstance(m, dict)]
        with _models_lock:
            _models_cache[self.origin] = (now, models)
        return models

    def model_endpoints(self, model_id: str) -> dict[str, Any]:
        """``GET /models/{author}/{slug}/endpoints``: the providers serving a model."""
        return self._get_json(f"/models/{model_id.split(':', 1)[0]}/endpoints", auth=False).get("data", {})

    def key_info(self, *, timeout: float | None = None) -> KeyInfo:
        """``GET /key``: the key's cap, what is left of it and its spend."""
        extra = {"timeout": timeout} if timeout else {}
        return KeyInfo.from_json(self._get_json("/key", **extra))

    def credits(self, *, timeout: float | None = None) -> Credits:
        """Account balance; needs a management key (others get PermissionDenied)."""
        extra = {"timeout": timeout} if timeout else {}
        return Credits.from_json(self._get_json("/credits", **extra))

    def generation(self, generation_id: str) -> Generation:
        """Exact final record of a call; NotFound for a moment after it ends."""
        return Generation.from_json(self._get_json("/generation", params={"id": generation_id}))

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

    def exchange_code(self, code: str, code_verifier: str, method: str = "S256") -> str:
        """PKCE step 3: trade the callback's code for a user API key."""
        response = self._send("POST", "/auth/keys", auth=False,
                              json={"code": code, "code_verifier": code_verifier,
                                    "code_challenge_method": method})
        try:
            key = response.json().get("key")
        except ValueError as exc:
            raise MalformedResponse("The key exchange answer was not JSON.") from exc
        if not key:
            raise MalformedResponse("The key exchange answer held no key.")
        return str(key)


class ChatStream:
    """One streamed completion: iterate for events; ``close()`` (any thread) cancels it.

    After iteration, ``completion`` holds the text, ids and usage; after an error it
    holds what arrived before the error, so partial answers are never lost.
    """

    def __init__(self, client: OpenRouterClient, body: dict[str, Any], *,
                 on_retry: RetryHook | None = None) -> None:
        self._client = client
        self._body = {**body, "stream": True, "usage": {"include": True},
                      "stream_options": {"include_usage": True}}
        self._on_retry = on_retry
        self._assembler = StreamAssembler()
        self._response: httpx.Response | None = None
        self._cancelled = threading.Event()
        self.done = False

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
        """Cancel: closing the connection stops generation (and billing) at most providers."""
        self._cancelled.set()
        response = self._response
        if response is not None:
            response.close()

    def __enter__(self) -> ChatStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[StreamEvent]:
        response = self._client._send("POST", "/chat/completions", json=self._body,
                                      stream=True, on_retry=self._on_retry)
        self._response = response
        if self._cancelled.is_set():
            response.close()
            return
        header_id = response.headers.get("x-generation-id")
        if header_id:
            self._assembler.completion.generation_id = header_id
        if "text/event-stream" not in response.headers.get("content-type", ""):
            response.close()
            raise MalformedResponse("Expected an event stream, got "
                                    f"{response.headers.get('content-type') or 'no content type'}.")
        try:
            yield from self._events(response)
        except httpx.TimeoutException as exc:
            if not self._cancelled.is_set():
                raise StreamInterrupted("The answer stalled: no data for too long.") from exc
        except (httpx.TransportError, httpx.StreamError, AttributeError) as exc:
            # AttributeError/StreamError: httpcore raising on a response closed by close()
            if not self._cancelled.is_set():
                raise StreamInterrupted("The connection dropped in the middle of the answer.") from exc
        finally:
            response.close()
        completion = self._assembler.completion
        if not (self.done or self._cancelled.is_set() or completion.usage or completion.finish_reason):
            raise StreamInterrupted("The connection closed before the answer was complete.")

    def _events(self, response: httpx.Response) -> Iterator[StreamEvent]:
        """The events of the stream, a network read at a time.

        The ordinary chunks of one read (text only) become one ``TextDelta``: at a
        model's pace that is one chunk, as it arrives; when the client falls behind
        (a burst, a fast model) a whole read is handed over at once, so the consumer's
        per-update work does not grow with the number of tokens.
        """
        assembler = self._assembler
        framer = SSEFramer()
        loads = json.loads
        plain_text = assembler.plain_text
        texts: list[str] = []
        for read in response.iter_text():
            for data in framer.feed(read):
                if data == "[DONE]":
                    self.done = True
                    break
                try:
                    chunk = loads(data)
                    if type(chunk) is not dict:
                        continue
                    text = plain_text(chunk)
                    if text is None:
                        events = assembler.feed(chunk)
                except OpenRouterError:
                    if texts:  # what came before an error inside the stream reaches the consumer
                        yield TextDelta("".join(texts), len(texts))
                    raise
                except (ValueError, TypeError, AttributeError, KeyError) as exc:
                    if texts:
                        yield TextDelta("".join(texts), len(texts))
                    raise MalformedResponse("A streamed chunk was not valid JSON of the "
                                            "expected shape.") from exc
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
                return
