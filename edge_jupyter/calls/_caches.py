"""Paying less through caches: OpenRouter's response cache, sticky sessions for named chats,
``cache_control`` breakpoints, and what the prompt cache saved.

- ``--or-cache`` / ``or_cache=`` / ``EdgeMagics.openrouter_cache``: the request header
  ``X-OpenRouter-Cache: true``; a hit (``X-OpenRouter-Cache-Status: HIT``, or usage counters
  0 for an answer that came) is not billed: its row costs 0 and its cost line says so.
- A named chat's bodies carry a ``session_id`` (the spec's ``ChatRequest`` field), stable
  across kernels for one ledger, so OpenRouter routes its turns to one provider and that
  provider's prompt cache hits.
- ``--cache-prompt``: ``cache_control`` breakpoints for the models that need them explicit.
- The saving: ``/generation``'s ``cache_discount`` when OpenRouter gives it (exact), else
  ``cached_tokens × (prompt price − input_cache_read)`` from ``/models`` (computed).
"""

from __future__ import annotations

import copy
import hashlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..openrouter import Completion, OpenRouterClient
    from ..record import CallRecord

#: Models whose providers cache only up to explicit ``cache_control`` breakpoints (the
#: others cache long prompts on their own).
EXPLICIT_CACHE_PREFIXES = ("anthropic/", "google/gemini-")
#: Anthropic's limit per request.
MAX_BREAKPOINTS = 4
#: A part shorter than this (about 1,024 tokens, the providers' minimum) is not worth one,
#: except the system prompt, which always comes first.
MIN_BREAKPOINT_CHARS = 4096
BREAKPOINT: dict[str, str] = {"type": "ephemeral"}
#: How long the exact saving is waited for in ``/generation`` (it lags the answer a little):
#: short, because the cost line waits with it; after that the saving is computed and says so.
DISCOUNT_WAIT_S = 1.0


def response_cache_headers(or_cache: bool) -> dict[str, str] | None:
    """The request headers that ask for OpenRouter's response cache (None: not asked)."""
    if not or_cache:
        return None
    from ..openrouter import RESPONSE_CACHE_HEADER

    return {RESPONSE_CACHE_HEADER: "true"}


def session_id_for(chat: str) -> str:
    """The ``session_id`` of the named chat ``chat``: the same in every kernel using this
    ledger, different for another ledger (another user's, another data directory), and
    saying nothing of the name itself."""
    from ._recording import ledger

    book = ledger()
    book.ensure_open()
    digest = hashlib.sha256(f"{book.ledger_id}\n{chat}".encode()).hexdigest()
    return f"edge-{digest}"[:64]


def needs_breakpoints(model: str) -> bool:
    """``model`` caches only what ``cache_control`` marks (Anthropic's, Gemini's)."""
    return model.startswith(EXPLICIT_CACHE_PREFIXES)


def _text_parts(message: dict[str, Any]) -> list[tuple[int | None, str]]:
    """(part index, text) of a message's text: None for a plain string content."""
    content = message.get("content")
    if isinstance(content, str):
        return [(None, content)] if content else []
    if isinstance(content, list):
        return [(i, str(p.get("text") or "")) for i, p in enumerate(content)
                if isinstance(p, dict) and p.get("type") == "text" and p.get("text")]
    return []


def _marked(messages: list[dict[str, Any]]) -> int:
    return sum(1 for m in messages if isinstance(m.get("content"), list)
               for p in m["content"] if isinstance(p, dict) and "cache_control" in p)


def add_breakpoints(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` with ``cache_control`` breakpoints, for a model that needs them: on the system
    prompt, then on the longest text parts (at least ``MIN_BREAKPOINT_CHARS``) of the user
    messages, the current prompt included, at most ``MAX_BREAKPOINTS`` in all (those the
    body has already count). Other models' bodies come back unchanged; so does a body with
    nothing long enough. The messages are copied: the conversation keeps its own."""
    if not needs_breakpoints(str(body.get("model") or "")):
        return body
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    room = MAX_BREAKPOINTS - _marked(messages)
    if room <= 0:
        return body
    system: list[tuple[int, int | None]] = []
    long: list[tuple[int, int, int | None]] = []
    for i, message in enumerate(messages):
        for part, text in _text_parts(message):
            if message.get("role") == "system":
                system.append((i, part))
            elif message.get("role") == "user" and len(text) >= MIN_BREAKPOINT_CHARS:
                long.append((len(text), i, part))
    long.sort(key=lambda t: (-t[0], t[1]))
    chosen = [*system[-1:], *((i, part) for _, i, part in long)][:room]
    if not chosen:
        return body
    out = {**body, "messages": copy.deepcopy(body["messages"])}
    for i, part in chosen:
        message = out["messages"][i]
        if part is None:
            message["content"] = [{"type": "text", "text": message["content"],
                                   "cache_control": dict(BREAKPOINT)}]
        else:
            message["content"][part] = {**message["content"][part], "cache_control": dict(BREAKPOINT)}
    return out


def is_response_cache_hit(record: CallRecord, status: str | None, asked: bool, *,
                          usage_seen: bool = True) -> bool:
    """The answer came from OpenRouter's response cache: its header says so, or it was asked
    for and an answer came with a usage whose counters are 0 (the documented sign of a hit).
    No usage at all is no sign: a lost usage chunk leaves the same zeros, and such a call is
    priced from ``/generation`` instead."""
    if status == "HIT":
        return True
    return (asked and usage_seen and status is None and record.status == "ok"
            and bool(record.text) and record.prompt_tokens == 0
            and record.completion_tokens == 0 and not record.cost_usd)


def settle(record: Any, completion: Completion, client: OpenRouterClient | None, *,
           asked: bool, wait_s: float = DISCOUNT_WAIT_S) -> None:
    """After a call: mark a response-cache hit (its row costs 0, and saved what the answer it
    replays cost), else settle what the prompt cache saved (``settle_saving``) and what the
    flex tier saved (``_savings``)."""
    from . import _savings

    if is_response_cache_hit(record, completion.cache_status, asked,
                             usage_seen=completion.usage is not None):
        record.openrouter_cache = True
        if record.cost_usd is None:  # a hit is not billed: no usage chunk says otherwise
            record.cost_usd = 0.0
        _savings.response_cache(record, client, min(wait_s, DISCOUNT_WAIT_S))
        return
    usage = completion.usage
    settle_saving(record, client, cache_write_tokens=usage.cache_write_tokens if usage else 0,
                  wait_s=min(wait_s, DISCOUNT_WAIT_S))
    if record.cache_saved_usd is not None and record.cache_saved_usd > 0:
        _savings.note(record, "prompt_cache", record.cache_saved_usd,
                      exact=not record.cache_saved_computed)
    _savings.flex(record, client)


def settle_saving(record: Any, client: OpenRouterClient | None, *, cache_write_tokens: int = 0,
                  wait_s: float = DISCOUNT_WAIT_S) -> None:
    """Fill ``record.cache_saved_usd`` (and ``cache_saved_computed``) for a call that read
    from or wrote to a prompt cache: ``/generation``'s ``cache_discount`` when it comes
    within ``wait_s``, else computed from the model's ``input_cache_read`` price."""
    record.cache_write_tokens = cache_write_tokens
    if not record.cached_tokens and not cache_write_tokens:
        return
    if client is None or record.is_byok:
        return
    if record.generation_id and wait_s > 0:
        from ..openrouter import OpenRouterError

        try:
            gen = client.wait_for_generation(record.generation_id, timeout=wait_s)
        except (OpenRouterError, KeyboardInterrupt):
            gen = None
        if gen is not None and gen.cache_discount is not None:
            record.cache_saved_usd, record.cache_saved_computed = gen.cache_discount, False
            return
    from ._checks import model_info

    info = model_info(client, record.model)
    pricing = getattr(info, "pricing", None)
    read = getattr(pricing, "cache_read", None)
    prompt = getattr(pricing, "prompt", None)
    if read is None or prompt is None or not record.cached_tokens:
        return
    record.cache_saved_usd = record.cached_tokens * (prompt - read)
    record.cache_saved_computed = True
