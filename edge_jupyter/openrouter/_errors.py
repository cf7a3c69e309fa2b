"""The OpenRouter client's branch of the error tree (the whole tree: :mod:`edge_jupyter.errors`).

Every error a call can end with is an :class:`OpenRouterError` (an ``EdgeError``); its ``str()`` is a
sentence a person can act on (what happened, then what to do).  The API key never
appears in a message: bodies are scrubbed before they are quoted.

::

    OpenRouterError
    ├── TransportError            the request never got an HTTP answer
    │   ├── ConnectionFailed      could not connect (wrong URL, offline)
    │   ├── RequestTimeout        no answer in time (also HTTP 408 and 524)
    │   └── StreamInterrupted     the connection dropped in the middle of an answer
    ├── MalformedResponse         an answer that is not the JSON/SSE OpenRouter sends
    └── APIStatusError            OpenRouter answered with an error (status + body)
        ├── BadRequest            400
        │   └── UnknownModel      400 "… is not a valid model ID"
        ├── AuthenticationError   401 missing, invalid or revoked key
        ├── InsufficientCredits   402 balance too low for the request
        ├── PermissionDenied      403
        │   ├── KeyLimitExceeded  403 the key's own spending cap is spent
        │   └── ModerationError   403 flagged by moderation
        ├── NotFound              404
        ├── RateLimited           429 (``retry_after`` in seconds when given)
        └── ProviderError         5xx, or an error that arrived inside a stream

``retryable`` says whether trying again later may help; the client retries such
errors by itself, but only before the first token has arrived.

An :class:`APIStatusError`'s message also quotes the useful part of ``error.metadata``:
which provider failed (``provider_name``) and what it said (``raw``, its own error body,
often JSON whose ``message`` is pulled out).  OpenRouter's own ``message`` is often only
"Provider returned error"; the provider's words say why ("… is temporarily rate-limited
upstream").
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..errors import EdgeError
from ..scrub import scrub
from ..untrusted_text import strip_controls

_TOP_UP = "https://openrouter.ai/settings/credits"
_KEYS = "https://openrouter.ai/settings/keys"
#: How much of a provider's own words a message quotes: enough for a sentence or two,
#: while a raw body can be a whole HTML page.
DETAIL_CHARS = 300
_BLANKS = re.compile(r"\s+")


class OpenRouterError(EdgeError):
    """Base of every error raised by the client."""

    retryable: bool = False
    hint: str = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        if hint is not None:
            self.hint = hint
        super().__init__(self.__str__())

    def __str__(self) -> str:
        return _sentence(self.message, self.hint)


def _sentence(message: str, hint: str) -> str:
    """Join a server's message (often without a full stop) and our hint readably."""
    message = message.strip()
    if hint and message and message[-1] not in ".!?…":
        message += "."
    return f"{message} {hint}".strip()


class TransportError(OpenRouterError):
    """No complete HTTP answer was received."""

    retryable = True


class ConnectionFailed(TransportError):
    hint = "Check your network and EDGE_OPENROUTER_URL, then run the cell again."


class RequestTimeout(TransportError):
    hint = "OpenRouter or the provider is slow right now; run the cell again in a moment."


class StreamInterrupted(TransportError):
    """The answer started and then the connection broke: the partial text is kept."""

    retryable = False  # never retried after the first token: it would bill twice
    hint = "The partial answer is kept; run the cell again for a complete one."


class MalformedResponse(OpenRouterError):
    hint = "This is unexpected from OpenRouter; run the cell again, and report it if it persists."


class APIStatusError(OpenRouterError):
    """OpenRouter answered with an error status (or an error inside a stream)."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        metadata: dict[str, Any] | None = None,
        retry_after: float | None = None,
        during_stream: bool = False,
        hint: str | None = None,
    ) -> None:
        self.status = status
        self.metadata = metadata or {}
        self.retry_after = retry_after
        self.during_stream = during_stream
        super().__init__(message, hint=hint)

    @property
    def detail(self) -> str:
        """What ``error.metadata`` adds to the message ("" when nothing useful)."""
        return provider_detail(self.metadata, self.message)

    def __str__(self) -> str:
        where = " (during the answer)" if self.during_stream else ""
        return (f"OpenRouter error {self.status}{where}: "
                f"{_sentence(self.message + self.detail, self.hint)}")


def provider_detail(metadata: dict[str, Any] | None, message: str = "") -> str:
    """`` — Google AI Studio: … is temporarily rate-limited upstream. …`` from ``metadata``.

    ``provider_name`` says which provider failed, ``raw`` what it said (its body as text;
    a JSON body gives its message).  Both are quoted one line long, without controls or
    anything key-shaped (the client scrubs them on arrival; this holds for errors made
    elsewhere too), at most :data:`DETAIL_CHARS` long, and not when ``message`` already
    says it.
    """
    if not isinstance(metadata, dict):
        return ""
    provider = metadata.get("provider_name")
    provider = _one_line(provider, 80) if isinstance(provider, str) else ""
    said = _one_line(_raw_message(metadata.get("raw")), DETAIL_CHARS)
    if said and said.lower() in message.lower():
        said = ""
    if said:
        return f" — {provider}: {said}" if provider else f" — {said}"
    if provider and provider.lower() not in message.lower():
        return f" ({provider})"
    return ""


def _raw_message(raw: Any) -> str:
    """A provider's raw error as words: a JSON body's message, else the text itself."""
    if isinstance(raw, str):
        text = raw.strip()
        if text[:1] not in ("{", "["):
            return text
        try:
            parsed = json.loads(text)
        except ValueError:
            return text
        return _message_in(parsed) or text
    if isinstance(raw, (dict, list)):
        return _message_in(raw) or json.dumps(raw, ensure_ascii=False)[:DETAIL_CHARS * 2]
    return ""


def _message_in(value: Any, depth: int = 0) -> str:
    """The message inside a provider's JSON error: OpenAI and Anthropic nest it under
    ``error``, Google too (sometimes in a list), others put ``message`` or ``detail`` on top."""
    if depth > 5:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return _message_in(value[0], depth + 1) if value else ""
    if isinstance(value, dict):
        for key in ("message", "error", "detail", "error_description"):
            found = _message_in(value.get(key), depth + 1)
            if found:
                return found
    return ""


def _one_line(text: str, limit: int) -> str:
    """``text`` cleaned to quote in a one-line message: no controls, no key, no line breaks."""
    text = _BLANKS.sub(" ", scrub(strip_controls(text))).strip()
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


class BadRequest(APIStatusError):
    hint = "Check the model id and the flags of the cell."


class UnknownModel(BadRequest):
    """The model id does not exist; ``suggestions`` holds close ids when known."""

    def __init__(self, message: str, *, model: str = "", suggestions: list[str] | None = None,
                 **kwargs: Any) -> None:
        self.model = model
        self.suggestions = suggestions or []
        kwargs.setdefault("status", 400)
        super().__init__(message, **kwargs)

    @property
    def hint(self) -> str:  # type: ignore[override]
        if self.suggestions:
            return "Did you mean: " + ", ".join(self.suggestions) + "?  (`%edge models` lists them all.)"
        return "`%edge models SEARCH` lists the model ids."


class AuthenticationError(APIStatusError):
    hint = ("The API key is missing, invalid or revoked: run `%edge connect` to reconnect "
            "(or fix OPENROUTER_API_KEY).")


class InsufficientCredits(APIStatusError):
    @property
    def hint(self) -> str:  # type: ignore[override]
        from ..keystore import provisioned_by

        # the reservation may be refused by the account's credits or by the key's limit
        if provisioned_by():
            return ("Ask for fewer tokens (--max-tokens) so the reservation fits what is left, "
                    "or ask your JupyterHub's admin to raise your key's limit (`edge-jupyter "
                    "hub set-limit`).")
        return (f"Top up at {_TOP_UP} (or raise the key's limit: `%edge limit USD`), or ask for "
                "fewer tokens (--max-tokens) so the reservation fits your balance.")


class PermissionDenied(APIStatusError):
    hint = "This key is not allowed to do that."


class KeyLimitExceeded(PermissionDenied):
    @property
    def hint(self) -> str:  # type: ignore[override]
        from ..keystore import provisioned_by

        # A hub user can neither raise a provisioned key's cap nor reconnect it: only the
        # hub's admin can, or they bring their own key.
        if provisioned_by():
            return ("This key's spending limit is used up (your JupyterHub's admin sets it): ask "
                    "the admin to raise it (`edge-jupyter hub set-limit USER USD`), wait for it "
                    "to reset if it does, or use your own key (`%edge connect`).")
        return (f"This key's spending limit is used up: raise it with `%edge limit USD` (with a "
                f"management key) or at {_KEYS}, or reconnect with a higher limit "
                "(`%edge connect --limit USD`).")


class ModerationError(PermissionDenied):
    hint = "The prompt was flagged by the provider's moderation; rephrase it or use another model."


class NotFound(APIStatusError):
    hint = ""


class RateLimited(APIStatusError):
    retryable = True

    @property
    def hint(self) -> str:  # type: ignore[override]
        wait = f" in {self.retry_after:g} s" if self.retry_after else " in a moment"
        return f"Too many requests: try again{wait}, or pick another model or provider."


class ProviderError(APIStatusError):
    retryable = True
    hint = "The model's provider failed; run the cell again or try another model."


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequest,
    401: AuthenticationError,
    402: InsufficientCredits,
    403: PermissionDenied,
    404: NotFound,
    413: BadRequest,
    422: BadRequest,
    429: RateLimited,
}


def error_for_status(
    status: int,
    message: str,
    *,
    metadata: dict[str, Any] | None = None,
    retry_after: float | None = None,
    during_stream: bool = False,
) -> OpenRouterError:
    """Map an OpenRouter status and message to the most precise error class."""
    kwargs: dict[str, Any] = {"status": status, "metadata": metadata, "retry_after": retry_after,
                              "during_stream": during_stream}
    lowered = message.lower()
    if status in (408, 524) and not during_stream:
        return RequestTimeout(f"OpenRouter error {status}: {message}")
    if status == 400 and "not a valid model" in lowered:
        model = message.split(" is not a valid model", 1)[0].strip()
        return UnknownModel(message, model=model, **kwargs)
    if status == 403 and "key limit exceeded" in lowered:
        return KeyLimitExceeded(message, **kwargs)
    if status == 403 and metadata and "reasons" in metadata:
        return ModerationError(message, **kwargs)
    cls = _BY_STATUS.get(status)
    if cls is None:
        cls = ProviderError if status >= 500 or during_stream else APIStatusError
    err = cls(message, **kwargs)
    if status in (408, 502, 503, 524, 529) or status >= 500:
        err.retryable = True
    return err
