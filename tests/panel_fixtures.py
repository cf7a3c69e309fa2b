"""Helpers for the panel tests: real ledger rows, and a real JupyterLab driven by Chromium.

PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from processes import JupyterProcess, jupyter_process

from edge_jupyter.ledger import Ledger
from edge_jupyter.record import CallRecord

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
#: The browser tests' module mark: they need Debian's chromium, which scripts/test.sh installs.
needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                    reason="needs Debian's chromium (installed by scripts/test.sh)")

_ROOT = Path(__file__).resolve().parent.parent
#: Like the other e2e tests: screenshots go to test-artifacts/ (ignored by git);
#: ``EDGE_UPDATE_DOCS=1`` writes the ones the README shows, in docs/screenshots/.
SCREENSHOTS = (_ROOT / "docs" / "screenshots" if os.environ.get("EDGE_UPDATE_DOCS")
               else _ROOT / "test-artifacts" / "screenshots")

T0 = datetime(2026, 3, 14, 9, 26, 53, tzinfo=timezone.utc)


def add_call(ledger: Ledger, *, model: str = "openai/gpt-4o-mini", notebook: str = "nb.ipynb",
             count: int | None = 1, cost: float | None = 1.65e-05, status: str = "ok",
             prompt: int = 14, completion: int = 24, minutes: int = 0, error: str = "",
             provider: str = "OpenAI", is_byok: bool = False,
             upstream: float | None = None) -> int:
    """Write one finished call the way the magic does (pending row, then completed)."""
    record = CallRecord(model=model, timestamp=T0 + timedelta(minutes=minutes), notebook=notebook,
                        cell_id=f"cell-{count}", execution_count=count, provider=provider,
                        prompt_tokens=prompt, completion_tokens=completion, cost_usd=cost,
                        upstream_cost_usd=upstream, is_byok=is_byok, status="pending",
                        error=error, session_id="s1", generation_id=f"gen-{minutes}-{count}")
    row = ledger.begin(record)
    if status != "pending":
        record.status = status
        ledger.complete(row, record)
    return row




#: A running JupyterLab (``lab.root`` is its root directory).
Lab = JupyterProcess


def lab_env(tmp: Path, extra: dict[str, str]) -> dict[str, str]:
    """An environment whose Jupyter paths all live in ``tmp`` (nothing in the real home).

    JupyterLab's news/update toasts and its kernel dialog are switched off in a private
    settings dir (settings a user could change too), so they never cover the page.
    """
    user_settings = {
        "apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
        # start the notebook's kernel without the "Select Kernel" dialog
        "notebook-extension/tracker": {"autoStartDefaultKernel": True},
    }
    for name, values in user_settings.items():
        path = tmp / "lab-settings" / "@jupyterlab" / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values), encoding="utf-8")
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENROUTER_API_KEY", "OPENROUTER_MANAGEMENT_KEY", "EDGE_KEY_STORE",
                        "JUPYTER_TOKEN", "JPY_SESSION_NAME")}
    env.update({
        "JUPYTERLAB_SETTINGS_DIR": str(tmp / "lab-settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp / "lab-workspaces"),
        "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
        "JUPYTER_CONFIG_DIR": str(tmp / "jupyter-config"),
        "IPYTHONDIR": str(tmp / "ipython"),
        "NO_PROXY": "127.0.0.1,localhost",
        "PYTHONUNBUFFERED": "1",
    })
    env.update(extra)
    return env


@contextlib.contextmanager
def jupyterlab(tmp: Path, env: dict[str, str], timeout: float = 60.0) -> Iterator[Lab]:
    """Start JupyterLab (recipe A6), wait until it answers, stop it by its process group."""
    with jupyter_process("jupyterlab", tmp, env, timeout=timeout, stop_timeout=15, extra_args=[
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]) as lab:
        yield lab


def in_browser(script: Callable[[Any], Any], *, width: int = 1400, height: int = 900,
               scale: float = 1) -> Any:
    """Run ``script(page)`` in headless Chromium, in a thread of its own.

    Why a thread: Playwright's sync API runs an asyncio loop in the calling thread,
    which clashes with pytest-jupyter's loop fixture; a whole session in one worker
    thread keeps the two apart.
    """
    def session() -> Any:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                        args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": width, "height": height},
                                        device_scale_factor=scale)
                return script(page)
            finally:
                browser.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(session).result(timeout=180)


def with_evidence(script: Callable[[Any], Any], lab: Any, name: str,
                  shown: Callable[[Any], Any] | None = None) -> Callable[[Any], Any]:
    """``script`` that, when it fails, says why: a screenshot, the browser console, the log.

    ``shown(page)``, when given, adds what the page displayed at the moment of failure.
    """
    def run(page: Any) -> Any:
        console: list[str] = []
        page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
        try:
            return script(page)
        except Exception as exc:
            failure = _ROOT / "test-artifacts" / "screenshots" / f"{name}-failure.png"
            failure.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(failure), full_page=True)
            outputs = f"\noutputs: {shown(page)}" if shown is not None else ""
            raise AssertionError(f"{exc}\nsee {failure}{outputs}\nbrowser console:\n"
                                 + "\n".join(console[-30:])
                                 + f"\nJupyterLab log:\n{lab.log_text()[-3000:]}") from None

    return run


def notebook_json(cells: list[str]) -> str:
    """A notebook file with these code cells and the python3 kernel (no kernel picker)."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    nb = new_notebook(cells=[new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                 "language": "python"}
    return nbformat.writes(nb)
