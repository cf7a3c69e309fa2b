"""The few pages a person sees during connecting: small, self-contained HTML.

Self-contained on purpose: the callback page's URL carries the one-time ``code``,
so the page loads nothing else (no stylesheet, no font, no favicon) that could
carry it onward in a ``Referer``; ``<meta name="referrer" content="no-referrer">``
and a script that drops the query from the address bar finish the job.
Every value is HTML-escaped here, so callers pass plain text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

_CSS = """
:root { color-scheme: light dark; --bg:#f6f7f9; --card:#fff; --fg:#1d2330; --muted:#5b6475;
  --ok:#1a7f4b; --okbg:#e3f5ea; --err:#b4232a; --errbg:#fdecec; --line:#e2e5ea; --accent:#3451b2; }
@media (prefers-color-scheme: dark) { :root { --bg:#14171c; --card:#1d2128; --fg:#e8eaee;
  --muted:#a0a8b8; --okbg:#17362a; --errbg:#3a1c1f; --line:#2c313a; --accent:#8ea6ff; } }
* { box-sizing: border-box; }
body { margin:0; min-height:100vh; display:flex; align-items:center; justify-content:center;
  background:var(--bg); color:var(--fg); padding:24px;
  font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif; }
main { background:var(--card); border:1px solid var(--line); border-radius:14px; max-width:560px;
  width:100%; padding:32px 36px; box-shadow:0 6px 24px rgba(0,0,0,.06); }
.badge { width:48px; height:48px; border-radius:50%; display:flex; align-items:center;
  justify-content:center; font-size:26px; font-weight:700; margin-bottom:14px; }
.ok .badge { background:var(--okbg); color:var(--ok); }
.err .badge { background:var(--errbg); color:var(--err); }
h1 { font-size:22px; line-height:1.3; margin:0 0 8px; }
p { margin:8px 0; }
.lead { color:var(--muted); }
h2 { font-size:13px; text-transform:uppercase; letter-spacing:.06em; color:var(--muted);
  margin:22px 0 6px; }
ul { margin:6px 0; padding-left:20px; }
li { margin:4px 0; }
dl { display:grid; grid-template-columns:max-content 1fr; gap:4px 16px; margin:18px 0 0;
  padding-top:14px; border-top:1px solid var(--line); font-size:14px; }
dt { color:var(--muted); }
dd { margin:0; overflow-wrap:anywhere; }
code { font:13px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; background:var(--bg);
  padding:1px 5px; border-radius:4px; }
.actions { margin-top:22px; }
a.button { display:inline-block; background:var(--accent); color:#fff; text-decoration:none;
  padding:8px 16px; border-radius:8px; font-weight:600; }
footer { margin-top:22px; font-size:12px; color:var(--muted); }
"""

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>{title} · edge_jupyter</title>
<style>{css}</style>
</head>
<body>
<main class="{kind}" id="edge-{kind}" data-reason="{reason}">
<div class="badge" aria-hidden="true">{badge}</div>
<h1>{title}</h1>
{body}
<footer>edge_jupyter · OpenRouter connection</footer>
</main>
<script>
// The one-time code is spent now; keep it out of the history and bookmarks.
if (location.search && window.history && history.replaceState) {{
  history.replaceState(null, "", location.pathname);
}}
</script>
</body>
</html>
"""


@dataclass
class Page:
    """One page: a title, a lead sentence, and optional sections; rendered by :meth:`html`."""

    kind: str  # "ok" | "err"
    title: str
    lead: str
    what_happened: str = ""
    what_to_do: list[str] = field(default_factory=list)
    facts: list[tuple[str, str]] = field(default_factory=list)
    retry_href: str = ""
    retry_label: str = "Try again"
    reason: str = ""

    def html(self) -> str:
        parts = [f'<p class="lead">{escape(self.lead)}</p>']
        if self.what_happened:
            parts.append(f"<h2>What happened</h2><p>{escape(self.what_happened)}</p>")
        if self.what_to_do:
            items = "".join(f"<li>{_code_spans(_sentence(step))}</li>" for step in self.what_to_do)
            parts.append(f"<h2>What to do</h2><ul>{items}</ul>")
        if self.facts:
            rows = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in self.facts)
            parts.append(f"<dl>{rows}</dl>")
        if self.retry_href:
            parts.append(f'<div class="actions"><a class="button" id="retry" '
                         f'href="{escape(self.retry_href)}">{escape(self.retry_label)}</a></div>')
        return _PAGE.format(css=_CSS, kind=self.kind, badge="✓" if self.kind == "ok" else "!",
                            title=escape(self.title), body="\n".join(parts),
                            reason=escape(self.reason))


def _sentence(text: str) -> str:
    """Steps are written to be joined into one paragraph; as list items they read as sentences."""
    text = text.strip()
    if text and text[0].islower():
        text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?", ":")) else text + "."


def _code_spans(text: str) -> str:
    """Escape, then turn `backticked` parts into <code> (for commands and settings)."""
    pieces = escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(pieces))


def success(*, stored_in: str, limit: str = "", env_shadow: bool = False) -> Page:
    facts = [("Key stored in", stored_in)]
    if limit:
        facts.append(("Credit limit", limit))
    steps = []
    if env_shadow:
        steps.append("Note: `OPENROUTER_API_KEY` is set where Jupyter runs, and it takes "
                     "precedence over the stored key. Unset it to use this connection.")
    return Page("ok", "Connected to OpenRouter",
                "You can close this tab and return to your notebook.",
                what_to_do=steps, facts=facts, reason="connected")


def error(title: str, what_happened: str, what_to_do: list[str], *, reason: str,
          retry_href: str = "", facts: list[tuple[str, str]] | None = None) -> Page:
    return Page("err", title, "Nothing was stored.", what_happened=what_happened,
                what_to_do=what_to_do, retry_href=retry_href, reason=reason,
                facts=facts or [])
