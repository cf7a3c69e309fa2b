"""The call engine: one model call's life, from request body to finished record, for every
front-end (the ``%%edge`` magic, the Python API, ``map``, the CLI).

- :class:`Request` → :func:`plan` → :class:`CallPlan` (``_plan``): what to send, per model;
- :class:`CallRun` (``_engine``): replay look-up, low-balance warning, budget reservation,
  sending, streaming under the guard, recording, replay store, conversation turn; it reports
  through :mod:`events <._events>` (:class:`Began`, :class:`Started`, :class:`Text`,
  :class:`Ended`) and returns an :class:`Outcome`;
- :func:`add_answer_options` (``_plan``): the PDF engine, reasoning and schema of a body
  (a ``map`` row's as a cell's);
- :class:`RunningCall` (``_running``): one request running, and its record;
- ``_loop`` (the tool loop: a plan with functions runs step by step, one row per step);
  ``_web`` (:func:`web_tool`: the web search server tool, and its searches' worst case);
- ``_media`` (:func:`prepare_media`: images and PDFs against the inputs of the model and
  its fallbacks, the PDF plugin, :func:`media_price` and
  :func:`reads_files` for worst cases, the status line's "2 images · 1 PDF (12 pages) · …");
- ``_checks`` (low balance, :func:`pre_call`), ``_prices`` (:func:`request_price`: the
  dearest route), ``_recording`` (the ledger seam), ``_client`` (:func:`connected_client`);
- :class:`EdgeResult` / :class:`EdgeResults` (``_result``): what a call returns to users.

Imports nothing from IPython, ipywidgets, tornado or jupyter_server (``tests/test_architecture.py``).
"""

from __future__ import annotations

from ._checks import (
    PreCall,
    check_structured,
    check_tools,
    low_balance_warnings,
    model_info,
    pre_call,
    refresh_balance_later,
)
from ._client import connected_client, suggest_models
from ._context import CallContext
from ._engine import CallRun, Outcome, held_estimate
from ._errors import CallRefused, CallsBroke, EdgeInterrupted, NotConnected, NothingSent
from ._events import (
    Began,
    Ended,
    Event,
    Listener,
    Reasoning,
    Started,
    Text,
    Tick,
    ToolRan,
    ToolRunning,
)
from ._many import CallBatch, Finishing
from ._media import (
    PDF_ENGINE_USD_PER_PAGE,
    PDF_ENGINES,
    Sending,
    check_pdf_engine,
    media_price,
    reads_files,
    sending_line,
)
from ._media import prepare as prepare_media
from ._plan import CallPlan, PlannedCall, Request, add_answer_options, plan
from ._prices import clear_cache as clear_price_cache
from ._prices import endpoints_of, request_price
from ._reasoning import EFFORTS as REASONING_EFFORTS
from ._recording import begin, fail, finish, note_generation, reconcile_in_background
from ._result import EdgeResult, EdgeResults
from ._running import RunningCall, describe_failure
from ._savings import batch as note_batch_saving
from ._web import WEB_ENGINES, WebBound, web_bound, web_tool

__all__ = [
    "PDF_ENGINES",
    "PDF_ENGINE_USD_PER_PAGE",
    "REASONING_EFFORTS",
    "WEB_ENGINES",
    "Began",
    "CallBatch",
    "CallContext",
    "CallPlan",
    "CallRefused",
    "CallRun",
    "CallsBroke",
    "EdgeInterrupted",
    "EdgeResult",
    "EdgeResults",
    "Ended",
    "Event",
    "Finishing",
    "Listener",
    "NotConnected",
    "NothingSent",
    "Outcome",
    "PlannedCall",
    "PreCall",
    "Reasoning",
    "Request",
    "RunningCall",
    "Sending",
    "Started",
    "Text",
    "Tick",
    "ToolRan",
    "ToolRunning",
    "WebBound",
    "add_answer_options",
    "begin",
    "check_pdf_engine",
    "check_structured",
    "check_tools",
    "clear_price_cache",
    "connected_client",
    "describe_failure",
    "endpoints_of",
    "fail",
    "finish",
    "held_estimate",
    "low_balance_warnings",
    "media_price",
    "model_info",
    "note_batch_saving",
    "note_generation",
    "plan",
    "pre_call",
    "prepare_media",
    "reads_files",
    "reconcile_in_background",
    "refresh_balance_later",
    "request_price",
    "sending_line",
    "suggest_models",
    "web_bound",
    "web_tool",
]
