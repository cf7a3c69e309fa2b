"""``%edge panel [--sidebar]``: the account, the models and this notebook's usage, live.

One panel per kernel: showing it again shows the same live instance (every view of it
stays in sync).  ``--sidebar`` puts it in JupyterLab's right sidebar through the
optional ``sidecar`` package; without it, or outside JupyterLab, the panel is shown
in the cell and a line says why.

Parts: ``_model`` (pure view-model: what to show), ``_html`` (pure: how it reads),
``_source`` (the I/O: key store, balance, ledger, catalogue, server routes),
``_widgets`` (the drawing: ipywidgets built and drawn from the views) and
``_controller`` (``Panel``: one worker thread, event subscriptions and the actions).
Importing this package imports neither ipywidgets nor pandas; :func:`show_panel` does,
when a panel is first asked for.
"""

from __future__ import annotations

import argparse
import threading
from typing import TYPE_CHECKING

from ..magics import EdgeCellError, HelpRequested, UsageError, sub_parser

if TYPE_CHECKING:
    from ._controller import Panel

__all__ = ["close_panel", "get_panel", "show_panel"]

SIDECAR_TITLE = "edge"

_panel: Panel | None = None
_lock = threading.Lock()


def get_panel(*, create: bool = False) -> Panel | None:
    """This kernel's live panel (made on first use when ``create``), else None."""
    global _panel
    with _lock:
        if _panel is None and create:
            from ._controller import Panel

            _panel = Panel()
        return _panel


def close_panel() -> None:
    """Close the live panel (it stops listening and disappears); the next show makes a new one."""
    global _panel
    with _lock:
        panel, _panel = _panel, None
    if panel is not None:
        panel.close()


def _parser() -> argparse.ArgumentParser:
    p = sub_parser("panel", "The edge panel: account and balance, models and favourites, and "
                   "this notebook's usage, updated live after every %%edge cell.")
    p.add_argument("--sidebar", action="store_true",
                   help="show it in JupyterLab's right sidebar (needs the sidecar package)")
    return p


def sidebar_problem() -> str | None:
    """Why the sidebar cannot be used here (None: it can).

    The sidebar is a sidecar widget, which only JupyterLab draws; a kernel that belongs
    to no Jupyter server (VS Code, Colab, a console) is surely not in JupyterLab.
    """
    try:
        import sidecar  # noqa: F401
    except ImportError:
        return ("The sidebar needs the `sidecar` package (`pip install \"edge-jupyter[lab]\"`, "
                "then restart JupyterLab).")
    panel = get_panel(create=True)
    assert panel is not None
    if panel.source.server() is None:
        return ("The sidebar only works in JupyterLab, and this kernel does not belong to a "
                "Jupyter server (VS Code, Colab or a console?).")
    return None


def show_panel(argv: list[str]) -> None:
    """``%edge panel [--sidebar]``: show this kernel's panel, in the cell or in the sidebar.

    Bad flags raise :class:`EdgeCellError` (one line); ``--help`` prints the help.
    """
    try:
        args = _parser().parse_args(argv)
    except HelpRequested as exc:
        print(exc.text)
        return
    except UsageError as exc:
        raise EdgeCellError(str(exc)) from None
    from IPython.display import display

    panel = get_panel(create=True)
    assert panel is not None
    if args.sidebar:
        problem = sidebar_problem()
        if problem is None:
            panel.show_in_sidebar(SIDECAR_TITLE)
            display({"text/plain": "The edge panel is in the right sidebar.",
                      "text/html": '<span style="color:var(--jp-ui-font-color2,#616161)">'
                                   "The edge panel is in the right sidebar →</span>"}, raw=True)
            return
        print(f"{problem} Showing the panel here instead.")
    display(panel.widget)
