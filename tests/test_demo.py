"""The main job, as the README's first command runs it: ``edge-jupyter demo`` executes the
quickstart notebook in a real kernel against the built-in sandbox."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path


def test_the_demo_runs_the_whole_quickstart(tmp_path: Path) -> None:
    out, data = tmp_path / "quickstart.executed.ipynb", tmp_path / "data"
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENROUTER_API_KEY", "EDGE_OPENROUTER_URL", "EDGE_DATA_DIR")}
    done = subprocess.run([sys.executable, "-m", "edge_jupyter.cli", "demo", "--tokens-per-second", "0",
                           "--output", str(out), "--data-dir", str(data)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "💰" in done.stdout and "executed" in done.stdout
    nb = json.loads(out.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(c["execution_count"] for c in code), "a cell was not run"
    for cell in code:  # only the cell that shows a budget refusal may end in error
        errors = [o for o in cell["outputs"] if o["output_type"] == "error"]
        expected = "raises-exception" in cell["metadata"].get("tags", [])
        assert bool(errors) == expected, ("".join(cell["source"]), errors)
    # The Python API cells ran on the engine: their calls are ledger rows like the cells'.
    with sqlite3.connect(data / "ledger.sqlite3") as db:
        statuses = [s for (s,) in db.execute("SELECT status FROM calls")]
    assert statuses and "pending" not in statuses
    api = [c for c in code if "edge_jupyter.ask(" in "".join(c["source"])]
    assert api and api[0]["outputs"], "the edge_jupyter.ask cell showed nothing"
    # The sandbox key never lands in it (its label, "sk-or-v1-642...754", is OpenRouter's mask).
    assert not re.search(r"sk-or-v1-[0-9a-f]{64}", out.read_text(encoding="utf-8"))
