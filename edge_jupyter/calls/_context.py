"""Where a call is made from: notebook path, cell id and execution count (pure).

The front-end fills it in (the magic from the kernel's request metadata, the Python API the
same way when it runs in a kernel, the CLI leaves it empty); the engine writes it into every
ledger row and keys conversation turns on it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass


@dataclass(frozen=True)
class CallContext:
    notebook: str = ""
    cell_id: str = ""
    execution_count: int | None = None

    def turn_key(self) -> str:
        """Identifies this cell's turn in a conversation.

        With a cell id (JupyterLab, Notebook 7) the cell's, so re-running it replaces its
        own turn.  Without one (nbclient, consoles, terminal IPython, the Python API outside
        a cell) a new id for every execution: the same prompt run twice ("go on") is two
        turns, never one replacing the other.  The execution count is kept in it only for
        people reading the file.
        """
        if self.cell_id:
            return f"cell:{self.cell_id}"
        count = "" if self.execution_count is None else str(self.execution_count)
        return f"exec:{count}:{uuid.uuid4().hex[:16]}"
