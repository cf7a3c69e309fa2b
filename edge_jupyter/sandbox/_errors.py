"""OpenRouter-shaped error bodies, in one place so every endpoint fails alike.

The shape is ``{"error": {"message", "code", "metadata"?}, "user_id"}`` with
the key order real responses use (message first). ``metadata.error_type``
follows the documented ``ApiErrorType`` vocabulary so clients can branch on it.
"""

from __future__ import annotations

from typing import Any

#: Default message per status, copied from OpenRouter's documented/observed texts.
DEFAULT_MESSAGES: dict[int, str] = {
    400: "Invalid request parameters",
    401: "No auth credentials found",
    402: "Insufficient credits. Add more using https://openrouter.ai/credits",
    403: "Forbidden",
    404: "Resource not found",
    405: "Method Not Allowed",
    408: "Operation timed out. Please try again later.",
    413: "Request payload too large",
    422: "Invalid argument",
    429: "Rate limit exceeded",
    500: "Internal Server Error",
    502: "Provider returned error",
    503: "Service temporarily unavailable",
    504: "Gateway timeout",
    524: "Request timed out. Please try again later.",
    529: "Provider returned error",
}

#: ``error.metadata.error_type`` per status ([DOCS errors-and-debugging] §7.3).
ERROR_TYPES: dict[int, str] = {
    400: "invalid_request",
    401: "authentication",
    402: "payment_required",
    403: "permission_denied",
    404: "not_found",
    408: "timeout",
    413: "payload_too_large",
    422: "unprocessable",
    429: "rate_limit_exceeded",
    500: "server",
    502: "provider_unavailable",
    503: "provider_overloaded",
    504: "timeout",
    524: "timeout",
    529: "provider_overloaded",
}


def error_type(status: int) -> str:
    """The ``error_type`` for an HTTP status; ``unmapped`` for anything unusual."""
    return ERROR_TYPES.get(status, "unmapped")


def error_body(
    status: int,
    message: str | None = None,
    metadata: dict[str, Any] | None = None,
    user_id: str | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An error response body. ``metadata`` is omitted when there is none; ``extra``
    adds members to ``error`` itself (e.g. the documented ``availability`` object)."""
    error: dict[str, Any] = {"message": message or DEFAULT_MESSAGES.get(status, "Error"), "code": status}
    if metadata is not None:
        error["metadata"] = metadata
    if extra:
        error.update(extra)
    return {"error": error, "user_id": user_id}


class ApiError(Exception):
    """Raised inside a handler to answer with an OpenRouter error body.

    Carrying status, message and extra headers in one object lets the
    validation code stay linear: check, raise, and the router renders it.
    """

    def __init__(
        self,
        status: int,
        message: str | None = None,
        *,
        metadata: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        typed: bool = True,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message or DEFAULT_MESSAGES.get(status, "Error"))
        self.status = status
        self.message = message or DEFAULT_MESSAGES.get(status, "Error")
        if metadata is None and typed:
            metadata = {"error_type": error_type(status)}
        self.metadata = metadata
        self.headers = headers or {}
        self.extra = extra

    def body(self, user_id: str | None = None) -> dict[str, Any]:
        """The JSON body for this error."""
        return error_body(self.status, self.message, self.metadata, user_id, self.extra)
