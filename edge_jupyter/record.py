"""One model call, as the magic, the ledger and ``_edge`` all see it.

The field names are the usage ledger's column names (users rely on them), plus
``text`` and ``finish_reason`` which the ledger does not keep.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

#: The ledger's columns, in order (keep these names).  ``images, files, pages`` (what a call
#: sent besides text) came with ledger schema 2; they sit beside the token counts they explain.
#: ``group_id, step`` (a tool loop's steps: one id per loop, steps 1, 2, 3...) and
#: ``web_searches`` came with schema 3: the group beside the cell and chat it belongs to, the
#: searches beside the other things a call's cost was spent on.  ``service_tier`` (the tier
#: that served) and ``saved_usd, saved_by, saved_exact`` (what the call saved, by which
#: kind of saving, and whether the figure is OpenRouter's own) came with schema 4: the tier
#: beside the provider, the saving beside the cost it lowered.
LEDGER_COLUMNS: tuple[str, ...] = (
    "timestamp", "notebook", "cell_id", "execution_count", "chat", "group_id", "step", "model",
    "provider", "service_tier", "generation_id", "prompt_tokens", "completion_tokens",
    "reasoning_tokens", "cached_tokens", "images", "files", "pages", "web_searches",
    "cost_usd", "upstream_cost_usd", "saved_usd", "saved_by", "saved_exact", "is_byok",
    "latency_s", "ttft_s", "status", "error",
)

#: ``saved_by`` values: what lowered a call's cost ("" when nothing did).  One saving per
#: row, the largest: a replayed answer (the stored call's cost, not paid again), OpenRouter's
#: response cache, a provider's prompt cache, the Batch API's price, the flex tier's price.
SAVINGS = ("replay", "openrouter_cache", "prompt_cache", "batch", "flex")

#: ``status`` values: a row is ``pending`` from before the request until it ends.
STATUSES = ("pending", "ok", "error", "interrupted", "stopped_budget", "replayed")


def sent_summary(images: int, files: int, pages: int) -> str:
    """What a call sent besides text, e.g. "2 images · 1 PDF (12 pages)"; "" for text only.

    One wording for receipts, the cost line and the ledger's readers (files are PDFs: the
    only files a prompt takes).
    """
    parts = []
    if images:
        parts.append(f"{images:,} image{'s' if images != 1 else ''}")
    if files:
        pdfs = f"{files:,} PDF{'s' if files != 1 else ''}"
        if pages:
            pdfs += f" ({pages:,} page{'s' if pages != 1 else ''})"
        parts.append(pdfs)
    return " · ".join(parts)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class CallRecord:
    """The figures of one call to one model."""

    model: str
    timestamp: datetime = field(default_factory=utcnow)
    notebook: str = ""
    cell_id: str = ""
    execution_count: int | None = None
    chat: str = ""
    provider: str = ""
    generation_id: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    cached_tokens: int = 0
    cost_usd: float | None = None
    upstream_cost_usd: float | None = None
    is_byok: bool = False
    latency_s: float | None = None
    ttft_s: float | None = None
    status: str = "pending"
    error: str = ""
    text: str = ""
    finish_reason: str | None = None
    session_id: str = ""
    # What the call sent besides text (this turn plus any history attachments re-sent):
    # images, files (PDFs), and the PDF pages among those files. The ledger keeps them so a
    # receipt can say what a call cost was spent on; 0 for a text-only call.
    images: int = 0
    files: int = 0
    pages: int = 0
    # A tool loop's steps share one ``group_id`` (the loop's; "" for a call that is no step)
    # and are numbered ``step`` 1, 2, 3... in the order they ran (0: not a step), so the
    # ledger can tie every step's row to its cell and sum them. ``web_searches``: the
    # server-side searches OpenRouter ran (and billed) for this call.
    group_id: str = ""
    step: int = 0
    web_searches: int = 0
    #: the service tier that served the call as OpenRouter reports it ("flex", "priority",
    #: "default"; "" when it says nothing) -- a ledger column since schema 4 -- and the one
    #: asked for (``--tier``; "" for none; not a column): billed at the served one.
    service_tier: str = ""
    tier_asked: str = ""
    #: what this call saved (USD; None: nothing), by which kind (one of :data:`SAVINGS`; ""),
    #: and whether the figure is OpenRouter's own (True) or computed from prices (False)
    saved_usd: float | None = None
    saved_by: str = ""
    saved_exact: bool = False
    #: a reasoning model's reasoning as it streamed (``delta.reasoning``): model text, shown
    #: sanitised like the answer; not a ledger column (the ledger counts its tokens)
    reasoning: str = ""
    #: what the reasoning tokens cost, about: OpenRouter's completion cost
    #: (``cost_details.upstream_inference_completions_cost``) split by tokens — reasoning
    #: tokens are billed as completion tokens; None when OpenRouter gives no such figure
    reasoning_usd: float | None = None
    #: caches (not ledger columns): the answer came from OpenRouter's response cache (not
    #: billed, ``cost_usd`` 0); prompt tokens written to a provider's prompt cache; what the
    #: prompt cache saved in USD (``/generation``'s ``cache_discount``, or computed from
    #: ``input_cache_read`` when ``cache_saved_computed``; None: nothing cached or not known)
    openrouter_cache: bool = False
    cache_write_tokens: int = 0
    cache_saved_usd: float | None = None
    cache_saved_computed: bool = False

    def reasoning_share(self) -> float | None:
        """The reasoning's share of ``cost_usd`` (0–1, about: see ``reasoning_usd``); None
        when it cannot be said (no figure, a BYOK call billed elsewhere, nothing paid)."""
        if self.reasoning_usd is None or self.is_byok or not self.cost_usd:
            return None
        return min(1.0, self.reasoning_usd / self.cost_usd)

    def tokens_per_second(self) -> float | None:
        """Completion tokens per second of streaming (after the first token), if measurable."""
        if self.latency_s is None or self.ttft_s is None or not self.completion_tokens:
            return None
        streaming = self.latency_s - self.ttft_s
        return self.completion_tokens / streaming if streaming > 0 else None

    def ledger_row(self) -> dict[str, Any]:
        """The ledger's columns (plus the session id), nothing else.

        Read field by field: every column is an immutable value, and ``asdict`` would
        deep-copy the whole record, answer text included, twice per call.
        """
        row = {name: getattr(self, name) for name in LEDGER_COLUMNS}
        row["session_id"] = self.session_id
        return row
