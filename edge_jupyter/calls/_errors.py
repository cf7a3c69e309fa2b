"""The engine's errors: a call that cannot be made, or a set of calls that stopped."""

from __future__ import annotations

from ..errors import EdgeError


class NotConnected(EdgeError):
    """No OpenRouter key: nothing can be sent."""


class CallRefused(EdgeError):
    """Refused before sending: a budget, a price that cannot be known under one, or images
    to a model that does not take them (``_media``).

    Every ledger row the calls had is completed (``error``, "not sent: …") and its
    reservation released before this is raised.
    """


class NothingSent(EdgeError):
    """Something other than a refusal stopped the calls before any was sent."""


class CallsBroke(EdgeError):
    """An unexpected error stopped calls that were under way; their rows are complete."""


class EdgeInterrupted(KeyboardInterrupt):
    """A kernel interrupt (or a cancel) stopped the calls; every row is complete.

    A KeyboardInterrupt, not an EdgeError, on purpose: ``except Exception`` in user code
    must not swallow an interrupt, and "Run All" stops at the cell.
    """

    def _render_traceback_(self) -> list[str]:
        return [f"\x1b[33m{self.args[0] if self.args else 'Interrupted.'}\x1b[0m"]
