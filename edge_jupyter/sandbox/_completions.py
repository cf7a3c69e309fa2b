"""``POST /api/v1/chat/completions``: checks, streaming, faults, billing, records.

Order of checks, as a client experiences OpenRouter: auth (401), permission
(403 for management keys), request validity (400), key cap spent (403),
reservation (402), then any injected fault, then the answer. A completion is
billed for what was actually sent: in full when it finishes, only the tokens
that reached the socket when the client goes away, nothing when it ends in
an error (zero-completion insurance).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ._accounts import Generation, KeyRecord
from ._activity import Billed, endpoint_id
from ._caches import STATUS_HEADER, PromptCacheUse, priced_with_cache
from ._caches import asked as cache_asked
from ._chat import (
    BYOK_FEE,
    ChatPlan,
    ChunkEncoder,
    affordable_tokens,
    chat_result,
    new_generation_id,
    plan_chat,
    price,
    reasoning_details,
    usage_json,
    usd,
)
from ._errors import DEFAULT_MESSAGES, ApiError, error_type
from ._faults import Fault, echo_message, send_gzip_bomb
from ._http import ChunkedWriter, Request, client_gone
from ._records import CompletionRecord
from ._structured import faulty_tokens
from ._tools import pieces

if TYPE_CHECKING:
    from ._routes import Handler

#: With no pacing, bytes are batched up to this size per socket write.
_BATCH = 32 * 1024
#: The fault kinds that strike after ``after_tokens`` tokens of a stream.
_AT_TOKEN = frozenset({"midstream", "drop", "malformed", "stall", "long_line", "echo_key"})
_CREDITS_URL = "https://openrouter.ai/settings/credits"
_KEYS_URL = "https://openrouter.ai/settings/keys"


def authenticate(h: Handler, req: Request) -> KeyRecord:
    """The calling key's record, or 401 exactly as OpenRouter words it."""
    token = req.bearer()
    if token is None:
        raise ApiError(401, "No auth credentials found")
    rec = h.sandbox.accounts.lookup(token)
    if rec is None:
        raise ApiError(401, "User not found")
    return rec


def _check_money(h: Handler, rec: KeyRecord, plan: ChatPlan) -> None:
    """403 when the key's cap is spent in its current window (``limit_reset``: the day,
    week or month, else the key's whole life); 402 when the worst case is unaffordable."""
    key_left = h.sandbox.accounts.limit_left(rec)
    if key_left is not None and key_left <= 0:
        window = rec.limit_reset or "total"
        raise ApiError(403, f"Key limit exceeded ({window} limit). Manage it using {_KEYS_URL}")
    meta = {"provider_name": None, "error_type": "payment_required"}
    remaining = h.sandbox.accounts.remaining
    if remaining < 0:
        raise ApiError(402, metadata=meta)
    need = plan.reservation()
    if key_left is not None and need > key_left:
        raise ApiError(402, (
            f"This request requires more credits, or fewer max_tokens. You requested up to "
            f"{plan.max_out} tokens, but can only afford {affordable_tokens(plan, key_left)}. "
            f"To increase, visit {_KEYS_URL} and create a key with a higher total limit"
        ), metadata=meta)
    if need > remaining:
        raise ApiError(402, (
            f"This request requires more credits, or fewer max_tokens. You requested up to "
            f"{plan.max_out} tokens, but can only afford {affordable_tokens(plan, remaining)}. "
            f"To increase, visit {_CREDITS_URL} and upgrade to a paid account"
        ), metadata=meta)


def _http_fault(fault: Fault) -> ApiError:
    headers: dict[str, str] = {}
    if fault.retry_after is not None:
        headers["Retry-After"] = str(int(fault.retry_after) if float(fault.retry_after).is_integer()
                                     else fault.retry_after)
    if fault.status == 429:
        reset_ms = int((time.time() + (fault.retry_after or 60)) * 1000)
        headers.update({"X-RateLimit-Limit": "20", "X-RateLimit-Remaining": "0",
                        "X-RateLimit-Reset": str(reset_ms)})
    meta: dict[str, Any] = {"error_type": fault.error_type or error_type(fault.status)}
    if fault.status >= 500 or fault.status == 429:
        meta["provider_name"] = None
    if fault.metadata is not None:  # a recorded body's metadata, exactly as it came
        meta = dict(fault.metadata)
    return ApiError(fault.status, fault.message, metadata=meta, headers=headers)


def _details_key(details: Any) -> str:
    return json.dumps(details, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _check_returned_details(sb: Any, messages: list[dict[str, Any]]) -> None:
    """Assistant messages' ``reasoning_details`` must be ones this sandbox sent, unmodified
    (OpenRouter: "sent back unmodified"; a provider checks their signatures): else 400."""
    for message in messages:
        if message.get("role") != "assistant" or "reasoning_details" not in message:
            continue
        ok = _details_key(message["reasoning_details"]) in sb.reasoning_details_sent
        sb.reasoning_details_checked.append(ok)
        if not ok:
            raise ApiError(400, "Invalid reasoning_details: an assistant message's "
                                "reasoning_details must be sent back exactly as they were received")


def handle_chat(h: Handler, req: Request) -> None:
    """Serve one chat completion request end to end."""
    rec = authenticate(h, req)
    if rec.management:
        raise ApiError(403, "Management keys cannot be used for inference. "
                            f"Create an API key at {_KEYS_URL}")
    try:
        body = req.json()
    except ValueError:
        raise ApiError(400, "Invalid request parameters: the body is not valid JSON") from None
    sb = h.sandbox
    if cache_asked(req.headers) and isinstance(body, dict):
        kept = sb.caches.replay(rec.key, body)
        if kept is not None:  # OpenRouter's response cache: replayed, not billed
            run = _Run(h, rec, kept.plan, None, cache_status="HIT", source_id=kept.generation_id)
            run.stream() if kept.plan.stream else run.respond()
            return
    step = sb.next_tool_step()
    plan = plan_chat(body, sb.answer_length, byok=sb.byok_providers, down=sb.down_providers,
                     tool_step=step)
    _check_returned_details(sb, plan.messages)
    _check_money(h, rec, plan)
    fault = sb.faults.take()
    if fault is not None and fault.kind == "http":
        raise _http_fault(fault)
    if fault is not None and fault.kind == "echo_key" and fault.where == "http":
        raise ApiError(fault.status, echo_message(rec.key, fault.encoding or "exact"))
    if fault is not None and fault.kind == "gzip_bomb":
        send_gzip_bomb(h, fault.status, fault.size)
        return
    if fault is not None and fault.kind == "overrun":
        plan = plan_chat(body, sb.answer_length, byok=sb.byok_providers, down=sb.down_providers,
                         honour_cap=False, tool_step=step)
    if fault is not None and fault.kind == "invalid_json":
        plan = replace(plan, content=faulty_tokens(body, plan.content))
    if plan.tools.scripted:  # served (not refused): the scripted step is used up
        sb.take_tool_step()
    run = _Run(h, rec, plan, fault, cache_use=sb.caches.use_prompt_cache(rec.key, plan),
               cache_status="MISS" if cache_asked(req.headers) else None)
    if plan.stream:
        run.stream()
    else:
        run.respond()


@dataclass
class _Outcome:
    reasoning_sent: int = 0
    content_sent: int = 0
    #: completion tokens of the tool calls' arguments sent (a tool-call step has no content)
    tool_sent: int = 0
    finish_reason: str | None = None
    native: str | None = None
    cancelled: bool = False
    usage_sent: dict[str, Any] | None = None


class _Run:
    """One completion in flight: what was sent so far, and how it ended."""

    def __init__(self, h: Handler, rec: KeyRecord, plan: ChatPlan, fault: Fault | None, *,
                 cache_use: PromptCacheUse | None = None, cache_status: str | None = None,
                 source_id: str | None = None) -> None:
        self.h, self.rec, self.plan, self.fault = h, rec, plan, fault
        #: the prompt cache's reads and writes (``_caches``); the response cache's answer
        #: ("HIT", "MISS", None: not asked) and, for a hit, the generation it replays
        self.cache_use = cache_use or PromptCacheUse()
        self.cache_status, self.source_id = cache_status, source_id
        self.cache_discount: Decimal | None = None
        self.started = time.time()
        #: when the request began on the billing clock (``sb.advance_clock`` moves it):
        #: ``/activity`` dates the call by it and ``/generation`` says it as created_at, as
        #: a ledger dates a call by its start (a call across midnight is the day it began)
        self.begun = h.sandbox.accounts.clock.now()
        self.t0 = time.monotonic()
        self.created = int(self.started)
        self.gen_id = new_generation_id(self.started)
        # BYOK: the provider is one whose key the user stored (sb.byok_providers), or a fault says so.
        self.byok = plan.byok or (fault is not None and fault.kind == "byok")
        self.out = _Outcome()
        self.finished = False

    # -- billing and records ------------------------------------------------------
    def _usage(self, finish: str | None) -> tuple[dict[str, Any], Any]:
        o, plan = self.out, self.plan
        if self.cache_status == "HIT":  # a replayed answer: usage counters 0, not billed
            zero = price(plan.endpoint, 0, 0, byok=False, free=True)
            return usage_json(0, 0, 0, zero), zero
        completion = o.reasoning_sent + o.content_sent + o.tool_sent
        free = finish == "error" or (completion == 0 and finish is None)
        cost = price(plan.endpoint, plan.prompt_tokens, completion, byok=self.byok, free=free,
                     images_usd=plan.images_usd, plugin_usd=plan.plugin_usd)
        cost, discount = priced_with_cache(cost, self.cache_use, plan, byok_fee=BYOK_FEE)
        if self.cache_use.read or self.cache_use.written:
            self.cache_discount = discount
        usage = usage_json(plan.prompt_tokens, completion, o.reasoning_sent, cost,
                           plan.tools.server_tool_use)
        usage["prompt_tokens_details"]["cached_tokens"] = self.cache_use.read
        usage["prompt_tokens_details"]["cache_write_tokens"] = self.cache_use.written
        return usage, cost

    def _billed(self) -> Billed | None:
        """The call as ``/activity`` counts it; None when OpenRouter bills nothing for it (a
        response-cache replay, an error before any token: zero-completion insurance)."""
        o, plan = self.out, self.plan
        completion = o.reasoning_sent + o.content_sent + o.tool_sent
        if self.cache_status == "HIT" or o.finish_reason == "error" or (
                completion == 0 and o.finish_reason is None):
            return None
        return Billed(model=plan.model.id, permaslug=plan.model.id,
                      endpoint_id=endpoint_id(plan.endpoint.tag),
                      provider_name=plan.endpoint.provider_name, prompt_tokens=plan.prompt_tokens,
                      completion_tokens=completion, reasoning_tokens=o.reasoning_sent)

    def _finish(self) -> None:
        """Charge, remember the generation, and append the completion record (once)."""
        sb, o, plan = self.h.sandbox, self.out, self.plan
        self.finished = True
        if plan.show_reasoning and o.reasoning_sent:  # what the client got, merged: see _chat
            sb.reasoning_details_sent.add(_details_key(
                reasoning_details("".join(plan.reasoning[:o.reasoning_sent]))))
        usage, cost = self._usage(o.finish_reason)
        sb.accounts.charge(self.rec, cost.cost, cost.upstream if self.byok else Decimal(0),
                           self._billed(), begun=self.begun)
        ended = time.monotonic()
        latency = round((ended - self.t0) * 1000, 1)
        headers = self.h.headers
        data = {
            "id": self.gen_id,
            "upstream_id": "chatcmpl-" + self.gen_id[-20:],
            "request_id": "req-" + self.gen_id[4:],
            "total_cost": usd(cost.cost),
            "usage": usd(cost.cost),
            "upstream_inference_cost": usd(cost.upstream) if self.byok else None,
            "cache_discount": usd(self.cache_discount) if self.cache_discount is not None else None,
            "is_byok": self.byok,
            "created_at": self.begun.isoformat(),
            "model": plan.model.id,
            "app_id": None,
            "provider_name": plan.endpoint.provider_name,
            "streamed": plan.stream,
            "cancelled": o.cancelled,
            "finish_reason": o.finish_reason,
            "native_finish_reason": o.native,
            "latency": latency,
            "moderation_latency": None,
            "generation_time": max(0.0, round(latency - 1.0, 1)),
            "tokens_prompt": plan.prompt_tokens,
            "tokens_completion": o.reasoning_sent + o.content_sent + o.tool_sent,
            "native_tokens_prompt": plan.prompt_tokens,
            "native_tokens_completion": o.reasoning_sent + o.content_sent + o.tool_sent,
            "native_tokens_completion_images": 0,
            "native_tokens_reasoning": o.reasoning_sent,
            "native_tokens_cached": self.cache_use.read,
            "num_media_prompt": len(plan.media),
            "num_input_audio_prompt": 0,
            "num_media_completion": 0,
            "num_search_results": len(plan.tools.citations),
            "num_fetches": 0,
            "web_search_engine": plan.tools.engine,
            "server_tool_use_details": plan.tools.server_tool_use,
            "origin": headers.get("Origin") or headers.get("HTTP-Referer") or "",
            "http_referer": headers.get("HTTP-Referer"),
            "user_agent": headers.get("User-Agent"),
            "external_user": plan.body.get("user") if isinstance(plan.body.get("user"), str) else None,
            "session_id": plan.body.get("session_id") or headers.get("x-session-id"),
            "preset_id": None,
            "router": None,
            "service_tier": None,
            "data_region": "global",
            "api_type": "completions",
            "provider_responses": [*({  # the endpoints that failed first (no upstream id)
                "endpoint_id": endpoint_id(ep.tag),
                "model_permaslug": plan.model.id,
                "provider_name": ep.provider_name,
                "status": 502,
                "latency": 1.0,
                "is_byok": bool(ep.names() & sb.byok_providers),
            } for ep in plan.failed), {
                "id": "chatcmpl-" + self.gen_id[-20:],
                "endpoint_id": endpoint_id(plan.endpoint.tag),
                "model_permaslug": plan.model.id,
                "provider_name": plan.endpoint.provider_name,
                "status": 200,
                "latency": latency,
                "is_byok": self.byok,
            }],
            "response_cache_source_id": self.source_id,
            "workspace_id": None,
        }
        if self.cache_status == "HIT":  # nothing was asked of a provider
            data.update({name: 0 for name in ("tokens_prompt", "tokens_completion",
                                              "native_tokens_prompt", "native_tokens_completion",
                                              "native_tokens_reasoning")})
        elif (self.cache_status == "MISS" and not o.cancelled and self.fault is None
              and o.finish_reason in ("stop", "length", "tool_calls")):
            sb.caches.keep(self.rec.key, plan.body, plan, self.gen_id)
        fault = self.fault
        if fault is not None and fault.kind == "usage" and fault.in_generation and fault.figures:
            names = {"cost": "total_cost", "prompt_tokens": "native_tokens_prompt",
                     "completion_tokens": "native_tokens_completion"}
            data.update({names.get(k, k): v for k, v in fault.figures.items()})
        sb.accounts.add_generation(Generation(
            self.gen_id, self.rec.key, data, ready_at=ended + float(sb.generation_ready_after)))
        sb._record_completion(CompletionRecord(
            id=self.gen_id,
            model=plan.model.id,
            provider=plan.endpoint.provider_name,
            text="".join(plan.content[:o.content_sent]),
            reasoning="".join(plan.reasoning[:o.reasoning_sent]) if plan.show_reasoning else "",
            usage=o.usage_sent if o.usage_sent is not None else usage,
            cancelled=o.cancelled,
            finish_reason=o.finish_reason,
            native_finish_reason=o.native,
            stream=plan.stream,
            messages=plan.messages,
            fault=self.fault.kind if self.fault else None,
            is_byok=self.byok,
            started=self.started,
            ended=time.time(),
            request=plan.body,
            media=list(plan.media),
            tool_calls=[call.record() for call in plan.tools.calls],
            web_searches=plan.tools.searches,
            citations=[dict(c) for c in plan.tools.citations],
            service_tier=plan.service_tier,
        ))

    # -- streaming ----------------------------------------------------------------
    def stream(self) -> None:
        """Send the SSE stream, applying pacing and any stream fault."""
        h, sb, plan, o = self.h, self.h.sandbox, self.plan, self.out
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.send_header("Cache-Control", "no-cache")
        h.send_header("Transfer-Encoding", "chunked")
        h.send_header("X-Generation-Id", self.gen_id)
        if self.cache_status:
            h.send_header(STATUS_HEADER, self.cache_status)
        h.cors()
        h.end_headers()
        enc = ChunkEncoder(plan, self.gen_id, self.created, sb.line_ending or "\n")
        writer = ChunkedWriter(h.connection, sb.write_chunk_bytes)
        try:
            self._pump(enc, writer)
        except OSError:  # BrokenPipe / ConnectionReset: the client went away
            h.close_connection = True
            if not self.finished:
                o.cancelled = True
                o.finish_reason = o.native = None
                self._finish()

    def _pump(self, enc: ChunkEncoder, writer: ChunkedWriter) -> None:
        h, sb, plan, o, fault = self.h, self.h.sandbox, self.plan, self.out, self.fault
        buf = bytearray()
        pend_r = pend_c = pend_t = 0
        calls = pieces(plan.tools.calls)
        cited = [dict(c) for c in plan.tools.citations]

        def flush() -> None:
            nonlocal pend_r, pend_c, pend_t
            if buf:
                writer.send(buf)
                buf.clear()
            o.reasoning_sent += pend_r
            o.content_sent += pend_c
            o.tool_sent += pend_t
            pend_r = pend_c = pend_t = 0

        buf += enc.comment()
        buf += enc.first()
        flush()
        n_r = len(plan.reasoning)
        total = n_r + len(calls or plan.content)
        at = fault.after_tokens if fault is not None and fault.kind in _AT_TOKEN else -1
        next_at = time.monotonic()
        for i in range(total + 1):
            if i == at:
                flush()
                assert fault is not None
                if fault.kind in ("midstream", "echo_key"):
                    o.finish_reason = o.native = "error"
                    self._finish()
                    message = (echo_message(self.rec.key, fault.encoding or "exact")
                               if fault.kind == "echo_key" else fault.message)
                    buf += enc.error(fault.status, message or _default_message(fault.status),
                                     fault.error_type or error_type(fault.status))
                    flush()
                    writer.end()
                    return
                if fault.kind == "drop":
                    o.finish_reason, o.native = "error", "connection_dropped"
                    self._finish()
                    h.abort_connection()
                    return
                if fault.kind == "malformed":
                    buf += enc.malformed()
                    flush()
                elif fault.kind == "long_line":
                    _send_long_line(writer, fault.size, enc.le)
                elif fault.kind == "stall" and client_gone(h.connection, fault.seconds):
                    raise ConnectionResetError("client went away during a stall")
            if i == total or sb.server_stopping:
                break
            tps = float(sb.tokens_per_second or 0.0)
            if tps > 0:
                flush()
                if i:
                    next_at += 1.0 / tps
                    delay = next_at - time.monotonic()
                    if delay < -0.25:
                        next_at = time.monotonic()  # fell behind (or pacing was just enabled)
                    elif delay > 0 and client_gone(h.connection, delay):
                        raise ConnectionResetError("client went away")
                else:
                    next_at = time.monotonic()
            if i < n_r:
                if plan.show_reasoning:
                    buf += enc.reasoning(plan.reasoning[i])
                pend_r += 1
            elif calls:
                buf += enc.tool_call(calls[i - n_r].delta)
                pend_t += calls[i - n_r].tokens
            elif cited and i == total - 1:  # the citations ride on the last content chunk
                buf += enc.content_annotated(plan.content[i - n_r], cited)
                pend_c += 1
            else:
                buf += enc.content(plan.content[i - n_r])
                pend_c += 1
            if tps > 0 or len(buf) >= _BATCH:
                flush()
        if sb.server_stopping:
            raise ConnectionResetError("sandbox stopping")
        if cited and not plan.content:  # no content to carry them: a chunk of their own
            buf += enc.content_annotated("", cited)
        flush()  # every token is out: the completion is complete from here on
        o.finish_reason, o.native = plan.finish_reason, plan.native_finish_reason
        usage, _ = self._usage(o.finish_reason)
        sent = self._hostile_usage(usage, "usage")
        o.usage_sent = sent
        # Record before the trailer leaves, so a client that has read [DONE]
        # always finds the record; a trailer lost on the wire changes nothing
        # (the provider finished, so OpenRouter bills in full too).
        self._finish()
        buf += enc.finish()
        buf += enc.comment()
        buf += enc.usage(sent)
        if fault is not None and fault.kind == "second_usage":
            buf += enc.usage(self._hostile_usage(usage, "second_usage"))
        buf += enc.done()
        flush()
        writer.end()

    def _hostile_usage(self, usage: dict[str, Any], kind: str) -> dict[str, Any]:
        """``usage`` with a ``usage``/``second_usage`` fault's figures laid over it."""
        fault = self.fault
        if fault is None or fault.kind != kind or not fault.figures:
            return usage
        return {**usage, **fault.figures}

    # -- non-streaming ------------------------------------------------------------
    def respond(self) -> None:
        """Send one ``ChatResult`` (after the time the tokens would take)."""
        h, sb, plan, o, fault = self.h, self.h.sandbox, self.plan, self.out, self.fault
        n_r = len(plan.reasoning)
        n_c = sum(call.tokens for call in plan.tools.calls) if plan.tools.calls else len(plan.content)
        kind = fault.kind if fault is not None else None
        cut = min(fault.after_tokens, n_r + n_c) if fault is not None and kind in ("midstream", "drop") else None
        tokens = cut if cut is not None else n_r + n_c
        if kind == "stall" and fault is not None:
            time.sleep(fault.seconds)
        tps = float(sb.tokens_per_second or 0.0)
        if tps > 0 and tokens:
            time.sleep(tokens / tps)
        o.reasoning_sent = min(tokens, n_r)
        if plan.tools.calls:
            o.tool_sent = tokens - o.reasoning_sent
        else:
            o.content_sent = tokens - o.reasoning_sent
        headers = {"X-Generation-Id": self.gen_id}
        if self.cache_status:
            headers[STATUS_HEADER] = self.cache_status
        error = None
        if kind == "drop":
            o.finish_reason, o.native = "error", "connection_dropped"
            h.abort_connection()
            self._finish()
            return
        if kind == "midstream" and fault is not None:
            o.finish_reason = o.native = "error"
            error = {"code": fault.status, "message": fault.message or _default_message(fault.status),
                     "metadata": {"error_type": fault.error_type or error_type(fault.status)}}
        else:
            o.finish_reason, o.native = plan.finish_reason, plan.native_finish_reason
        usage, _ = self._usage(o.finish_reason)
        usage = self._hostile_usage(usage, "usage")
        reasoning = "".join(plan.reasoning[:o.reasoning_sent]) if plan.show_reasoning else ""
        body = chat_result(plan, self.gen_id, self.created, "".join(plan.content[:o.content_sent]),
                           reasoning, o.finish_reason or "stop", o.native or "stop", usage, error)
        o.usage_sent = usage
        self._finish()  # billed in full even if the client has gone: non-streams can't cancel
        try:
            if kind == "malformed":
                data = json.dumps(body, ensure_ascii=False).encode()
                h.send_bytes(200, data[: len(data) // 2], "application/json", headers)
            else:
                h.send_json(200, body, headers)
        except OSError:
            h.close_connection = True


def _send_long_line(writer: ChunkedWriter, size: int, line_ending: str) -> None:
    """One ``data:`` line of ``size`` bytes, written in 64 KiB pieces (never held whole)."""
    head = b'data: {"choices":[{"index":0,"delta":{"content":"'
    tail = b'"}}]}' + (line_ending * 2).encode()
    piece = b"a" * (64 * 1024)
    writer.send(head)
    left = max(0, size - len(head) - len(tail))
    while left > 0:
        writer.send(piece[:left])
        left -= len(piece)
    writer.send(tail)


def _default_message(status: int) -> str:
    return DEFAULT_MESSAGES.get(status, "Provider returned error")
