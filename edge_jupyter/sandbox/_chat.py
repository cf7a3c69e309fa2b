"""Pure chat-completion logic: request -> plan, costs, and the exact bytes of chunks.

No sockets here. The HTTP layer asks :func:`plan_chat` what to send, writes the
bytes :class:`ChunkEncoder` produces, and prices what was actually sent with
:func:`price`. Keeping this apart makes the wire format testable without a
server and keeps the streaming loop short.

Chunks are rendered from pre-serialised templates (one ``json`` string escape
per token instead of a ``json.dumps`` of a whole dict), which keeps the server
at a few microseconds per token, so 20 000 tokens stream in well under a second.
"""

from __future__ import annotations

import hashlib
import json
import math
import secrets
import string
import time
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from ._catalog import CatalogEndpoint, CatalogModel
from ._errors import ApiError
from ._media import ReceivedMedia, needs, priced, read_media, requested_engine
from ._routing import candidates, check_provider, route
from ._text import (
    answer_tokens,
    count_prompt_tokens,
    is_echo,
    reasoning_length,
    reasoning_tokens,
    requested_length,
    served_model,
)
from ._tools import ToolTurn, check_history, check_support, cut_calls, plan_tools, read_offered
from ._tools import prompt_tokens as tool_prompt_tokens

try:  # the C escaper: ~10x faster than json.dumps for a single string
    from json.encoder import c_encode_basestring as _esc  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - CPython always has it
    from json.encoder import py_encode_basestring as _esc

if _esc is None:  # pragma: no cover
    from json.encoder import py_encode_basestring as _esc

_ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})
_ALNUM = string.ascii_letters + string.digits
#: BYOK requests pay OpenRouter 5 % of the list price (``BYOK_FEE_PERCENTAGE``).
BYOK_FEE = Decimal("0.05")
_USD_QUANTUM = Decimal("1e-12")
_COMPACT = (",", ":")


def new_generation_id(now: float | None = None) -> str:
    """``gen-<unix seconds>-<20 alphanumerics>``, the shape OpenRouter uses."""
    stamp = int(now if now is not None else time.time())
    return f"gen-{stamp}-" + "".join(secrets.choice(_ALNUM) for _ in range(20))


def usd(value: Decimal) -> float:
    """A Decimal amount as the float JSON carries, rounded to 1e-12 USD."""
    return float(value.quantize(_USD_QUANTUM))


@dataclass
class ChatPlan:
    """Everything decided before the first byte: what to send and how to bill it."""

    model: CatalogModel
    endpoint: CatalogEndpoint
    messages: list[dict[str, Any]]
    stream: bool
    prompt_tokens: int
    reasoning: list[str]
    content: list[str]
    show_reasoning: bool
    finish_reason: str
    max_out: int
    body: dict[str, Any]
    #: Served by a provider whose key the user brought (``Sandbox.byok_providers``).
    byok: bool = False
    #: Endpoints tried before this one that failed (``Sandbox.down_providers``).
    failed: tuple[CatalogEndpoint, ...] = ()
    #: The image and file parts, priced for this endpoint (their tokens are in ``prompt_tokens``).
    media: tuple[ReceivedMedia, ...] = ()
    #: Tool calls to make instead of an answer, or the final answer's searches (``_tools``).
    tools: ToolTurn = field(default_factory=ToolTurn)
    #: The service tier that served it ("flex", "priority", "default"), sent back as the
    #: response's ``service_tier``; None when the request asked for none and none applied.
    service_tier: str | None = None

    @property
    def images_usd(self) -> Decimal:
        """Per-image prices: billed by the provider with the prompt (upstream)."""
        return sum((m.usd for m in self.media if m.kind == "image"), Decimal(0))

    @property
    def plugin_usd(self) -> Decimal:
        """OpenRouter's own charges, on top of the provider's: ``file-parser`` engine fees
        and web searches."""
        return sum((m.usd for m in self.media if m.kind == "file"), self.tools.search_usd)

    @property
    def served_model(self) -> str:
        """The model id the response names: the one asked for, unless ``[sandbox:model=ID]``."""
        return served_model(self.messages) or self.model.id

    @property
    def native_finish_reason(self) -> str:
        """The provider's own word for the finish reason."""
        ep = self.endpoint
        if self.finish_reason == "tool_calls":
            return "tool_calls"
        return ep.native_length if self.finish_reason == "length" else ep.native_stop

    def reservation(self) -> Decimal:
        """Worst-case cost: the prompt (images and pages included) plus ``max_out`` completion tokens."""
        ep = self.endpoint
        return (self.prompt_tokens * ep.prompt_price + self.images_usd + self.plugin_usd
                + self.max_out * ep.completion_price)


def _positive_int(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ApiError(400, f"Invalid request parameters: {name} must be a positive integer")
    return value


def _messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages = body.get("messages")
    if messages is None and isinstance(body.get("prompt"), str):
        messages = [{"role": "user", "content": body["prompt"]}]
    if not messages:
        raise ApiError(400, 'Input required: specify "prompt" or "messages"')
    if not isinstance(messages, list) or not all(
        isinstance(m, dict) and m.get("role") in _ROLES for m in messages
    ):
        raise ApiError(400, "Invalid request parameters: every message needs a valid role")
    return messages


def choose_endpoint(model: CatalogModel, prefs: Any) -> CatalogEndpoint:
    """The endpoint OpenRouter would try first for ``model`` under ``provider`` preferences.

    Kept for callers of the first sandbox; the routing itself lives in ``_routing``.
    """
    return candidates(model, check_provider(prefs))[0]


def plan_chat(body: Any, answer_length: int, *, byok: frozenset[str] = frozenset(),
              down: frozenset[str] = frozenset(), honour_cap: bool = True,
              tool_step: list[tuple[str, dict[str, Any]]] | None = None) -> ChatPlan:
    """Validate a ``ChatRequest`` and decide the whole answer, or raise ``ApiError``.

    Routing (``provider``, ``models``, BYOK-first, ``down`` providers) is ``_routing.route``;
    its 400/404/502 errors come out of here unchanged.

    Content parts: images and PDFs are checked and measured (``_media``; 400 when malformed),
    a model without image input is skipped for an image (404 when no model is left), and
    each part's tokens and price join the bill; ``plugins`` is checked (file-parser engine).

    Length: ``[sandbox:tokens=N]`` in the last user message, else ``answer_length``;
    reasoning models add :func:`reasoning_length` reasoning tokens first. The total
    is cut at ``max_completion_tokens`` (or ``max_tokens``), giving ``"length"``, unless
    ``honour_cap`` is False (the ``overrun`` fault: a provider that ignores the cap).

    Tools (``_tools``): ``tools``/``tool_choice`` and the history's tool messages are checked
    (400), a model without tool use is a 404; ``tool_step`` is the first step of
    ``Sandbox.script_tools`` (None when none is queued). A tool-call step has no content and
    ``finish_reason`` ``"tool_calls"``, its arguments billed as completion tokens; a final
    answer opens with the tool results and the searches' ``[n]`` markers.
    """
    if not isinstance(body, dict):
        raise ApiError(400, "Invalid request parameters: the body must be a JSON object")
    messages = _messages(body)
    media = read_media(messages)
    engine = requested_engine(body)
    offered = read_offered(body)
    check_history(messages)
    routed = route(body if offered.model is None else {**body, "model": offered.model},
                   byok=byok, down=down, needs=needs(media))
    model, endpoint = routed.model, routed.endpoint
    tier = served_tier(body, endpoint, routed.variant)
    if tier in ("flex", "priority"):  # billed at the tier's price from here on
        endpoint = endpoint.at_tier(tier)
    check_support(model, body)
    media = priced(media, model.input_modalities, endpoint.image_price, engine)
    cap = _positive_int(body, "max_completion_tokens")
    legacy_cap = _positive_int(body, "max_tokens")
    cap = cap if cap is not None else legacy_cap
    wanted = requested_length(messages)
    n_answer = max(0, wanted if wanted is not None else int(answer_length))
    # ``response_format`` json_schema: the smallest JSON value that fits (``_structured``);
    # a malformed one is a 400. ``[sandbox:echo]`` still wins.
    from ._structured import answer_tokens_for

    structured = answer_tokens_for(body, messages)
    if structured is not None:
        n_answer = len(structured)
    turn = plan_tools(offered, messages, endpoint, tool_step,
                      plain_text=structured is None and not is_echo(messages))
    content = (structured if structured is not None
               else answer_tokens(model.id, messages, n_answer))[:n_answer]
    if turn.calls:  # a tool-call step: the arguments are the completion
        content, n_answer = [], sum(call.tokens for call in turn.calls)
    elif turn.lead:
        content = [*turn.lead, *content]
        n_answer = len(content)
    n_reason = reasoning_length(n_answer) if model.reasoning else 0
    finish = "tool_calls" if turn.calls else "stop"
    if honour_cap and cap is not None and n_reason + n_answer > cap:
        finish = "length"
        n_reason = min(n_reason, cap)
        n_answer = cap - n_reason
        if turn.calls:  # the cap cuts the arguments, as it would cut an answer
            turn = replace(turn, calls=cut_calls(turn.calls, n_answer))
    reasoning_opts = body.get("reasoning")
    hidden = (isinstance(reasoning_opts, dict) and reasoning_opts.get("exclude") is True) or (
        body.get("include_reasoning") is False
    )
    prompt_tokens = (count_prompt_tokens(messages) + sum(m.tokens for m in media)
                     + tool_prompt_tokens(body, messages))
    max_out = cap if cap is not None else (
        endpoint.max_completion_tokens or max(1, model.context_length - prompt_tokens)
    )
    return ChatPlan(
        model=model,
        # the prices a request this long is billed at now (tiers, windows, discount)
        endpoint=endpoint.billed_at(prompt_tokens),
        messages=messages,
        stream=body.get("stream") is True,
        prompt_tokens=prompt_tokens,
        reasoning=reasoning_tokens(model.id, messages, n_reason),
        content=content[:n_answer],
        show_reasoning=not hidden,
        finish_reason=finish,
        max_out=max_out,
        body=body,
        byok=routed.byok,
        failed=routed.failed,
        media=tuple(media),
        tools=turn,
        service_tier=tier,
    )


#: ``ChatRequest.service_tier`` as the spec lists it (``fast`` is priority's alias).
SERVICE_TIERS = ("auto", "default", "fast", "flex", "priority", "scale")


def served_tier(body: dict[str, Any], endpoint: CatalogEndpoint, variant: str = "") -> str | None:
    """The tier that serves ``body`` at ``endpoint``: the one asked for when the endpoint
    sells it, else "default"; a ``:floor`` model takes a flex tier where there is one;
    None when nothing was asked (the response then carries no ``service_tier``). A value
    outside the spec's enum is a 400."""
    asked = body.get("service_tier")
    if asked is not None and asked not in SERVICE_TIERS:
        raise ApiError(400, "Invalid request parameters: service_tier must be one of "
                            + ", ".join(SERVICE_TIERS))
    asked = "priority" if asked == "fast" else asked
    if asked is None and variant == "floor":
        return "flex" if endpoint.tier_factor("flex") is not None else None
    if asked is None:
        return None
    return asked if endpoint.tier_factor(asked) is not None else "default"


def affordable_tokens(plan: ChatPlan, remaining: Decimal) -> int:
    """How many completion tokens ``remaining`` USD buys after the prompt (>= 0)."""
    price = plan.endpoint.completion_price
    left = (remaining - plan.prompt_tokens * plan.endpoint.prompt_price - plan.images_usd
            - plan.plugin_usd)
    if price <= 0:
        return plan.max_out if left >= 0 else 0
    return max(0, math.floor(left / price))


@dataclass(frozen=True)
class Price:
    """What a completion costs: the charge and the provider's list price split."""

    cost: Decimal
    upstream: Decimal
    upstream_prompt: Decimal
    upstream_completion: Decimal
    byok: bool


def price(endpoint: CatalogEndpoint, prompt_tokens: int, completion_tokens: int, *,
          byok: bool, free: bool, images_usd: Decimal = Decimal(0),
          plugin_usd: Decimal = Decimal(0)) -> Price:
    """Price a completion. ``free`` applies zero-completion insurance (no charge at all).

    Not BYOK: ``cost`` = list price = ``upstream``. BYOK: the provider bills the
    user the list price directly and OpenRouter charges a 5 % fee as ``cost``.
    ``images_usd`` (per-image prices) is the provider's, part of the upstream prompt cost;
    ``plugin_usd`` (file-parser engine fees) is OpenRouter's, added to ``cost`` in full.
    """
    if free:
        zero = Decimal(0)
        return Price(zero, zero, zero, zero, byok)
    p = prompt_tokens * endpoint.prompt_price + images_usd
    c = completion_tokens * endpoint.completion_price
    full = p + c
    return Price((full * BYOK_FEE if byok else full) + plugin_usd, full, p, c, byok)


def usage_json(prompt_tokens: int, completion_tokens: int, reasoning: int, cost: Price,
               server_tool_use: dict[str, int] | None = None) -> dict[str, Any]:
    """The ``usage`` object of a chat result or of the final stream chunk
    (``server_tool_use_details`` when web searches ran)."""
    usage: dict[str, Any] = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "cost": usd(cost.cost),
        "is_byok": cost.byok,
        "prompt_tokens_details": {
            "cached_tokens": 0,
            "cache_write_tokens": 0,
            "audio_tokens": 0,
            "video_tokens": 0,
        },
        "cost_details": {
            "upstream_inference_cost": usd(cost.upstream),
            "upstream_inference_prompt_cost": usd(cost.upstream_prompt),
            "upstream_inference_completions_cost": usd(cost.upstream_completion),
        },
        "completion_tokens_details": {
            "reasoning_tokens": reasoning,
            "image_tokens": 0,
            "audio_tokens": 0,
        },
    }
    if server_tool_use:
        usage["server_tool_use_details"] = dict(server_tool_use)
    return usage


def fingerprint(plan: ChatPlan) -> str | None:
    """OpenAI-hosted models carry a ``system_fingerprint``; others send none."""
    if plan.endpoint.provider_name not in ("OpenAI", "Azure"):
        return None
    return "fp_" + hashlib.sha256(plan.model.id.encode()).hexdigest()[:10]


class ChunkEncoder:
    """Renders the SSE events of one stream as bytes, from pre-built templates."""

    def __init__(self, plan: ChatPlan, gen_id: str, created: int, line_ending: str = "\n") -> None:
        self.plan = plan
        self.le = line_ending
        fp = fingerprint(plan)
        self._head = (
            '{"id":' + _esc(gen_id) + ',"provider":' + _esc(plan.endpoint.provider_name)
            + ',"model":' + _esc(plan.served_model) + ',"object":"chat.completion.chunk","created":'
            + str(created) + ',"choices":['
        )
        self._tail = ("]" + (',"system_fingerprint":' + _esc(fp) if fp else "")
                      + (',"service_tier":' + _esc(plan.service_tier) if plan.service_tier else "")
                      + "}")
        self._delta = self._head + '{"index":0,"delta":{"role":"assistant","content":'
        self._end_token = '},"finish_reason":null,"native_finish_reason":null,"logprobs":null}' + self._tail
        self._sep = line_ending * 2

    def _event(self, payload: str) -> bytes:
        return ("data: " + payload + self._sep).encode()

    def comment(self) -> bytes:
        """The keep-alive comment OpenRouter sends while it works."""
        return (": OPENROUTER PROCESSING" + self._sep).encode()

    def first(self) -> bytes:
        """The opening chunk: ``delta: {role: "assistant", content: ""}``."""
        return self._event(self._delta + '""' + self._end_token)

    def content(self, token: str) -> bytes:
        """One content token."""
        return ("data: " + self._delta + _esc(token) + self._end_token + self._sep).encode()

    def reasoning(self, token: str) -> bytes:
        """One reasoning token (``delta.reasoning`` + a ``reasoning.text`` detail)."""
        t = _esc(token)
        return (
            "data: " + self._delta + '"","reasoning":' + t
            + ',"reasoning_details":[{"type":"reasoning.text","text":' + t
            + ',"format":"unknown","index":0}]' + self._end_token + self._sep
        ).encode()

    def content_annotated(self, token: str, annotations: list[dict[str, Any]]) -> bytes:
        """The last content token, with the web search's ``delta.annotations``."""
        return self._event(self._delta + _esc(token) + ',"annotations":'
                           + json.dumps(annotations, ensure_ascii=False, separators=_COMPACT)
                           + self._end_token)

    def tool_call(self, piece: dict[str, Any]) -> bytes:
        """One ``delta.tool_calls`` piece (``ChatStreamToolCall``), content null."""
        return self._event(self._delta + 'null,"tool_calls":['
                           + json.dumps(piece, ensure_ascii=False, separators=_COMPACT) + "]"
                           + self._end_token)

    def finish(self) -> bytes:
        """The chunk carrying ``finish_reason`` and ``native_finish_reason``."""
        plan = self.plan
        return self._event(
            self._delta + '""},"finish_reason":' + _esc(plan.finish_reason)
            + ',"native_finish_reason":' + _esc(plan.native_finish_reason)
            + ',"logprobs":null}' + self._tail
        )

    def usage(self, usage: dict[str, Any]) -> bytes:
        """The final chunk: ``choices: []`` and the full ``usage``."""
        return self._event(self._head + self._tail[:-1] + ',"usage":' + json.dumps(usage, separators=_COMPACT) + "}")

    def error(self, code: int, message: str, error_type: str) -> bytes:
        """A mid-stream error: top-level ``error`` and a ``finish_reason: "error"`` choice."""
        err = json.dumps({"code": code, "message": message, "metadata": {"error_type": error_type}},
                         ensure_ascii=False, separators=_COMPACT)
        return self._event(
            self._head + '{"index":0,"delta":{"content":""},"finish_reason":"error",'
            '"native_finish_reason":"error"}' + self._tail[:-1] + ',"error":' + err + "}"
        )

    def malformed(self) -> bytes:
        """A ``data:`` line cut off mid-JSON, as a broken proxy would deliver it."""
        return ("data: " + self._delta + '"trunc' + self._sep).encode()

    def done(self) -> bytes:
        """The ``[DONE]`` sentinel."""
        return ("data: [DONE]" + self._sep).encode()


def reasoning_details(reasoning: str) -> list[dict[str, Any]]:
    """The ``reasoning_details`` of an answer that reasoned ``reasoning``: one
    ``reasoning.text`` detail (streamed as one piece per token, same ``index``)."""
    return [{"type": "reasoning.text", "text": reasoning, "format": "unknown", "index": 0}]


def chat_result(plan: ChatPlan, gen_id: str, created: int, content: str, reasoning: str,
                finish_reason: str, native: str, usage: dict[str, Any],
                error: dict[str, Any] | None = None) -> dict[str, Any]:
    """A non-streaming ``ChatResult`` body (with ``provider``, as real responses have)."""
    turn = plan.tools
    message: dict[str, Any] = {"role": "assistant", "content": None if turn.calls else content,
                               "refusal": None, "reasoning": reasoning or None}
    if reasoning:
        message["reasoning_details"] = reasoning_details(reasoning)
    if turn.calls:
        message["tool_calls"] = [call.wire() for call in turn.calls]
    if turn.citations:
        message["annotations"] = [dict(c) for c in turn.citations]
    choice: dict[str, Any] = {"index": 0, "logprobs": None, "finish_reason": finish_reason,
                              "native_finish_reason": native, "message": message}
    if error is not None:
        choice["error"] = error
    return {
        "id": gen_id,
        "provider": plan.endpoint.provider_name,
        "model": plan.served_model,
        "object": "chat.completion",
        "created": created,
        "system_fingerprint": fingerprint(plan),
        "choices": [choice],
        "usage": usage,
        **({"service_tier": plan.service_tier} if plan.service_tier else {}),
    }
