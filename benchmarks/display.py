"""2. Display traffic: bytes a ``%%edge`` cell sends to the frontend ÷ bytes of the answer.

For answers of 1k, 5k, 20k and 50k tokens (sandbox at zero delay, in its own process),
every iopub message of the cell is collected in a real kernel and the bytes of what it
shows are added up: each MIME value of ``display_data`` / ``update_display_data`` /
``execute_result``, and the text of ``stream`` messages (metadata and JSON framing are
not counted). That total is divided by the UTF-8 size of the final answer. O(n) traffic
keeps this ratio flat as the answer grows; the target is ≤ 3 at every size.

Beside it, computed from the same token list (not measured), the naive design that
re-renders the whole Markdown on every change: re-sending the answer so far as
``text/markdown`` on every token is Σ prefix sizes (O(n²)); a throttled variant sends
it at every update of a 15-per-second throttle with the model streaming at 50 tokens/s.
"""

from __future__ import annotations

import tempfile

from edge_jupyter.untrusted_text import markdown_to_safe_html

from ._common import MODEL, Row, answer_for, prompt_for
from ._kernel import BenchKernel, edge_cell, kernel_env
from ._sandbox import SandboxProcess

NAME = "display"
SIZES = (1_000, 5_000, 20_000, 50_000)
#: For the throttled naive figure: a realistic model pace and the product's update rate.
NAIVE_TOKENS_PER_SECOND = 50.0
NAIVE_UPDATES_PER_SECOND = 15.0


def naive_per_token(tokens: list[str]) -> int:
    """Bytes sent if the whole Markdown so far were re-sent on every token."""
    total = size = 0
    for token in tokens:
        size += len(token.encode())
        total += size
    return total


def naive_throttled(tokens: list[str], tokens_per_second: float = NAIVE_TOKENS_PER_SECOND,
                    updates_per_second: float = NAIVE_UPDATES_PER_SECOND) -> int:
    """The same, re-sent at most ``updates_per_second`` times while tokens arrive at a pace."""
    per_update = max(1.0, tokens_per_second / updates_per_second)
    total = size = 0
    next_update = per_update
    for i, token in enumerate(tokens, 1):
        size += len(token.encode())
        if i >= next_update or i == len(tokens):
            total += size
            next_update += per_update
    return total


def run(sizes: tuple[int, ...] = SIZES, repeats: int = 1) -> list[Row]:
    """One ``%%edge`` cell per size (``repeats`` each: the byte count is deterministic
    but for how the stream is batched); returns one row per size."""
    rows: list[Row] = []
    with SandboxProcess(tokens_per_second=0) as sb, \
            tempfile.TemporaryDirectory(prefix="edge-bench-display-") as data, \
            BenchKernel(kernel_env(sb.url, sb.key, data)) as k:
        k.ok(edge_cell(prompt_for(10, "warm-up"), MODEL))
        for n in sizes:
            prompt = prompt_for(n, "display")
            tokens = answer_for(MODEL, prompt, n)
            answer = "".join(tokens)
            answer_bytes = len(answer.encode())
            shown = markdown_to_safe_html(answer)  # the final display: rendered, sanitised
            ratios, messages = [], []
            for _ in range(repeats):
                trace = k.ok(edge_cell(prompt, MODEL), timeout=600)
                assert trace.final_text() == shown, "the kernel showed another text"
                ratios.append(trace.display_bytes() / answer_bytes)
                streamed = sum(m.payload_bytes() for m in trace.of("stream"))
                final = sum(m.payload_bytes() for m in trace.of("display_data")
                            if m.data.get("text/html") == shown)
                counts = {kind: len(trace.of(kind)) for kind in
                          ("stream", "display_data", "update_display_data", "clear_output")}
                messages.append(counts)
            ratio = max(ratios)
            naive = naive_per_token(tokens) / answer_bytes
            throttled = naive_throttled(tokens) / answer_bytes
            counts = messages[-1]
            rows.append(Row(
                NAME, f"display bytes ÷ answer bytes, {n:,} tokens", ratio, "×",
                naive, "× naive", None, "<= 3", ratio <= 3.0,
                f"answer {answer_bytes:,} B: streamed {streamed / answer_bytes:.3f}×, final "
                f"HTML {final / answer_bytes:.3f}×, status and cost lines "
                f"{trace.display_bytes() - streamed - final:,} B; {counts['stream']} stream, "
                f"{counts['display_data']} display, {counts['update_display_data']} update msgs; "
                f"naive per token {naive:,.0f}×, per 15/s update at 50 tok/s {throttled:,.0f}×"))
    return rows
