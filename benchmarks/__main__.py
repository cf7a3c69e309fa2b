"""``python -m benchmarks [--quick] [--only NAME ...]``: run the benchmarks, print one table.

A full run (no ``--quick``, no ``--only``) also writes ``benchmarks/RESULTS.md``; other
runs write only where ``--output`` says, so a quick check never replaces the full results.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from . import (
    batch_submit,
    content,
    display,
    hub_provision,
    latency,
    ledger,
    many_models,
    map_speed,
    memory,
    startup,
    streaming,
    tools_step,
)
from ._common import Row
from ._report import machine, now, results_markdown, text_table

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"

#: name -> (module, full-size arguments, --quick arguments); in the order they run.
BENCHMARKS: dict[str, tuple[ModuleType, dict[str, Any], dict[str, Any]]] = {
    "streaming": (streaming, {"tokens": 20_000, "repeats": 31, "instruction_tokens": 5_000}, {"tokens": 3_000, "repeats": 3}),
    "display": (display, {"sizes": (1_000, 5_000, 20_000, 50_000)}, {"sizes": (1_000, 5_000)}),
    "latency": (latency, {"tokens": 40, "repeats": 9, "lookup_repeats": 3},
                {"tokens": 20, "repeats": 3, "lookup_repeats": 1}),
    "startup": (startup, {"repeats": 9}, {"repeats": 3}),
    "ledger": (ledger, {"rows": 1_000_000, "appends": 2_000, "workers": 4, "worker_calls": 500},
               {"rows": 25_000, "appends": 200, "workers": 4, "worker_calls": 50}),
    "many_models": (many_models, {"tokens": 150, "models": 5, "repeats": 3},
                    {"tokens": 25, "models": 5, "repeats": 1}),
    "memory": (memory, {"tokens": 50_000, "ledger_rows": 10_000},
               {"tokens": 5_000, "ledger_rows": 500}),
    "map_speed": (map_speed, {"sizes": (5_000, 20_000), "concurrency": 16},
                  {"sizes": (1_000, 4_000), "concurrency": 16}),
    "content": (content, {"repeats": 15}, {"repeats": 3, "rows": 20_000}),
    "tools_step": (tools_step, {"steps": 5, "repeats": 15}, {"steps": 3, "repeats": 3}),
    "batch_submit": (batch_submit, {"rows": 10_000}, {"rows": 2_000}),
    "hub_provision": (hub_provision, {"repeats": 15}, {"repeats": 3}),
}


def run_all(names: list[str], quick: bool, extra: dict[str, dict[str, Any]] | None = None,
            echo: Callable[[str], None] = print) -> tuple[list[Row], list[str]]:
    """Run the named benchmarks; a benchmark that fails is reported, the others still run."""
    rows: list[Row] = []
    errors: list[str] = []
    for name in names:
        module, full, small = BENCHMARKS[name]
        kwargs = {**(small if quick else full), **(extra or {}).get(name, {})}
        echo(f"· {name} {kwargs} …")
        started = time.perf_counter()
        try:
            got = module.run(**kwargs)
        except Exception as exc:
            errors.append(f"{name}: {type(exc).__name__}: {exc}")
            traceback.print_exc()
            got = [Row(name, "benchmark failed", float("nan"), ok=False,
                       note=f"{type(exc).__name__}: {exc}")]
        rows.extend(got)
        echo(f"  {time.perf_counter() - started:.1f} s")
    return rows, errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a minute or so)")
    parser.add_argument("--only", nargs="+", choices=list(BENCHMARKS), metavar="NAME",
                        help=f"run only these: {', '.join(BENCHMARKS)}")
    parser.add_argument("--output", type=Path, default=None,
                        help="write the Markdown results here (default for a full run: "
                             "benchmarks/RESULTS.md)")
    parser.add_argument("--compare-python", default=None, metavar="PYTHON",
                        help="a Python that can import jupyter_ai_magics, for the start-up "
                             "comparison (also EDGE_BENCH_COMPARE_PYTHON)")
    args = parser.parse_args(argv)
    names = args.only or list(BENCHMARKS)
    output = args.output or (RESULTS if not (args.quick or args.only) else None)
    extra = {"startup": {"compare": args.compare_python}} if args.compare_python else {}

    started_at, started = now(), time.perf_counter()
    info = machine()  # the commit and versions measured, read before anything can change
    rows, errors = run_all(names, args.quick, extra)
    seconds = time.perf_counter() - started
    print()
    print(text_table(rows))
    if output is not None:
        command = "python -m benchmarks" + ("".join(f" {shlex.quote(a)}" for a in argv)
                                            if argv is not None else
                                            "".join(f" {shlex.quote(a)}" for a in sys.argv[1:]))
        modules = [BENCHMARKS[name][0] for name in names]
        output.write_text(results_markdown(rows, command, started_at, seconds, modules, info),
                          encoding="utf-8")
        print(f"\nwritten: {output}")
    if errors:
        print("\nfailed: " + "; ".join(errors), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
