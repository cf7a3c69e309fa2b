"""The ``%%edge`` cell magic and the ``%edge`` line magic."""

from __future__ import annotations

from typing import Any


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
