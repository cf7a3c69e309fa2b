"""The ipywidgets panel: Account, Models and Usage tabs drawn from the view-model.

Threads.  All reading (keyring, balance over HTTP, SQLite, the model list) happens
in one worker thread per panel.  Event listeners run in the thread that publishes
(``%%edge`` publishes ``CALLS_FINISHED`` at the end of its cell), so they only mark
what is stale and wake the worker: O(1), no I/O, nothing a streaming cell waits
for.  Changing widget values from the worker is safe (each change goes out as a
comm message at once; recipe A7); a lock keeps the worker and the button/search
handlers (which run in the shell thread) from drawing the same widgets at once.

Calm updates.  A value is only sent when it changed; old figures stay on screen
while new ones are fetched (a "↻" in a space reserved for it shows the fetch), so
nothing moves or blinks when a call finishes.  Model rows are a fixed pool of
widgets whose text changes, not widgets created and destroyed on every keystroke.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import events, preferences
from . import _html
from ._model import (
    AccountView,
    KeyStatus,
    ModelRow,
    Spending,
    account_view,
    models_view,
    usage_view,
)
from ._source import WATCH_SECONDS, Source, Watch

if TYPE_CHECKING:
    import pandas as pd

    from ..balance import Balance
    from ..openrouter import ModelInfo
    from ..preferences import Preferences

RESULT_ROWS = 20
USAGE_ROWS = 50
WATCH_POLL_SECONDS = 1.5

#: What a refresh can cover; the worker does the local parts first, the network last.
ALL_PARTS = frozenset({"prefs", "usage", "key", "balance", "catalogue"})


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
        self.star.on_click(lambda _b: self.model_id and on_star(self.model_id))
        self.use.on_click(lambda _b: self.model_id and on_use(self.model_id))
        top = w.HBox([self.name, self.star, self.use],
                     layout=_layout(width="100%", align_items="center"))
        self.box = w.VBox([top, self.meta], layout=_layout(width="100%", display="none"))
        self.box.add_class("edge-row")

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


class Panel:
    """The live panel of this kernel (see the module's docstring for its threading)."""

    def __init__(self, source: Source | None = None) -> None:
        import ipywidgets as w

        self.source = source or Source()
        self._render_lock = threading.RLock()
        self._state_lock = threading.Condition()
        self._pending: set[str] = set()
        self._fresh_balance = False
        self._actions: list[Callable[[], None]] = []
        self._busy = False
        self._closed = False
        self._sidecar: Any = None
        self._fetching = False  # the worker is asking OpenRouter (the headline shows ↻)
        self._failed = False  # the last refresh had a step fail (its message is shown)

        # state drawn by the renderers (replaced whole, never mutated)
        self._prefs: Preferences = preferences.Preferences()
        self._key = KeyStatus(connected=False)
        self._balance: Balance | None = None
        self._balance_loaded = False
        self._spending = Spending()
        self._frame: pd.DataFrame | None = None
        self._catalogue: list[ModelInfo] | None = None
        self._catalogue_problem = ""
        self._watch: Watch | None = None
        self._watch_started = 0.0
        #: The last views drawn (tests and the headline read them).
        self.account: AccountView | None = None

        # -- widgets --
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

        self.default_row = ModelRowWidget(self._toggle_favourite, self.use_model, badge=False)
        self.favourite_rows: list[ModelRowWidget] = []
        self.favourites_box = w.VBox(layout=_layout(width="100%"))
        self.favourites_empty = w.HTML(layout=_layout(width="100%"))
        self.search = w.Text(placeholder="Search models, e.g. claude haiku",
                             continuous_update=True, layout=_layout(width="100%"))
        self.models_note = w.HTML(layout=_layout(width="100%"))
        self.result_rows = [ModelRowWidget(self._toggle_favourite, self.use_model)
                            for _ in range(RESULT_ROWS)]
        self.search.observe(lambda _change: self._render_models(), names="value")

        self.usage_html = w.HTML(layout=_layout(width="100%"))
        self.export_button = w.Button(description="Export CSV", icon="download",
                                      tooltip="Write this notebook's calls to "
                                              "edge-usage-<date>.csv next to the notebook",
                                      layout=_layout(width="auto", margin="6px 0 2px",
                                                     align_self="flex-start"))
        self.usage_message = w.HTML(layout=_layout(width="100%"))
        self.usage_message.add_class("edge-message")

        self.disconnect_button.on_click(lambda _b: self._act(self._disconnect))
        self.refresh_button.on_click(lambda _b: self.refresh(fresh=True))
        self.export_button.on_click(lambda _b: self._act(self._export))

        section = _html.section_html
        account_tab = w.VBox([self.account_html, actions, self.account_message])
        models_tab = w.VBox([
            w.HTML(section("Default", first=True)), self.default_row.box,
            w.HTML(section("Favourites")), self.favourites_empty, self.favourites_box,
            w.HTML(section("All models")), self.search, self.models_note,
            *[r.box for r in self.result_rows]])
        usage_tab = w.VBox([self.usage_html, self.export_button, self.usage_message])
        self.tabs = w.Tab(children=[account_tab, models_tab, usage_tab],
                          titles=("Account", "Models", "Usage"), layout=_layout(width="100%"))
        self.widget = w.VBox([self.style, self.headline, self.tabs],
                             layout=_layout(width="100%", max_width="560px"))
        self.widget.add_class("edge-panel")

        self._draw_all()  # something sensible at once, before any data arrives
        self._unsubscribe = events.subscribe(self._on_event)
        self._worker = threading.Thread(target=self._loop, name="edge-panel", daemon=True)
        self._worker.start()
        self.refresh()

    # -- requests (any thread, O(1)) -----------------------------------------------------------

    def _on_event(self, event: str, payload: Any) -> None:
        """Runs in the publisher's thread (the end of an ``%%edge`` cell): mark and wake only."""
        if event == events.CALLS_FINISHED:
            self._request({"usage", "key", "balance"}, fresh=True)
        elif event == events.PREFERENCES_CHANGED:
            self._request({"prefs"})
        elif event == events.ACCOUNT_CHANGED:
            self._request({"key", "balance"}, fresh=True)

    def _request(self, parts: set[str] | frozenset[str], *, fresh: bool = False) -> None:
        with self._state_lock:
            self._pending |= parts
            self._fresh_balance |= fresh
            self._state_lock.notify_all()

    def refresh(self, *, fresh: bool = False) -> None:
        """Read everything again (``fresh``: ask OpenRouter for the balance now)."""
        self._request(ALL_PARTS, fresh=fresh)

    def _act(self, action: Callable[[], None]) -> None:
        with self._state_lock:
            self._actions.append(action)
            self._state_lock.notify_all()

    def settle(self, timeout: float = 15.0) -> bool:
        """Wait until every requested refresh is drawn (for tests and scripts)."""
        deadline = time.monotonic() + timeout
        with self._state_lock:
            while self._pending or self._actions or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._state_lock.wait(left)
        return True

    # -- the worker ----------------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            with self._state_lock:
                while not (self._pending or self._actions or self._closed):
                    # Idle: sleep until asked, or poll a Connect link the user may have opened.
                    timeout = WATCH_POLL_SECONDS if self._watching() else None
                    if not self._state_lock.wait(timeout) and timeout is not None:
                        break
                if self._closed:
                    return
                parts, self._pending = self._pending, set()
                actions, self._actions = self._actions, []
                fresh, self._fresh_balance = self._fresh_balance, False
                self._busy = True
            try:
                for action in actions:
                    self._guard(action)
                if parts:
                    self._update(parts, fresh=fresh)
                elif self._watching():
                    self._guard(self._poll_watch)
            finally:
                with self._state_lock:
                    self._busy = False
                    self._state_lock.notify_all()

    def _guard(self, step: Callable[[], None]) -> None:
        """A failing step is reported in the panel, never kills the worker."""
        try:
            step()
        except Exception as exc:
            self._failed = True
            with self._render_lock:
                _set(self.account_message, "value",
                     _html.esc(f"The panel could not update: {type(exc).__name__}: {exc}"))

    def _update(self, parts: set[str], *, fresh: bool) -> None:
        """Read what ``parts`` names and redraw only what that changes (local first)."""
        was_failing, self._failed = self._failed, False
        network = bool(parts & {"balance", "catalogue"})
        if network:
            self._draw_headline(busy=True)
        if "prefs" in parts:
            self._guard(self._load_prefs)
        if "usage" in parts:
            self._guard(self._load_frame)
            self._draw_usage()
        if parts & {"usage", "prefs"}:
            self._guard(self._load_spending)  # budgets come from the preferences
        if "prefs" in parts:
            self._render_models()
        if "key" in parts:
            self._guard(self._load_key)
        self._draw_account()
        if "balance" in parts:
            self._guard(lambda: self._load_balance(fresh))
            self._draw_account()
        if "catalogue" in parts and (self._catalogue is None or fresh):
            self._guard(self._load_catalogue)
            self._render_models()
        if network:
            self._draw_headline(busy=False)
        if was_failing and not self._failed:  # it works again: the old complaint goes
            with self._render_lock:
                _set(self.account_message, "value", "")

    def _load_prefs(self) -> None:
        self._prefs = self.source.preferences()

    def _load_frame(self) -> None:
        self._frame = self.source.usage_frame()

    def _load_spending(self) -> None:
        self._spending = self.source.spending(self._prefs)

    def _load_key(self) -> None:
        key = self.source.key_status()
        if not key.connected:
            self._balance, self._balance_loaded = None, True
            if self._watch is None or time.monotonic() - self._watch_started > WATCH_SECONDS:
                self._watch, self._watch_started = self.source.new_watch(), time.monotonic()
        else:
            self._watch = None
        self._key = key

    def _load_balance(self, fresh: bool) -> None:
        try:
            self._balance = self.source.balance(fresh=fresh) if self._key.connected else None
        finally:
            self._balance_loaded = True

    def _load_catalogue(self) -> None:
        try:
            self._catalogue, self._catalogue_problem = self.source.models(), ""
        except Exception as exc:
            self._catalogue_problem = str(exc)

    def _watching(self) -> bool:
        return (self._watch is not None and not self._key.connected
                and time.monotonic() - self._watch_started < WATCH_SECONDS)

    def _poll_watch(self) -> None:
        watch = self._watch
        if watch is None:
            return
        outcome = self.source.poll_watch(watch)
        if outcome is None:
            return
        state, message = outcome
        self._watch = None
        with self._render_lock:
            _set(self.account_message, "value", _html.prose(message))
        if state == "connected":
            events.publish(events.ACCOUNT_CHANGED)
        else:
            self._request({"key"})  # a fresh link for another try

    # -- actions (run by the worker) -----------------------------------------------------------

    def _disconnect(self) -> None:
        message = self.source.disconnect()
        with self._render_lock:
            _set(self.account_message, "value", _html.prose(message))
        events.publish(events.ACCOUNT_CHANGED)

    def _export(self) -> None:
        frame = self.source.usage_frame()
        if not len(frame):
            text = "Nothing to export yet: no calls in this notebook."
        else:
            path = self.source.export_csv(frame)
            text = f"Wrote {len(frame):,} call{'s' if len(frame) != 1 else ''} to {path}"
        with self._render_lock:
            _set(self.usage_message, "value", _html.esc(text))

    # -- actions (run in the shell thread by button clicks; quick, local) ---------------------

    def use_model(self, model_id: str) -> None:
        """Make ``model_id`` the default, exactly as ``%edge use`` does (and tell everyone)."""
        self._prefs = preferences.update(default_model=model_id)
        self._render_models()

    def _toggle_favourite(self, model_id: str) -> None:
        def toggle(prefs: preferences.Preferences) -> None:  # on the file as it is now, locked
            favs = prefs.favourites
            prefs.favourites = ([f for f in favs if f != model_id] if model_id in favs
                                else [*favs, model_id])

        self._prefs = preferences.edit(toggle)
        self._render_models()

    # -- drawing -------------------------------------------------------------------------------

    def _draw_all(self) -> None:
        self._draw_account()
        self._render_models()
        self._draw_usage()

    def _draw_headline(self, *, busy: bool) -> None:
        self._fetching = busy
        if self.account is not None:
            with self._render_lock:
                _set(self.headline, "value", _html.headline_html(self.account, busy=busy))

    def _draw_account(self) -> None:
        view = account_view(self._prefs, self._key, self._balance, self._spending,
                            loading=not self._balance_loaded)
        with self._render_lock:
            self.account = view
            _set(self.account_html, "value", _html.account_html(view))
            href = self._watch.href if self._watch is not None else None
            _set(self.connect_html, "value", _html.connect_html(href, view.connected)
                 if not view.connected else "")
            _set(self.connect_html.layout, "display", "none" if view.connected else "flex")
            _set(self.disconnect_button, "disabled", not view.can_disconnect)
            _set(self.disconnect_button, "tooltip", view.disconnect_hint)
            _set(self.headline, "value", _html.headline_html(view, busy=self._fetching))

    def _render_models(self) -> None:
        view = models_view(self._prefs, self._catalogue, self.search.value, limit=RESULT_ROWS,
                           problem=self._catalogue_problem)
        with self._render_lock:
            self.default_row.show(view.default)
            while len(self.favourite_rows) < len(view.favourites):
                self.favourite_rows.append(ModelRowWidget(self._toggle_favourite,
                                                          self.use_model))
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

    def _draw_usage(self) -> None:
        if self._frame is None:
            html = '<div class="edge-note">Reading the usage ledger…</div>'
        else:
            html = _html.usage_html(usage_view(self._frame, limit=USAGE_ROWS))
        with self._render_lock:
            _set(self.usage_html, "value", html)

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
        """Stop listening and drawing, and close the widgets (the panel disappears)."""
        self._unsubscribe()
        with self._state_lock:
            self._closed = True
            self._state_lock.notify_all()
        self._worker.join(timeout=5)
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


__all__ = ["ModelRowWidget", "Panel"]
