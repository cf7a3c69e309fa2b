"""What a finished call looks like: cost line, code and JSON extraction (pure)."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from .money import exact_usd
from .record import CallRecord, sent_summary
from .untrusted_text import strip_controls

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
    if getattr(record, "openrouter_cache", False):  # answered from OpenRouter's response cache
        parts.append("OpenRouter cache")
    searches = getattr(record, "web_searches", 0)
    if searches:  # part of the cost beside it (OpenRouter bills them with the call)
        parts[0] += f" incl. {searches:,} web search{'es' if searches != 1 else ''}"
    tokens = f"{record.prompt_tokens:,} prompt + {record.completion_tokens:,} completion tokens"
    extras = []
    if record.reasoning_tokens:
        share = record.reasoning_share()
        # about: OpenRouter's completion cost split by tokens ("≈" says it is not billed apart)
        extras.append(f"{record.reasoning_tokens:,} reasoning"
                      + (f" ≈ {share:.0%} of the cost" if share is not None else ""))
    if record.cached_tokens:
        extras.append(f"{record.cached_tokens:,} cached" + cache_saving_text(record))
    written = getattr(record, "cache_write_tokens", 0)
    if written:
        extras.append(f"{written:,} written to the cache")
    if extras:
        tokens += f" ({', '.join(extras)})"
    parts.append(tokens)
    sent = sent_summary(record.images, record.files, record.pages)
    if sent:  # what those prompt tokens carried; a text-only call's line is unchanged
        parts.append(sent)
    parts.append(record.model + (f" via {record.provider}" if record.provider else ""))
    tier = tier_text(record)
    if tier:
        parts.append(tier)
    steps = len(getattr(record, "steps", ()) or ())
    if steps > 1:  # a tool loop's summary: its cost above is the sum of these steps' rows
        parts.append(f"{steps:,} steps")
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


def tier_text(record: CallRecord) -> str:
    """The service tier on the cost line: "flex" or "priority" when one served (the cost is
    billed at it); "default tier (flex asked: not served)" when the tier asked for was not
    given; "" for a call that asked none and got the default."""
    served = getattr(record, "service_tier", "") or ""
    asked = getattr(record, "tier_asked", "") or ""
    if served in ("flex", "priority"):
        return served if not asked or asked == served else f"{served} ({asked} asked)"
    if asked:
        return f"{served or 'default'} tier ({asked} asked: not served)"
    return ""


def cache_saving_text(record: CallRecord) -> str:
    """What the prompt cache saved, for the cost line: ", saved $X" (OpenRouter's
    ``cache_discount``), ", saved ≈ $X (computed)" (from ``input_cache_read``), or ""."""
    saved = getattr(record, "cache_saved_usd", None)
    if saved is None:
        return ""
    if getattr(record, "cache_saved_computed", False):
        return f", saved ≈ {exact_usd(saved)} (computed)"
    return f", saved {exact_usd(saved)}" if saved >= 0 else f", cost {exact_usd(-saved)} more"


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


#: A citation's title is the page's, chosen by whoever wrote the page: capped, so a
#: hostile one cannot bury the answer.
_TITLE_CHARS = 200


def _citation_parts(citation: Any) -> tuple[str, str, str]:
    """(title, url, host) of a citation, controls stripped; host "" unless the URL is one a
    browser may open from a link: http(s), a host, no whitespace or control characters.

    ``javascript:``, ``data:``, a URL with a space or a control before its scheme (which
    browsers skip, so it would run after all): never a link.  Takes anything with ``.url``
    and ``.title`` (``openrouter.Citation``) or a dict with those keys.
    """
    if isinstance(citation, dict):
        url, title = citation.get("url"), citation.get("title")
    else:
        url, title = getattr(citation, "url", ""), getattr(citation, "title", "")
    url = url if isinstance(url, str) else ""
    title = strip_controls(title if isinstance(title, str) else "").strip()
    if len(title) > _TITLE_CHARS:
        title = title[:_TITLE_CHARS - 1] + "…"
    from .openrouter import web_url  # the one test of a link a page may hold

    host = (urlsplit(url).hostname or "") if web_url(url) else ""
    shown = strip_controls(url)
    if not host and len(shown) > _TITLE_CHARS:  # a data: URL can be megabytes of text
        shown = shown[:_TITLE_CHARS - 1] + "…"
    return title, shown, host


def citations_text(citations: Sequence[Any]) -> str:
    """The sources of an answer, one a line: "[1] Title — host" ("" when there are none).

    The number is the ``[1]`` marker in the answer. A source that is not a web link shows
    its address as text instead of a host."""
    lines = []
    for number, citation in enumerate(citations, 1):
        title, url, host = _citation_parts(citation)
        where = host or url
        shown = f"{title} — {where}" if title and where else title or where
        lines.append(f"[{number}] {shown}".rstrip())
    return "\n".join(lines)


def citations_html(citations: Sequence[Any]) -> str:
    """The sources of an answer as numbered links under it ("" when there are none).

    Only http(s) URLs become ``<a href>`` (escaped, opened in a new tab with
    ``rel="noopener noreferrer"``: the page cannot reach back to the notebook); any other
    address is escaped text, never a link. Titles and hosts are escaped too."""
    if not citations:
        return ""
    rows = []
    for number, citation in enumerate(citations, 1):
        title, url, host = _citation_parts(citation)
        if host:
            link = (f'<a href="{html.escape(url, quote=True)}" target="_blank" '
                    f'rel="noopener noreferrer">{html.escape(title or host)}</a>')
            rows.append(f"<div>[{number}] {link}" +
                        (f" — {html.escape(host)}" if title else "") + "</div>")
        else:
            text = f"{title} — {url}" if title and url else title or url
            rows.append(f"<div>[{number}] {html.escape(text)}</div>")
    return ('<div class="edge-citations" style="font-size:0.85em;margin-top:0.4em">'
            + "".join(rows) + "</div>")


def receipt_entries(record: CallRecord) -> list[dict[str, Any]]:
    """The receipt(s) of one result: its own, or for a tool loop's summary (a record with
    ``steps``) one per step, each the bill of that step's ledger row -- the summary's own
    figures are their sum, and a notebook's bill must count every step once.

    ``images``, ``files``, ``pages`` only when the call sent any, ``group_id`` and
    ``step`` only for a step, ``web_searches`` only when it searched: a plain text call's
    receipt is what it always was.
    """
    steps = getattr(record, "steps", ()) or ()
    if steps:
        return [entry for step in steps for entry in receipt_entries(step)]
    receipt: dict[str, Any] = {
        "model": record.model, "provider": record.provider, "generation_id": record.generation_id,
        "prompt_tokens": record.prompt_tokens, "completion_tokens": record.completion_tokens,
        "reasoning_tokens": record.reasoning_tokens, "cached_tokens": record.cached_tokens,
        "cost_usd": record.cost_usd, "upstream_cost_usd": record.upstream_cost_usd,
        "is_byok": record.is_byok, "status": record.status,
        "timestamp": record.timestamp.isoformat(), "cost": exact_usd(record.cost_usd)}
    if record.images or record.files or record.pages:
        receipt.update(images=record.images, files=record.files, pages=record.pages)
    if getattr(record, "step", 0):
        receipt.update(group_id=record.group_id, step=record.step)
    if getattr(record, "web_searches", 0):
        receipt["web_searches"] = record.web_searches
    if getattr(record, "service_tier", "") or getattr(record, "tier_asked", ""):
        receipt.update(service_tier=record.service_tier, tier_asked=record.tier_asked)
    return [receipt]


def receipt_metadata(record: CallRecord) -> dict[str, Any]:
    """A receipt rides along in the output's metadata: the notebook carries its own bill.

    One receipt as ``{"edge_jupyter": {...}}``; a tool loop's steps as
    ``{"edge_jupyter": {"receipts": [...]}}`` (the shape ``receipts.collect`` reads for
    several models' answers too). See :func:`receipt_entries`.
    """
    entries = receipt_entries(record)
    return {"edge_jupyter": entries[0] if len(entries) == 1 else {"receipts": entries}}
