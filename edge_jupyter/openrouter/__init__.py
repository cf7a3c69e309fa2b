"""OpenRouter client: streaming chat completions, usage and cost, account endpoints.

Must not import IPython, ipywidgets, tornado or jupyter_server.
"""

from ._client import ChatStream, OpenRouterClient, clear_models_cache
from ._errors import (
    APIStatusError,
    AuthenticationError,
    BadRequest,
    ConnectionFailed,
    InsufficientCredits,
    KeyLimitExceeded,
    MalformedResponse,
    ModerationError,
    NotFound,
    OpenRouterError,
    PermissionDenied,
    ProviderError,
    RateLimited,
    RequestTimeout,
    StreamInterrupted,
    TransportError,
    UnknownModel,
    error_for_status,
)
from ._retry import RetryPolicy, parse_retry_after
from ._stream import (
    Finished,
    ReasoningDelta,
    Started,
    StreamAssembler,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    UsageReceived,
)
from ._types import (
    Citation,
    Completion,
    Credits,
    Generation,
    KeyInfo,
    ModelInfo,
    Pricing,
    ToolCall,
    Usage,
)

__all__ = [
    "APIStatusError", "AuthenticationError", "BadRequest", "ChatStream", "Citation", "Completion",
    "ConnectionFailed", "Credits", "Finished", "Generation", "InsufficientCredits", "KeyInfo",
    "KeyLimitExceeded", "MalformedResponse", "ModelInfo", "ModerationError", "NotFound",
    "OpenRouterClient", "OpenRouterError", "PermissionDenied", "Pricing", "ProviderError",
    "RateLimited", "ReasoningDelta", "RequestTimeout", "RetryPolicy", "Started", "StreamAssembler",
    "StreamEvent", "StreamInterrupted", "TextDelta", "ToolCall", "ToolCallDelta", "TransportError",
    "UnknownModel",
    "Usage", "UsageReceived", "clear_models_cache", "error_for_status", "parse_retry_after",
]
