"""4. Start-up: ``%load_ext edge_jupyter`` in a fresh IPython, against a bare IPython start.

Each run is a fresh ``python -c`` process that starts an IPython shell (the
``TerminalInteractiveShell`` that ``ipython`` runs, without its prompt loop) and, in the measured variant, runs
``%load_ext edge_jupyter``. Bare and loaded runs alternate. Two figures:

* the ``%load_ext`` call itself, timed inside the process (``perf_counter``) — the
  precise one, used for the target;
* median wall time of whole loaded processes minus median wall time of bare ones —
  the same quantity measured from outside, noisier, shown as a cross-check.

Each loaded run also reports which heavy modules ``%load_ext`` added to ``sys.modules``.

jupyter-ai-magics is measured the same way when it can be imported by some Python:
this one, or the one given with ``--compare-python`` / ``EDGE_BENCH_COMPARE_PYTHON``
(it pulls in langchain, so it is best kept in its own virtual environment).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from ._common import Row, median

NAME = "startup"
HEAVY = ("pandas", "numpy", "ipywidgets", "tornado", "jupyter_server", "httpx", "keyring",
         "sqlite3", "langchain", "pydantic")

_SCRIPT = """
import sys, time, json
t0 = time.perf_counter()
from IPython.terminal.interactiveshell import TerminalInteractiveShell
ip = TerminalInteractiveShell.instance()
t1 = time.perf_counter()
before = set(sys.modules)
ext = {ext!r}
if ext:
    ip.run_line_magic("load_ext", ext)
t2 = time.perf_counter()
heavy = [m for m in {heavy!r} if m in sys.modules and m not in before]
print("BENCH " + json.dumps({{"ipython": t1 - t0, "load_ext": t2 - t1, "heavy": heavy,
                             "loaded": not ext or ext in ip.extension_manager.loaded}}))
"""


def _one(python: str, ext: str | None) -> tuple[float, dict[str, object]]:
    """Wall seconds of one fresh process, and what it reported."""
    code = _SCRIPT.format(ext=ext or "", heavy=HEAVY)
    env = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
           "PYTHONDONTWRITEBYTECODE": "1"}
    start = time.perf_counter()
    done = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=300,
                          env=env, cwd=str(Path(__file__).resolve().parents[1]))
    wall = time.perf_counter() - start
    lines = [x for x in done.stdout.splitlines() if x.startswith("BENCH ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{python} with {ext!r} failed:\n{done.stderr[-2000:]}")
    report = json.loads(lines[-1][len("BENCH "):])
    if not report["loaded"]:
        raise RuntimeError(f"%load_ext {ext} did not load in {python}")
    return wall, report


def importable(python: str, module: str) -> bool:
    probe = subprocess.run([python, "-c", f"import importlib.util as u, sys; "
                            f"sys.exit(0 if u.find_spec({module!r}) else 1)"],
                           capture_output=True, timeout=60)
    return probe.returncode == 0


def measure(python: str, ext: str, repeats: int) -> dict[str, object]:
    """Alternating bare/loaded runs of ``python``; medians and the heavy modules seen."""
    _one(python, ext)  # warm the OS file cache (and any .pyc) before timing
    _one(python, None)
    bare, loaded, inside, heavy = [], [], [], set()
    for _ in range(repeats):
        wall, _ = _one(python, None)
        bare.append(wall)
        wall, report = _one(python, ext)
        loaded.append(wall)
        inside.append(float(report["load_ext"]))  # type: ignore[arg-type]
        heavy.update(report["heavy"])  # type: ignore[arg-type]
    return {"bare": median(bare), "loaded": median(loaded), "load_ext": median(inside),
            "heavy": sorted(heavy)}


def compare_python(explicit: str | None = None) -> str | None:
    """A Python that can import jupyter_ai_magics, if there is one."""
    for candidate in (explicit, os.environ.get("EDGE_BENCH_COMPARE_PYTHON"), sys.executable):
        if candidate and Path(candidate).exists() and importable(candidate, "jupyter_ai_magics"):
            return candidate
    return None


def run(repeats: int = 7, compare: str | None = None, with_jupyter_ai: bool = True) -> list[Row]:
    ours = measure(sys.executable, "edge_jupyter", repeats)
    added = float(ours["load_ext"]) * 1000  # type: ignore[arg-type]
    wall_diff = (float(ours["loaded"]) - float(ours["bare"])) * 1000  # type: ignore[arg-type]
    heavy = [m for m in ours["heavy"] if m in ("pandas", "ipywidgets", "tornado",  # type: ignore[attr-defined]
                                               "jupyter_server", "numpy")]
    rows = [
        Row(NAME, "%load_ext edge_jupyter (in-process)", added, "ms",
            float(ours["bare"]) * 1000, "ms bare IPython", None, "<= 100 ms", added <= 100,
            f"median of {repeats}; wall-clock cross-check (loaded − bare process) "
            f"{wall_diff:.0f} ms"),
        Row(NAME, "heavy modules imported by %load_ext", float(len(heavy)), "modules",
            None, "", None, "none of pandas, ipywidgets, tornado, jupyter_server", not heavy,
            "imported: " + (", ".join(ours["heavy"]) or "nothing listed")  # type: ignore[arg-type]
            + f" (checked: {', '.join(HEAVY)})"),
    ]
    python = compare_python(compare) if with_jupyter_ai else None
    if python is None:
        if with_jupyter_ai:
            rows.append(Row(NAME, "%load_ext jupyter_ai_magics", float("nan"), "", None, "",
                            None, "comparison", None,
                            "not measured: no Python here can import jupyter_ai_magics "
                            "(pass --compare-python)"))
        return rows
    theirs = measure(python, "jupyter_ai_magics", repeats)
    their_ms = float(theirs["load_ext"]) * 1000  # type: ignore[arg-type]
    rows.append(Row(
        NAME, "%load_ext jupyter_ai_magics (in-process, comparison)", their_ms, "ms",
        added, "ms edge_jupyter", their_ms / added if added else None, "comparison", None,
        f"its bare IPython {float(theirs['bare']) * 1000:.0f} ms; wall-clock cross-check "
        f"{(float(theirs['loaded']) - float(theirs['bare'])) * 1000:.0f} ms; imports "  # type: ignore[arg-type]
        + ", ".join(theirs["heavy"])))  # type: ignore[arg-type]
    return rows
