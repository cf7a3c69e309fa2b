"""11. ``map(..., batch=True)``: building and submitting a 10,000-row batch, and collecting it
(issue 17), each against a bare baseline measured in the same run.

The sandbox runs in its own process with every batch completed at its first look
(``batch_seconds_per_status = 0``), so the time the server spends answering 10,000 rows is
its own.  A fresh child process (its own data folder) measures **its own CPU time**
(``time.process_time``: every thread of the process, none of the waiting on the server):

* build + submit: from ``map(..., batch=True)``'s call until ``create_batch`` returned —
  the rows' bodies, their replay keys, the quote, the 10,000 pending ledger rows (one
  transaction), the batch's record file and the request itself (target ≤ 2 s);
* collect: from the look that found the batch completed until ``map`` returned its
  DataFrame — reading 10,000 results, one ledger transaction completing every row, the
  replay store, the frame (target ≤ 1 s);

and the same two things done bare (baseline): the bodies as plain dicts posted with httpx,
and the completed batch read with httpx + ``json`` into a DataFrame of its answers. The
ratios say what the bookkeeping (ledger, replay, prices) costs on top.
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

from ._common import MODEL, Row
from ._sandbox import SandboxProcess

NAME = "batch_submit"
MAX_TOKENS = 50
SUBMIT_TARGET_S = 2.0
COLLECT_TARGET_S = 1.0


def run(rows: int = 10_000) -> list[Row]:
    with SandboxProcess(answer_length=20) as sb, \
            tempfile.TemporaryDirectory(prefix="edge-bench-batch-") as data:
        sb.configure(batch_seconds_per_status=0)
        env = {**os.environ, "EDGE_OPENROUTER_URL": sb.url, "OPENROUTER_API_KEY": sb.key,
               "EDGE_DATA_DIR": data, "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
               "NO_PROXY": "127.0.0.1,localhost"}
        root = Path(__file__).resolve().parents[1]
        done = subprocess.run([sys.executable, "-m", "benchmarks.batch_submit", sb.url, str(rows)],
                              env=env, cwd=root, capture_output=True, text=True, timeout=1_800)
        if done.returncode != 0:
            raise RuntimeError(f"the batch benchmark's child failed: {done.stderr.strip()[-2000:]}")
        got = json.loads(done.stdout.strip().splitlines()[-1])
    return rows_from(got, rows)


def rows_from(got: dict[str, Any], rows: int) -> list[Row]:
    submit, collect = got["submit_cpu"], got["collect_cpu"]
    bare_submit, bare_collect = got["bare_submit_cpu"], got["bare_collect_cpu"]
    return [
        Row(NAME, f"build + submit a {rows:,}-row batch (own CPU)", submit, "s", bare_submit,
            "s bare httpx post", submit / bare_submit if bare_submit else None,
            f"<= {SUBMIT_TARGET_S:g} s", submit <= SUBMIT_TARGET_S,
            f"wall {got['submit_wall']:.2f} s (bare {got['bare_submit_wall']:.2f} s); ledger rows "
            f"{got['ledger_rows']:,}, one batch submitted: {got['batches_created'] == 1}"),
        Row(NAME, f"collect a {rows:,}-row batch into a DataFrame (own CPU)", collect, "s",
            bare_collect, "s bare httpx get + json", collect / bare_collect if bare_collect else None,
            f"<= {COLLECT_TARGET_S:g} s", collect <= COLLECT_TARGET_S,
            f"wall {got['collect_wall']:.2f} s (bare {got['bare_collect_wall']:.2f} s); "
            f"rows ok {got['rows_ok']:,} of {rows:,}"),
    ]


# -- the child process ----------------------------------------------------------------------

def _bare(origin: str, key: str, n: int) -> dict[str, float]:
    """The baseline: plain bodies posted with httpx, the completed batch read into a frame."""
    import httpx
    import pandas as pd

    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(trust_env=False, timeout=600) as http:
        cpu, wall = time.process_time(), time.perf_counter()
        requests = [{"custom_id": f"row-{i}", "body": {
            "model": MODEL, "max_tokens": MAX_TOKENS,
            "messages": [{"role": "user", "content": f"Summarise bare item {i}"}]}} for i in range(n)]
        made = http.post(origin + "/api/beta/batches", headers=headers, json={
            "endpoint": "/v1/chat/completions", "model": MODEL, "requests": requests}).json()
        figures = {"bare_submit_cpu": time.process_time() - cpu, "bare_submit_wall": time.perf_counter() - wall}
        http.get(f"{origin}/api/beta/batches/{made['id']}", headers=headers)  # the server answers the rows
        cpu, wall = time.process_time(), time.perf_counter()
        batch = json.loads(http.get(f"{origin}/api/beta/batches/{made['id']}", headers=headers).content)
        answers = {r["custom_id"]: r["response"]["body"] for r in batch["results"]}
        frame = pd.DataFrame({
            "answer": [answers[f"row-{i}"]["choices"][0]["message"]["content"] for i in range(n)],
            "cost_usd": [answers[f"row-{i}"]["usage"]["cost"] for i in range(n)]})
        figures.update(bare_collect_cpu=time.process_time() - cpu,
                       bare_collect_wall=time.perf_counter() - wall)
    assert len(frame) == n
    return figures


def _batches(origin: str, key: str) -> int:
    """How many batches the sandbox holds for the key (its list)."""
    import httpx

    listed = httpx.get(origin + "/api/beta/batches", headers={"Authorization": f"Bearer {key}"},
                       trust_env=False, timeout=60).json()
    return len(listed["data"])


def child(origin: str, n: int) -> dict[str, Any]:
    import contextlib
    import io

    import pandas as pd

    import edge_jupyter
    from edge_jupyter.ledger import Ledger
    from edge_jupyter.openrouter import OpenRouterClient

    key = os.environ["OPENROUTER_API_KEY"]
    marks: dict[str, float] = {}
    create, get = OpenRouterClient.create_batch, OpenRouterClient.get_batch

    def timed_create(self: Any, *args: Any, **kwargs: Any) -> Any:
        made = create(self, *args, **kwargs)
        marks["submitted_cpu"], marks["submitted_wall"] = time.process_time(), time.perf_counter()
        return made

    def timed_get(self: Any, *args: Any, **kwargs: Any) -> Any:
        cpu, wall = time.process_time(), time.perf_counter()
        batch = get(self, *args, **kwargs)
        if batch.get("status") == "completed":  # the look that found it done: collecting starts
            marks["collect_cpu"], marks["collect_wall"] = cpu, wall
        return batch

    OpenRouterClient.create_batch = timed_create  # type: ignore[method-assign]
    OpenRouterClient.get_batch = timed_get  # type: ignore[method-assign]
    got: dict[str, Any] = {}
    with contextlib.redirect_stdout(io.StringIO()):
        edge_jupyter.map(pd.Series([f"warm {i}" for i in range(20)]), "Summarise {text}", MODEL,
                         max_tokens=MAX_TOKENS, batch=True, confirm_over=None, progress=False)
        got.update(_bare(origin, key, n))
        texts = pd.Series([f"item {i}" for i in range(n)])
        before = _batches(origin, key)
        cpu, wall = time.process_time(), time.perf_counter()
        frame = edge_jupyter.map(texts, "Summarise {text}", MODEL, max_tokens=MAX_TOKENS,
                                 batch=True, confirm_over=None, progress=False)
        end_cpu, end_wall = time.process_time(), time.perf_counter()
    got["submit_cpu"], got["submit_wall"] = marks["submitted_cpu"] - cpu, marks["submitted_wall"] - wall
    got["collect_cpu"], got["collect_wall"] = end_cpu - marks["collect_cpu"], end_wall - marks["collect_wall"]
    got["rows_ok"] = int((frame["status"] == "ok").sum())
    got["ledger_rows"] = len(Ledger.default().frame("all")) - 20
    got["batches_created"] = _batches(origin, key) - before
    return got


if __name__ == "__main__":
    print(json.dumps(child(sys.argv[1], int(sys.argv[2]))))
