"""Does a live panel slow streaming down?  ``python -m edge_jupyter.panel.bench [--runs N]``

One real kernel, the sandbox as OpenRouter (5,000-token answers sent as fast as it
can), and the same ``%%edge`` cell run back to back: first without a panel, then
with the panel shown, then without it again (A-B-A, so that drift of the machine
shows up as a difference between the two A blocks rather than as a panel effect).
Back to back matters: the panel refreshes in its own thread *after* each cell, so
that work overlaps the next cell's stream -- the worst case for streaming.

For each cell it reports the wall time from the execute request to the kernel
going idle (what a person waits for) and the stream's own duration (``latency_s``
of the call), and counts the panel's widget messages.  Nothing here is a test: it
prints numbers for a person to read (see the panel's README section).
"""

from __future__ import annotations

import argparse
import os
import queue
import statistics
import tempfile
import time
from typing import Any

CELL = "%%edge -m openai/gpt-4o-mini\nTell me everything about tide pools."


def _run(kc: Any, code: str, timeout: float = 120.0) -> tuple[float, list[dict[str, Any]]]:
    """Execute ``code``; (seconds until idle, the iopub messages of that execution)."""
    started = time.perf_counter()
    msg_id = kc.execute(code, allow_stdin=False)
    messages: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while True:
        try:
            msg = kc.get_iopub_msg(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            raise TimeoutError(f"no answer in {timeout}s: {code[:60]!r}") from None
        if msg["parent_header"].get("msg_id") != msg_id:
            if msg["msg_type"] == "comm_msg":  # panel updates from its own thread
                messages.append(msg)
            continue
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return time.perf_counter() - started, messages
        messages.append(msg)
        if msg["msg_type"] == "error":
            raise RuntimeError("\n".join(msg["content"]["traceback"]))


def _block(kc: Any, runs: int) -> tuple[list[float], list[float], int]:
    walls, streams, comms = [], [], 0
    for _ in range(runs):
        wall, messages = _run(kc, CELL)
        comms += sum(m["msg_type"] == "comm_msg" for m in messages)
        _, out = _run(kc, "print(_edge.latency_s)")
        latency = next(m["content"]["text"] for m in out if m["msg_type"] == "stream")
        walls.append(wall)
        streams.append(float(latency))
    return walls, streams, comms


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m edge_jupyter.panel.bench",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="cells per block (default 10)")
    parser.add_argument("--tokens", type=int, default=5000, help="answer length (default 5000)")
    parser.add_argument("--tokens-per-second", type=float, default=0.0, metavar="RATE",
                        help="the sandbox's pace (default 0: as fast as it can, the worst case)")
    args = parser.parse_args(argv)

    from jupyter_client import KernelManager

    from ..sandbox import Sandbox

    with Sandbox(answer_length=args.tokens, tokens_per_second=args.tokens_per_second) as sb, \
            tempfile.TemporaryDirectory(prefix="edge-bench-") as data:
        env = {**os.environ, "EDGE_OPENROUTER_URL": sb.url, "OPENROUTER_API_KEY":
               sb.issue_key(limit=1000.0), "EDGE_DATA_DIR": data,
               "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
        km = KernelManager(kernel_name="python3")
        km.start_kernel(env=env)
        kc = km.client()
        kc.start_channels()
        try:
            kc.wait_for_ready(timeout=60)
            _run(kc, "%load_ext edge_jupyter")
            _block(kc, 2)  # warm up: imports, connections, the ledger file
            results = {"without panel (before)": _block(kc, args.runs)}
            _run(kc, "from edge_jupyter.panel import show_panel, get_panel, close_panel\n"
                     "show_panel([]); get_panel().settle()")
            results["with the panel shown"] = _block(kc, args.runs)
            _run(kc, "get_panel().settle(); close_panel()")
            results["without panel (after)"] = _block(kc, args.runs)
        finally:
            kc.stop_channels()
            km.shutdown_kernel(now=True)

    pace = f" at {args.tokens_per_second:g} tokens/s" if args.tokens_per_second else ""
    print(f"{args.runs} cells of {args.tokens:,} streamed tokens{pace} per block, "
          "back to back\n")
    print(f"{'':24} {'cell wall (median)':>19} {'stream (median)':>16} {'widget msgs':>12}")
    for name, (walls, streams, comms) in results.items():
        print(f"{name:24} {statistics.median(walls) * 1000:16.0f} ms "
              f"{statistics.median(streams) * 1000:13.0f} ms {comms:12d}")
    base = statistics.median(results["without panel (before)"][0]
                             + results["without panel (after)"][0])
    panel = statistics.median(results["with the panel shown"][0])
    print(f"\nratio, cell wall time with / without the panel: {panel / base:.3f}")


if __name__ == "__main__":
    main()
