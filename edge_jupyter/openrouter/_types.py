"""Plain data classes for what OpenRouter returns, parsed defensively.

Money is kept exactly as OpenRouter sent it (a JSON number parsed by ``json``,
whose shortest ``repr`` is the decimal text on the wire); nothing here
recomputes a cost.  Per-token prices from ``/models`` are decimal strings on the
wire and become floats in USD per token.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def _num(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


@dataclass(frozen=True)
class Usage:
    """The ``usage`` object of a completion: tokens and the exact cost charged."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost: float | None = None
    is_byok: bool = False
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    upstream_cost: float | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Usage:
        prompt_details = data.get("prompt_tokens_details") or {}
        completion_details = data.get("completion_tokens_details") or {}
        cost_details = data.get("cost_details") or {}
        prompt = _int(data.get("prompt_tokens"))
        completion = _int(data.get("completion_tokens"))
        return cls(
            prompt_tokens=prompt,
            completion_tokens=completion,
            total_tokens=_int(data.get("total_tokens")) or prompt + completion,
            cost=_num(data.get("cost")),
            is_byok=bool(data.get("is_byok")),
            cached_tokens=_int(prompt_details.get("cached_tokens")),
            cache_write_tokens=_int(prompt_details.get("cache_write_tokens")),
            reasoning_tokens=_int(completion_details.get("reasoning_tokens")),
            upstream_cost=_num(cost_details.get("upstream_inference_cost")),
        )


@dataclass(frozen=True)
class Pricing:
    """USD per token (per request / per image where named)."""

    prompt: float = 0.0
    completion: float = 0.0
    request: float = 0.0
    image: float = 0.0
    cache_read: float | None = None
    reasoning: float | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Pricing:
        return cls(
            prompt=_num(data.get("prompt")) or 0.0,
            completion=_num(data.get("completion")) or 0.0,
            request=_num(data.get("request")) or 0.0,
            image=_num(data.get("image")) or 0.0,
            cache_read=_num(data.get("input_cache_read")),
            reasoning=_num(data.get("internal_reasoning")),
        )

    @property
    def is_free(self) -> bool:
        return self.prompt == 0 and self.completion == 0 and self.request == 0


@dataclass(frozen=True)
class ModelInfo:
    """One entry of ``GET /models``."""

    id: str
    name: str
    context_length: int | None
    pricing: Pricing
    max_completion_tokens: int | None = None
    supported_parameters: tuple[str, ...] = ()
    input_modalities: tuple[str, ...] = ()
    description: str = ""
    created: int = 0

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelInfo:
        top = data.get("top_provider") or {}
        arch = data.get("architecture") or {}
        context = data.get("context_length") or top.get("context_length")
        return cls(
            id=str(data.get("id", "")),
            name=str(data.get("name") or data.get("id", "")),
            context_length=int(context) if context else None,
            pricing=Pricing.from_json(data.get("pricing") or {}),
            max_completion_tokens=_int(top.get("max_completion_tokens")) or None,
            supported_parameters=tuple(data.get("supported_parameters") or ()),
            input_modalities=tuple(arch.get("input_modalities") or ()),
            description=str(data.get("description") or ""),
            created=_int(data.get("created")),
        )


@dataclass(frozen=True)
class KeyInfo:
    """``GET /key``: the calling key's cap and spend (works for every key)."""

    label: str = ""
    limit: float | None = None
    limit_remaining: float | None = None
    limit_reset: str | None = None
    usage: float = 0.0
    usage_daily: float = 0.0
    usage_weekly: float = 0.0
    usage_monthly: float = 0.0
    byok_usage: float = 0.0
    is_free_tier: bool = False
    is_management_key: bool = False

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> KeyInfo:
        d = data.get("data", data) or {}
        return cls(
            label=str(d.get("label") or ""),
            limit=_num(d.get("limit")),
            limit_remaining=_num(d.get("limit_remaining")),
            limit_reset=d.get("limit_reset"),
            usage=_num(d.get("usage")) or 0.0,
            usage_daily=_num(d.get("usage_daily")) or 0.0,
            usage_weekly=_num(d.get("usage_weekly")) or 0.0,
            usage_monthly=_num(d.get("usage_monthly")) or 0.0,
            byok_usage=_num(d.get("byok_usage")) or 0.0,
            is_free_tier=bool(d.get("is_free_tier")),
            is_management_key=bool(d.get("is_management_key") or d.get("is_provisioning_key")),
        )


@dataclass(frozen=True)
class Credits:
    """``GET /credits`` (management keys only): the account balance."""

    total_credits: float
    total_usage: float

    @property
    def balance(self) -> float:
        return self.total_credits - self.total_usage

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Credits:
        d = data.get("data", data) or {}
        return cls(_num(d.get("total_credits")) or 0.0, _num(d.get("total_usage")) or 0.0)


@dataclass(frozen=True)
class Generation:
    """``GET /generation?id=``: the exact, final record of one call."""

    id: str
    total_cost: float
    model: str = ""
    provider: str | None = None
    is_byok: bool = False
    upstream_cost: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    cached_tokens: int = 0
    cancelled: bool = False
    finish_reason: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Generation:
        d = data.get("data", data) or {}
        return cls(
            id=str(d.get("id", "")),
            total_cost=_num(d.get("total_cost")) or 0.0,
            model=str(d.get("model") or ""),
            provider=d.get("provider_name"),
            is_byok=bool(d.get("is_byok")),
            upstream_cost=_num(d.get("upstream_inference_cost")),
            prompt_tokens=_int(d.get("native_tokens_prompt") or d.get("tokens_prompt")),
            completion_tokens=_int(d.get("native_tokens_completion") or d.get("tokens_completion")),
            reasoning_tokens=_int(d.get("native_tokens_reasoning")),
            cached_tokens=_int(d.get("native_tokens_cached")),
            cancelled=bool(d.get("cancelled")),
            finish_reason=d.get("finish_reason"),
        )


@dataclass
class Completion:
    """What one chat completion produced, streamed or not (filled as it arrives)."""

    text: str = ""
    reasoning: str = ""
    generation_id: str | None = None
    model: str | None = None
    provider: str | None = None
    finish_reason: str | None = None
    native_finish_reason: str | None = None
    usage: Usage | None = None
    extra: dict[str, Any] = field(default_factory=dict)
