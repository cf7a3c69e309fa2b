"""The one error tree of edge_jupyter: every error the project raises is an :class:`EdgeError`.

(The tree is drawn here as the errors are re-parented under the root.)
"""

from __future__ import annotations


class EdgeError(Exception):
    """Root of every error edge_jupyter raises; its message says what happened and what to do."""
