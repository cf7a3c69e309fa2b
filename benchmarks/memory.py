"""7. Memory: a kernel's RSS after a 50k-token answer and after 10,000 ledger rows.

A fresh kernel loads the extension and answers a short warm-up cell (so imports are
done); then, reading ``/proc/self/status`` inside the kernel (``VmRSS`` now, ``VmHWM``
the peak so far):

1. one ``%%edge`` cell with a ``tokens``-token answer (sandbox at zero delay), then a
   second one (if nothing piles up, the second adds about nothing);
2. ``ledger_rows`` calls written to the ledger the way the magic writes them
   (``begin`` + ``complete``), then ``edge_jupyter.usage("all")`` (which imports pandas).

After the answer, with ``gc.collect()`` done, the kernel counts the objects a stream
makes per token (``TextDelta``/``ReasoningDelta`` events) that are still alive and any
list of ≥ 1,000 items (a retained token list): both must be zero. The answer itself
stays, once, as the result's text. The baseline is a bare kernel without the extension.
"""

from __future__ import annotations

import tempfile

from ._common import MODEL, Row, prompt_for
from ._kernel import BenchKernel, edge_cell, kernel_env
from ._sandbox import SandboxProcess

NAME = "memory"

_MEMINFO = """
def _bench_mem():
    fields = {}
    with open("/proc/self/status") as f:
        for line in f:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                fields[name] = int(value.split()[0]) / 1024
    return fields
"""

_LEFTOVERS = """
def _bench_leftovers():
    import gc
    from edge_jupyter.openrouter import ReasoningDelta, TextDelta
    gc.collect()
    events = lists = 0
    for obj in gc.get_objects():
        kind = type(obj)
        if kind is TextDelta or kind is ReasoningDelta:
            events += 1
        elif kind is list and len(obj) >= 1000:
            lists += 1
    return {"events": events, "big_lists": lists}
"""

_LEDGER_ROWS = """
from edge_jupyter import calls as _bench_recorder
from edge_jupyter.record import CallRecord as _BenchRecord
for _i in range({rows}):
    _r = _BenchRecord(model=f"vendor/model-{{_i % 24}}", notebook="bench.ipynb",
                      execution_count=_i, generation_id=f"gen-bench-{{_i}}")
    _row = _bench_recorder.begin(_r)
    _r.status, _r.cost_usd, _r.prompt_tokens, _r.completion_tokens = "ok", 1e-6 * _i, 100, 50
    _bench_recorder.finish(_row, _r)
del _r, _row, _i
import edge_jupyter as _bench_edge
_bench_frame_rows = len(_bench_edge.usage("all"))
"""


def run(tokens: int = 50_000, ledger_rows: int = 10_000) -> list[Row]:
    rows: list[Row] = []
    with SandboxProcess(tokens_per_second=0) as sb, \
            tempfile.TemporaryDirectory(prefix="edge-bench-memory-") as data:
        env = kernel_env(sb.url, sb.key, data)
        with BenchKernel(env, load_ext=False) as bare:
            bare.ok(_MEMINFO)
            base = bare.value("_bench_mem()")
        with BenchKernel(env) as k:
            k.ok(_MEMINFO + _LEFTOVERS)
            k.ok(edge_cell(prompt_for(20, "warm-up"), MODEL))
            before = k.value("_bench_mem()")
            k.ok(edge_cell(prompt_for(tokens, "memory"), MODEL), timeout=600)
            answer_len = k.value("len(_edge.text)")
            after_answer = k.value("_bench_mem()")
            left = k.value("_bench_leftovers()")
            k.ok(edge_cell(prompt_for(tokens, "memory again"), MODEL), timeout=600)
            after_second = k.value("_bench_mem()")
            k.ok(_LEDGER_ROWS.format(rows=ledger_rows), timeout=600)
            frame_rows = k.value("_bench_frame_rows")
            after_ledger = k.value("_bench_mem()")
    assert frame_rows >= ledger_rows, f"usage() saw {frame_rows} rows, not {ledger_rows}"

    rows.append(Row(NAME, "kernel RSS with edge_jupyter loaded (after a warm-up call)",
                    before["VmRSS"], "MB", base["VmRSS"], "MB bare kernel",
                    before["VmRSS"] / base["VmRSS"], "report", None))
    grown = after_answer["VmRSS"] - before["VmRSS"]
    rows.append(Row(NAME, f"kernel after a {tokens:,}-token answer: RSS (peak)",
                    after_answer["VmRSS"], "MB", before["VmRSS"], "MB before",
                    after_answer["VmRSS"] / before["VmRSS"], "report", None,
                    f"peak {after_answer['VmHWM']:.0f} MB; +{grown:.1f} MB for a "
                    f"{answer_len:,}-character answer"))
    again = after_second["VmRSS"] - after_answer["VmRSS"]
    rows.append(Row(NAME, f"RSS growth from a second {tokens:,}-token answer", again, "MB",
                    grown, "MB from the first", None, "report (≈ 0: nothing piles up)", None,
                    f"peak {after_second['VmHWM']:.0f} MB"))
    clean = left["events"] == 0 and left["big_lists"] == 0
    rows.append(Row(NAME, "per-token objects alive after the answer", float(left["events"]),
                    "objects", None, "", None, "0 events, 0 lists >= 1,000 items", clean,
                    f"{left['big_lists']} lists of >= 1,000 items"))
    rows.append(Row(NAME, f"kernel after {ledger_rows:,} ledger rows + usage(): RSS (peak)",
                    after_ledger["VmRSS"], "MB", after_answer["VmRSS"], "MB before",
                    after_ledger["VmRSS"] / after_answer["VmRSS"], "report", None,
                    f"peak {after_ledger['VmHWM']:.0f} MB; usage() imports pandas"))
    return rows
