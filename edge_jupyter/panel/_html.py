"""The panel's HTML, made from the view-model (pure: views in, strings out).

Kept apart from the widgets so that what the page will contain -- escaping, hover
texts, alignment classes -- is tested without a browser.  Every text from outside
(model ids and names, error messages, notebook data) goes through ``html.escape``.

Layout rules that keep the panel calm in a 300 px sidebar:

* tables use ``table-layout: fixed`` with fixed widths for the number columns, so a
  new row or a longer amount never makes the columns jump; long model ids end in an
  ellipsis, with the full text on hover;
* numbers use tabular figures and are right-aligned; costs are padded to line up on
  the decimal point (see ``_model.align_decimals``);
* colours come from JupyterLab's theme variables, so dark themes work.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from ._model import (
    GOOD_COLOUR,
    MUTED_COLOUR,
    AccountView,
    ModelRow,
    ModelsView,
    UsageView,
)

if TYPE_CHECKING:
    from ..spend_chart import SpendByDay

#: The chart's drawing size in the sidebar (its SVG scales down to a narrower panel).
CHART_WIDTH, CHART_HEIGHT = 320, 170

#: Scoped to ``.edge-panel`` (the root widget's class): nothing leaks into the notebook.
#: ``.edge-panel`` is a size container: below NARROW_PX (JupyterLab's sidebar is ~250 px)
#: the usage table folds its token column under the model name.
NARROW_PX = 400
CSS = """<style>
.edge-panel { width: 100%; min-width: 0; box-sizing: border-box; padding: 2px 2px 6px;
  container-type: inline-size;
  color: var(--jp-ui-font-color1, #212121); font-size: var(--jp-ui-font-size1, 13px); }
.edge-panel .widget-html, .edge-panel .widget-html-content { min-width: 0; margin: 0; }
.edge-panel .widget-html-content { line-height: 1.45; white-space: normal; overflow: hidden; }
.edge-panel .widget-tab > .widget-tab-contents { padding: 8px 6px 6px; min-width: 0; }
.edge-panel .edge-num { font-variant-numeric: tabular-nums; white-space: nowrap;
  text-align: right; }
.edge-panel .edge-muted { color: var(--jp-ui-font-color2, #616161); }
.edge-panel .edge-small { font-size: var(--jp-ui-font-size0, 11px); }
.edge-panel .edge-ellipsis { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.edge-panel .edge-head { display: flex; align-items: baseline; gap: 8px; padding: 2px 2px 6px; }
.edge-panel .edge-head .edge-title { font-weight: 600; flex: 0 0 auto; }
.edge-panel .edge-head .edge-headline { flex: 1 1 auto; min-width: 0; text-align: right; }
.edge-panel .edge-status { margin: 0 0 4px; }
.edge-panel table.edge-t { width: 100%; border-collapse: collapse; table-layout: fixed;
  margin: 0 0 4px; font-size: var(--jp-ui-font-size0, 11px); }
.edge-panel table.edge-t th, .edge-panel table.edge-t td { padding: 3px 3px;
  overflow: hidden; text-overflow: ellipsis; white-space: nowrap; vertical-align: baseline;
  border-bottom: 1px solid var(--jp-border-color3, #eeeeee); }
.edge-panel table.edge-t th { font-weight: 600; text-align: left;
  color: var(--jp-ui-font-color2, #616161); border-bottom: 1px solid var(--jp-border-color2, #e0e0e0); }
.edge-panel table.edge-t th.edge-num { text-align: right; }
.edge-panel table.edge-t td:first-child, .edge-panel table.edge-t th:first-child { padding-left: 0; }
.edge-panel table.edge-t td:last-child, .edge-panel table.edge-t th:last-child { padding-right: 0; }
.edge-panel table.edge-t tfoot td { font-weight: 600; border-bottom: none;
  border-top: 1px solid var(--jp-border-color1, #bdbdbd); }
/* Figures: amounts and notes take the room they need (never cut); the label gets the rest
   and is the one shortened with an ellipsis (max-width: 0 + width: 100%). */
.edge-panel table.edge-figures { width: 100%; border-collapse: collapse; margin: 0 0 4px; }
.edge-panel table.edge-figures td { padding: 1px 0; white-space: nowrap; vertical-align: baseline; }
.edge-panel table.edge-figures td.edge-label { width: 100%; max-width: 0; overflow: hidden;
  text-overflow: ellipsis; color: var(--jp-ui-font-color2, #616161); padding-right: 6px; }
.edge-panel table.edge-figures td.edge-value b { font-weight: 600; }
.edge-panel table.edge-figures td.edge-value + td { padding-left: 5px; }
.edge-panel .edge-narrow { display: none; }
@container (max-width: NARROW_PXpx) {
  .edge-panel .edge-wide { display: none; }
  .edge-panel .edge-narrow { display: block; }
}
.edge-panel .edge-alert { margin: 2px 0 6px; padding: 4px 8px; border-radius: 2px;
  border-left: 3px solid var(--jp-error-color1, #d32f2f);
  background: var(--jp-error-color3, #ffebee); color: var(--jp-ui-font-color1, #212121); }
.edge-panel .edge-note { margin: 2px 0 4px; font-size: var(--jp-ui-font-size0, 11px);
  color: var(--jp-ui-font-color2, #616161); }
.edge-panel .edge-message { min-height: 1.45em; font-size: var(--jp-ui-font-size0, 11px);
  color: var(--jp-ui-font-color2, #616161); overflow-wrap: anywhere; }
.edge-panel a.edge-linkbutton { display: inline-block; box-sizing: border-box; height: 28px;
  line-height: 28px; padding: 0 12px; border-radius: 2px; font-weight: 600;
  background: var(--jp-brand-color1, #1976d2); color: #ffffff; text-decoration: none; }
.edge-panel .edge-model-id { font-weight: 600; }
.edge-panel .edge-model-org { color: var(--jp-ui-font-color2, #616161); font-weight: 400; }
.edge-panel .edge-badge { display: inline-block; padding: 0 5px; margin-left: 4px;
  border-radius: 8px; font-size: 10px; line-height: 15px; font-weight: 600;
  color: var(--jp-ui-inverse-font-color1, #ffffff); background: var(--jp-brand-color1, #1976d2);
  vertical-align: 1px; }
.edge-panel .edge-section { margin: 10px 0 2px; font-weight: 600; font-size: 10px;
  color: var(--jp-ui-font-color2, #616161); text-transform: uppercase; letter-spacing: 0.05em; }
.edge-panel .edge-section.edge-first { margin-top: 0; }
.edge-panel .widget-button { margin: 0 4px 0 0; }
.edge-panel .widget-text { width: 100%; margin: 2px 0 4px; }
.edge-panel .widget-text input { min-width: 0; }
.edge-panel .edge-row { border-bottom: 1px solid var(--jp-border-color3, #eeeeee);
  padding: 3px 0; }
.edge-panel .edge-row .widget-button { height: 22px; line-height: 22px; padding: 0;
  margin: 0 0 0 3px; font-size: var(--jp-ui-font-size0, 11px); }
</style>""".replace("NARROW_PX", str(NARROW_PX))


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def prose(text: str) -> str:
    """Escape a sentence, showing its `backticked` commands as code (as the magics write them)."""
    parts = esc(text).split("`")
    if len(parts) % 2 == 0:  # an unmatched backtick: leave the text as it is
        return esc(text)
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def _span(text: str, *, cls: str = "", title: str = "", colour: str = "") -> str:
    attrs = f' class="{cls}"' if cls else ""
    attrs += f' title="{esc(title)}"' if title else ""
    attrs += f' style="color:{colour}"' if colour and colour != "inherit" else ""
    return f"<span{attrs}>{esc(text)}</span>"


# -- header and account -------------------------------------------------------------------------


def headline_html(view: AccountView, *, busy: bool = False) -> str:
    """The line above the tabs: always visible, so the balance is one glance away."""
    dot = _span("●", colour=GOOD_COLOUR if view.connected else MUTED_COLOUR,
                title=view.status)
    # The busy mark takes the same room whether shown or not: no jump when it toggles.
    mark = (f'<span class="edge-muted" title="updating" '
            f'style="visibility:{"visible" if busy else "hidden"}">↻</span>')
    headline = _span(view.headline, cls="edge-num", colour=view.alert_colour,
                     title=view.alert_text or f"{view.status} ({view.source})")
    return (f'<div class="edge-head"><span class="edge-title edge-wide" title="edge_jupyter: '
            f'your OpenRouter account in Jupyter">edge</span>'
            f'<span class="edge-headline edge-ellipsis">{mark} {dot} {headline}</span></div>')


def account_html(view: AccountView) -> str:
    """Connected or not, the alert, then the figures: label | amount | what it is "of"."""
    dot = _span("●", colour=GOOD_COLOUR if view.connected else MUTED_COLOUR)
    parts = [f'<div class="edge-status">{dot} <b>{esc(view.status)}</b>'
             f'<div class="edge-muted edge-small edge-ellipsis" title="{esc(view.source)}">'
             f"{esc(view.source)}</div></div>"]
    if view.alert:
        parts.append(f'<div class="edge-alert" role="alert">{prose(view.alert_text)}</div>')
    rows = []
    for fig in view.figures:
        colour = f' style="color:{fig.colour}"' if fig.colour != "inherit" else ""
        exact = f' title="{esc(fig.exact)}"' if fig.exact else ""
        rows.append(f'<tr><td class="edge-label" title="{esc(fig.hint or fig.label)}">'
                    f'{esc(fig.label)}</td><td class="edge-value edge-num"{exact}>'
                    f"<b{colour}>{esc(fig.value)}</b></td>"
                    f'<td class="edge-muted edge-small" title="{esc(fig.note)}">'
                    f"{esc(fig.note)}</td></tr>")
    parts.append(f'<table class="edge-figures"><tbody>{"".join(rows)}</tbody></table>')
    parts += [f'<div class="edge-note">{prose(note)}</div>' for note in view.notes]
    return "".join(parts)


def connect_html(href: str | None, connected: bool) -> str:
    """The Connect button: a link to the server's connect route (a new tab does the OAuth)."""
    label = "Reconnect" if connected else "Connect"
    if href:
        return (f'<a class="edge-linkbutton" href="{esc(href)}" target="_blank" rel="noopener" '
                f'title="Approve on OpenRouter in a new tab; the key goes to your keyring">'
                f"{label}</a>")
    return ('<span class="edge-muted edge-small">Run <code>%edge connect</code> in a cell to '
            "connect.</span>")


# -- models -------------------------------------------------------------------------------------


def model_id_html(row: ModelRow, *, badge: bool = True) -> str:
    """The model's name in bold, then its organisation (what an ellipsis cuts first).

    The full id, as ``-m`` takes it, and the prices are in the hover text.
    """
    org, _, name = row.id.rpartition("/")
    org_html = f' <span class="edge-model-org edge-small">{esc(org)}</span>' if org else ""
    mark = '<span class="edge-badge">default</span>' if row.default and badge else ""
    return (f'<div class="edge-ellipsis" title="{esc(row.title)}">'
            f'<span class="edge-model-id">{esc(name)}</span>{mark}{org_html}</div>')


def model_meta_html(row: ModelRow) -> str:
    """Prices per million tokens (prompt / completion) and the context length."""
    meta = row.price if not row.known else f"{row.price} · {row.context} context"
    return (f'<div class="edge-muted edge-small edge-ellipsis" style="font-variant-numeric:'
            f'tabular-nums" title="{esc(row.title)}">{esc(meta)}</div>')


def models_note_html(view: ModelsView) -> str:
    return f'<div class="edge-note">{esc(view.note)}</div>'


def section_html(title: str, *, first: bool = False) -> str:
    return f'<div class="edge-section{" edge-first" if first else ""}">{esc(title)}</div>'


# -- usage --------------------------------------------------------------------------------------


def usage_html(view: UsageView) -> str:
    """The calls table, newest first, with a totals row.

    Wide: Cell | Model | Tokens | Cost | status.  Narrow (the sidebar): the token count
    moves under the model name, so the model keeps room for its name.
    """
    head = ('<thead><tr><th style="width:2.4em">Cell</th><th>Model</th>'
            '<th class="edge-num edge-wide" style="width:5.5em">Tokens</th>'
            '<th class="edge-num" style="width:6.4em">Cost</th>'
            '<th style="width:1.2em"></th></tr></thead>')
    if not view.rows:
        body = ('<tr><td colspan="5" class="edge-muted" style="white-space:normal">'
                "Calls made with <code>%%edge</code> in this notebook appear here.</td></tr>")
    else:
        body = "".join(
            f'<tr class="edge-usage-row" title="{esc(r.title)}">'
            f'<td class="edge-num edge-muted" style="text-align:left">{esc(r.cell)}</td>'
            f'<td><div class="edge-ellipsis">{esc(r.model_short)}</div>'
            f'<div class="edge-narrow edge-muted edge-num" style="text-align:left">'
            f"{esc(r.tokens)} tokens</div></td>"
            f'<td class="edge-num edge-wide">{esc(r.tokens)}</td>'
            f'<td class="edge-num" title="{esc(r.cost_exact)}">{esc(r.cost)}</td>'
            f'<td style="text-align:center">{_span(r.symbol, colour=r.colour, title=r.status)}'
            "</td></tr>"
            for r in view.rows)
    more = (f'<tr><td colspan="5" class="edge-muted">… {view.hidden:,} older '
            f"call{'s' if view.hidden != 1 else ''} (all are in the CSV)</td></tr>"
            if view.hidden else "")
    calls = f'{view.calls:,} call{"s" if view.calls != 1 else ""}'
    foot = (f'<tfoot><tr><td colspan="2">Total · {calls}'
            f'<div class="edge-narrow edge-muted edge-num" style="font-weight:400;'
            f'text-align:left">{esc(view.tokens)} tokens</div></td>'
            f'<td class="edge-num edge-wide">{esc(view.tokens)}</td>'
            f'<td class="edge-num" title="{esc(view.cost_exact)}">{esc(view.cost)}</td>'
            "<td></td></tr></tfoot>" if view.calls else "")
    return f'<table class="edge-t edge-usage">{head}<tbody>{body}{more}</tbody>{foot}</table>'


def spend_html(data: SpendByDay | None) -> str:
    """The Usage tab's spend-per-day chart (``spend_chart.svg``: its texts are escaped there),
    or a placeholder of the same height while the ledger is read."""
    if data is None:
        return (f'<div class="edge-chart edge-note" style="min-height:{CHART_HEIGHT}px">'
                "Reading the usage ledger…</div>")
    from ..spend_chart import svg

    return (f'<div class="edge-chart" style="margin:0 0 6px">'
            f"{svg(data, width=CHART_WIDTH, height=CHART_HEIGHT)}</div>")
