"""The ``%%edge`` cell magic and the ``%edge`` line magic."""

from __future__ import annotations

from typing import Any

# Public for the line commands that live outside this package (``%edge panel``): they
# parse their flags as every ``%edge`` subcommand does and fail with the same one line.
from ._args import FORMATS as FORMATS
from ._args import HelpRequested as HelpRequested
from ._args import UsageError as UsageError
from ._args import parse_cell_line as parse_cell_line
from ._args import sub_parser as sub_parser
from ._errors import EdgeCellError as EdgeCellError


def load_ipython_extension(ipython: Any) -> None:
    from ._magics import EdgeMagics

    ipython.register_magics(EdgeMagics)


def unload_ipython_extension(ipython: Any) -> None:
    magics = ipython.magics_manager.magics
    magics["line"].pop("edge", None)
    magics["cell"].pop("edge", None)


def cell_context(shell: Any) -> Any:
    """Where the running cell is (notebook, cell id, execution count): a ``CallContext``.

    For front-ends that run inside a cell (``map``, the Python API); imported lazily so
    ``%load_ext`` stays cheap."""
    from ._context import current

    return current(shell)


def in_kernel() -> bool:
    """True in a Jupyter kernel; False in terminal IPython or plain Python (no display
    updates there).  For the kernel side of connecting; imported lazily, as above."""
    from ._context import in_kernel as _in_kernel

    return _in_kernel()


def view_for(plan: Any) -> Any:
    """The view a ``%%edge`` cell would stream ``plan`` into (a listener of the call engine).
    For the Python API's ``stream=True`` in a kernel; imported lazily (IPython.display)."""
    from ._cell import view_for as cell_view

    return cell_view(plan)


def show_outcome(view: Any, outcome: Any, fmt: str) -> None:
    """The final render of a :func:`view_for` view, exactly as a cell ends: answers in
    ``fmt``, cost lines, notes, an error block for a failed model."""
    from ._cell import show_outcome as cell_show

    cell_show(view, outcome, fmt)
