"""The panel's drawing: the Account, Models and Usage tabs in ipywidgets, drawn from views.

:class:`PanelWidgets` builds the widgets and draws the view-models (``_model``) it is
given, as HTML (``_html``); what to read and when is the controller's job
(``_controller.Panel``, which is a ``PanelWidgets``), and the buttons and the search
box call the :class:`Handlers` it passes in.  Drawing may happen from the controller's
worker thread and from the shell thread (button clicks): one lock serializes it.

Calm updates.  A value is only sent when it changed, so nothing moves or blinks when
the same figures are drawn again.  Model rows are a fixed pool of widgets whose text
changes, not widgets created and destroyed on every keystroke.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import _html
from ._model import AccountView, ModelRow, ModelsView, UsageView

if TYPE_CHECKING:
    from ..spend_chart import SpendByDay

RESULT_ROWS = 20
USAGE_ROWS = 50


def _layout(**kwargs: str) -> Any:
    import ipywidgets as w

    return w.Layout(**kwargs)


def _set(widget: Any, name: str, value: Any) -> None:
    """Set a trait only when it changes (traitlets would skip it too; this skips the lock)."""
    if getattr(widget, name) != value:
        setattr(widget, name, value)


class ModelRowWidget:
    """One model: its id with a favourite star and a "use" button, then prices and context.

    Two lines so that, in a 250 px sidebar, the prices get the whole width.
    """

    def __init__(self, on_star: Callable[[str], None], on_use: Callable[[str], None], *,
                 badge: bool = True) -> None:
        import ipywidgets as w

        self.model_id = ""
        self.badge = badge  # the "default" badge (not in the Default section itself)
        self.name = w.HTML(layout=_layout(flex="1 1 auto", width="auto", min_width="0"))
        self.meta = w.HTML(layout=_layout(width="100%"))
        self.star = w.Button(description="☆", tooltip="Add to favourites",
                             layout=_layout(width="26px", flex="0 0 auto"))
        self.use = w.Button(description="use", tooltip="Make this the default model",
                            layout=_layout(width="38px", flex="0 0 auto"))
        self.star.on_click(lambda _b: self._clicked(on_star))
        self.use.on_click(lambda _b: self._clicked(on_use))
        top = w.HBox([self.name, self.star, self.use],
                     layout=_layout(width="100%", align_items="center"))
        self.box = w.VBox([top, self.meta], layout=_layout(width="100%", display="none"))
        self.box.add_class("edge-row")

    def _clicked(self, action: Callable[[str], None]) -> None:
        if self.model_id:  # a hidden row of the pool has no model
            action(self.model_id)

    def show(self, row: ModelRow | None) -> None:
        if row is None:
            self.model_id = ""
            _set(self.box.layout, "display", "none")
            return
        self.model_id = row.id
        _set(self.name, "value", _html.model_id_html(row, badge=self.badge))
        _set(self.meta, "value", _html.model_meta_html(row))
        _set(self.star, "description", "★" if row.favourite else "☆")
        _set(self.star, "tooltip", "Remove from favourites (as %edge fav rm)" if row.favourite
             else "Add to favourites (as %edge fav add)")
        # The default needs no "use"; hidden, not removed, so the stars stay in one column.
        _set(self.use.layout, "visibility", "hidden" if row.default else "visible")
        _set(self.use, "tooltip", "Make this the default model (as %edge use)")
        _set(self.box.layout, "display", "flex")


@dataclass(frozen=True)
class Handlers:
    """What the panel's controls ask for (the controller's methods).

    The clicks and keystrokes arrive in the shell thread; the slow ones (disconnect,
    export) are handed to the controller's worker."""

    disconnect: Callable[[], None]  # the Disconnect button
    refresh: Callable[[], None]  # the Refresh button
    export: Callable[[], None]  # the Export CSV button
    star: Callable[[str], None]  # ☆/★ on a model's row: toggle the favourite
    use: Callable[[str], None]  # "use" on a model's row: make it the default
    search: Callable[[], None]  # the search text changed


class PanelWidgets:
    """The panel's widgets and how each view is drawn on them (see the module's docstring)."""

    def __init__(self, handlers: Handlers) -> None:
        import ipywidgets as w

        self._handlers = handlers
        self._render_lock = threading.RLock()
        self._sidecar: Any = None
        #: The last views drawn (tests and the headline read them).
        self.account: AccountView | None = None

        self.style = w.HTML(_html.CSS, layout=_layout(display="none"))
        self.headline = w.HTML(layout=_layout(width="100%"))
        self.account_html = w.HTML(layout=_layout(width="100%"))
        self.connect_html = w.HTML(layout=_layout(width="auto", margin="0 4px 0 0"))
        self.disconnect_button = w.Button(description="Disconnect", layout=_layout(width="auto"))
        self.refresh_button = w.Button(description="Refresh", icon="refresh",
                                       tooltip="Read the balance, the ledger and the models again",
                                       layout=_layout(width="auto"))
        self.account_message = w.HTML(layout=_layout(width="100%"))
        self.account_message.add_class("edge-message")
        actions = w.HBox([self.connect_html, self.disconnect_button, self.refresh_button],
                         layout=_layout(width="100%", flex_flow="row wrap", align_items="center",
                                        margin="6px 0 2px"))

        self.default_row = ModelRowWidget(handlers.star, handlers.use, badge=False)
        self.favourite_rows: list[ModelRowWidget] = []
        self.favourites_box = w.VBox(layout=_layout(width="100%"))
        self.favourites_empty = w.HTML(layout=_layout(width="100%"))
        self.search = w.Text(placeholder="Search models, e.g. claude haiku",
                             continuous_update=True, layout=_layout(width="100%"))
        self.models_note = w.HTML(layout=_layout(width="100%"))
        self.result_rows = [ModelRowWidget(handlers.star, handlers.use)
                            for _ in range(RESULT_ROWS)]
        self.search.observe(lambda _change: handlers.search(), names="value")

        self.usage_html = w.HTML(layout=_layout(width="100%"))
        self.chart_html = w.HTML(layout=_layout(width="100%"))
        self.export_button = w.Button(description="Export CSV", icon="download",
                                      tooltip="Write this notebook's calls to "
                                              "edge-usage-<date>.csv next to the notebook",
                                      layout=_layout(width="auto", margin="6px 0 2px",
                                                     align_self="flex-start"))
        self.usage_message = w.HTML(layout=_layout(width="100%"))
        self.usage_message.add_class("edge-message")

        self.disconnect_button.on_click(lambda _b: handlers.disconnect())
        self.refresh_button.on_click(lambda _b: handlers.refresh())
        self.export_button.on_click(lambda _b: handlers.export())

        section = _html.section_html
        account_tab = w.VBox([self.account_html, actions, self.account_message])
        models_tab = w.VBox([
            w.HTML(section("Default", first=True)), self.default_row.box,
            w.HTML(section("Favourites")), self.favourites_empty, self.favourites_box,
            w.HTML(section("All models")), self.search, self.models_note,
            *[r.box for r in self.result_rows]])
        usage_tab = w.VBox([self.chart_html, self.usage_html, self.export_button,
                            self.usage_message])
        self.tabs = w.Tab(children=[account_tab, models_tab, usage_tab],
                          titles=("Account", "Models", "Usage"), layout=_layout(width="100%"))
        self.widget = w.VBox([self.style, self.headline, self.tabs],
                             layout=_layout(width="100%", max_width="560px"))
        self.widget.add_class("edge-panel")

    # -- drawing -------------------------------------------------------------------------------

    def draw_headline(self, *, busy: bool) -> None:
        """The line above the tabs, from the last account view (``busy``: a fetch is on)."""
        if self.account is not None:
            with self._render_lock:
                _set(self.headline, "value", _html.headline_html(self.account, busy=busy))

    def draw_account(self, view: AccountView, connect_href: str | None, *, busy: bool) -> None:
        """The Account tab and the headline; ``connect_href``: the Connect link, if any."""
        with self._render_lock:
            self.account = view
            _set(self.account_html, "value", _html.account_html(view))
            _set(self.connect_html, "value", _html.connect_html(connect_href, view.connected)
                 if not view.connected else "")
            _set(self.connect_html.layout, "display", "none" if view.connected else "flex")
            _set(self.disconnect_button, "disabled", not view.can_disconnect)
            _set(self.disconnect_button, "tooltip", view.disconnect_hint)
            _set(self.headline, "value", _html.headline_html(view, busy=busy))

    def draw_models(self, view: ModelsView) -> None:
        """The Models tab: the default, the favourites and the search's results."""
        with self._render_lock:
            self.default_row.show(view.default)
            while len(self.favourite_rows) < len(view.favourites):
                self.favourite_rows.append(ModelRowWidget(self._handlers.star,
                                                          self._handlers.use))
            boxes = tuple(r.box for r in self.favourite_rows)
            if self.favourites_box.children != boxes:
                self.favourites_box.children = boxes
            for i, row_widget in enumerate(self.favourite_rows):
                row_widget.show(view.favourites[i] if i < len(view.favourites) else None)
            _set(self.favourites_empty, "value", "" if view.favourites else
                 '<div class="edge-note">No favourites yet: star a model below '
                 "(or <code>%edge fav add MODEL</code>).</div>")
            _set(self.models_note, "value", _html.models_note_html(view))
            for i, row_widget in enumerate(self.result_rows):
                row_widget.show(view.results[i] if i < len(view.results) else None)

    def draw_usage(self, view: UsageView | None) -> None:
        """The Usage tab (``None``: the ledger has not been read yet)."""
        if view is None:
            html = '<div class="edge-note">Reading the usage ledger…</div>'
        else:
            html = _html.usage_html(view)
        with self._render_lock:
            _set(self.usage_html, "value", html)

    def draw_spend(self, data: SpendByDay | None) -> None:
        """The Usage tab's spend-per-day chart (``None``: the ledger has not been read yet).

        One SVG of a fixed number of days: what is sent does not grow with the calls."""
        html = _html.spend_html(data)
        with self._render_lock:
            _set(self.chart_html, "value", html)

    def show_account_message(self, html: str) -> None:
        """The line under the Account tab's buttons ("" clears it)."""
        with self._render_lock:
            _set(self.account_message, "value", html)

    def show_usage_message(self, html: str) -> None:
        """The line under the Export CSV button."""
        with self._render_lock:
            _set(self.usage_message, "value", html)

    # -- showing and closing -------------------------------------------------------------------

    def show_in_sidebar(self, title: str = "edge") -> None:
        """Put the panel in JupyterLab's right sidebar (a new sidecar; the old one is closed)."""
        from IPython.display import display
        from sidecar import Sidecar

        if self._sidecar is not None:
            with contextlib.suppress(Exception):
                self._sidecar.close()
        sidecar = Sidecar(title=title)
        with sidecar:
            display(self.widget)
        self._sidecar = sidecar

    def close(self) -> None:
        """Close the sidecar and every widget (the panel disappears)."""
        with contextlib.suppress(Exception):
            if self._sidecar is not None:
                self._sidecar.close()
        for widget in _tree(self.widget):
            # Best effort: outside a kernel the comm manager can change under a widget
            # (importing ipykernel swaps it), and closing then raises KeyError.
            with contextlib.suppress(Exception):
                widget.close()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def _tree(root: Any) -> list[Any]:
    """Every widget under ``root`` (layouts included), so closing frees every comm."""
    found, seen, stack = [], set(), [root]
    while stack:
        widget = stack.pop()
        if id(widget) in seen:
            continue
        seen.add(id(widget))
        found.append(widget)
        stack.extend(getattr(widget, "children", ()))
        for name in ("layout", "style"):
            part = getattr(widget, name, None)
            if part is not None and hasattr(part, "close") and part is not widget:
                found.append(part)
    return found


__all__ = ["Handlers", "ModelRowWidget", "PanelWidgets"]
