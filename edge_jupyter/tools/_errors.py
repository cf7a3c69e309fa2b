"""The one error of the tools package: a Python callable that cannot be offered as a tool."""

from __future__ import annotations

from ..errors import EdgeError


class ToolError(EdgeError):
    """A function that cannot be a tool (no usable name, a duplicate, not callable, a hint with
    no JSON Schema), or a ``--tools`` name that names nothing callable; one line saying which
    and what to do.  Never raised for a model's bad call: that is an error *result* sent back."""
