"""What a finished call looks like: cost line, code and JSON extraction (pure)."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from typing import Any

from .money import exact_usd
from .record import CallRecord, sent_summary

_FENCE = re.compile(r"```([\w+#.-]*)[^\n]*\n(.*?)```", re.DOTALL)

_STATUS_WORDS = {
    "interrupted": "interrupted",
    "error": "failed",
    "stopped_budget": "stopped at the budget",
    "pending": "cost pending",
}


def cost_parts(record: CallRecord) -> list[str]:
    """The pieces of the cost line, in reading order."""
    parts: list[str] = []
    saved = getattr(record, "saved_usd", None)
    if record.status == "replayed":
        parts.append(f"replayed (saved {exact_usd(saved)})")
    elif record.is_byok:
        parts.append(f"{exact_usd(record.cost_usd)} OpenRouter fee (BYOK)")
        parts.append(f"{exact_usd(record.upstream_cost_usd)} billed by the provider")
    elif record.cost_usd is None:
        parts.append("cost not known yet (reconciled later)")
    else:
        parts.append(exact_usd(record.cost_usd))
    tokens = f"{record.prompt_tokens:,} prompt + {record.completion_tokens:,} completion tokens"
    extras = []
    if record.reasoning_tokens:
        extras.append(f"{record.reasoning_tokens:,} reasoning")
    if record.cached_tokens:
        extras.append(f"{record.cached_tokens:,} cached")
    if extras:
        tokens += f" ({', '.join(extras)})"
    parts.append(tokens)
    sent = sent_summary(record.images, record.files, record.pages)
    if sent:  # what those prompt tokens carried; a text-only call's line is unchanged
        parts.append(sent)
    parts.append(record.model + (f" via {record.provider}" if record.provider else ""))
    if record.status == "replayed":
        return parts  # no timing: nothing was asked
    if record.ttft_s is not None:
        parts.append(f"first token {record.ttft_s:.2f} s")
    rate = record.tokens_per_second()
    if rate is not None:
        parts.append(f"{rate:,.0f} tok/s")
    elif record.latency_s is not None:
        parts.append(f"{record.latency_s:.2f} s")
    if record.status in _STATUS_WORDS:
        parts.append(_STATUS_WORDS[record.status])
    return parts


def cost_line_text(record: CallRecord) -> str:
    return "💰 " + " · ".join(cost_parts(record))


def cost_line_html(record: CallRecord) -> str:
    colour = "#b45309" if record.status not in ("ok", "replayed") else "#6b7280"
    if record.status == "replayed":
        colour = "#047857"
    title = html.escape(f"generation {record.generation_id}" if record.generation_id else "")
    body = " · ".join(html.escape(p) for p in cost_parts(record))
    return (f'<div class="edge-cost" title="{title}" style="font-size:0.85em;color:{colour};'
            f'font-variant-numeric:tabular-nums;margin-top:0.3em">💰 {body}</div>')


def total_line_text(records: Sequence[CallRecord], total: float) -> str:
    return f"Σ {len(records)} models · {exact_usd(total)} in total"


def extract_code(text: str) -> tuple[str, str]:
    """The code of an answer and its language: fenced blocks joined, else the whole text."""
    blocks = _FENCE.findall(text)
    if not blocks:
        return text.strip("\n"), "python"
    language = blocks[0][0] or "python"
    return "\n\n".join(body.rstrip("\n") for _, body in blocks), language


def code_html(code: str, language: str) -> str:
    """A code answer as an escaped block: no Markdown fence for the code to close early."""
    return (f'<pre><code class="language-{html.escape(language)}">{html.escape(code)}'
            "</code></pre>")


def parse_json_answer(text: str) -> Any:
    """The JSON in an answer (fences tolerated); raises ValueError with a readable message."""
    candidate = text.strip()
    blocks = _FENCE.findall(candidate)
    if blocks:
        candidate = blocks[0][1].strip()
    try:
        return json.loads(candidate)
    except ValueError as exc:
        raise ValueError(f"The answer is not valid JSON ({exc}).") from None


def error_html(message: str, title: str = "edge") -> str:
    return (f'<div class="edge-error" style="border-left:3px solid #dc2626;padding:0.4em 0.8em;'
            f'background:rgba(220,38,38,0.07);white-space:pre-wrap">'
            f"<b>{html.escape(title)}:</b> {html.escape(message)}</div>")


def warning_html(message: str) -> str:
    return (f'<div class="edge-warning" style="border-left:3px solid #d97706;padding:0.4em 0.8em;'
            f'background:rgba(217,119,6,0.08)">⚠️ {html.escape(message)}</div>')


def receipt_metadata(record: CallRecord) -> dict[str, Any]:
    """A receipt rides along in the output's metadata: the notebook carries its own bill.

    ``images``, ``files``, ``pages`` only when the call sent any: a text-only call's
    receipt is what it always was.
    """
    receipt: dict[str, Any] = {
        "model": record.model, "provider": record.provider, "generation_id": record.generation_id,
        "prompt_tokens": record.prompt_tokens, "completion_tokens": record.completion_tokens,
        "reasoning_tokens": record.reasoning_tokens, "cached_tokens": record.cached_tokens,
        "cost_usd": record.cost_usd, "upstream_cost_usd": record.upstream_cost_usd,
        "is_byok": record.is_byok, "status": record.status,
        "timestamp": record.timestamp.isoformat(), "cost": exact_usd(record.cost_usd)}
    if record.images or record.files or record.pages:
        receipt.update(images=record.images, files=record.files, pages=record.pages)
    return {"edge_jupyter": receipt}
