"""edge_jupyter: large language models in Jupyter on your own OpenRouter account.

``%load_ext edge_jupyter`` registers the ``%%edge`` magics; ``edge_jupyter.ask``,
``aask`` and ``Chat`` are the Python API (:mod:`edge_jupyter.api`).  Importing this
package is cheap on purpose: pandas, ipywidgets, httpx, tornado and
jupyter_server are imported where they are first needed (the API on first use).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    import pandas as pd

    from .api import AnswerFailed as AnswerFailed
    from .api import ApiUsageError as ApiUsageError
    from .api import Chat as Chat
    from .api import LowBalanceWarning as LowBalanceWarning
    from .api import aask as aask
    from .api import ask as ask
    from .api import concurrency as concurrency
    from .api import set_concurrency as set_concurrency

#: The Python API, imported on first use (it pulls in the engine and httpx).
_API = ("AnswerFailed", "ApiUsageError", "Chat", "LowBalanceWarning", "aask", "ask",
        "concurrency", "set_concurrency")


def __getattr__(name: str) -> Any:
    if name in _API:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])


def load_ipython_extension(ipython: Any) -> None:
    """Called by ``%load_ext edge_jupyter``."""
    from .magics import load_ipython_extension as _load

    _load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    from .magics import unload_ipython_extension as _unload

    _unload(ipython)


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .serverext import EdgeExtensionApp

    return [{"module": "edge_jupyter.serverext", "app": EdgeExtensionApp}]


def map(data: Any, prompt: str, model: str | None = None, **options: Any) -> pd.DataFrame:
    """Ask a model the same prompt template for every row of a Series or DataFrame.

    A quote comes first (worst case and expected cost); answers come back aligned to
    the input's index. See :func:`edge_jupyter.batch.map` for the options.
    """
    from .batch import map as _map

    return _map(data, prompt, model, **options)


def batches() -> pd.DataFrame:
    """Your OpenRouter Batch API batches (``map(..., batch=True)``), newest first: id, status,
    row counts, cost, created. See :mod:`edge_jupyter.batch_api`."""
    from .batch_api import batches as _batches

    return _batches()


def cancel_batch(batch_id: str) -> str:
    """Cancel a Batch API batch on OpenRouter; returns its status (rows not yet answered
    cost nothing)."""
    from .batch_api import cancel_batch as _cancel

    return _cancel(batch_id)


def usage(scope: str = "notebook", since: Any = None) -> pd.DataFrame:
    """The usage ledger as a DataFrame: ``scope`` is "notebook", "session" or "all"."""
    from .ledger import usage as _usage

    return _usage(scope=scope, since=since)


def savings(scope: str = "notebook", since: Any = None, by: str | None = None) -> pd.DataFrame:
    """What replay, OpenRouter's cache, prompt caching, the Batch API and the flex tier saved,
    per model and kind (``by``: "model" or "kind" for one), with ``calls``, ``saved_usd``,
    ``figures`` ("exact"/"computed") and a "Total" row. See :mod:`edge_jupyter.savings_report`."""
    from .savings_report import savings as _savings

    return _savings(scope=scope, since=since, by=by)
