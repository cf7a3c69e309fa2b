"""HTML of the sandbox's OAuth pages: consent, error, and the headless code page.

Plain server-rendered HTML with a form and no JavaScript, so a browser test
(or a person) can click ``#authorize`` / ``#deny`` and nothing else can go
wrong. Every interpolated value goes through :func:`html.escape`.
"""

from __future__ import annotations

from decimal import Decimal
from html import escape

_CSS = """
*{box-sizing:border-box}
body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;
font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#f4f5f7;color:#1d2330}
.card{width:min(440px,92vw);background:#fff;border-radius:14px;padding:28px 30px;
box-shadow:0 1px 3px rgba(0,0,0,.08),0 8px 30px rgba(0,0,0,.06)}
.badge{display:inline-block;font-size:12px;font-weight:600;letter-spacing:.02em;color:#7a4d00;
background:#fff2d6;border-radius:999px;padding:2px 10px;margin-bottom:14px}
h1{font-size:20px;margin:0 0 10px}
p{margin:8px 0;color:#3d4452}
.app{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;background:#f0f2f5;border-radius:6px;padding:1px 6px}
ul{padding-left:20px;color:#3d4452}
.row{display:flex;gap:10px;margin-top:22px}
button{flex:1;font:inherit;font-weight:600;border-radius:9px;padding:10px 14px;cursor:pointer;border:1px solid #d4d8df}
#authorize{background:#3b5bdb;border-color:#3b5bdb;color:#fff}
#deny{background:#fff;color:#1d2330}
.foot{margin-top:18px;font-size:12px;color:#7b8291}
code.k{display:block;word-break:break-all;background:#f0f2f5;border-radius:8px;padding:10px;margin-top:10px}
"""


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head>"
        f'<body><main class="card"><span class="badge">edge_jupyter sandbox</span>{body}'
        '<p class="foot">This is the edge_jupyter sandbox, a local stand-in for OpenRouter: '
        "no real account, no real money.</p></main></body></html>"
    )


def consent_page(fields: dict[str, str], app: str, limit: Decimal | None) -> str:
    """The "authorize this app?" page; ``fields`` travel on as hidden inputs."""
    hidden = "".join(
        f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in fields.items()
    )
    limit_line = (
        f"<li>Spending limit on this key: <strong>${limit:,.2f}</strong></li>"
        if limit is not None else "<li>No spending limit on this key</li>"
    )
    body = (
        "<h1>Authorize access to your account</h1>"
        f'<p>The application at <span class="app" id="app">{escape(app)}</span> '
        "wants to connect to your OpenRouter account (sandbox).</p>"
        "<ul><li>It will receive an API key that can use models and spend credits</li>"
        f"{limit_line}<li>You can revoke the key at any time</li></ul>"
        f'<form method="post" action="/auth/decide">{hidden}<div class="row">'
        '<button type="submit" name="decision" value="deny" id="deny">Deny</button>'
        '<button type="submit" name="decision" value="authorize" id="authorize">Authorize</button>'
        "</div></form>"
    )
    return _page("Authorize — edge_jupyter sandbox", body)


def error_page(message: str) -> str:
    """A 400 page for a malformed authorization request."""
    return _page(
        "Invalid authorization request — edge_jupyter sandbox",
        f'<h1>Invalid authorization request</h1><p id="error">{escape(message)}</p>',
    )


def code_page(code: str) -> str:
    """Headless mode (no ``callback_url``): show the code for the user to paste."""
    return _page(
        "Authorization code — edge_jupyter sandbox",
        "<h1>Copy this code into your application</h1>"
        f'<code class="k" id="code">{escape(code)}</code>'
        "<p>It can be used once, within 10 minutes.</p>",
    )


def denied_page() -> str:
    """Headless mode, after Deny."""
    return _page("Access denied — edge_jupyter sandbox",
                 '<h1>Access denied</h1><p id="denied">No key was created.</p>')
