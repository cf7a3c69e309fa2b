"""OpenRouter's Batch API (beta): ``/api/beta/batches``, as its batch quickstart documents it.

Not in the OpenAPI spec, so the shapes are kept in one place (this module) and the
timing is a knob:

* ``POST /api/beta/batches`` ``{"endpoint": "/v1/chat/completions", "model", "requests":
  [{"custom_id", "body"}]}``: the keys in that order (``requests`` first is a 400), unique
  ``custom_id``s, every body's own ``model`` (if any) the batch's, text only (an image or
  file part is a 400). Answers ``202`` with the batch object.
* ``GET /api/beta/batches/{id}``: the status moves ``validating → in_progress → finalizing →
  completed``, one step every ``Sandbox.batch_seconds_per_status`` seconds
  (``Sandbox.batch_hold = True`` keeps it ``in_progress``: a test's "still processing");
  a completed batch carries ``results`` inline, one per ``custom_id`` with exactly one of
  ``response {status_code, request_id, body}`` or ``error``, and ``usage.cost``.
* ``POST /api/beta/batches/{id}/cancel``; ``GET /api/beta/batches`` (this key's, newest
  first, without results).

Each row is answered as a non-streamed chat completion would be (``_chat.plan_chat``), billed
at ``BATCH_SHARE`` of the per-token prices when the batch completes, and findable in
``/generation`` by its ``body.id`` (``gen-batch-…``). ``[sandbox:fail]`` in a row's last user
message makes that row fail (not billed).
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ._accounts import Generation, KeyRecord
from ._activity import Billed, endpoint_id
from ._chat import chat_result, plan_chat, price, usage_json, usd
from ._errors import ApiError

if TYPE_CHECKING:
    from ._sandbox import Sandbox

#: What a batch row pays of the per-token price ("typically 50 %").
BATCH_SHARE = Decimal("0.5")
ENDPOINT = "/v1/chat/completions"
STATUSES = ("validating", "in_progress", "finalizing", "completed")
FAIL_DIRECTIVE = "[sandbox:fail]"
_MEDIA_PARTS = frozenset({"image_url", "file", "input_audio", "input_image", "input_file"})


@dataclass
class Batch:
    id: str
    key: str
    model: str
    requests: list[tuple[str, dict[str, Any]]]
    created_at: int
    started: float = field(default_factory=time.monotonic)
    #: once completed (or cancelled): the final status, results and cost
    final: str | None = None
    finalized_at: int | None = None
    results: list[dict[str, Any]] | None = None
    cost: Decimal = Decimal(0)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    failed: int = 0


def _new_id() -> str:
    return "batch_" + secrets.token_hex(12)


def _has_media(body: dict[str, Any]) -> bool:
    for message in body.get("messages") or ():
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list) and any(
                isinstance(p, dict) and p.get("type") in _MEDIA_PARTS for p in content):
            return True
    return False


def _last_user_text(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def checked(body: Any) -> tuple[str, list[tuple[str, dict[str, Any]]]]:
    """The model and the (custom_id, body) rows of a create request, or a 400."""
    if not isinstance(body, dict):
        raise ApiError(400, "Invalid request parameters: the body must be a JSON object")
    keys = list(body)
    for name in ("endpoint", "model", "requests"):
        if name not in body:
            raise ApiError(400, f"Invalid request parameters: {name} is required")
    if keys.index("requests") < max(keys.index("endpoint"), keys.index("model")):
        raise ApiError(400, "Invalid request parameters: endpoint and model must come before "
                            "requests in the body")
    if body["endpoint"] != ENDPOINT:
        raise ApiError(400, f"Invalid request parameters: endpoint must be {ENDPOINT!r}")
    model = body["model"]
    requests = body["requests"]
    if not isinstance(model, str) or not model:
        raise ApiError(400, "Invalid request parameters: model must be a model id")
    if not isinstance(requests, list) or not requests:
        raise ApiError(400, "Invalid request parameters: requests must be a non-empty list")
    rows: list[tuple[str, dict[str, Any]]] = []
    seen: set[str] = set()
    for n, item in enumerate(requests):
        if not isinstance(item, dict) or not isinstance(item.get("custom_id"), str) \
                or not isinstance(item.get("body"), dict):
            raise ApiError(400, f"Invalid request parameters: requests[{n}] needs a custom_id "
                                "string and a body object")
        custom_id, row = item["custom_id"], item["body"]
        if custom_id in seen:
            raise ApiError(400, f"Invalid request parameters: custom_id {custom_id!r} is not unique")
        seen.add(custom_id)
        if row.get("model", model) != model:
            raise ApiError(400, f"Invalid request parameters: requests[{n}].body.model "
                                f"{row.get('model')!r} differs from the batch's model {model!r}")
        if _has_media(row):
            raise ApiError(400, f"Invalid request parameters: requests[{n}] ({custom_id}) has an "
                                "image or file part; the Batch API takes text only")
        rows.append((custom_id, row))
    return model, rows


class BatchStore:
    """Every batch of the sandbox, behind one lock (rows are answered once, on completion)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._batches: dict[str, Batch] = {}
        #: how many batches were created (a test's "submitted once")
        self.created = 0

    def clear(self) -> None:
        with self._lock:
            self._batches.clear()
            self.created = 0

    def create(self, sb: Sandbox, rec: KeyRecord, body: Any) -> dict[str, Any]:
        model, rows = checked(body)
        from ._catalog import MODELS

        if model.split(":", 1)[0] not in MODELS and model not in MODELS:
            raise ApiError(404, f"Model {model} not found")
        batch = Batch(_new_id(), rec.key, model, rows, int(time.time()))
        with self._lock:
            self._batches[batch.id] = batch
            self.created += 1
        return self.view(sb, batch, results=False)

    def find(self, batch_id: str, key: str) -> Batch:
        with self._lock:
            batch = self._batches.get(batch_id)
        if batch is None or batch.key != key:
            raise ApiError(404, "Batch not found")
        return batch

    def mine(self, key: str) -> list[Batch]:
        with self._lock:
            found = [b for b in self._batches.values() if b.key == key]
        return sorted(found, key=lambda b: (b.created_at, b.started), reverse=True)

    def cancel(self, sb: Sandbox, batch: Batch) -> dict[str, Any]:
        with self._lock:
            if batch.final is None and self._stage(sb, batch) < len(STATUSES) - 1:
                batch.final, batch.finalized_at, batch.results = "cancelled", int(time.time()), []
        return self.view(sb, batch)

    # -- status and results ---------------------------------------------------------------
    @staticmethod
    def _stage(sb: Sandbox, batch: Batch) -> int:
        step = float(sb.batch_seconds_per_status)
        stage = len(STATUSES) - 1 if step <= 0 else int((time.monotonic() - batch.started) / step)
        if sb.batch_hold:
            stage = min(stage, 1)
        return min(stage, len(STATUSES) - 1)

    def view(self, sb: Sandbox, batch: Batch, *, results: bool = True) -> dict[str, Any]:
        """The batch object; answers (and bills) the rows the first time it is completed."""
        with self._lock:
            stage = self._stage(sb, batch)
            if batch.final is None and stage == len(STATUSES) - 1:
                self._answer(sb, batch)
            status = batch.final or STATUSES[stage]
            total = len(batch.requests)
            if batch.final is not None:
                done = len(batch.results or []) - batch.failed
                failed = batch.failed
            else:  # in progress: a share of the rows, as a real batch reports them
                step = float(sb.batch_seconds_per_status) or 1.0
                share = 0.0 if stage == 0 else min(1.0, (time.monotonic() - batch.started - step) / step)
                done = {0: 0, 1: int(total * max(0.0, share))}.get(stage, total)
                failed = 0
            finished = batch.final is not None
            return {
                "id": batch.id,
                "object": "batch",
                "endpoint": ENDPOINT,
                "model": batch.model,
                "completion_window": "24h",
                "status": status,
                "created_at": batch.created_at,
                "finalized_at": batch.finalized_at,
                "request_counts": {"total": total, "completed": done, "failed": failed},
                "usage": {"prompt_tokens": batch.prompt_tokens,
                          "completion_tokens": batch.completion_tokens,
                          "total_tokens": batch.prompt_tokens + batch.completion_tokens,
                          "cost": usd(batch.cost)} if finished else None,
                "results": list(batch.results or []) if finished and results else None,
                "error": None,
            }

    def _answer(self, sb: Sandbox, batch: Batch) -> None:
        """Answer every row at the batch price, charge it, keep each for ``/generation``."""
        rec = sb.accounts.lookup(batch.key)
        results: list[dict[str, Any]] = []
        now = time.time()
        for custom_id, body in batch.requests:
            result = self._row(sb, batch, rec, custom_id, {**body, "model": batch.model}, now)
            results.append(result)
        batch.results = results
        batch.final, batch.finalized_at = "completed", int(now)

    def _row(self, sb: Sandbox, batch: Batch, rec: KeyRecord | None, custom_id: str,
             body: dict[str, Any], now: float) -> dict[str, Any]:
        if rec is None:
            batch.failed += 1
            return {"custom_id": custom_id, "error": {"code": 401, "message": "User not found"}}
        if FAIL_DIRECTIVE in _last_user_text(body):
            batch.failed += 1
            return {"custom_id": custom_id,
                    "error": {"code": 502, "message": "Provider returned error (sandbox:fail)"}}
        try:
            plan = plan_chat({**body, "stream": False}, sb.answer_length, byok=sb.byok_providers,
                             down=sb.down_providers)
        except ApiError as exc:
            batch.failed += 1
            return {"custom_id": custom_id, "error": {"code": exc.status, "message": exc.message}}
        ep = plan.endpoint
        billed_at = getattr(ep, "billed_at", None)  # a price tier or window: resolved first, then halved
        if billed_at is not None:
            ep = billed_at(plan.prompt_tokens)
        cheaper = replace(ep, prompt=str(Decimal(ep.prompt) * BATCH_SHARE),
                          completion=str(Decimal(ep.completion) * BATCH_SHARE))
        completion = len(plan.reasoning) + len(plan.content)
        cost = price(cheaper, plan.prompt_tokens, completion, byok=plan.byok, free=False,
                     plugin_usd=plan.plugin_usd)
        sb.accounts.charge(rec, cost.cost, cost.upstream if plan.byok else Decimal(0), Billed(
            model=plan.model.id, permaslug=plan.model.id, endpoint_id=endpoint_id(plan.endpoint.tag),
            provider_name=plan.endpoint.provider_name, prompt_tokens=plan.prompt_tokens,
            completion_tokens=completion, reasoning_tokens=len(plan.reasoning)))
        batch.cost += cost.cost
        batch.prompt_tokens += plan.prompt_tokens
        batch.completion_tokens += completion
        stamp = int(now)
        gen_id = f"gen-batch-{stamp}-" + secrets.token_hex(10)
        usage = usage_json(plan.prompt_tokens, completion, len(plan.reasoning), cost)
        reasoning = "".join(plan.reasoning) if plan.show_reasoning else ""
        answer = chat_result(plan, gen_id, stamp, "".join(plan.content), reasoning,
                             plan.finish_reason, plan.native_finish_reason, usage)
        sb.accounts.add_generation(Generation(gen_id, rec.key, {
            "id": gen_id, "total_cost": usd(cost.cost), "usage": usd(cost.cost),
            "upstream_inference_cost": usd(cost.upstream) if plan.byok else None,
            "is_byok": plan.byok, "model": plan.model.id, "provider_name": ep.provider_name,
            "created_at": sb.accounts.clock.now().isoformat(),  # the billing clock, as chat's
            "streamed": False, "cancelled": False, "finish_reason": plan.finish_reason,
            "native_finish_reason": plan.native_finish_reason,
            "tokens_prompt": plan.prompt_tokens, "tokens_completion": completion,
            "native_tokens_prompt": plan.prompt_tokens, "native_tokens_completion": completion,
            "native_tokens_reasoning": len(plan.reasoning), "native_tokens_cached": 0,
            "api_type": "batch", "batch_id": batch.id,
        }, ready_at=time.monotonic()))
        return {"custom_id": custom_id,
                "response": {"status_code": 200, "request_id": "req-" + gen_id[4:], "body": answer}}


# -- routes (wired in ``_routes``) ------------------------------------------------------
PREFIX = "/api/beta/batches"


def _caller(h: Any, req: Any) -> KeyRecord:
    from ._completions import authenticate

    rec = authenticate(h, req)
    if rec.management:
        raise ApiError(403, "Management keys cannot be used for inference.")
    return rec


def create_batch(h: Any, req: Any) -> None:
    """``POST /api/beta/batches``."""
    rec = _caller(h, req)
    try:
        body = req.json()
    except ValueError:
        raise ApiError(400, "Invalid request parameters: the body is not valid JSON") from None
    made = h.sandbox.batches.create(h.sandbox, rec, body)
    if h.sandbox.batch_lose_answer:  # accepted, then the answer is lost: the connection drops
        h.sandbox.batch_lose_answer = False
        h.close_connection = True
        h.connection.shutdown(2)
        return
    h.send_json(202, made)


def list_batches(h: Any, req: Any) -> None:
    """``GET /api/beta/batches``: this key's batches, newest first, without results."""
    rec = _caller(h, req)
    store = h.sandbox.batches
    h.send_json(200, {"object": "list",
                      "data": [store.view(h.sandbox, b, results=False) for b in store.mine(rec.key)]})


def batch_route(h: Any, req: Any) -> bool:
    """``GET /api/beta/batches/{id}`` and ``POST …/{id}/cancel``; False for other paths."""
    if not req.path.startswith(PREFIX + "/"):
        return False
    parts = req.path[len(PREFIX) + 1:].split("/")
    store = h.sandbox.batches
    if len(parts) == 1 and parts[0]:
        if req.method not in ("GET", "HEAD"):
            raise ApiError(405, "Method Not Allowed")
        rec = _caller(h, req)
        h.send_json(200, store.view(h.sandbox, store.find(parts[0], rec.key)))
        return True
    if len(parts) == 2 and parts[0] and parts[1] == "cancel":
        if req.method != "POST":
            raise ApiError(405, "Method Not Allowed")
        rec = _caller(h, req)
        h.send_json(200, store.cancel(h.sandbox, store.find(parts[0], rec.key)))
        return True
    return False
