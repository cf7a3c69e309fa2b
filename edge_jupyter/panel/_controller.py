"""The panel's controller: what to read when, in which thread, and what the buttons do.

:class:`Panel` is its drawing (``_widgets.PanelWidgets``: the widgets are its
attributes, as the frontend and the tests see them) driven from here.  It reads
through ``_source.Source`` and turns what it read into views (``_model``), which the
drawing shows.

Threads.  All reading (keyring, balance over HTTP, SQLite, the model list) happens
in one worker thread per panel.  Event listeners run in the thread that publishes
(``%%edge`` publishes ``CALLS_FINISHED`` at the end of its cell), so they only mark
what is stale and wake the worker: O(1), no I/O, nothing a streaming cell waits
for.  Changing widget values from the worker is safe (each change goes out as a
comm message at once; recipe A7); the drawing's lock keeps the worker and the
button/search handlers (which run in the shell thread) from drawing the same widgets
at once.

Calm updates.  Old figures stay on screen while new ones are fetched (a "↻" in a
space reserved for it shows the fetch), so nothing moves or blinks when a call
finishes; the drawing only sends what changed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import events, preferences
from . import _html
from ._model import (
    CHART_DAYS,
    KeyStatus,
    Spending,
    account_view,
    models_view,
    spend_view,
    usage_view,
)
from ._source import WATCH_SECONDS, Source, Watch
from ._widgets import RESULT_ROWS, USAGE_ROWS, Handlers, PanelWidgets

if TYPE_CHECKING:
    import pandas as pd

    from ..balance import Balance
    from ..openrouter import ModelInfo
    from ..preferences import Preferences
    from ..spend_chart import SpendByDay

WATCH_POLL_SECONDS = 1.5

#: What a refresh can cover; the worker does the local parts first, the network last.
ALL_PARTS = frozenset({"prefs", "usage", "key", "balance", "catalogue"})


class Panel(PanelWidgets):
    """The live panel of this kernel (see the module's docstring for its threading)."""

    def __init__(self, source: Source | None = None) -> None:
        self.source = source or Source()
        self._state_lock = threading.Condition()
        self._pending: set[str] = set()
        self._fresh_balance = False
        self._actions: list[Callable[[], None]] = []
        self._busy = False
        self._closed = False
        self._fetching = False  # the worker is asking OpenRouter (the headline shows ↻)
        self._failed = False  # the last refresh had a step fail (its message is shown)

        # state drawn by the renderers (replaced whole, never mutated)
        self._prefs: Preferences = preferences.Preferences()
        self._key = KeyStatus(connected=False)
        self._balance: Balance | None = None
        self._balance_loaded = False
        self._spending = Spending()
        self._frame: pd.DataFrame | None = None
        self._spend: SpendByDay | None = None
        self._catalogue: list[ModelInfo] | None = None
        self._catalogue_problem = ""
        self._watch: Watch | None = None
        self._watch_started = 0.0

        super().__init__(Handlers(
            disconnect=lambda: self._act(self._disconnect),
            refresh=lambda: self.refresh(fresh=True),
            export=lambda: self._act(self._export),
            star=self._toggle_favourite,
            use=self.use_model,
            search=self._render_models))

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
            self.show_account_message(
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
            self._guard(self._load_spend)
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
            self.show_account_message("")

    def _load_prefs(self) -> None:
        self._prefs = self.source.preferences()

    def _load_frame(self) -> None:
        self._frame = self.source.usage_frame()

    def _load_spend(self) -> None:
        self._spend = spend_view(self.source.spend_frame(CHART_DAYS))

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
        self.show_account_message(_html.prose(message))
        if state == "connected":
            events.publish(events.ACCOUNT_CHANGED)
        else:
            self._request({"key"})  # a fresh link for another try

    # -- actions (run by the worker) -----------------------------------------------------------

    def _disconnect(self) -> None:
        message = self.source.disconnect()
        self.show_account_message(_html.prose(message))
        events.publish(events.ACCOUNT_CHANGED)

    def _export(self) -> None:
        frame = self.source.usage_frame()
        if not len(frame):
            text = "Nothing to export yet: no calls in this notebook."
        else:
            path = self.source.export_csv(frame)
            text = f"Wrote {len(frame):,} call{'s' if len(frame) != 1 else ''} to {path}"
        self.show_usage_message(_html.esc(text))

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

    # -- the views to draw ---------------------------------------------------------------------

    def _draw_all(self) -> None:
        self._draw_account()
        self._render_models()
        self._draw_usage()

    def _draw_headline(self, *, busy: bool) -> None:
        self._fetching = busy
        self.draw_headline(busy=busy)

    def _draw_account(self) -> None:
        view = account_view(self._prefs, self._key, self._balance, self._spending,
                            loading=not self._balance_loaded)
        self.draw_account(view, self._watch.href if self._watch is not None else None,
                          busy=self._fetching)

    def _render_models(self) -> None:
        self.draw_models(models_view(self._prefs, self._catalogue, self.search.value,
                                     limit=RESULT_ROWS, problem=self._catalogue_problem))

    def _draw_usage(self) -> None:
        self.draw_spend(self._spend)
        self.draw_usage(None if self._frame is None else usage_view(self._frame,
                                                                     limit=USAGE_ROWS))

    # -- closing -------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop listening and drawing, and close the widgets (the panel disappears)."""
        self._unsubscribe()
        with self._state_lock:
            self._closed = True
            self._state_lock.notify_all()
        self._worker.join(timeout=5)
        super().close()  # the widgets (and the sidecar)


__all__ = ["Panel"]
