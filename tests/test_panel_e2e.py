"""End to end: the panel in JupyterLab's right sidebar, in headless Chromium, against the sandbox.

A real JupyterLab (with the sidecar lab extension), a real kernel started by it, the
notebook run with "Run → Run All Cells" from the menu, and the page read back: the
balance, the favourite and the new usage row must be in the sidebar.  The screenshots
are looked at by a person (docs/screenshots/panel*.png with ``EDGE_UPDATE_DOCS=1``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from panel_fixtures import (
    SCREENSHOTS,
    in_browser,
    jupyterlab,
    lab_env,
    needs_chromium,
    notebook_json,
    with_evidence,
)

from edge_jupyter import preferences
from edge_jupyter.money import exact_usd
from edge_jupyter.panel._model import money

pytestmark = needs_chromium

FAVOURITE = "anthropic/claude-3.5-haiku"
SIDEBAR = "#jp-right-stack .edge-panel"


def test_panel_in_the_jupyterlab_sidebar(sandbox, tmp_path, monkeypatch):
    sandbox.reset()
    key = sandbox.issue_key(limit=5.0)
    data = tmp_path / "edge-data"
    monkeypatch.setenv("EDGE_DATA_DIR", str(data))
    preferences.save(preferences.Preferences(favourites=[FAVOURITE]))
    env = lab_env(tmp_path, {
        "EDGE_OPENROUTER_URL": sandbox.url, "OPENROUTER_API_KEY": key,
        "OPENROUTER_MANAGEMENT_KEY": sandbox.management_key, "EDGE_DATA_DIR": str(data),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"})
    cells = ["%load_ext edge_jupyter", "%edge panel --sidebar",
             "%%edge -m openai/gpt-4o-mini\nHello",
             "%%edge -m anthropic/claude-3.5-haiku -m openai/gpt-4o-mini\nName three tide-pool animals."]

    with jupyterlab(tmp_path, env) as lab:
        (lab.root / "panel.ipynb").write_text(notebook_json(cells), encoding="utf-8")

        def script(page: Any) -> dict[str, str]:
            kernel_ready = watch_kernel_ready(page)
            page.goto(f"{lab.url}lab/tree/panel.ipynb?token={lab.token}")
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=30_000)
            # Lab shows "idle" before its kernel websocket is up; cells run then are dropped.
            deadline = time.monotonic() + 30
            while not kernel_ready() and time.monotonic() < deadline:
                page.wait_for_timeout(100)
            page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
            page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
            page.wait_for_selector(".jp-Notebook .edge-cost", timeout=30_000)
            sidebar = page.locator("#jp-right-stack .edge-panel")
            sidebar.wait_for(timeout=30_000)
            # the rows appear once the panel has read the ledger after each cell
            page.wait_for_function(f"() => document.querySelectorAll("
                                   f"'{SIDEBAR} .edge-usage-row').length === 3", timeout=30_000)
            page.wait_for_function(f"() => !document.querySelector('{SIDEBAR} .edge-head')"
                                   ".innerHTML.includes('visibility:visible')", timeout=15_000)
            seen = {"account": sidebar.inner_text(), "cost": page.inner_text(".edge-cost >> nth=0")}
            page.screenshot(path=str(_shot("panel-account.png")), full_page=True)

            sidebar.locator(".lm-TabBar-tab", has_text="Models").click()
            seen["models"] = sidebar.inner_text()
            seen["models_html"] = sidebar.inner_html()
            # search, then star a result: the click goes to the kernel and back
            sidebar.locator("input[type=text]").fill("gpt")
            result = sidebar.locator(".edge-row", has_text="$2.50 / $10.00 per M")
            result.wait_for(timeout=10_000)
            result.locator("button", has_text="☆").click()
            page.wait_for_function(
                f"() => document.querySelector('{SIDEBAR}').innerText"
                ".split('FAVOURITES')[1].split('ALL MODELS')[0].includes('gpt-4o openai')",
                timeout=10_000)
            seen["models_after_star"] = sidebar.inner_text()
            page.screenshot(path=str(_shot("panel-models.png")), full_page=True)

            sidebar.locator(".lm-TabBar-tab", has_text="Usage").click()
            seen["usage"] = sidebar.inner_text()
            seen["usage_html"] = sidebar.inner_html()
            page.screenshot(path=str(_shot("panel.png")), full_page=True)
            return seen

        seen = in_browser(with_evidence(script, lab, "panel"))

    first = sandbox.wait_for_completions(3)[0]  # the single-model cell ran first
    # Account: connected, the account balance and the key's limit (from /credits and /key)
    assert "Connected" in seen["account"], seen["account"]
    # $0.00014 spent: what is left shows enough digits not to read as the whole
    assert "Key limit\t$4.9999\tof $5.00" in seen["account"], seen["account"]
    assert "Balance\t$99.9999\tof $100.00" in seen["account"], seen["account"]
    assert "$4.9999 left" in seen["account"]  # the headline: the tighter of the two
    # Models: the favourite seeded in the preferences, and the default model
    favourites = seen["models"].split("FAVOURITES", 1)[1].split("ALL MODELS", 1)[0]
    assert "claude-3.5-haiku anthropic\n★" in favourites, seen["models"]  # starred
    assert f"({FAVOURITE})" in seen["models_html"]  # the full id, on hover
    assert "DEFAULT\ngpt-4o-mini openai" in seen["models"], seen["models"]
    assert "$0.80 / $4.00 per M" in favourites
    # ... and the star clicked in the page reached the preferences file
    assert preferences.load().favourites == [FAVOURITE, "openai/gpt-4o"]
    # Usage: the new rows, newest first, with the model and its cost (exact on hover)
    usage = seen["usage"].split("Cost", 1)[1]
    assert usage.index("claude-3.5-haiku") < usage.rindex("gpt-4o-mini"), usage
    assert money(first.cost) in usage, (money(first.cost), usage)
    assert f'title="{exact_usd(first.cost)}"' in seen["usage_html"]
    assert exact_usd(first.cost) in seen["cost"]  # the cell's own cost line: the same call
    assert "Total · 3 calls" in usage


def watch_kernel_ready(page: Any) -> Callable[[], bool]:
    """True once the page got a ``kernel_info_reply``: the notebook can run cells now."""
    seen: list[bool] = []

    def on_socket(ws: Any) -> None:
        ws.on("framereceived", lambda frame: seen.append(True)
              if "kernel_info_reply" in str(frame)[:2000] else None)

    page.on("websocket", on_socket)
    return lambda: bool(seen)


def _shot(name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / name
