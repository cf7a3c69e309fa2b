"""Where a cell runs, from the kernel: notebook path, cell id and execution count."""

from __future__ import annotations

import os
from typing import Any

from ..calls import CallContext


def in_kernel() -> bool:
    """True in a Jupyter kernel; False in terminal IPython or plain Python, where output
    cannot be replaced or updated in place (no ``clear_output``, no display updates)."""
    from IPython import get_ipython  # here, not at import: connect.py stays IPython-free

    return getattr(get_ipython(), "kernel", None) is not None


def current(shell: Any) -> CallContext:
    """JupyterLab/Notebook 7 send the cell id in the request metadata; the server puts the
    notebook path in ``JPY_SESSION_NAME``.  Elsewhere both are empty rather than guessed."""
    if shell is None:
        return CallContext()
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
    return CallContext(notebook=notebook, cell_id=cell_id,
                       execution_count=count if isinstance(count, int) else None)
