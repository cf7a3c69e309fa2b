"""Where a cell runs: notebook path, cell id and execution count, from the kernel."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from typing import Any


def in_kernel() -> bool:
    """True in a Jupyter kernel; False in terminal IPython or plain Python, where output
    cannot be replaced or updated in place (no ``clear_output``, no display updates)."""
    from IPython import get_ipython  # here, not at import: connect.py stays IPython-free

    return getattr(get_ipython(), "kernel", None) is not None


@dataclass(frozen=True)
class CellContext:
    notebook: str = ""
    cell_id: str = ""
    execution_count: int | None = None

    def turn_key(self) -> str:
        """Identifies this cell's turn in a conversation.

        With a cell id (JupyterLab, Notebook 7) the cell's, so re-running it replaces its
        own turn.  Without one (nbclient, consoles, terminal IPython) a new id for every
        execution: the same prompt run twice ("go on") is two turns, never one replacing
        the other.  The execution count is kept in it only for people reading the file.
        """
        if self.cell_id:
            return f"cell:{self.cell_id}"
        count = "" if self.execution_count is None else str(self.execution_count)
        return f"exec:{count}:{uuid.uuid4().hex[:16]}"


def current(shell: Any) -> CellContext:
    """JupyterLab/Notebook 7 send the cell id in the request metadata; the server puts the
    notebook path in ``JPY_SESSION_NAME``.  Elsewhere both are empty rather than guessed."""
    parent: dict[str, Any] = {}
    kernel = getattr(shell, "kernel", None)
    try:
        if kernel is not None and hasattr(kernel, "get_parent"):
            parent = kernel.get_parent() or {}
        else:
            parent = getattr(shell, "parent_header", None) or {}
    except Exception:
        parent = {}
    metadata = parent.get("metadata") or {}
    cell_id = str(metadata.get("cellId") or metadata.get("cell_id") or "")
    notebook = os.environ.get("JPY_SESSION_NAME", "")
    count = getattr(shell, "execution_count", None)
    return CellContext(notebook=notebook, cell_id=cell_id,
                       execution_count=count if isinstance(count, int) else None)
