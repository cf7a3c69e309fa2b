"""The sandbox's caches: OpenRouter's response cache and the providers' prompt caches.

Response cache (documented by OpenRouter, not in the spec): a request with the header
``X-OpenRouter-Cache: true`` whose body (and key) repeats one answered within ``ttl``
seconds is replayed — the same answer, usage counters 0, not billed — and the response
says ``X-OpenRouter-Cache-Status: HIT`` (``MISS`` when it was asked for and answered anew).

Prompt caches, one per key, ``session_id``, provider and model: an endpoint with an
``input_cache_read`` price caches a prompt's prefix of at least ``MIN_PREFIX_TOKENS``
tokens. Providers that cache on their own (OpenAI) keep the whole prompt; models that need
explicit breakpoints (``anthropic/*``, ``google/gemini-*``) keep only the messages up to
the last one carrying a ``cache_control`` part. A later request whose messages begin with
a kept prefix reads it (``cached_tokens``, billed at ``input_cache_read``); a prefix kept
for the first time is written (``cache_write_tokens``, billed at ``input_cache_write``, for
the explicit kind only, as OpenRouter reports it). ``cache_control`` markers are not part
of a prefix's identity, and a string content equals the same text as one text part.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ._text import count_prompt_tokens

if TYPE_CHECKING:
    from ._chat import ChatPlan, Price

#: The request header that asks for the response cache, and the response header that answers.
ASK_HEADER = "X-OpenRouter-Cache"
STATUS_HEADER = "X-OpenRouter-Cache-Status"
#: The shortest prefix a provider caches (Anthropic's and OpenAI's minimum).
MIN_PREFIX_TOKENS = 1024
#: Models whose providers cache only up to explicit ``cache_control`` breakpoints.
EXPLICIT_PREFIXES = ("anthropic/", "google/gemini-")


def asked(headers: Any) -> bool:
    """The request asked for the response cache (``X-OpenRouter-Cache: true``)."""
    return str(headers.get(ASK_HEADER) or "").strip().lower() in ("true", "1")


def explicit(model_id: str) -> bool:
    """``model_id`` caches only up to ``cache_control`` breakpoints."""
    return model_id.startswith(EXPLICIT_PREFIXES)


@dataclass(frozen=True)
class Replay:
    """An answer kept by the response cache: its plan (content, model, provider) and id."""

    plan: ChatPlan
    generation_id: str
    stored_at: float


@dataclass(frozen=True)
class PromptCacheUse:
    """What one request read from and wrote to its provider's prompt cache, in tokens."""

    read: int = 0
    written: int = 0

    def discount(self, read_price: Decimal, prompt_price: Decimal, write_price: Decimal) -> Decimal:
        """What the cache saved against the prompt price (negative when a write cost more)."""
        return self.read * (prompt_price - read_price) - self.written * (write_price - prompt_price)


def _canonical(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):
        parts = [{k: v for k, v in p.items() if k != "cache_control"} if isinstance(p, dict) else p
                 for p in content]
        if all(isinstance(p, dict) and p.get("type") == "text" for p in parts):
            content = "".join(str(p.get("text", "")) for p in parts)
        else:
            content = parts
    rest = {k: v for k, v in message.items() if k not in ("content", "cache_control")}
    return json.dumps([rest, content], sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _has_breakpoint(message: dict[str, Any]) -> bool:
    content = message.get("content")
    return isinstance(content, list) and any(isinstance(p, dict) and "cache_control" in p
                                             for p in content)


def _prefix_hashes(messages: list[dict[str, Any]]) -> list[str]:
    """``h[i]``: the digest of ``messages[:i + 1]``."""
    digest = hashlib.sha256()
    out = []
    for message in messages:
        digest.update(_canonical(message).encode())
        digest.update(b"\x1e")
        out.append(digest.copy().hexdigest())
    return out


class Caches:
    """Both caches of one sandbox (cleared by ``Sandbox.reset``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        #: seconds a response stays replayable (OpenRouter's default is minutes)
        self.ttl = 300.0
        self._responses: dict[str, Replay] = {}
        self._prefixes: dict[tuple[str, str, str, str], dict[str, int]] = {}

    def clear(self) -> None:
        with self._lock:
            self.ttl = 300.0
            self._responses.clear()
            self._prefixes.clear()

    # -- the response cache ---------------------------------------------------------
    @staticmethod
    def _key(api_key: str, body: dict[str, Any]) -> str:
        text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(f"{api_key}\n{text}".encode()).hexdigest()

    def replay(self, api_key: str, body: dict[str, Any]) -> Replay | None:
        """The kept answer to this body, if one was kept within ``ttl``."""
        with self._lock:
            hit = self._responses.get(self._key(api_key, body))
            if hit is not None and time.monotonic() - hit.stored_at > self.ttl:
                return None
            return hit

    def keep(self, api_key: str, body: dict[str, Any], plan: ChatPlan, generation_id: str) -> None:
        with self._lock:
            self._responses[self._key(api_key, body)] = Replay(plan, generation_id, time.monotonic())

    # -- prompt caches ---------------------------------------------------------------
    def use_prompt_cache(self, api_key: str, plan: ChatPlan) -> PromptCacheUse:
        """Read the longest kept prefix of ``plan``'s messages and keep its cacheable one."""
        endpoint = plan.endpoint
        if not endpoint.cache_read:
            return PromptCacheUse()
        messages = [m for m in plan.messages if isinstance(m, dict)]
        session = plan.body.get("session_id")
        where = (api_key, session if isinstance(session, str) else "", endpoint.tag, plan.model.id)
        hashes = _prefix_hashes(messages)
        if explicit(plan.model.id):
            marked = [i for i, m in enumerate(messages) if _has_breakpoint(m)]
            end = marked[-1] + 1 if marked else 0
        else:
            end = len(messages)
        with self._lock:
            kept = self._prefixes.setdefault(where, {})
            read = next((kept[h] for h in reversed(hashes) if h in kept), 0)
            tokens = count_prompt_tokens(messages[:end]) if end else 0
            written = 0
            if end and tokens >= MIN_PREFIX_TOKENS and hashes[end - 1] not in kept:
                kept[hashes[end - 1]] = tokens
                written = max(0, tokens - read) if endpoint.cache_write else 0
        return PromptCacheUse(read=min(read, plan.prompt_tokens), written=written)


def priced_with_cache(cost: Price, use: PromptCacheUse, plan: ChatPlan, *, byok_fee: Decimal
                      ) -> tuple[Price, Decimal]:
    """``cost`` with the prompt cache's reads and writes billed at their own prices, and the
    ``cache_discount`` (what the cache saved; ``/generation`` reports it)."""
    from dataclasses import replace

    ep = plan.endpoint
    if (not use.read and not use.written) or not cost.upstream:
        return cost, Decimal(0)
    read_price = Decimal(ep.cache_read)
    write_price = Decimal(ep.cache_write) if ep.cache_write else ep.prompt_price
    discount = use.discount(read_price, ep.prompt_price, write_price)
    fee = byok_fee if cost.byok else Decimal(1)
    return replace(cost, cost=cost.cost - discount * fee, upstream=cost.upstream - discount,
                   upstream_prompt=cost.upstream_prompt - discount), discount
