"""Which notebook and which kernel session this process is working for.

The magic calls :func:`set_context` with what the frontend sends along with each
execution; ``usage()`` and the ledger read it.  Outside a notebook the notebook is
empty (not a guess).  The session id is made once per process.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Context:
    notebook: str = ""
    session_id: str = ""


_current = Context(session_id=uuid.uuid4().hex)


def current_context() -> Context:
    """The notebook path and session id that ledger rows and ``usage()`` use by default."""
    return _current


def set_context(notebook: str, session_id: str | None = None) -> Context:
    """Set the notebook path (and, if given, the session id); returns the new context.

    Assigning one immutable object is atomic, so threads never see half a change.
    """
    global _current
    _current = replace(_current, notebook=notebook or "",
                       session_id=session_id or _current.session_id)
    return _current
