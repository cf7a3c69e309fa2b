"""10. A tool loop's own time per step (issue 16): ``ask(..., tools=[add])`` against the same
loop written by hand with httpx.

The sandbox runs in its own process at zero delay; ``[sandbox:tools=N]`` makes its model call
``add`` in N steps before it answers, so each loop makes N + 1 requests. A fresh child process
(its own data folder) runs, alternately:

* **(a) the bare loop**: one ``httpx.Client``; per step a streamed POST, each ``data:`` line
  ``json.loads``-ed, the ``delta.tool_calls`` pieces joined, ``add`` called, the assistant and
  ``tool`` messages appended — the least any client must do;
* **(b) edge_jupyter**: ``edge_jupyter.ask(prompt, tools=[add])`` — per step: plan, budget
  check and ledger row before sending, the stream parsed into events, the tool run through
  :class:`~edge_jupyter.tools.ToolBox`, the row completed; once per loop the summary.

Figure: ((b) − (a)) ÷ (N + 1), the milliseconds edge_jupyter adds to each request it makes
(median of the repeats). Target: at most 5 ms per step.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ._common import MODEL, Row, median
from ._sandbox import SandboxProcess

NAME = "tools_step"
TARGET_MS = 5.0


def run(steps: int = 5, repeats: int = 15) -> list[Row]:
    with SandboxProcess() as sb, tempfile.TemporaryDirectory(prefix="edge-bench-tools-") as data:
        env = {**os.environ, "EDGE_OPENROUTER_URL": sb.url, "OPENROUTER_API_KEY": sb.key,
               "EDGE_DATA_DIR": data, "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
               "NO_PROXY": "127.0.0.1,localhost"}
        root = Path(__file__).resolve().parents[1]
        done = subprocess.run([sys.executable, "-m", "benchmarks.tools_step", sb.api_url,
                               str(steps), str(repeats)],
                              env=env, cwd=root, capture_output=True, text=True, timeout=1_800)
        if done.returncode != 0:
            raise RuntimeError(f"the tools benchmark's child failed: {done.stderr.strip()[-2000:]}")
        got = json.loads(done.stdout.strip().splitlines()[-1])
    requests = steps + 1
    own_ms = (got["ours"] - got["bare"]) * 1000 / requests
    bare_ms = got["bare"] * 1000 / requests
    return [Row(NAME, f"tool loop: edge_jupyter's own time per step ({steps} tool steps + answer)",
                own_ms, "ms/step", bare_ms, "ms/request bare httpx loop",
                got["ours"] / got["bare"] if got["bare"] else None, f"<= {TARGET_MS:g} ms/step",
                own_ms <= TARGET_MS,
                f"median of {repeats}, alternating; loop {got['ours'] * 1000:.1f} ms vs bare "
                f"{got['bare'] * 1000:.1f} ms; ledger rows {got['rows']} (asked {got['asked']})")]


def _bare_loop(client: Any, api_url: str, key: str, prompt: str, tool: dict[str, Any]) -> str:
    """The loop by hand: stream, join the tool-call pieces, run ``add``, send the results."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": prompt}]
    while True:
        body = {"model": MODEL, "messages": messages, "tools": [tool], "stream": True}
        calls: dict[int, dict[str, str]] = {}
        text: list[str] = []
        with client.stream("POST", f"{api_url}/chat/completions", json=body,
                           headers={"Authorization": f"Bearer {key}"}) as response:
            for line in response.iter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                chunk = json.loads(line[6:])
                for choice in chunk.get("choices") or ():
                    delta = choice.get("delta") or {}
                    if delta.get("content"):
                        text.append(delta["content"])
                    for piece in delta.get("tool_calls") or ():
                        call = calls.setdefault(piece["index"], {"id": "", "name": "", "arguments": ""})
                        call["id"] = piece.get("id") or call["id"]
                        function = piece.get("function") or {}
                        call["name"] = function.get("name") or call["name"]
                        call["arguments"] += function.get("arguments") or ""
        if not calls:
            return "".join(text)
        ordered = [calls[i] for i in sorted(calls)]
        messages.append({"role": "assistant", "content": None, "tool_calls": [
            {"id": c["id"], "type": "function",
             "function": {"name": c["name"], "arguments": c["arguments"]}} for c in ordered]})
        for c in ordered:
            arguments = json.loads(c["arguments"])
            messages.append({"role": "tool", "tool_call_id": c["id"],
                             "content": str(_add(**arguments))})


def _add(a: int, b: int) -> int:
    """Add two whole numbers."""
    return a + b


def _child(api_url: str, steps: int, repeats: int) -> None:
    import httpx

    import edge_jupyter as edge
    from edge_jupyter.tools import function_tool

    key = os.environ["OPENROUTER_API_KEY"]
    tool = function_tool(_add)

    def prompt(tag: str) -> str:
        return f"Add these up, run {tag}. [sandbox:tools={steps}]"

    def ours(tag: str) -> None:
        result = edge.ask(prompt(tag), MODEL, tools=[_add], max_steps=steps + 1)
        assert len(result.steps) == steps + 1, result.steps

    with httpx.Client(timeout=60) as client:
        ours("warm-up")
        _bare_loop(client, api_url, key, prompt("warm-up bare"), tool)
        t_ours, t_bare = [], []
        for i in range(repeats):
            start = time.perf_counter()
            _bare_loop(client, api_url, key, prompt(f"bare {i}"), tool)
            t_bare.append(time.perf_counter() - start)
            start = time.perf_counter()
            ours(str(i))
            t_ours.append(time.perf_counter() - start)
    rows = len(edge.usage("all"))
    print(json.dumps({"ours": median(t_ours), "bare": median(t_bare), "rows": rows,
                      "asked": (repeats + 1) * (steps + 1)}))


if __name__ == "__main__":
    _child(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
