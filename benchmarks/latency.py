"""3. Latency added by edge_jupyter while a model streams at a realistic 50 tokens/s.

Method (one clock: ``time.time()`` on one machine). The sandbox runs in this process and
records, for every completion, when it began the response (``started``: the first content
chunk follows within microseconds, because the first token is never paced) and when it
had sent the last token (``ended``). For each run:

* a bare ``httpx`` + ``httpx-sse`` client notes when the first content event and
  ``[DONE]`` reach it; ``first − started`` and ``done − ended`` are the network and
  parsing time that any client pays (the baseline);
* a ``%%edge`` cell in a real kernel: ``first`` is the arrival here of the first iopub
  message that shows answer text, ``done`` the arrival of the final cost line.

Added latency = median(kernel) − median(bare client). So "first SSE byte reaching the
client → first display message" is measured as the kernel's figure minus the time a bare
client needs to see that byte; the ZeroMQ hop from the kernel to this process stays in
(a frontend pays it too).

A second case drops the connection just before the end (no usage chunk arrives), so the
cell must ask ``/generation`` for the cost: the figure is then the time from the
sandbox answering that successful lookup to the cost line, i.e. what is added on top of
the lookup.
"""

from __future__ import annotations

import json
import tempfile
import time
from typing import Any

import httpx
from httpx_sse import EventSource

from ._common import MODEL, Row, chat_body, median, prompt_for
from ._kernel import BenchKernel, edge_cell, kernel_env

NAME = "latency"
TOKENS_PER_SECOND = 50.0


def _bare(http: httpx.Client, sb: Any, body: dict[str, Any]) -> tuple[float, float]:
    """When the first content event and ``[DONE]`` reached a bare client."""
    first = 0.0
    with http.stream("POST", sb.api_url + "/chat/completions", json={**body, "stream": True},
                     headers={"Authorization": f"Bearer {sb.key}"}) as response:
        for sse in EventSource(response).iter_sse():
            if sse.data == "[DONE]":
                return first, time.time()
            chunk = json.loads(sse.data)
            if not first and any((c.get("delta") or {}).get("content")
                                 for c in chunk.get("choices") or ()):
                first = time.time()
    raise RuntimeError("the stream ended without [DONE]")


def run(tokens: int = 40, repeats: int = 7, lookup_repeats: int = 3) -> list[Row]:
    """``repeats`` runs of a ``tokens``-token answer at 50 tokens/s, bare and in a kernel."""
    from edge_jupyter.sandbox import Fault, Sandbox

    bare_first, bare_last, kern_first, kern_last, kern_stamp = [], [], [], [], []
    lookup_added, lookup_total = [], []
    with Sandbox(tokens_per_second=TOKENS_PER_SECOND, generation_ready_after=0.2) as sb, \
            tempfile.TemporaryDirectory(prefix="edge-bench-latency-") as data, \
            httpx.Client(timeout=60, trust_env=False) as http, \
            BenchKernel(kernel_env(sb.url, sb.key, data)) as k:
        sb.tokens_per_second = 0
        k.ok(edge_cell(prompt_for(5, "warm-up"), MODEL))
        _bare(http, sb, chat_body(MODEL, prompt_for(5, "warm-up")))
        sb.tokens_per_second = TOKENS_PER_SECOND
        for i in range(repeats):
            prompt = prompt_for(tokens, f"latency {i}")
            first, done = _bare(http, sb, chat_body(MODEL, prompt))
            rec = sb.completions[-1]
            bare_first.append(first - rec.started)
            bare_last.append(done - rec.ended)

            trace = k.ok(edge_cell(prompt, MODEL))
            rec = sb.completions[-1]
            shown = trace.first_text()
            kern_first.append(shown.arrived - rec.started)
            kern_stamp.append(shown.msg["header"]["date"].timestamp() - rec.started)
            kern_last.append(trace.cost_line().arrived - rec.ended)

        for i in range(lookup_repeats):  # the usage chunk never comes: /generation is asked
            sb.inject(Fault.drop(after_tokens=tokens))
            trace = k.run(edge_cell(prompt_for(tokens, f"lookup {i}"), MODEL))
            rec = sb.completions[-1]
            lookups = [r for r in sb.requests if r.path.endswith("/generation")
                       and r.query.get("id") == rec.id]
            cost = trace.cost_line()
            assert lookups, "the cell did not ask /generation"
            lookup_added.append(cost.arrived - lookups[-1].time)
            lookup_total.append(cost.arrived - rec.ended)

    first_added = (median(kern_first) - median(bare_first)) * 1000
    last_added = (median(kern_last) - median(bare_last)) * 1000
    rows = [
        Row(NAME, "first SSE byte → first display message (added)", first_added, "ms",
            median(bare_first) * 1000, "ms bare", None, "<= 10 ms (median)", first_added <= 10,
            f"kernel {median(kern_first) * 1000:.1f} ms after the sandbox's send "
            f"(message stamped by the kernel at {median(kern_stamp) * 1000:.1f} ms); "
            f"{repeats} runs of {tokens} tokens at {TOKENS_PER_SECOND:.0f} tok/s"),
        Row(NAME, "last token → final cost line (added)", last_added, "ms",
            median(bare_last) * 1000, "ms bare", None, "<= 50 ms", last_added <= 50,
            f"kernel {median(kern_last) * 1000:.1f} ms after the last token left the sandbox"),
    ]
    if lookup_added:
        added = median(lookup_added) * 1000
        rows.append(Row(
            NAME, "usage lost: /generation answer → cost line", added, "ms", None, "", None,
            "<= 50 ms + lookup", added <= 50,
            f"last token → cost line {median(lookup_total) * 1000:.0f} ms in all, "
            "most of it waiting for /generation to know the call (sandbox: 0.2 s)"))
    return rows
