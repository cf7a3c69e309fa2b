"""Errors a cell ends with: one short message, no traceback through our code."""

from __future__ import annotations

from ..errors import EdgeError


class EdgeCellError(EdgeError):
    """The cell failed for a reason the message explains (bad flag, not connected, API error).

    IPython calls ``_render_traceback_`` instead of printing a traceback, so the user
    sees one line saying what happened and what to do.  The cell still ends in error,
    so "Run All" stops here as it should.
    """

    def __init__(self, message: str, *, shown: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.shown = shown  # already displayed as a rich block above

    def _render_traceback_(self) -> list[str]:
        if self.shown:
            return ["\x1b[31medge: the call failed (details above).\x1b[0m"]
        from ..untrusted_text import strip_controls  # the message may quote a server

        return [f"\x1b[31medge: {strip_controls(self.message)}\x1b[0m"]

