"""Where the panel's data comes from, and the few actions it takes (all the I/O).

The view-model is pure; this module reads the key store, the balance, the ledger
and the model catalogue for it, and does what the buttons ask (disconnect, export).
Everything here may block for a moment (keyring, HTTP with short timeouts,
SQLite), so the panel calls it from its own worker thread, never from the
streaming path of a cell.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import keystore, preferences
from ._model import KeyStatus, Spending

if TYPE_CHECKING:
    import pandas as pd

    from ..balance import Balance
    from ..jupyter_servers import ServerInfo
    from ..ledger import Ledger
    from ..openrouter import ModelInfo
    from ..preferences import Preferences

#: OpenRouter's authorization codes live ten minutes: after that a Connect link is dead.
WATCH_SECONDS = 600.0
NO_SERVER = object()


@dataclass(frozen=True)
class Watch:
    """A Connect link the panel showed, and the id the server reports its outcome under."""

    watch_id: str
    href: str


class Source:
    """The panel's window on the account, the ledger and the catalogue."""

    def __init__(self, server: ServerInfo | None = None) -> None:
        """``server``: the Jupyter server to use; by default the one this kernel belongs to,
        looked up on first use."""
        self._server: Any = server  # ServerInfo, NO_SERVER, or None = not looked up yet

    # -- who we are ---------------------------------------------------------------------------

    @staticmethod
    def notebook() -> str:
        """This notebook's path as the ledger records it ("" outside a notebook server)."""
        from ..ledger import current_context

        return current_context().notebook or os.environ.get("JPY_SESSION_NAME", "")

    @staticmethod
    def ledger() -> Ledger:
        from ..ledger import Ledger

        return Ledger.default()  # the one instance per data folder, that the calls write to

    def server(self) -> ServerInfo | None:
        """The Jupyter server this kernel belongs to (looked up once; None outside one)."""
        if self._server is None:
            found = None
            with contextlib.suppress(Exception):
                from ..jupyter_servers import find_server

                found = find_server()
            self._server = found if found is not None else NO_SERVER
        return None if self._server is NO_SERVER else self._server

    # -- reading ------------------------------------------------------------------------------

    @staticmethod
    def preferences() -> Preferences:
        return preferences.load()

    @staticmethod
    def key_status() -> KeyStatus:
        resolved = keystore.resolve_api_key()
        return KeyStatus(connected=resolved.connected, source=resolved.source,
                         backend=resolved.backend, problem=resolved.problem,
                         provisioned=resolved.provisioned)

    @staticmethod
    def balance(*, fresh: bool) -> Balance | None:
        """The key's limit and the account balance (``fresh``: ask now, else a minute's cache)."""
        from .. import balance as balance_mod
        from ..openrouter import OpenRouterClient

        resolved = keystore.resolve_api_key()
        if not resolved.key:
            return None
        client = OpenRouterClient(resolved.key)  # uses the shared pooled httpx client
        return balance_mod.fetch(client) if fresh else balance_mod.get(client)

    def usage_frame(self) -> pd.DataFrame:
        """This notebook's ledger rows (this kernel's, when not in a notebook)."""
        from ..ledger import current_context

        notebook = self.notebook()
        if notebook:
            return self.ledger().frame("notebook", notebook=notebook)
        return self.ledger().frame("session", session_id=current_context().session_id)

    def spend_frame(self, days: int) -> pd.DataFrame:
        """Every call on this machine in the last ``days`` UTC days (the Usage tab's chart)."""
        from .. import spend_chart

        first, _ = spend_chart.last_days(days)
        return self.ledger().frame("all", since=first)

    def spending(self, prefs: Preferences) -> Spending:
        from ..ledger import current_context

        book, notebook = self.ledger(), self.notebook()
        session_id = current_context().session_id
        budgets = {}
        for scope in prefs.budgets:
            with contextlib.suppress(Exception):
                budgets[scope] = book.spent(scope, notebook=notebook, session_id=session_id)
        return Spending(today=book.spent("day"),
                        notebook=book.spent("notebook", notebook=notebook) if notebook
                        else book.spent("session", session_id=session_id),
                        budgets=budgets)

    @staticmethod
    def models() -> list[ModelInfo]:
        """OpenRouter's public model list (cached five minutes by the client)."""
        from ..openrouter import OpenRouterClient

        return OpenRouterClient(None).models()

    # -- connecting ---------------------------------------------------------------------------

    def new_watch(self) -> Watch | None:
        """A Connect link to this server's ``edge/connect`` route, or None without a server."""
        server = self.server()
        if server is None:
            return None
        watch_id = secrets.token_urlsafe(18)
        return Watch(watch_id, server.browser_link(f"edge/connect?watch={watch_id}"))

    def poll_watch(self, watch: Watch) -> tuple[str, str] | None:
        """("connected" | "error", message) once the flow behind ``watch`` ended, else None."""
        server = self.server()
        if server is None:
            return None
        try:
            with server.client(timeout=2.0) as client:
                response = client.get(f"edge/api/connect/{watch.watch_id}")
            state = response.json() if response.status_code == 200 else None
        except Exception:
            return None
        if isinstance(state, dict) and state.get("state") in ("connected", "error"):
            return str(state["state"]), str(state.get("message") or "")
        return None

    def disconnect(self) -> str:
        """Remove the stored key through the server's route, else here; returns what happened.

        The server route is preferred because that is where the key was stored from;
        both share the same keyring (or key file), so the fallback does the same thing.
        """
        server = self.server()
        if server is not None:
            try:
                with server.client(timeout=5.0) as client:
                    response = client.post("edge/api/disconnect")
                body = response.json()
                if isinstance(body, dict) and "message" in body:
                    return str(body["message"])
                if isinstance(body, dict) and body.get("error"):
                    return f"Could not disconnect: {body['error']}"
            except Exception:
                pass  # no extension on that server, or it is gone: do it here
        try:
            removed = keystore.delete_api_key()
        except keystore.KeyStoreError as exc:
            return f"Could not disconnect: {exc}"
        return keystore.disconnect_message(removed, keystore.resolve_api_key().source)

    # -- exporting ----------------------------------------------------------------------------

    def export_csv(self, frame: pd.DataFrame, folder: Path | None = None,
                   today: date | None = None) -> Path:
        """Write ``edge-usage-<date>.csv`` in ``folder`` (the notebook's folder: the cwd).

        Never over an existing file (a second export the same day, or the user's own file
        of that name): ``edge-usage-<date>-2.csv`` and so on.
        """
        from ..ledger import export

        where = folder or Path.cwd()
        stem = f"edge-usage-{(today or date.today()).isoformat()}"
        target, n = where / f"{stem}.csv", 1
        while target.exists():
            n += 1
            target = where / f"{stem}-{n}.csv"
        return export(frame, target)
