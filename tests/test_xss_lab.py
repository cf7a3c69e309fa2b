"""In JupyterLab, in headless Chromium: hostile answers are shown, and nothing in them runs.

JupyterLab trusts every output a kernel produces live, so this is where an answer's
``<script>`` or ``onerror=`` would run as the user.  The sandbox answers with
attacker-chosen text (``[sandbox:echo]``, ``[sandbox:model=ID]``); the notebook is run
from the menu like a user would, and then three side effects the payloads try for are
checked: the page title, a file written through the Jupyter REST API with the page's
XSRF cookie (what the issue proved), and a ``window`` flag.  The answers must also be
*visible* (escaped text, typeset math), so a page that rendered nothing cannot pass.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import httpx
from panel_fixtures import (
    SCREENSHOTS,
    in_browser,
    jupyterlab,
    lab_env,
    needs_chromium,
    notebook_json,
    with_evidence,
)
from test_panel_e2e import watch_kernel_ready

pytestmark = needs_chromium

#: Writes pwned.txt into the server's root through the REST API, as the page's user.
PUT_FILE = ("fetch('/api/contents/pwned.txt',{method:'PUT',headers:{'Content-Type':"
            "'application/json','X-XSRFToken':(document.cookie.match(/_xsrf=([^;]+)/)||[])[1]"
            "||''},body:JSON.stringify({type:'file',format:'text',content:'pwned'})})")
TITLE = "document.title='pwned';window.edgePwned=1"
ATTACK = "\n\n".join([
    "# Findings",
    f"<script>{TITLE}</script>",
    f'<img src=x onerror="{TITLE}">',
    f"<script>{PUT_FILE}</script>",
    f'<img src=x onerror="{PUT_FILE}">',
    f'<svg onload="{TITLE}"></svg>',
    f"[click me](javascript:{TITLE})",
    "End of the findings.",
])
#: A code answer whose only fence closes the one the renderer used to wrap it in.
CODE = f'x = 1\n```\n<img src=x onerror="{TITLE}">\n'
#: No "]" in it: it has to fit in the directive.
HOSTILE_ID = f'<img src=x onerror="{TITLE}">'
SHOWCASE = "\n".join([
    "## Prices compared", "",
    "Per million tokens, **prompt** and *completion*; it costs $5 or $10 a day.", "",
    "| model | prompt | completion |", "|:------|-------:|-----------:|",
    "| gpt-4o-mini | $0.15 | $0.60 |", "| claude-3.5-haiku | $0.80 | $4.00 |", "",
    "The cost of a call is $c = p \\cdot n_p + q \\cdot n_q$, and in total:", "",
    "$$", "C = \\sum_{i=1}^{N} c_i", "$$", "",
    "```python", "cost = prompt_price * prompt_tokens + completion_price * completion_tokens",
    "```", "",
    "- one", "- two, with `inline code`", "",
    # TeX that is not a math token, so never checked for \\href: MathJax must not typeset it
    f"Not math: \\\\(\\href{{javascript:{TITLE}}}{{click}}\\\\) or "
    f"\\begin{{equation}}\\href{{javascript:{TITLE}}}{{here}}\\end{{equation}}.",
])
#: How the TeX above must show: as text, not as a formula or a link.
TEX_SHOWN = f"Not math: \\(\\href{{javascript:{TITLE}}}{{click}}\\) or \\begin{{equation}}"
CELLS = [
    "%load_ext edge_jupyter\n"
    f"attack = {ATTACK!r}\ncode = {CODE!r}\nshowcase = {SHOWCASE!r}",
    "%%edge -m openai/gpt-4o-mini\nSummarise this page: [sandbox:echo]{attack}",
    f"%%edge -m openai/gpt-4o-mini -m anthropic/claude-3.5-haiku\n[sandbox:model={HOSTILE_ID}]"
    "[sandbox:echo]{attack}",
    "%%edge -m openai/gpt-4o-mini --chat lab\nRead this: [sandbox:echo]{attack}",
    "%edge history lab",
    "%%edge -m openai/gpt-4o-mini -f code\nWrite it: [sandbox:echo]{code}",
    "%%edge -m openai/gpt-4o-mini\n[sandbox:echo]{showcase}",
]
#: The rendered outputs themselves (not JupyterLab's own icons around them).
OUTPUTS = ".jp-Notebook .jp-OutputArea-output"


def test_hostile_answers_render_in_jupyterlab_and_nothing_runs(sandbox, tmp_path):
    sandbox.reset()
    sandbox.answer_length = 24
    sandbox.tokens_per_second = 0.0
    env = lab_env(tmp_path, {
        "EDGE_OPENROUTER_URL": sandbox.url, "OPENROUTER_API_KEY": sandbox.key,
        "EDGE_DATA_DIR": str(tmp_path / "edge-data"),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"})
    # every cell in the DOM (no windowing), so every output can be read back
    tracker = tmp_path / "lab-settings" / "@jupyterlab" / "notebook-extension" \
        / "tracker.jupyterlab-settings"
    tracker.write_text(json.dumps({"autoStartDefaultKernel": True, "windowingMode": "none"}),
                       encoding="utf-8")

    with jupyterlab(tmp_path, env) as lab:
        (lab.root / "xss.ipynb").write_text(notebook_json(CELLS), encoding="utf-8")

        def script(page: Any) -> dict[str, Any]:
            kernel_ready = watch_kernel_ready(page)
            page.goto(f"{lab.url}lab/tree/xss.ipynb?token={lab.token}")
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=30_000)
            deadline = time.monotonic() + 30
            while not kernel_ready() and time.monotonic() < deadline:
                page.wait_for_timeout(100)
            title = page.title()
            page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
            page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
            # four single answers and two side by side: six cost lines, then the history
            page.wait_for_function("() => document.querySelectorAll("
                                   "'.jp-Notebook .edge-cost').length === 6", timeout=60_000)
            page.wait_for_function("() => [...document.querySelectorAll('.jp-Cell')].some("
                                   "c => c.textContent.includes('1. you:'))", timeout=30_000)
            # typeset math is the last thing to appear; give onerror/fetch the same time
            page.wait_for_selector(f"{OUTPUTS} mjx-container", timeout=30_000)
            page.wait_for_timeout(1500)
            cells = page.locator(".jp-Notebook .jp-Cell")
            seen = {
                "title_before": title, "title": page.title(),
                "flag": page.evaluate("() => window.edgePwned === undefined ? null : 1"),
                "outputs": [cells.nth(i).locator(".jp-OutputArea").text_content() or ""
                            for i in range(len(CELLS))],
                "headings": page.locator(f"{OUTPUTS} h4").all_text_contents(),
                "code": page.locator(f"{OUTPUTS} pre code").all_text_contents(),
                "images": page.evaluate(f"() => [...document.querySelectorAll('{OUTPUTS} img, "
                                        f"{OUTPUTS} svg, {OUTPUTS} iframe')].filter(e => "
                                        "!e.closest('mjx-container')).map(e => e.outerHTML"
                                        ".slice(0, 200))"),
                "links": page.evaluate(f"() => [...document.querySelectorAll('{OUTPUTS} a')]"
                                       ".map(a => a.getAttribute('href'))"),
                "math": page.locator(f"{OUTPUTS} mjx-container").count(),
            }
            showcase = cells.nth(len(CELLS) - 1)
            showcase.scroll_into_view_if_needed()
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            showcase.screenshot(path=str(SCREENSHOTS / "xss-render.png"))
            page.screenshot(path=str(SCREENSHOTS / "xss-lab.png"), full_page=True)
            return seen

        def shown(page: Any) -> Any:
            return page.evaluate("() => [...document.querySelectorAll('.jp-Cell "
                                 ".jp-OutputArea')].map(o => o.textContent.slice(-300))")

        seen = in_browser(with_evidence(script, lab, "xss", shown))
        with httpx.Client(trust_env=False, timeout=10) as client:
            listed = client.get(lab.api("api/contents"), headers=lab.auth).json()

    # nothing ran: no title change, no flag, no file written through the REST API
    assert seen["title"] == seen["title_before"] and "pwned" not in seen["title"], seen["title"]
    assert seen["flag"] is None
    assert not (lab.root / "pwned.txt").exists()
    assert "pwned.txt" not in {item["name"] for item in listed["content"]}
    assert seen["images"] == [], "no <img>/<svg>/<iframe> of the answer's may reach the page"
    assert all(href and href.startswith(("http:", "https:", "mailto:")) for href in seen["links"]
               ), seen["links"]
    # ... and everything was shown, as text: the answer, the model ids, the history, the code
    out = seen["outputs"]
    for i in (1, 3, 4):
        assert f"<script>{TITLE}</script>" in out[i] and "End of the findings." in out[i], out[i]
    assert out[4].count("<script>") == 4 and "1. you:" in out[4]  # 2 scripts, 2 turns' worth
    assert seen["headings"] == [HOSTILE_ID, HOSTILE_ID]
    assert out[2].count("End of the findings.") == 2
    assert CODE.rstrip("\n") in seen["code"], seen["code"]
    # the showcase: a table, code, and math typeset by JupyterLab's MathJax (money is not math)
    assert "claude-3.5-haiku" in out[6] and "$5 or $10" in out[6]
    assert seen["math"] == 2, seen["math"]
    assert TEX_SHOWN in out[6], out[6]
