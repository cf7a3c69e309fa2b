"""Plain data classes for what OpenRouter returns, parsed defensively.

Money is kept exactly as OpenRouter sent it (a JSON number parsed by ``json``,
whose shortest ``repr`` is the decimal text on the wire); nothing here
recomputes a cost.  Per-token prices from ``/models`` are decimal strings on the
wire and become floats in USD per token.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ..errors import EdgeError
from ..money import exact_usd
from ..pricing_sheet import DISCOUNTED, PriceOverride, parse_override, read_discount
from ..user_numbers import finite, real, whole


def _int(value: Any) -> int:
    """A ``/models`` figure read leniently (``"4096"`` counts), 0 if unreadable; a limit then
    goes through ``whole(..., low=1)`` like an endpoint's."""
    try:
        return int(value or 0)
    except (TypeError, ValueError, OverflowError):
        return 0


class ImpossibleFigure(EdgeError, ValueError):
    """A cost or token count from the server that cannot be true; ``str()`` says which."""


#: The most one call can plausibly cost.  The dearest models listed on OpenRouter charge
#: ~$150/M input and ~$600/M output tokens; a full 2M-token context plus 100k output tokens
#: there is ~$360.  $10,000 is ~30x that, so no real call reaches it, while a server's
#: ``1e12`` (or a unit mix-up) is caught before it blocks every budget for the day.
MAX_CALL_COST_USD = 10_000.0
#: The most tokens one call can plausibly count (context windows are at most a few million).
MAX_CALL_TOKENS = 100_000_000
#: The most web searches one call can plausibly make (a server tool's ``max_uses`` is a few;
#: a thousand at the dearest engine price is still only ~$10, so a made-up count is caught).
MAX_CALL_SEARCHES = 1_000


def _names(value: Any) -> tuple[str, ...]:
    """A list of names from the server (parameters, modalities): its strings only. A string
    alone is not a list of its letters, and a number or object in the list is no name (it
    would break the sentences that quote the list)."""
    if not isinstance(value, (list, tuple)):
        return ()
    return tuple(v for v in value if isinstance(v, str))


def _figure(value: Any, what: str) -> float | None:
    """A server's money figure: absent is None; anything not a finite number >= 0 is impossible."""
    if value is None:
        return None
    number = finite(value, low=0, high=MAX_CALL_COST_USD, text=True)
    if number is None:
        parsed = real(value, text=True)  # quoted as a number if it is one ("$-1", "$inf")
        shown = exact_usd(parsed) if parsed is not None else json_text(value)
        raise ImpossibleFigure(f"an impossible {what} ({shown})")
    return number


def _count(value: Any, what: str, *, high: int = MAX_CALL_TOKENS, kind: str = "token count") -> int:
    """A server's token count: absent is 0; anything not a whole number >= 0 is impossible."""
    if value is None:
        return 0
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a JSON ``5.0`` is 5 tokens
    count = whole(value, low=0, high=high)
    if count is None:
        raise ImpossibleFigure(f"an impossible {kind} ({what} = {json_text(value)})")
    return count


def json_text(value: Any) -> str:
    """A server value as a short text for a message (never a long one)."""
    import json

    try:
        text = json.dumps(value, allow_nan=True)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 40 else text[:37] + "…"


def _finite(value: Any) -> float | None:
    """An account figure (may be negative: an overspent key): None unless a finite number."""
    return finite(value, text=True)


def _spend(value: Any) -> float:
    """A key's spend: a finite number of at least 0 (no spend can be negative), else 0."""
    return finite(value, low=0, text=True) or 0.0


def _left(value: Any) -> float | None:
    """A limit, or what is left of one: finite or None; below 0 (an overspent key) it leaves
    nothing, so it reads as 0 rather than as a negative amount shown to the user."""
    number = _finite(value)
    return None if number is None else max(0.0, number)


def _details(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


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
    #: ``cost_details.upstream_inference_completions_cost``: the completion tokens' part of the
    #: price (reasoning tokens are completion tokens), when OpenRouter gives it
    completion_cost: float | None = None
    #: ``server_tool_use_details.web_search_requests``: searches billed in ``cost`` (0 if none)
    web_searches: int = 0

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Usage:
        """Parse a ``usage`` object; :class:`ImpossibleFigure` when a figure cannot be true.

        Cost: a finite number from 0 to :data:`MAX_CALL_COST_USD` (never a boolean); tokens:
        whole numbers from 0 to :data:`MAX_CALL_TOKENS` (web searches to
        :data:`MAX_CALL_SEARCHES`).  The caller then treats the usage as unknown and reads
        the exact figures from ``/generation``.
        """
        if not isinstance(data, dict):
            raise ImpossibleFigure(f"a usage that is not an object ({json_text(data)})")
        prompt_details = _details(data.get("prompt_tokens_details"))
        completion_details = _details(data.get("completion_tokens_details"))
        cost_details = _details(data.get("cost_details"))
        server_tools = _details(data.get("server_tool_use_details"))
        prompt = _count(data.get("prompt_tokens"), "prompt_tokens")
        completion = _count(data.get("completion_tokens"), "completion_tokens")
        return cls(
            prompt_tokens=prompt,
            completion_tokens=completion,
            total_tokens=_count(data.get("total_tokens"), "total_tokens") or prompt + completion,
            cost=_figure(data.get("cost"), "cost"),
            is_byok=data.get("is_byok") is True,
            cached_tokens=_count(prompt_details.get("cached_tokens"), "cached_tokens"),
            cache_write_tokens=_count(prompt_details.get("cache_write_tokens"), "cache_write_tokens"),
            reasoning_tokens=_count(completion_details.get("reasoning_tokens"), "reasoning_tokens"),
            upstream_cost=_figure(cost_details.get("upstream_inference_cost"), "upstream cost"),
            completion_cost=_figure(cost_details.get("upstream_inference_completions_cost"),
                                    "completion cost"),
            web_searches=_count(server_tools.get("web_search_requests"), "web_search_requests",
                                high=MAX_CALL_SEARCHES, kind="web search count"),
        )


#: Marks an ``unknown_reason`` that comes from OpenRouter's ``"-1"`` (a router's price).
VARIABLE_PRICE = "variable"


def _price(data: Any, key: str, *, required: bool, default: float | None) -> tuple[float | None, str | None]:
    """(USD per unit, None) or (None, why it is unknown). Never a negative or non-finite number.

    ``"-1"`` is OpenRouter's "variable" (``openrouter/auto`` bills at the price of the model
    it picks): reading it as -1 USD would make such a call look like it pays you.
    """
    value = data.get(key)
    if value is None or value == "":
        return (None, f"no {key} price") if required else (default, None)
    if real(value, text=True) == -1:
        return None, VARIABLE_PRICE
    number = finite(value, low=0, text=True)
    if number is None:
        return None, f"{key} price {str(value)[:20]!r} is not a price"
    return number, None


#: The per-token and per-call price fields :meth:`Pricing.dearer` compares.
_TOKEN_FIELDS = ("prompt", "completion", "request", "image", "reasoning", "cache_read", "cache_write",
                 "cache_write_1h")


def _overrides(value: Any) -> tuple[tuple[PriceOverride, ...], str | None]:
    """The ``overrides`` list parsed, and why one entry cannot be read (None if all can)."""
    if value is None:
        return (), None
    if not isinstance(value, list):
        return (), "the price overrides are not a list"
    parsed = []
    for entry in value:
        override, why = parse_override(entry)
        if why:
            return (), why
        assert override is not None
        parsed.append(override)
    return tuple(parsed), None


@dataclass(frozen=True)
class Pricing:
    """USD per token (per request / per image where named).

    A price OpenRouter gives as variable (``"-1"``), negative, non-finite or (for prompt and
    completion) missing is **unknown**: its field is ``None``, ``unknown`` names the fields and
    ``unknown_reason`` says why. Nothing may price a call with an unknown :class:`Pricing`
    (``known`` is False); the budget code refuses instead.
    """

    prompt: float | None = 0.0
    completion: float | None = 0.0
    request: float | None = 0.0
    image: float | None = 0.0
    cache_read: float | None = None
    reasoning: float | None = None
    #: USD per web search (``web_search``); None when not given or not a price (an estimate
    #: then takes the dearest documented engine price)
    web_search: float | None = None
    unknown: tuple[str, ...] = ()
    unknown_reason: str | None = None
    #: USD per cache-write token (``input_cache_write``: the 5-minute TTL) and per 1-hour
    #: cache-write token (``input_cache_write_1h``); None when not priced apart
    cache_write: float | None = None
    cache_write_1h: float | None = None
    #: the fraction off every per-token price (``discount``: price × (1 − discount)), applied by :meth:`at`
    discount: float = 0.0
    #: the conditional prices (``overrides``: tiers above ``min_prompt_tokens``, UTC windows), applied by :meth:`at`
    overrides: tuple[PriceOverride, ...] = ()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Pricing:
        fields = {"prompt": _price(data, "prompt", required=True, default=None),
                  "completion": _price(data, "completion", required=True, default=None),
                  "request": _price(data, "request", required=False, default=0.0),
                  "image": _price(data, "image", required=False, default=0.0),
                  "reasoning": _price(data, "internal_reasoning", required=False, default=None)}
        unknown = tuple(name for name, (_, why) in fields.items() if why)
        variable = [name for name, (_, why) in fields.items() if why == VARIABLE_PRICE]
        reasons = [why for _, why in fields.values() if why and why != VARIABLE_PRICE]
        if variable:
            reasons.insert(0, f"the {' and '.join(variable)} price{'s are' if len(variable) > 1 else ' is'} "
                              f"{VARIABLE_PRICE} (\"-1\": a router bills at the price of the model it picks)")
        cache_read, _ = _price(data, "input_cache_read", required=False, default=None)
        web_search, _ = _price(data, "web_search", required=False, default=None)
        cache_write, _ = _price(data, "input_cache_write", required=False, default=None)
        cache_write_1h, _ = _price(data, "input_cache_write_1h", required=False, default=None)
        overrides, unreadable = _overrides(data.get("overrides"))
        discount, bad_discount = read_discount(data.get("discount"))
        # An override or discount we cannot read could make a call dearer than we think:
        # the price is unknown then, like a "-1" (a budget refuses; nothing is made up).
        bad = [why for why in (unreadable, bad_discount) if why]
        broken = tuple(dict.fromkeys(name for o in overrides for name, value in o.prices if value is None))
        if broken:
            bad.append(f"a price override's {' and '.join(broken)} price is variable or not a price")
        if bad:
            unknown += tuple(name for name in (broken or ("overrides",)) if name not in unknown)
            reasons += bad
        return cls(**{name: value for name, (value, _) in fields.items()}, cache_read=cache_read,
                   web_search=web_search, unknown=unknown, unknown_reason="; ".join(reasons) or None,
                   cache_write=cache_write, cache_write_1h=cache_write_1h, discount=discount,
                   overrides=overrides)

    def at(self, prompt_tokens: int, when: datetime | None = None) -> Pricing:
        """The prices that apply to a request of ``prompt_tokens`` at ``when`` (UTC; now if None).

        The overrides whose conditions all hold (``min_prompt_tokens``: strictly more;
        ``utc_start``/``utc_end``: a half-open HHMM window that may wrap midnight), later
        entries winning per key, absent keys inheriting the base; then ``discount`` on the
        per-token prices. The result has no overrides and no discount left. Pure.
        """
        if not self.overrides and not self.discount:
            return self
        moment = when or datetime.now(timezone.utc)
        values: dict[str, float | None] = {}
        for override in self.overrides:
            if override.holds(prompt_tokens, moment):
                values.update(override.prices)
        scale = 1.0 - self.discount
        for name in DISCOUNTED:
            value = values.get(name, getattr(self, name))
            if value is not None and scale != 1.0:
                values[name] = value * scale
        return dataclasses.replace(self, **values, overrides=(), discount=0.0)  # type: ignore[arg-type]

    def with_override(self, override: PriceOverride) -> Pricing:
        """The base prices with one override's prices on top (for showing a tier)."""
        return dataclasses.replace(self, **dict(override.prices), overrides=(), discount=0.0)  # type: ignore[arg-type]

    def all_overrides(self) -> tuple[PriceOverride, ...]:
        return self.overrides

    def dearer(self, other: Pricing) -> Pricing:
        """Field by field the dearer of two resolved prices (an unknown field stays unknown;
        a per-token price not given apart, None, yields to a given one)."""
        values: dict[str, float | None] = {}
        for name in _TOKEN_FIELDS:
            x, y = getattr(self, name), getattr(other, name)
            values[name] = x if y is None else y if x is None else max(x, y)
        a, b = self.web_search, other.web_search
        values["web_search"] = None if a is None or b is None else max(a, b)  # None: the dearest engine
        unknown = tuple(dict.fromkeys((*self.unknown, *other.unknown)))
        for name in unknown:
            if name in values:
                values[name] = None
        reasons = list(dict.fromkeys(r for r in (self.unknown_reason, other.unknown_reason) if r))
        return dataclasses.replace(self, **values, unknown=unknown,
                                   unknown_reason="; ".join(reasons) or None, overrides=(), discount=0.0)

    @property
    def known(self) -> bool:
        """Can a call be priced with these numbers? (False for variable or broken prices.)"""
        return not self.unknown

    @property
    def is_variable(self) -> bool:
        """Is the price OpenRouter's "variable" (a router such as ``openrouter/auto``)?"""
        return VARIABLE_PRICE in (self.unknown_reason or "")

    @property
    def is_free(self) -> bool:
        return self.known and self.prompt == 0 and self.completion == 0 and self.request == 0


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
    #: the entry's ``reasoning`` object (``mandatory``, ``supported_efforts``…), if any
    reasoning: dict[str, Any] | None = field(default=None, compare=False, hash=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelInfo:
        top, arch = _details(data.get("top_provider")), _details(data.get("architecture"))
        context = _int(data.get("context_length") or top.get("context_length"))
        most = _int(top.get("max_completion_tokens"))
        return cls(
            id=str(data.get("id", "")),
            name=str(data.get("name") or data.get("id", "")),
            # A limit of 0 or below is no limit we can use (a negative one made a budget's
            # worst case negative): unknown, as for an endpoint's (routing._worst_price).
            context_length=whole(context, low=1),
            pricing=Pricing.from_json(data.get("pricing") or {}),
            max_completion_tokens=whole(most, low=1),
            supported_parameters=_names(data.get("supported_parameters")),
            input_modalities=_names(arch.get("input_modalities")),
            description=str(data.get("description") or ""),
            created=_int(data.get("created")),
            reasoning=data["reasoning"] if isinstance(data.get("reasoning"), dict) else None,
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
    include_byok_in_limit: bool = False
    byok_usage_daily: float = 0.0
    byok_usage_weekly: float = 0.0
    byok_usage_monthly: float = 0.0
    expires_at: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> KeyInfo:
        d = data.get("data", data) if isinstance(data, dict) else None
        d = d if isinstance(d, dict) else {}
        return cls(
            label=str(d.get("label") or ""),
            limit=_left(d.get("limit")),
            limit_remaining=_left(d.get("limit_remaining")),
            limit_reset=d.get("limit_reset"),
            usage=_spend(d.get("usage")),
            usage_daily=_spend(d.get("usage_daily")),
            usage_weekly=_spend(d.get("usage_weekly")),
            usage_monthly=_spend(d.get("usage_monthly")),
            byok_usage=_spend(d.get("byok_usage")),
            is_free_tier=bool(d.get("is_free_tier")),
            is_management_key=bool(d.get("is_management_key") or d.get("is_provisioning_key")),
            include_byok_in_limit=d.get("include_byok_in_limit") is True,
            byok_usage_daily=_spend(d.get("byok_usage_daily")),
            byok_usage_weekly=_spend(d.get("byok_usage_weekly")),
            byok_usage_monthly=_spend(d.get("byok_usage_monthly")),
            expires_at=d.get("expires_at") if isinstance(d.get("expires_at"), str) else None,
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
        d = data.get("data", data) if isinstance(data, dict) else None
        d = d if isinstance(d, dict) else {}
        return cls(_finite(d.get("total_credits")) or 0.0, _finite(d.get("total_usage")) or 0.0)


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
    #: what the prompt cache saved, USD (negative when writing to it cost more than it read);
    #: None when OpenRouter does not say
    cache_discount: float | None = None
    #: for an answer from OpenRouter's response cache: the generation it replays (None: not
    #: a hit, or not said), whose cost is what the hit saved
    response_cache_source_id: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Generation:
        """Parse a ``/generation`` record; :class:`ImpossibleFigure` as for :class:`Usage`."""
        d = data.get("data", data) if isinstance(data, dict) else None
        if not isinstance(d, dict):
            raise ImpossibleFigure(f"a generation record that is not an object ({json_text(d)})")
        return cls(
            id=str(d.get("id", "")),
            # validated like a usage chunk: an impossible record is never used to settle a row
            total_cost=_figure(d.get("total_cost"), "total_cost") or 0.0,
            model=str(d.get("model") or ""),
            provider=d.get("provider_name") if isinstance(d.get("provider_name"), str) else None,
            is_byok=d.get("is_byok") is True,
            upstream_cost=_figure(d.get("upstream_inference_cost"), "upstream cost"),
            prompt_tokens=_count(d.get("native_tokens_prompt") or d.get("tokens_prompt"),
                                 "native_tokens_prompt"),
            completion_tokens=_count(d.get("native_tokens_completion") or d.get("tokens_completion"),
                                     "native_tokens_completion"),
            reasoning_tokens=_count(d.get("native_tokens_reasoning"), "native_tokens_reasoning"),
            cached_tokens=_count(d.get("native_tokens_cached"), "native_tokens_cached"),
            cancelled=bool(d.get("cancelled")),
            finish_reason=d.get("finish_reason"),
            cache_discount=_finite(d.get("cache_discount")),
            response_cache_source_id=(d["response_cache_source_id"]
                                      if isinstance(d.get("response_cache_source_id"), str)
                                      and d["response_cache_source_id"] else None),
        )


@dataclass
class Completion:
    """What one chat completion produced, streamed or not (filled as it arrives)."""

    text: str = ""
    reasoning: str = ""
    #: ``reasoning_details`` (the spec's ChatReasoningDetails), streamed pieces merged: sent
    #: back unmodified with this answer on a conversation's later turns
    reasoning_details: list[dict[str, Any]] = field(default_factory=list)
    generation_id: str | None = None
    model: str | None = None
    provider: str | None = None
    #: the response's ``service_tier``: the tier that served (and is billed), e.g. "flex"
    service_tier: str | None = None
    finish_reason: str | None = None
    native_finish_reason: str | None = None
    usage: Usage | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: what the cell should say about this answer (an impossible usage, skipped chunks)
    notes: list[str] = field(default_factory=list)
    #: the functions the model asked to call (``finish_reason`` "tool_calls"), in order
    tool_calls: list[ToolCall] = field(default_factory=list)
    #: the ``url_citation`` annotations (web search results), one per URL, in order
    annotations: list[Citation] = field(default_factory=list)
    #: OpenRouter's response cache on this answer ("HIT", "MISS"; None: not said)
    cache_status: str | None = None


@dataclass(frozen=True)
class ToolCall:
    """One function call the model asked for: ``arguments`` is the JSON text as it came
    (streamed pieces joined), parsed by whoever runs the function."""

    id: str
    name: str
    arguments: str

    def to_json(self) -> dict[str, Any]:
        """The call as the next request's assistant message carries it (``ChatToolCall``)."""
        return {"id": self.id, "type": "function",
                "function": {"name": self.name, "arguments": self.arguments}}


@dataclass(frozen=True)
class Citation:
    """One ``url_citation`` annotation: a web page the answer cites (always http or https)."""

    url: str
    title: str = ""
    content: str = ""
    start_index: int | None = None
    end_index: int | None = None
