"""The Python API: ``edge.ask``, ``edge.aask`` and ``edge.Chat``, a front-end of the call engine.

    import edge_jupyter as edge
    r = edge.ask("Define entropy.", model="openai/gpt-4o-mini", max_tokens=200)
    r.text, r.cost_usd, r.generation_id

Keyword arguments → a :class:`~edge_jupyter.calls.Request` → :func:`~edge_jupyter.calls.plan`
→ :class:`~edge_jupyter.calls.CallRun` → an :class:`EdgeResult` (one model) or
:class:`EdgeResults` (several). Everything a call needs (the budgets and their reservation,
the ledger row, the replay store, the conversation turn, the low-balance check) is the
engine's, exactly as for a ``%%edge`` cell; this module only checks the arguments, picks the
listener and turns the outcome into a return value, a warning or an exception.

Decisions, each documented in the README:

- Arguments are checked as the cell's flags are (``user_numbers`` rules, ``routing``
  parsers), before anything is written or sent; a bad one is an :class:`ApiUsageError`
  naming the argument. A prompt is a string (no ``{}`` interpolation: an f-string does
  that), or a list of strings and notebook objects in order —
  ``ask(["Which looks healthier?", img_a, img_b], model=...)`` — each object sent as a
  ``%%edge`` cell sends ``{obj}``: a figure or image as an image, a PDF as a file, a
  DataFrame as a compact table (:func:`edge_jupyter.content.to_piece`).
- ``replay=`` defaults to False: the ``%config EdgeMagics.replay`` default is for cells,
  so a script behaves the same in a kernel and outside one.
- Each ask is its own conversation turn, even two in one cell (a cell's turn key would make
  the second replace the first).
- Display: a result displays like a ``%%edge`` answer (its ``_repr_mimebundle_``);
  ``stream=True`` in a kernel streams into the cell as the magic does; outside a kernel
  (terminal IPython, a script) it prints the text on stdout, without control characters.
  Either way the result then shows only its cost line when displayed (``shown``), so a
  REPL does not repeat the answer. Outside a kernel nothing is printed unless ``stream=True``.
- A low balance is a :class:`LowBalanceWarning` pointing at the caller's line (issued by
  each entry point in the caller's thread), and shown with the answer; every model
  failing raises :class:`AnswerFailed` carrying the results; an interrupt of ``ask`` raises
  :class:`~edge_jupyter.calls.EdgeInterrupted`; a cancelled ``aask`` (Jupyter's interrupt
  cancels the running top-level ``await``) stops its calls, completes their ledger rows as
  ``interrupted`` and lets ``asyncio.CancelledError`` propagate (also when the cancel came
  after the call finished: the complete answer's row stays ``ok`` and a :class:`Chat` keeps
  it). A :class:`Chat` keeps every result, interrupted and failed ones too, in ``results``
  and counts what they cost in ``cost_usd``.
- ``aask`` runs the engine in a bounded pool of worker threads (:func:`set_concurrency`),
  so it never blocks the event loop and at most that many calls run at once.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
import threading
import uuid
import warnings
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from . import calls
from .calls import EdgeResult, EdgeResults
from .content import Piece, Prompt
from .conversations import Conversation, Turn
from .errors import EdgeError
from .money import total_usd
from .routing import RoutePrefs

Result = EdgeResult | EdgeResults


class ApiUsageError(EdgeError, ValueError):
    """An argument of ``ask``/``aask``/``Chat`` that cannot be used; nothing was written or sent."""


class AnswerFailed(EdgeError):
    """Every model asked failed (the magic ends such a cell in error). ``results`` holds what
    came back (status ``error``, the server's message in ``error``), as ``ask`` would return it."""

    def __init__(self, message: str, results: Result) -> None:
        super().__init__(message)
        self.results = results


class LowBalanceWarning(UserWarning):
    """What is left on the account is under the alert threshold (``%edge alert USD``)."""


# -- checking the arguments -------------------------------------------------------------------

def _refuse(message: str) -> ApiUsageError:
    return ApiUsageError(message)


def _flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise _refuse(f"{name} must be True or False, not {value!r}.")
    return value


def _maybe_flag(value: Any, name: str) -> bool | None:
    return None if value is None else _flag(value, name)


def _text(value: Any, name: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise _refuse(f"{name} must be a string, not {type(value).__name__}.")
    return value


def _number(rule: Any, value: Any, name: str) -> Any:
    from .user_numbers import NumberError

    try:
        return rule.optional(value, name)
    except NumberError as exc:
        raise _refuse(f"{exc}.") from None


def _models(model: Any, models: Any) -> list[str]:
    if model is not None and models is not None:
        raise _refuse("Give model= or models=, not both (models=[...] asks several at once).")
    if models is None:
        wanted = [] if model is None else [model]
        name = "model"
    elif isinstance(models, str) or not isinstance(models, Iterable):
        raise _refuse(f"models must be a list of model ids, e.g. ['openai/gpt-4o-mini', "
                      f"'google/gemini-2.0-flash-001'], not {models!r}.")
    else:
        wanted, name = list(models), "models"
        if not wanted:
            raise _refuse("models is empty: name at least one model id.")
    for m in wanted:
        if not isinstance(m, str) or not m.strip():
            raise _refuse(f"{name} must be a model id such as 'openai/gpt-4o-mini', not {m!r}.")
    return [m.strip() for m in wanted]


def _providers(value: Any, name: str) -> list[str] | None:
    """As ``--provider/--only/--ignore``: slugs checked with suggestions; ``[]`` or "none"
    clears a saved default for this call."""
    from .routing import RoutingError, parse_provider_list

    if value is None:
        return None
    if isinstance(value, str):
        if value.strip().lower() == "none":
            return []
        names: list[str] = [value]
    elif isinstance(value, Iterable) and all(isinstance(v, str) for v in value):
        names = list(value)
        if not names:
            return []
    else:
        raise _refuse(f"{name} must be provider slugs (a string or a list of strings), "
                      f"not {value!r}.")
    try:
        return parse_provider_list(names)
    except RoutingError as exc:
        raise _refuse(f"{name}: {exc}") from None


def _choice(value: Any, allowed: Iterable[str], name: str) -> str | None:
    allowed = tuple(allowed)
    if value is not None and value not in allowed:
        raise _refuse(f"{name} must be one of {', '.join(allowed)}, not {value!r}.")
    return value


def _max_price(value: Any) -> Any:
    from .routing import MaxPrice, RoutingError, parse_max_price

    if value is None or isinstance(value, MaxPrice):
        return value
    try:
        if isinstance(value, str):
            return parse_max_price(value)
        if isinstance(value, Mapping):
            return MaxPrice.from_object(value)
    except RoutingError as exc:
        raise _refuse(str(exc).replace("--max-price", "max_price")) from None
    raise _refuse(f"max_price must be 'PROMPT/COMPLETION' in USD per million tokens (e.g. '1/2') "
                  f"or {{'prompt': 1, 'completion': 2}}, not {value!r}.")


def _fallbacks(value: Any) -> list[str] | None:
    from .routing import RoutingError, check_model_id

    if value is None:
        return None
    if isinstance(value, str):
        value = [] if value.strip().lower() == "none" else value.split(",")
    if not isinstance(value, Iterable) or not all(isinstance(v, str) for v in value):
        raise _refuse(f"fallbacks must be model ids (a list of strings), not {value!r}.")
    try:
        return [check_model_id(m) for m in value if m.strip()]
    except RoutingError as exc:
        raise _refuse(f"fallbacks: {exc}") from None


#: Every option ``ask`` takes besides the prompt (``Chat`` takes them as defaults).
OPTIONS = ("model", "models", "system", "temperature", "max_tokens", "budget", "format", "replay",
           "fresh", "stream", "participants", "provider", "only", "ignore", "allow_fallbacks",
           "data_collection", "zdr", "sort", "max_price", "fallbacks", "route_defaults", "pdf_engine",
           "schema", "heal", "reasoning", "reasoning_tokens", "hide_reasoning", "tools", "max_steps",
           "confirm_tools", "web", "web_results", "web_engine", "web_searches", "tier", "or_cache",
           "cache_prompt")


@dataclass
class _Options:
    """The checked options of one ask."""

    models: list[str] = field(default_factory=list)
    participants: str | None = None
    system: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    budget: float | None = None
    format: str = "markdown"
    replay: bool = False
    fresh: bool = False
    stream: bool = False
    route: RoutePrefs = field(default_factory=RoutePrefs)
    route_defaults: bool = True
    pdf_engine: str | None = None
    schema: Any = None  # a structured.Schema
    heal: bool = False
    reasoning: str | None = None  # an effort, one of calls.REASONING_EFFORTS
    reasoning_tokens: int | None = None
    hide_reasoning: bool = False
    tools: list[Any] | None = None  # Python callables the model may call
    max_steps: int = 10
    confirm_tools: bool = False
    web: bool = False
    web_results: int | None = None
    web_engine: str | None = None
    web_searches: int | None = None
    tier: str | None = None  # "flex" or "priority": the body's service_tier
    or_cache: bool = False  # OpenRouter's response cache (``--or-cache``)
    cache_prompt: bool = False  # cache_control breakpoints (``--cache-prompt``)


def _tools(value: Any) -> list[Any] | None:
    """``tools=``: a list of callables (one callable alone is a list of one)."""
    if value is None:
        return None
    if callable(value):
        return [value]
    if not isinstance(value, (list, tuple)) or not all(callable(v) for v in value):
        raise _refuse(f"tools must be a list of functions, not {value!r}.")
    return list(value)


def _schema(value: Any) -> Any:
    """``schema=``: a pydantic model, dataclass, TypedDict or JSON-Schema dict → a Schema."""
    if value is None:
        return None
    from .structured import SchemaError, schema_of

    try:
        return schema_of(value)
    except SchemaError as exc:
        raise _refuse(f"schema: {exc}") from None


def check_options(options: Mapping[str, Any]) -> _Options:
    """``options`` (keyword arguments of :func:`ask`) checked as the cell's flags are."""
    from .magics import FORMATS
    from .routing import DATA_COLLECTION, SORTS
    from .user_numbers import COUNT, TEMPERATURE, TOKENS, USD

    unknown = [k for k in options if k not in OPTIONS]
    if unknown:
        raise _refuse(f"Unknown argument {unknown[0]!r}; the options are: {', '.join(OPTIONS)}.")
    get = options.get
    fmt = get("format", "markdown")
    if fmt not in FORMATS:
        raise _refuse(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}.")
    fresh = _flag(get("fresh", False), "fresh")
    max_tokens = _number(TOKENS, get("max_tokens"), "max_tokens")
    return _Options(
        models=_models(get("model"), get("models")),
        participants=_text(get("participants"), "participants"),
        system=_text(get("system"), "system"),
        temperature=_number(TEMPERATURE, get("temperature"), "temperature"),
        max_tokens=None if max_tokens is None else int(max_tokens),
        budget=_number(USD, get("budget"), "budget"),
        format=fmt,
        replay=_flag(get("replay", False), "replay"),
        fresh=fresh,
        stream=_flag(get("stream", False), "stream"),
        route=RoutePrefs(
            order=_providers(get("provider"), "provider"),
            only=_providers(get("only"), "only"),
            ignore=_providers(get("ignore"), "ignore"),
            allow_fallbacks=_maybe_flag(get("allow_fallbacks"), "allow_fallbacks"),
            data_collection=_choice(get("data_collection"), DATA_COLLECTION, "data_collection"),
            zdr=_maybe_flag(get("zdr"), "zdr"),
            sort=_choice(get("sort"), SORTS, "sort"),
            max_price=_max_price(get("max_price")),
            fallbacks=_fallbacks(get("fallbacks"))),
        route_defaults=_flag(get("route_defaults", True), "route_defaults"),
        pdf_engine=_choice(get("pdf_engine"), calls.PDF_ENGINES, "pdf_engine"),
        schema=_schema(get("schema")),
        heal=_flag(get("heal", False), "heal"),
        reasoning=_choice(get("reasoning"), calls.REASONING_EFFORTS, "reasoning"),
        reasoning_tokens=_whole(_number(TOKENS, get("reasoning_tokens"), "reasoning_tokens")),
        hide_reasoning=_flag(get("hide_reasoning", False), "hide_reasoning"),
        tools=_tools(get("tools")),
        max_steps=int(_number(COUNT, get("max_steps", 10), "max_steps") or 10),
        confirm_tools=_flag(get("confirm_tools", False), "confirm_tools"),
        web=_flag(get("web", False), "web"),
        web_results=_whole(_number(COUNT, get("web_results"), "web_results")),
        web_engine=_choice(get("web_engine"), calls.WEB_ENGINES, "web_engine"),
        web_searches=_whole(_number(COUNT, get("web_searches"), "web_searches")),
        tier=_tier(get("tier")),
        or_cache=_flag(get("or_cache", False), "or_cache"),
        cache_prompt=_flag(get("cache_prompt", False), "cache_prompt"),
    )


def _tier(value: Any) -> str | None:
    """``tier=``: "flex" or "priority" ("fast" is priority), as ``--tier``."""
    if value is None:
        return None
    from .routing import RoutingError, service_tier

    try:
        return service_tier(value if isinstance(value, str) else repr(value))
    except RoutingError as exc:
        raise _refuse(f"tier: {exc}") from None


def _whole(value: float | None) -> int | None:
    return None if value is None else int(value)


def _prompt(prompt: Any) -> str | Prompt:
    """A string as it always was; a list (or tuple) of strings and objects → a Prompt."""
    if isinstance(prompt, (list, tuple)):
        return _pieces(prompt)
    if not isinstance(prompt, str):
        raise _refuse(f"prompt must be a string, not {type(prompt).__name__} (or a list of "
                      "strings and objects: figures, images, PDFs, tables; an f-string puts "
                      "values into a string).")
    if not prompt.strip():
        raise _refuse("prompt is empty: nothing was sent; pass your question as a string.")
    return prompt.strip()


def _pieces(items: list[Any] | tuple[Any, ...]) -> Prompt:
    from .content import AttachmentError, to_piece

    pieces: list[Piece] = []
    for n, item in enumerate(items):
        try:
            piece = to_piece(item)
            previous = pieces[-1] if pieces else None
            # ["Data:", df] must not read "Data:DataFrame: …": two texts that meet without
            # white space between them are on lines of their own (["Say", " hello"] is kept).
            if (isinstance(piece, str) and isinstance(previous, str) and piece and previous
                    and not previous[-1].isspace() and not piece[0].isspace()):
                pieces.append("\n")
            pieces.append(piece)
        except AttachmentError as exc:  # says which item, as a cell names its {expr}
            raise AttachmentError(f"prompt[{n}]: {exc}") from None
        except EdgeError:
            raise
        except Exception as exc:  # a figure that cannot be drawn, a table that cannot be read
            raise _refuse(f"prompt[{n}] ({type(item).__name__}) could not be put into the "
                          f"prompt: {type(exc).__name__}: {exc}") from None
    prompt = Prompt.of(pieces).strip()
    if prompt.is_empty():
        raise _refuse("prompt is empty: nothing was sent; pass your question as a string "
                      "or a list of strings and objects.")
    return prompt


# -- where the call runs ----------------------------------------------------------------------

class _OwnTurn(calls.CallContext):
    """A cell's context (for the ledger row) whose conversation turn is always new: two
    ``chat.ask`` in one cell are two turns, never one replacing the other (a cell id would
    key them the same)."""

    def turn_key(self) -> str:
        count = "" if self.execution_count is None else str(self.execution_count)
        return f"api:{count}:{uuid.uuid4().hex[:16]}"


def _shell() -> Any:
    """The running IPython shell, or None. IPython not imported yet means none runs (and
    plain Python does not pay for importing it)."""
    if "IPython" not in sys.modules:
        return None
    from IPython import get_ipython

    return get_ipython()


@dataclass
class _Where:
    context: calls.CallContext
    kernel: bool  # a Jupyter kernel: display in the cell's output


def _where() -> _Where:
    shell = _shell()
    if shell is None:
        return _Where(_OwnTurn(), False)
    from .magics import cell_context

    ctx = cell_context(shell)
    return _Where(_OwnTurn(ctx.notebook, ctx.cell_id, ctx.execution_count),
                  getattr(shell, "kernel", None) is not None)


def _request(prompt: str | Prompt, opts: _Options, where: _Where, *, chat: str | None = None,
             conversation: Conversation | None = None) -> calls.Request:
    return calls.Request(
        prompt=prompt, models=list(opts.models), participants=opts.participants,
        system=opts.system, temperature=opts.temperature, max_tokens=opts.max_tokens,
        budget=opts.budget, stream=True,  # the server streams: prompt interrupts, budget guard
        replay=opts.replay, fresh=opts.fresh, chat=chat, conversation=conversation, route=opts.route,
        route_defaults=opts.route_defaults, context=where.context, pdf_engine=opts.pdf_engine,
        schema=opts.schema, heal=opts.heal, reasoning=opts.reasoning,
        reasoning_tokens=opts.reasoning_tokens, hide_reasoning=opts.hide_reasoning,
        tools=opts.tools, max_steps=opts.max_steps, confirm_tools=opts.confirm_tools, web=opts.web,
        web_results=opts.web_results, web_engine=opts.web_engine, web_searches=opts.web_searches,
        tier=opts.tier, or_cache=opts.or_cache, cache_prompt=opts.cache_prompt)


class _Call:
    """One ask, run once: plan, engine, outcome → result. ``cancel`` works from any thread,
    before or while it runs."""

    def __init__(self, request: calls.Request, opts: _Options, where: _Where) -> None:
        self.request, self.opts, self.where = request, opts, where
        self._lock = threading.Lock()
        self._run: calls.CallRun | None = None
        self.cancelled = False
        #: what came back, set before an interrupt or a failure is raised (a Chat keeps it)
        self.result: Result | None = None
        #: the low-balance warnings, issued by the entry point (see :meth:`warn`)
        self.warnings: list[str] = []

    def cancel(self) -> None:
        with self._lock:
            self.cancelled = True
            run = self._run
        if run is not None:
            run.cancel()

    def __call__(self) -> Result:
        plan = calls.plan(self.request)
        view: Any = None
        listener: calls.Listener | None = None
        printer = None
        if self.opts.stream and self.where.kernel:
            from .magics import view_for

            view = listener = view_for(plan)
        elif self.opts.stream:
            from .terminal_view import TerminalView

            printer = listener = TerminalView(show_reasoning=not self.opts.hide_reasoning)
        run = calls.CallRun(plan, listener)
        with self._lock:
            if self.cancelled:
                raise asyncio.CancelledError()
            self._run = run
        outcome = run.execute()
        if printer is not None:
            printer.end()
        return self._result(outcome, view, printed=printer is not None)

    def warn(self, stacklevel: int) -> None:
        """Issue the low-balance warnings, ``stacklevel`` as seen by the function calling this
        (2: its caller). Each entry point calls it in the caller's thread (``aask`` runs the
        call in a worker, whose stack has no user line), so a warning names the user's line
        (in a notebook: the cell). An ``aask`` run as a task of its own (``asyncio.gather``,
        ``create_task``) has no caller on its stack: its warning names asyncio's loop."""
        for message in self.warnings:
            warnings.warn(message, LowBalanceWarning, stacklevel=stacklevel + 1)

    def _result(self, outcome: calls.Outcome, view: Any, *, printed: bool = False) -> Result:
        self.warnings = list(outcome.warnings)
        records = outcome.records
        notes = list(outcome.notes)
        for record in records:
            note = record.apply_format(self.opts.format)
            if note:
                notes.append(f"{record.model}: {note}" if len(records) > 1 else note)
        # Streamed into the cell (view) or printed on stdout (terminal IPython, a script):
        # displaying the result then shows only its cost line, not the answer a second time.
        shown = view is not None or printed
        if view is not None:
            from .magics import show_outcome

            show_outcome(view, outcome, self.opts.format)
        result: Result
        if len(records) == 1:
            result = records[0]
            result.warnings, result.notes, result.shown = list(outcome.warnings), notes, shown
        else:
            result = EdgeResults(records, warnings=outcome.warnings, notes=notes, shown=shown)
        self.result = result
        if outcome.interrupted:
            raise calls.EdgeInterrupted(outcome.interrupt_message(
                "kept above" if shown else "not returned"))
        if outcome.all_failed:
            raise AnswerFailed(outcome.failure_message(), result)
        invalid = [r for r in records if r.invalid]
        if invalid and len(invalid) == len(records):  # paid for, kept in .result / Chat.results
            from .structured import AnswerInvalid

            raise AnswerInvalid(f"{invalid[0].invalid} The raw answer is in the exception's "
                                ".result.text.", result)
        return result


# -- concurrency of aask ----------------------------------------------------------------------

_DEFAULT_CONCURRENCY = 8
_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_concurrency = _DEFAULT_CONCURRENCY


def set_concurrency(n: int) -> None:
    """At most ``n`` ``aask`` calls run at once (1 to 64; default 8); the others wait their
    turn without blocking the event loop. Calls already running finish as they are."""
    from .user_numbers import CONCURRENCY

    global _pool, _concurrency
    value = int(_number(CONCURRENCY, n, "concurrency"))
    with _pool_lock:
        old, _pool, _concurrency = _pool, None, value
    if old is not None:
        old.shutdown(wait=False)  # its queued and running calls still finish


def concurrency() -> int:
    """How many ``aask`` calls may run at once (see :func:`set_concurrency`)."""
    return _concurrency


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=_concurrency, thread_name_prefix="edge-aask")
        return _pool


async def _in_worker(call: Callable[[], Result], cancel: Callable[[], None]) -> Result:
    """Run ``call`` in the pool; on cancellation stop it and wait until its rows are complete.

    The worker's context is copied (as ``asyncio.to_thread`` does), so a kernel routes what
    it displays to the cell that awaited it. An interrupt in a worker comes back as an
    exception value and is re-raised here as ``CancelledError``: a KeyboardInterrupt raised
    inside a task would escape the event loop itself.
    """
    context = contextvars.copy_context()
    future: Future[Result] = _executor().submit(context.run, call)
    wrapped = asyncio.wrap_future(future)
    try:
        # Woken every 0.1 s, not only when the answer is in: the kernel's SIGINT may be
        # delivered to the worker thread blocked in its socket read, and Python runs the
        # kernel's handler (which cancels this await) only once the main thread runs again.
        while True:
            done, _ = await asyncio.wait({wrapped}, timeout=0.1)
            if done:
                return wrapped.result()
    except asyncio.CancelledError:
        # Not started: it never will. Finished: nothing to stop (its answer is complete).
        # Running: stop it and wait until its records are complete. Either way the
        # cancellation propagates (asyncio's contract); the records and turn stay saved.
        if not future.cancel() and not future.done():
            cancel()
            try:
                await wrapped
            except BaseException:
                pass
        raise
    except KeyboardInterrupt:
        raise asyncio.CancelledError() from None


# -- the API ----------------------------------------------------------------------------------

def _prepare(prompt: Any, options: Mapping[str, Any], *, chat: str | None = None,
             conversation: Conversation | None = None) -> _Call:
    text = _prompt(prompt)
    opts = check_options(options)
    where = _where()
    return _Call(_request(text, opts, where, chat=chat, conversation=conversation), opts, where)


def ask(prompt: str | list[Any], model: str | None = None, *, models: list[str] | None = None,
        system: str | None = None, temperature: float | None = None,
        max_tokens: int | None = None, budget: float | None = None, format: str = "markdown",
        replay: bool = False, fresh: bool = False, stream: bool = False,
        participants: str | None = None, provider: str | list[str] | None = None,
        only: str | list[str] | None = None, ignore: str | list[str] | None = None,
        allow_fallbacks: bool | None = None, data_collection: str | None = None,
        zdr: bool | None = None, sort: str | None = None, max_price: Any = None,
        fallbacks: str | list[str] | None = None, route_defaults: bool = True,
        pdf_engine: str | None = None, schema: Any = None, heal: bool = False,
        reasoning: str | None = None, reasoning_tokens: int | None = None,
        hide_reasoning: bool = False, tools: list[Any] | None = None, max_steps: int = 10,
        confirm_tools: bool = False, web: bool = False, web_results: int | None = None,
        web_engine: str | None = None, web_searches: int | None = None,
        tier: str | None = None, or_cache: bool = False, cache_prompt: bool = False) -> Result:
    """Ask one model (``model=``, else the default model) or several (``models=[...]``).

    ``prompt``: a string, or a list of strings and objects sent in order — a matplotlib
    figure, a PIL or ``IPython.display`` image, image or PDF bytes, a ``Path`` to an image or
    a PDF, a DataFrame (a compact table) — e.g. ``ask(["Which looks healthier?", img_a,
    img_b], model="google/gemini-2.0-flash-001")``. A model that does not take images is
    refused before anything is sent; ``pdf_engine=`` is ``--pdf-engine`` (how OpenRouter reads
    a PDF for a model without file input: "cloudflare-ai", free, unless you name another).
    ``schema=`` (a pydantic model, dataclass, TypedDict or JSON-Schema dict) asks for a
    strict JSON answer and puts the validated instance in ``.value`` (``heal=True`` adds
    OpenRouter's response-healing plugin); an answer that does not fit raises
    :class:`~edge_jupyter.structured.AnswerInvalid` carrying the paid result.
    ``reasoning=`` (an effort: "none" … "max") and ``reasoning_tokens=`` ask a reasoning
    model to think (``--reasoning``, ``--reasoning-tokens``; refused before sending for a
    model that does not reason); ``hide_reasoning=True`` only stops ``stream=True`` showing it.
    ``tools=[f, g]`` lets the model call those functions (``--tools``): the loop runs them
    here and sends their results back, up to ``max_steps`` requests, each its own ledger row
    checked against the budgets; ``.steps`` and ``.tool_calls`` say what happened, and
    ``.cost_usd`` is the sum. ``web=True`` adds OpenRouter's web search (``web_results``,
    ``web_engine``, ``web_searches`` as the ``--web-*`` flags); ``.citations`` lists the sources.
    ``tier="flex"`` (about half price where the provider has it; may queue) or ``"priority"``
    (faster, dearer) is ``--tier``: ``.service_tier`` says which tier served, billed at it.
    ``or_cache=True`` is ``--or-cache`` (OpenRouter's response cache: a repeat is answered for
    $0, ``.openrouter_cache`` True); ``cache_prompt=True`` is ``--cache-prompt``
    (``cache_control`` breakpoints for Anthropic and Gemini models); ``.cached_tokens`` and
    ``.cache_saved_usd`` say what a prompt cache read and saved.

    Takes what a ``%%edge`` cell's flags take, by the flags' names (``max_tokens`` for
    ``--max-tokens``, ``provider``/``only``/``ignore``/``sort``/``max_price``/``fallbacks``
    … for routing, ``participants`` for a saved set). Returns an :class:`EdgeResult`, or an
    :class:`EdgeResults` for several models (with ``.comparison``). Raises
    :class:`ApiUsageError` for a bad argument, the error tree's exceptions as the magic
    shows them (``CallRefused`` by a budget, ``NotConnected``, ``RoutingError``…), and
    :class:`AnswerFailed` when every model failed.
    """
    options = {k: v for k, v in locals().items() if k != "prompt"}
    call = _prepare(prompt, options)
    try:
        return call()
    finally:
        call.warn(2)


async def aask(prompt: str | list[Any], model: str | None = None, *, models: list[str] | None = None,
               system: str | None = None, temperature: float | None = None,
               max_tokens: int | None = None, budget: float | None = None,
               format: str = "markdown", replay: bool = False, fresh: bool = False,
               stream: bool = False, participants: str | None = None,
               provider: str | list[str] | None = None, only: str | list[str] | None = None,
               ignore: str | list[str] | None = None, allow_fallbacks: bool | None = None,
               data_collection: str | None = None, zdr: bool | None = None,
               sort: str | None = None, max_price: Any = None,
               fallbacks: str | list[str] | None = None, route_defaults: bool = True,
               pdf_engine: str | None = None, schema: Any = None, heal: bool = False,
               reasoning: str | None = None, reasoning_tokens: int | None = None,
               hide_reasoning: bool = False, tools: list[Any] | None = None,
               max_steps: int = 10, confirm_tools: bool = False, web: bool = False,
               web_results: int | None = None, web_engine: str | None = None,
               web_searches: int | None = None, tier: str | None = None, or_cache: bool = False,
               cache_prompt: bool = False) -> Result:
    """:func:`ask` without blocking the event loop: the call runs in a worker thread, at
    most :func:`concurrency` at once. Cancelling the task (Jupyter's interrupt does) stops
    the call: its ledger row ends ``interrupted`` and ``CancelledError`` propagates.

    A cancel that comes once the call has finished (its answer complete, paid, its turn
    saved) changes nothing in the ledger (the row stays ``ok``), but ``CancelledError``
    still propagates, as asyncio requires (``asyncio.timeout`` and ``TaskGroup`` rely on
    it), so the result is not returned: it is in :func:`edge_jupyter.usage`, in the replay
    store with ``replay=True``, and a :class:`Chat` keeps it in ``results``."""
    options = {k: v for k, v in locals().items() if k != "prompt"}
    call = _prepare(prompt, options)  # bad arguments raise here, in the caller
    try:
        return await _in_worker(call, call.cancel)
    finally:
        call.warn(2)  # here, not in the worker: its stack has no line of the caller's


class Chat:
    """A conversation: each :meth:`ask` sends the turns so far, then adds its own.

    ``name=`` makes it the conversation ``%%edge --chat NAME`` continues: saved under the
    data folder, resumable after a restart, and the magic and this object continue each
    other's threads (the history is read from the file at every ask). Without a name it
    lives in this object only. Other keyword arguments (``temperature=``, ``max_tokens=``,
    routing…) are defaults for every ask; :meth:`ask` may override them.
    """

    def __init__(self, model: str | None = None, *, system: str | None = None,
                 name: str | None = None, models: list[str] | None = None,
                 **options: Any) -> None:
        from . import conversations

        self.name = None if name is None else conversations.check_name(name)
        self._defaults: dict[str, Any] = {**options, "system": system}
        if model is not None:
            self._defaults["model"] = model
        if models is not None:
            self._defaults["models"] = models
        check_options(self._defaults)  # refused now, not at the first ask
        self._memory = None if self.name else Conversation(name="")
        #: every answer of this object's asks, as they ended: ok, failed, interrupted,
        #: stopped at the budget, replayed
        self.results: list[EdgeResult] = []
        self._lock = threading.Lock()  # one turn at a time: each sees the one before

    def _call(self, prompt: Any, overrides: Mapping[str, Any]) -> _Call:
        options = dict(self._defaults)
        if "model" in overrides or "models" in overrides:
            options.pop("model", None)
            options.pop("models", None)
        options.update(overrides)
        return _prepare(prompt, options, chat=self.name, conversation=self._memory)

    def _turn(self, call: _Call) -> Result:
        with self._lock:
            try:
                return call()
            finally:  # interrupted, failed or stopped at the budget: it may have cost money
                if call.result is not None:
                    self._keep(call.result)

    def _keep(self, result: Result) -> None:
        self.results.extend(result if isinstance(result, EdgeResults) else [result])

    def ask(self, prompt: str | list[Any], **options: Any) -> Result:
        """Ask the next turn; takes :func:`ask`'s options, over this chat's defaults."""
        call = self._call(prompt, options)
        try:
            return self._turn(call)
        finally:
            call.warn(2)

    async def aask(self, prompt: str | list[Any], **options: Any) -> Result:
        """:meth:`ask` without blocking the event loop (as :func:`aask`; a cancel that comes
        after the call finished still raises ``CancelledError``, and ``results`` keeps it)."""
        call = self._call(prompt, options)
        try:
            return await _in_worker(lambda: self._turn(call), call.cancel)
        finally:
            call.warn(2)

    @property
    def cost_usd(self) -> float:
        """What this object's asks cost so far, every result in ``results`` counted
        (interrupted and budget-stopped ones too: they may have been billed), summed exactly
        with :func:`~edge_jupyter.money.total_usd`. A cost not known yet (an interrupted
        call whose price OpenRouter has not reported) is left out; ``edge.usage()`` shows it
        once the ledger is reconciled."""
        return total_usd([r.cost_usd for r in self.results])

    @property
    def history(self) -> list[Turn]:
        """The turns so far (for a named chat: as saved, the magic's turns included)."""
        if self._memory is not None:
            return list(self._memory.turns)
        from . import conversations

        assert self.name is not None
        return list(conversations.load(self.name).turns)

    def __repr__(self) -> str:
        where = f"name={self.name!r}" if self.name else "in memory"
        try:
            turns = str(len(self.history))
        except EdgeError:  # a damaged chat file: the repr still works, the next ask says why
            turns = "?"
        return f"Chat({where}, {turns} turns, cost_usd={self.cost_usd})"


__all__ = ["AnswerFailed", "ApiUsageError", "Chat", "LowBalanceWarning", "aask", "ask",
           "check_options", "concurrency", "set_concurrency"]
