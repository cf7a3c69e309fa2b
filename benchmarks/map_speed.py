"""8. ``edge_jupyter.map`` against a bare threaded httpx streaming loop (issue 14 §3).

The sandbox runs in its own process at zero delay, answering every row with a ~20-token
answer. A fresh child process (its own data folder, nothing else loaded) then runs, for
each size, the bare loop (a) — ``concurrency`` threads streaming the same requests with
httpx + httpx-sse, as ``streaming.bare_loop`` — and ``edge_jupyter.map`` at the same
concurrency, sandwiched: (a), map, (a). Every map asks new prompts (nothing is replayed),
so each of its rows is a ledger row begun before it is sent and completed after.

Figures:

* rows/s of map and of the bare loop at the first size, and their ratio against the
  mean of the two bare runs around it (target ≥ 0.8);
* the time of the second size over the first (target ≤ 4.4 for 20,000 over 5,000, i.e.
  linear within 10 %), corrected for the machine's drift by the bare loop's speed around
  each (the raw ratio is in the note);
* the RSS growth of the child per 10,000 rows over the larger map, with its result
  dropped and ``gc.collect()`` done (reported, no target); the ledger's row count is
  checked against the rows asked.
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

NAME = "map_speed"
ANSWER_TOKENS = 20
MAX_TOKENS = 50
RATIO_TARGET = 0.8
#: 20,000 rows in at most 4.4 × the time of 5,000: linear within 10 %.
LINEAR_TARGET = 4.4


def run(sizes: tuple[int, int] = (5_000, 20_000), concurrency: int = 16) -> list[Row]:
    small, large = sizes
    with SandboxProcess(answer_length=ANSWER_TOKENS) as sb, \
            tempfile.TemporaryDirectory(prefix="edge-bench-map-") as data:
        env = {**os.environ, "EDGE_OPENROUTER_URL": sb.url, "OPENROUTER_API_KEY": sb.key,
               "EDGE_DATA_DIR": data, "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
               "NO_PROXY": "127.0.0.1,localhost"}
        root = Path(__file__).resolve().parents[1]
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.map_speed", sb.api_url, str(small), str(large),
             str(concurrency)], env=env, cwd=root, capture_output=True, text=True, timeout=3_600)
        if done.returncode != 0:
            raise RuntimeError(f"the map benchmark's child failed: {done.stderr.strip()[-2000:]}")
        got = json.loads(done.stdout.strip().splitlines()[-1])
    return rows_from(got, small, large, concurrency)


def rows_from(got: dict[str, Any], small: int, large: int, concurrency: int) -> list[Row]:
    """The table's rows from the child's figures (times in s, RSS in MB)."""
    s, big = got[str(small)], got[str(large)]
    bare_s = (small / s["bare_before"] + small / s["bare_after"]) / 2  # rows/s around the map
    map_s = small / s["map"]
    ratio = map_s / bare_s
    bare_big = (small / big["bare_before"] + small / big["bare_after"]) / 2
    raw = big["map"] / s["map"]
    linear = raw * bare_big / bare_s  # the larger map's time, had the machine kept its speed
    per_10k = (got["rss_after"] - got["rss_before"]) * 10_000 / large
    linear_target = LINEAR_TARGET / 4 * large / small  # 4.4 for 20,000 over 5,000
    rows_ok = got["ledger_rows"] == got["rows_asked"]
    return [
        Row(NAME, f"map rows/s, {small:,} rows of ~{ANSWER_TOKENS} tokens, concurrency {concurrency}",
            map_s, "rows/s", bare_s, "rows/s bare loop", ratio, f">= {RATIO_TARGET} × bare loop",
            ratio >= RATIO_TARGET,
            f"bare (a) runs around it {small / s['bare_before']:.0f} and {small / s['bare_after']:.0f} "
            f"rows/s; map {s['map']:.2f} s"),
        Row(NAME, f"map time, {large:,} rows ÷ {small:,} rows", linear, "×", None, "", None,
            f"<= {linear_target:.2f} × ({large / small:g} × the rows)", linear <= linear_target,
            f"raw {raw:.2f} × ({big['map']:.2f} s ÷ {s['map']:.2f} s), corrected by the bare loop's "
            f"{bare_big:.0f} vs {bare_s:.0f} rows/s around each"),
        Row(NAME, "map RSS growth per 10,000 rows", per_10k, "MB", None, "", None, "", None,
            f"child RSS {got['rss_before']:.0f} → {got['rss_after']:.0f} MB over the {large:,}-row "
            f"map, result dropped; with the result held {got['rss_held']:.0f} MB; ledger rows "
            f"{got['ledger_rows']:,} of {got['rows_asked']:,} asked"
            + ("" if rows_ok else " — ROWS MISSING")),
    ]


# -- the child process ----------------------------------------------------------------------

def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _bodies(n: int, tag: str) -> list[dict[str, Any]]:
    return [{"model": MODEL, "messages": [{"role": "user", "content": f"Summarise {tag} item {i}"}],
             "max_tokens": MAX_TOKENS} for i in range(n)]


def _bare(api_url: str, key: str, bodies: list[dict[str, Any]], concurrency: int) -> float:
    """(a): seconds for ``concurrency`` threads to stream every body with httpx + httpx-sse."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    from .streaming import bare_loop

    url = api_url + "/chat/completions"
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    def one(body: dict[str, Any]) -> str:
        # The sandbox's listener sometimes resets a connection under 16 at once; map
        # retries those (its RetryPolicy), so the baseline does too, up to three times.
        for attempt in range(4):
            try:
                return bare_loop(http, url, key, body)[1]
            except httpx.TransportError:
                if attempt == 3:
                    raise
        return ""

    with httpx.Client(limits=limits, trust_env=False, timeout=60) as http, \
            ThreadPoolExecutor(concurrency) as pool:
        start = time.perf_counter()
        texts = list(pool.map(one, bodies))
        took = time.perf_counter() - start
    if not all(texts):
        raise RuntimeError("the bare loop got an empty answer")
    return took


def _map(n: int, tag: str, concurrency: int) -> tuple[float, Any]:
    import pandas as pd

    import edge_jupyter

    texts = pd.Series([f"{tag} item {i}" for i in range(n)])
    start = time.perf_counter()
    frame = edge_jupyter.map(texts, "Summarise {text}", MODEL, max_tokens=MAX_TOKENS,
                             concurrency=concurrency, confirm_over=None, progress=False)
    took = time.perf_counter() - start
    if set(frame["status"]) != {"ok"}:
        raise RuntimeError(f"map rows did not all answer: {frame['status'].value_counts().to_dict()}")
    return took, frame


def child(api_url: str, small: int, large: int, concurrency: int) -> dict[str, Any]:
    import contextlib
    import gc
    import io

    from edge_jupyter.ledger import Ledger

    key = os.environ["OPENROUTER_API_KEY"]
    quiet = contextlib.redirect_stdout(io.StringIO())  # map's quote and total lines
    got: dict[str, Any] = {}
    with quiet:
        _bare(api_url, key, _bodies(64, "warm"), concurrency)
        _map(64, "warm", concurrency)
        asked = 64
        for n in (small, large):
            figures: dict[str, float] = {"bare_before": _bare(api_url, key, _bodies(small, f"a{n}"),
                                                              concurrency)}
            if n == large:
                gc.collect()
                got["rss_before"] = _rss_mb()
            figures["map"], frame = _map(n, f"m{n}", concurrency)
            asked += n
            if n == large:
                got["rss_held"] = _rss_mb()
                del frame
                gc.collect()
                got["rss_after"] = _rss_mb()
            else:
                del frame
            figures["bare_after"] = _bare(api_url, key, _bodies(small, f"b{n}"), concurrency)
            got[str(n)] = figures
    got["rows_asked"] = asked
    got["ledger_rows"] = len(Ledger.default().frame("all"))
    return got


if __name__ == "__main__":
    url, small_rows, large_rows, conc = sys.argv[1], *map(int, sys.argv[2:5])
    print(json.dumps(child(url, small_rows, large_rows, conc)))
