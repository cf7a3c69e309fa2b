"""1. Streaming throughput at zero model delay: bare loop vs. the client vs. ``%%edge``.

The sandbox runs in its own process (``_sandbox.py``) with no pacing, so the consumer
is the bottleneck. Each consumer reads the same 20,000-token answer:

(a) a bare ``httpx`` + ``httpx-sse`` loop (one pooled client made before timing): parse
    each event's JSON and keep its ``delta.content``; timed from the request to ``[DONE]``;
(b) ``OpenRouterClient.stream_chat(body)``, counting ``TextDelta`` events;
(c) a ``%%edge`` cell in a real kernel, timed from the execute request until the
    cell's final display message (the cost line) arrives here;
(c0) for reference, loop (a) run inside a cell of the same kernel, its text displayed
    once at the end: the share of (c) that any kernel-side client pays.

Machine speed drifts a lot here (shared CPUs: the same CPU-bound loop takes anywhere
from 1× to 2× as long, changing over a fraction of a second). So every (b), (c) or (c0) run is
sandwiched between two (a) runs, and the ratio reported is the median over runs of
(mean of the two (a) times around it) ÷ (its time); the ratio of plain medians is shown
beside it. The same with a 10-token answer splits the (c) − (a) gap into what a cell
costs by itself and what each token costs. Last, the recorded bytes of the answer are
replayed through ``httpx.MockTransport`` (no sockets, no server) to (a) and (b): the
client's own CPU cost per token, timed, and — when valgrind is installed — counted in
CPU instructions (``cachegrind``), a figure that machine load cannot disturb.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from httpx_sse import EventSource

from edge_jupyter.untrusted_text import markdown_to_safe_html

from ._common import MODEL, Row, answer_for, chat_body, median, prompt_for
from ._kernel import BenchKernel, edge_cell, kernel_env
from ._sandbox import SandboxProcess

NAME = "streaming"


def bare_loop(http: httpx.Client, url: str, key: str, body: dict[str, Any]) -> tuple[float, str]:
    """(a): seconds from the request to ``[DONE]``, and the text."""
    parts: list[str] = []
    start = time.perf_counter()
    with http.stream("POST", url, json={**body, "stream": True},
                     headers={"Authorization": f"Bearer {key}",
                              "Accept": "text/event-stream"}) as response:
        for sse in EventSource(response).iter_sse():
            data = sse.data
            if data == "[DONE]":
                break
            chunk = json.loads(data)
            for choice in chunk.get("choices") or ():
                content = (choice.get("delta") or {}).get("content")
                if content:
                    parts.append(content)
    return time.perf_counter() - start, "".join(parts)


def client_loop(client: Any, body: dict[str, Any]) -> tuple[float, str]:
    """(b): seconds for ``stream_chat`` to yield every event, and the text."""
    from edge_jupyter.openrouter import TextDelta

    parts: list[str] = []
    start = time.perf_counter()
    for event in client.stream_chat(body):
        if type(event) is TextDelta:
            parts.append(event.text)
    return time.perf_counter() - start, "".join(parts)


@dataclass
class Sandwiched:
    """Runs of a base consumer and others, each other run between two base runs."""

    times: dict[str, list[float]]  # seconds of every run, per consumer
    around: dict[str, list[float]]  # per other consumer: mean of the two base runs around each

    def ratio(self, name: str) -> float:
        """Median over runs of base time ÷ this run's time (throughput of name ÷ base)."""
        return median([a / t for a, t in zip(self.around[name], self.times[name], strict=True)])

    def spread(self, name: str) -> str:
        """The middle half of the per-run ratios, as "p25–p75"."""
        ratios = sorted(a / t for a, t in zip(self.around[name], self.times[name], strict=True))
        q1, q3 = ratios[(len(ratios) - 1) // 4], ratios[(3 * (len(ratios) - 1) + 3) // 4]
        return f"{q1:.2f}–{q3:.2f}"

    def extra(self, name: str) -> float:
        """Median over runs of this run's time − base time, in seconds."""
        return median([t - a for a, t in zip(self.around[name], self.times[name], strict=True)])

    def of_medians(self, base: str, name: str) -> float:
        return median(self.times[base]) / median(self.times[name])


def sandwiched(base: str, consumers: dict[str, Callable[[], float]], repeats: int) -> Sandwiched:
    """``base``, then ``repeats`` times each other consumer followed by ``base`` again.

    Machine speed here drifts by tens of per cent over a fraction of a second (shared
    CPUs); comparing each run with the mean of the base runs just before and after it
    cancels that drift to first order, which a ratio of medians does not.
    """
    times: dict[str, list[float]] = {name: [] for name in consumers}
    around: dict[str, list[float]] = {name: [] for name in consumers if name != base}
    previous = consumers[base]()
    times[base].append(previous)
    for _ in range(repeats):
        for name in around:
            seconds = consumers[name]()
            following = consumers[base]()
            times[name].append(seconds)
            times[base].append(following)
            around[name].append((previous + following) / 2)
            previous = following
    return Sandwiched(times, around)


def _recorded_sse(sandbox: SandboxProcess, body: dict[str, Any]) -> bytes:
    response = httpx.post(sandbox.api_url + "/chat/completions", json={**body, "stream": True},
                          headers={"Authorization": f"Bearer {sandbox.key}"}, timeout=120,
                          trust_env=False)
    response.raise_for_status()
    return response.content


def mock_client(raw: bytes) -> httpx.Client:
    """An httpx client whose every request is answered with ``raw`` in 32 KB pieces."""

    class Pieces(httpx.SyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            for i in range(0, len(raw), 32 * 1024):
                yield raw[i:i + 32 * 1024]

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=Pieces())

    return httpx.Client(transport=httpx.MockTransport(answer))


_C0_SETUP = """
import sys as _bench_sys
_bench_sys.path.insert(0, {root!r})
import httpx as _bench_httpx
from benchmarks.streaming import bare_loop as _bench_loop
_bench_http = _bench_httpx.Client(timeout=_bench_httpx.Timeout(10, read=120), trust_env=False)
def _bench_bare():
    return _bench_loop(_bench_http, {url!r}, {key!r}, {body!r})[1]
"""
_C0_SHOW = ("from IPython.display import display as _bench_display\n"
            "_bench_display({'text/markdown': _bench_text}, raw=True)")


def _instructions(raw: bytes, which: str, runs: int) -> int | None:
    """CPU instructions of a process replaying ``raw`` to ``which`` ``runs`` times."""
    with tempfile.NamedTemporaryFile(suffix=".sse") as sse:
        sse.write(raw)
        sse.flush()
        done = subprocess.run(
            ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
             sys.executable, "-m", "benchmarks._consume", sse.name, which, str(runs)],
            capture_output=True, text=True, timeout=900, cwd=str(Path(__file__).resolve().parents[1]),
            env={**os.environ, "PYTHONHASHSEED": "0"})  # same dict layouts in every run
    found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    return int(found.group(1).replace(",", "")) if done.returncode == 0 and found else None


def instructions_per_token(raw: bytes, tokens: int) -> dict[str, float] | None:
    """Instructions per token of (a) and (b) in steady state (two runs minus one run:
    start-up, imports and first-call costs cancel), or None without valgrind."""
    if shutil.which("valgrind") is None:
        return None
    per_token = {}
    for which in ("a", "b"):
        one, two = _instructions(raw, which, 1), _instructions(raw, which, 2)
        if one is None or two is None:
            return None
        per_token[which] = (two - one) / tokens
    return per_token


def run(tokens: int = 20_000, repeats: int = 7, kernel: bool = True,
        instruction_tokens: int = 0) -> list[Row]:
    """Throughput of (a), (b) and (c) for a ``tokens``-token answer; ``repeats`` rounds.

    ``instruction_tokens`` > 0 also counts CPU instructions per token of (a) and (b)
    under valgrind for an answer of that length (slow: about a minute for 5,000).
    """
    from edge_jupyter.openrouter import OpenRouterClient

    prompt = prompt_for(tokens, "throughput")
    body = chat_body(MODEL, prompt)
    expected = "".join(answer_for(MODEL, prompt, tokens))
    rows: list[Row] = []
    with SandboxProcess(tokens_per_second=0) as sb, \
            tempfile.TemporaryDirectory(prefix="edge-bench-stream-") as data, \
            httpx.Client(timeout=httpx.Timeout(10, read=120), trust_env=False) as http, \
            contextlib.ExitStack() as stack:
        url = sb.api_url + "/chat/completions"
        client = OpenRouterClient(sb.key, origin=sb.url)
        consumers: dict[str, Callable[[], float]] = {}

        def a() -> float:
            seconds, text = bare_loop(http, url, sb.key, body)
            assert text == expected, "the bare loop lost text"
            return seconds

        def b() -> float:
            seconds, text = client_loop(client, body)
            assert text == expected, "the client lost text"
            return seconds

        consumers = {"a": a, "b": b}
        k = None
        tiny: Sandwiched | None = None
        if kernel:
            k = stack.enter_context(BenchKernel(kernel_env(sb.url, sb.key, data)))
            cell = edge_cell(prompt, MODEL)
            shown = markdown_to_safe_html(expected)  # what the cell shows: rendered, sanitised

            def c() -> float:
                trace = k.ok(cell)
                assert trace.final_text() == shown, "the kernel showed another text"
                return trace.last_display().arrived - trace.sent

            consumers["c"] = c
            # (c0): the bare loop run inside a kernel cell, its text displayed once at the
            # end: what any kernel-side client pays, whatever it does.
            k.ok(_C0_SETUP.format(root=str(Path(__file__).resolve().parents[1]),
                                  url=url, key=sb.key, body=body))
            c0_cell = "_bench_text = _bench_bare()\n" + _C0_SHOW

            def c0() -> float:
                trace = k.ok(c0_cell)
                assert trace.final_text("text/markdown") == expected, "the bare kernel loop lost text"
                return trace.last_display().arrived - trace.sent

            consumers["c0"] = c0
        for consume in consumers.values():  # warm up: connections, imports, caches
            consume()
        runs = sandwiched("a", consumers, repeats)
        if k is not None:  # the same with a 10-token answer: what a cell costs by itself
            tiny_prompt = prompt_for(10, "per-cell cost")
            tiny_cell = edge_cell(tiny_prompt, MODEL)
            tiny_body = chat_body(MODEL, tiny_prompt)
            k.ok(_C0_SETUP.replace("_bench_bare", "_bench_tiny").format(
                root=str(Path(__file__).resolve().parents[1]), url=url, key=sb.key,
                body=tiny_body))
            tiny = sandwiched("a", {
                "a": lambda: bare_loop(http, url, sb.key, tiny_body)[0],
                "c": lambda: (lambda t: t.last_display().arrived - t.sent)(k.ok(tiny_cell)),
                "c0": lambda: (lambda t: t.last_display().arrived - t.sent)(
                    k.ok("_bench_text = _bench_tiny()\n" + _C0_SHOW)),
            }, repeats)
        raw = _recorded_sse(sb, body)

    ta = median(runs.times["a"])
    rows.append(Row(NAME, f"(a) bare httpx+httpx-sse loop, {tokens:,} tokens", tokens / ta,
                    "tok/s", note=f"median of {len(runs.times['a'])} runs; "
                                  f"{ta * 1e6 / tokens:.2f} µs/token"))
    rb = runs.ratio("b")
    rows.append(Row(NAME, "(b) OpenRouterClient.stream_chat", tokens / median(runs.times["b"]),
                    "tok/s", tokens / ta, "tok/s", rb, "(b)/(a) >= 0.95", rb >= 0.95,
                    f"ratio: median of {repeats} runs, each against the (a) runs around it "
                    f"(middle half {runs.spread('b')}; ratio of medians "
                    f"{runs.of_medians('a', 'b'):.3f}); "
                    f"{runs.extra('b') * 1e6 / tokens:+.2f} µs/token over (a)"))
    if "c" in runs.around and tiny is not None:
        rc = runs.ratio("c")
        gap, per_cell = runs.extra("c"), tiny.extra("c")
        rows.append(Row(NAME, "(c) %%edge in a kernel, until the final message",
                        tokens / median(runs.times["c"]), "tok/s", tokens / ta, "tok/s", rc,
                        "(c)/(a) >= 0.9", rc >= 0.9,
                        f"ratio as for (b) (middle half {runs.spread('c')}; ratio of medians "
                        f"{runs.of_medians('a', 'c'):.3f}); "
                        f"{gap * 1000:+.0f} ms per cell over (a)"))
        r0 = runs.ratio("c0")
        rows.append(Row(NAME, "(c0) the bare loop inside a kernel cell, one display",
                        tokens / median(runs.times["c0"]), "tok/s", tokens / ta, "tok/s", r0,
                        "info (the kernel's own share)", None,
                        f"(c)/(c0) = {median([x / y for x, y in zip(runs.times['c0'], runs.times['c'], strict=True)]):.3f}: "
                        "edge_jupyter against the same loop in the same kernel"))
        rows.append(Row(NAME, "(c) − (a) for a 10-token answer: the cost of a cell itself",
                        per_cell * 1000, "ms", median(tiny.times["a"]) * 1000, "ms (a)", None,
                        "info (part of the (c) gap)", None,
                        f"(c0) costs {tiny.extra('c0') * 1000:.1f} ms of it; of the "
                        f"{gap * 1000:.0f} ms gap at {tokens:,} tokens, the rest is "
                        f"{(gap - per_cell) * 1e6 / tokens:.2f} µs per token"))

    # The same bytes without sockets or a server: the client's own CPU cost per token.
    with mock_client(raw) as mock:
        offline = OpenRouterClient("sk-or-bench", origin="http://mock.invalid", http=mock)
        consumers = {
            "a": lambda: bare_loop(mock, "http://mock.invalid/api/v1/chat/completions",
                                   "k", body)[0],
            "b": lambda: client_loop(offline, body)[0],
        }
        for consume in consumers.values():
            consume()
        cpu = sandwiched("a", consumers, max(repeats, 5) * 2)
    ca = median(cpu.times["a"])
    rows.append(Row(NAME, "(b) vs (a), CPU only (MockTransport, no sockets)",
                    tokens / median(cpu.times["b"]), "tok/s", tokens / ca, "tok/s",
                    cpu.ratio("b"), "info (what (b)/(a) measures)", None,
                    f"{len(cpu.times['b'])} sandwiched runs (middle half {cpu.spread('b')}); client adds "
                    f"{cpu.extra('b') * 1e6 / tokens:.2f} µs/token "
                    f"to (a)'s {ca * 1e6 / tokens:.2f}"))
    if instruction_tokens > 0:
        with SandboxProcess(tokens_per_second=0) as sb:
            replay = _recorded_sse(sb, chat_body(MODEL, prompt_for(instruction_tokens, "cpu")))
        counts = instructions_per_token(replay, instruction_tokens)
        if counts is not None:
            ratio = counts["a"] / counts["b"]
            rows.append(Row(NAME, "(b) vs (a), CPU instructions per token (valgrind)",
                            counts["b"], "instr/token", counts["a"], "instr/token", ratio,
                            "(b)/(a) >= 0.95, noise-free", ratio >= 0.95,
                            f"cachegrind instruction counts, {instruction_tokens:,}-token answer "
                            "replayed without sockets; the ratio is (a)'s count ÷ (b)'s"))
    return rows
