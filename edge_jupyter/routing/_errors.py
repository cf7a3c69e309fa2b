"""The one exception of :mod:`edge_jupyter.routing`: a preference that cannot be used."""

from __future__ import annotations

from ..errors import EdgeError


class RoutingError(EdgeError, ValueError):
    """A routing preference OpenRouter would reject, or one that can route nowhere.

    The message names the offending flag or value and what to do instead, so the
    magic can show it as is (a ``ValueError``: it is bad input, not a failed call).
    """
