"""``edge_jupyter.map``: one prompt over every row of a Series or DataFrame, priced first.

1. A quote: the worst case (every answer as long as ``max_tokens``) and, when the
   ledger has calls of this model, the expected cost from their average lengths.
   Above ``confirm_over`` USD the user is asked before anything is sent.
2. Rows run with bounded concurrency; 429s are retried with ``Retry-After``; every
   call is a ledger row and respects the budgets; a progress line shows the running cost.
3. Answers come back aligned to the input's index, with cost, tokens and status.
4. Resumable: every complete answer is kept in the replay store, so running the same
   map again after an interrupt pays only for the rows not yet answered.
"""

from __future__ import annotations

import html
import math
import queue
import string
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import preferences, replay
from .errors import EdgeError
from .money import exact_usd, short_usd
from .openrouter import OpenRouterError, Pricing, RetryPolicy
from .record import CallRecord

if TYPE_CHECKING:
    from .calls import CallContext, WebBound
    from .content import Prompt
    from .routing import WorstPrice

#: Batches meet rate limits more often than single cells: retry longer before giving up.
BATCH_RETRY = RetryPolicy(max_retries=6, base_delay=0.5, max_delay=10.0, max_wait=60.0)
DEFAULT_MAX_TOKENS = 512


class BatchError(EdgeError):
    """A batch that cannot start (bad template, not confirmed, unknown model)."""

    def _render_traceback_(self) -> list[str]:
        return [f"\x1b[31medge map: {self}\x1b[0m"]


@dataclass(frozen=True)
class Quote:
    rows: int
    to_call: int
    replayed: int
    #: None when the price cannot be known (variable, as for openrouter/auto, or not listed).
    worst_case_usd: float | None
    expected_usd: float | None
    unknown_reason: str = ""
    #: ``map(batch=True)``: the figures above are at the Batch API's price; these are the
    #: same rows at the normal price, shown beside them
    normal: Quote | None = None

    def __str__(self) -> str:
        reuse = f" ({self.replayed} already answered, reused for $0)" if self.replayed else ""
        via = " through the Batch API" if self.normal is not None else ""
        if self.worst_case_usd is None:
            return f"{self.to_call} calls{via}{reuse}: the price cannot be known ({self.unknown_reason})."
        expected = f", expected about {short_usd(self.expected_usd)}" if self.expected_usd is not None else ""
        beside = ""
        if self.normal is not None and self.normal.worst_case_usd is not None:
            usual = (f", about {short_usd(self.normal.expected_usd)}"
                     if self.normal.expected_usd is not None else "")
            beside = f" (without it: at most {short_usd(self.normal.worst_case_usd)}{usual})"
        return (f"{self.to_call} calls{via}{reuse}: at most {short_usd(self.worst_case_usd)}{expected}"
                f"{beside}.")


def _fields(template: str) -> list[str]:
    return [f for _, f, _, _ in _parse(template) if f]


def _parse(template: str) -> list[tuple[str, str | None, str | None, str | None]]:
    try:
        return list(_FORMATTER.parse(template))
    except ValueError as exc:
        from .content import full_syntax_hint

        hint = full_syntax_hint(template)  # {df!full}: the words every front-end uses
        raise BatchError(hint or f"The prompt template has an unmatched brace ({exc}).") from None


_FORMATTER = string.Formatter()


class _Template:
    """A ``str.format`` template whose fields become prompt pieces, one row at a time.

    ``{scan}`` holding an image, image bytes, a ``Path`` or a string path to an existing image
    or PDF becomes an attachment at that place (:func:`~edge_jupyter.content.to_piece` with
    ``paths=True``); a conversion (``!r``) or a format spec (``:.2f``) gives text, as
    ``str.format`` does; ``{col:full}`` sends a table-valued cell whole. A row without
    attachments fills to exactly the text ``template.format_map(row)`` gave before.
    """

    def __init__(self, template: str) -> None:
        from .content import FULL_SPEC, Prompt, to_piece

        self.parts = _parse(template)
        self._prompt, self._to_piece, self._full = Prompt, to_piece, FULL_SPEC

    def fill(self, values: dict[str, Any]) -> Prompt:
        pieces: list[Any] = []
        text = True  # no attachment so far: the pieces are joined as one string
        for literal, field_name, spec, conversion in self.parts:
            pieces.append(literal)
            if field_name is None:
                continue
            value, _ = _FORMATTER.get_field(field_name, (), values)
            if spec and "{" in spec:  # a nested field, as str.format allows ({x:{width}})
                spec = _FORMATTER.vformat(spec, (), values)
            if conversion is not None or (spec and spec != self._full):
                pieces.append(format(_FORMATTER.convert_field(value, conversion), spec or ""))
                continue
            if type(value) in (int, float):  # the usual cells of a table: their text, at once
                pieces.append(str(value))
                continue
            try:
                piece = self._to_piece(value, full=spec == self._full, paths=True)
            except EdgeError as exc:
                raise BatchError(f"{{{field_name}}}: {exc}") from None
            text = text and isinstance(piece, str)
            pieces.append(piece)
        return self._prompt.of(["".join(pieces)] if text else pieces)


def _rows(data: Any, template: str) -> list[tuple[Any, dict[str, Any]]]:
    """(index, values) per row: a Series row is ``{text}``, a DataFrame row its columns."""
    import pandas as pd

    if isinstance(data, pd.Series):
        rows = [(i, {"text": v, "index": i}) for i, v in data.items()]
    elif isinstance(data, pd.DataFrame):
        rows = [(i, {**{str(k): v for k, v in row.items()}, "index": i})
                for i, row in data.iterrows()]
    else:
        raise BatchError("map() takes a pandas Series or DataFrame.")
    names = {f.split(".")[0].split("[")[0] for f in _fields(template)}
    if rows:
        missing = names - set(rows[0][1])
        if missing:
            raise BatchError(f"The prompt uses {', '.join(sorted(missing))}, which the data does not have "
                             f"(available: {', '.join(sorted(rows[0][1]))}).")
    return rows


def _expected_completion_tokens(model: str) -> float | None:
    from .ledger import Ledger

    try:
        frame = Ledger.default().frame("all")
    except Exception:
        return None
    done = frame[(frame["model"] == model) & (frame["status"] == "ok")]
    return float(done["completion_tokens"].mean()) if len(done) else None


def quote(bodies: list[dict[str, Any]], price: WorstPrice, max_tokens: int, model: str, *,
          answered: list[dict[str, Any] | None] | None = None,
          reads_files: bool | None = True, web: WebBound | None = None) -> Quote:
    """Price the rows not yet answered at ``price``: the dearest endpoint the rows' route can
    reach (:func:`edge_jupyter.calls.request_price`), not the one ``/models`` price; images
    and a PDF parser's pages included.

    ``answered``: the replay entries of ``bodies`` when already looked up (else looked up here).
    ``reads_files``: whether the model reads PDFs itself (:func:`edge_jupyter.calls.reads_files`).
    ``web``: the rows' web searches at most (:func:`edge_jupyter.calls.web_bound`).
    """
    from .calls import WebBound, media_price
    from .ledger import estimate_body_tokens, worst_case_cost

    if answered is None:
        answered = replay.lookup_many([replay.request_key(b) for b in bodies])
    replayed = sum(1 for entry in answered if entry is not None)
    to_call = [b for b, entry in zip(bodies, answered, strict=True) if entry is None]
    if price.pricing is None:
        return Quote(len(bodies), len(to_call), replayed, None, None, price.reason)
    pricing = price.pricing
    # Rows of one template mostly share a prompt length (and what they attach): price each once.
    prompts = Counter((estimate_body_tokens(b), *media_price(b, reads_files)) for b in to_call)
    web = web or WebBound()

    def cost(prompt_tokens: int, completion: int, images: int, extra: float) -> float:
        return worst_case_cost(prompt_tokens, completion, pricing, images=images,
                               extra_usd=extra + web.worst_usd(pricing, prompt_tokens, completion,
                                                               images=images))

    worst = sum(n * cost(p, price.completion_ceiling(max_tokens, p), images, extra)
                for (p, images, extra), n in prompts.items())
    average = _expected_completion_tokens(model)
    expected = None if average is None else sum(
        n * cost(p, math.ceil(min(average, max_tokens)), images, extra)
        for (p, images, extra), n in prompts.items())
    return Quote(len(bodies), len(to_call), replayed, worst, expected)


def _confirm(q: Quote, confirm_over: float | None) -> None:
    if confirm_over is None:
        return
    if q.worst_case_usd is None:  # no figure to confirm: asking "go ahead?" would be blind
        raise BatchError(f"{q} confirm_over={short_usd(confirm_over)} cannot be checked against an unknown "
                         "price: pass max_price='PROMPT/COMPLETION' (USD per million tokens, e.g. "
                         "max_price='1/2') to cap it, or confirm_over=None to send without a price.")
    if q.worst_case_usd <= confirm_over:
        return
    question = f"edge map: {q} Go ahead? [y/N] "
    try:
        answer = input(question)
    except Exception:  # no stdin (nbclient, scripts): refuse rather than spend unasked
        raise BatchError(f"{q} That is over confirm_over={short_usd(confirm_over)} and there is no "
                         "way to ask here: pass a higher confirm_over (or None) to go ahead.") from None
    if answer.strip().lower() not in ("y", "yes"):
        raise BatchError("Not confirmed: nothing was sent.")


def _where() -> CallContext:
    """The cell ``map`` runs in, when it runs in a kernel (else an empty context)."""
    from .calls import CallContext

    try:
        from IPython import get_ipython
    except ImportError:
        return CallContext()
    shell = get_ipython()
    if shell is None:
        return CallContext()
    from .magics import cell_context

    return cell_context(shell)


def _no_rows(model: str) -> WorstPrice:
    from .routing import WorstPrice

    return WorstPrice(model, Pricing())


class _Progress:
    """One HTML line updated a few times a second (never per token)."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total = total
        self.handle = None
        self._last = 0.0
        if enabled:
            try:
                from IPython import get_ipython
                from IPython.display import display

                if get_ipython() is not None:
                    self.handle = display(self._bundle(0, 0.0, 0), raw=True, display_id=True)
            except ImportError:
                pass

    def _bundle(self, done: int, cost: float, errors: int) -> dict[str, str]:
        text = f"{done}/{self.total} rows · {exact_usd(cost)} so far" + (f" · {errors} failed" if errors else "")
        return {"text/html": f'<div class="edge-progress" style="font-size:0.85em">'
                             f'<progress value="{done}" max="{max(self.total, 1)}" style="width:12em;'
                             f'vertical-align:middle"></progress> {html.escape(text)}</div>',
                "text/plain": text}

    def update(self, done: int, cost: float, errors: int, force: bool = False) -> None:
        now = time.monotonic()
        if self.handle is not None and (force or now - self._last > 0.25):
            self._last = now
            self.handle.update(self._bundle(done, cost, errors), raw=True)


def _checked_numbers(max_tokens: Any, temperature: Any, concurrency: Any, confirm_over: Any,
                     budget: Any) -> tuple[int, float | None, int, float | None, float | None]:
    """The numbers of :func:`map`, refused exactly as the ``%%edge`` flags refuse them
    (``max_tokens=0``, ``budget=nan``), before anything is priced, written or sent."""
    from .user_numbers import CONCURRENCY, TEMPERATURE, TOKENS, USD, NumberError

    try:
        return (int(TOKENS.read(max_tokens, "max_tokens")),
                TEMPERATURE.optional(temperature, "temperature"),
                int(CONCURRENCY.read(concurrency, "concurrency")),
                USD.optional(confirm_over, "confirm_over"), USD.optional(budget, "budget"))
    except NumberError as exc:
        raise BatchError(f"{exc}.") from None


class _Run:
    """The rows of one ``map`` running: ``concurrency`` worker threads for the whole map
    (no thread per row) and one coordinating thread that owns the ledger and replay writes.

    Each turn of the coordinator is one ledger transaction
    (:meth:`edge_jupyter.calls.CallBatch.write`): it completes every row that finished
    since the last turn and begins (pending, reserved) the rows that fill the free slots,
    and only then hands those to the workers, so each request is sent after its row is
    committed.  The busier the workers, the more rows a turn carries: a group commit that
    sizes itself.  The kernel's main thread only waits, shows progress and takes the
    interrupt (which therefore never lands inside a transaction or between a commit and
    the hand-over); the coordinator then completes every row still running, as interrupted.
    """

    def __init__(self, client: Any, bodies: list[dict[str, Any]], keys: list[str],
                 results: list[CallRecord | None], new_record: Callable[[int], CallRecord],
                 concurrency: int, *, done: int) -> None:
        self.client = client
        self.bodies = bodies
        self.keys = keys  # their replay keys
        self.results = results
        self.new_record = new_record
        self.concurrency = concurrency
        self.done, self.cost, self.errors = done, 0.0, 0
        self.stop_reason = ""
        self.failure: BaseException | None = None
        self._tasks: queue.SimpleQueue[tuple[int, Any, CallRecord] | None] = queue.SimpleQueue()
        self._ended: queue.SimpleQueue[tuple[int, int, Any, BaseException | None]] = queue.SimpleQueue()
        #: (row, generation id) of calls that started, noted in the next transaction
        self._started: queue.SimpleQueue[tuple[int, str]] = queue.SimpleQueue()
        self._live: dict[int, Any] = {}
        self._stopping = threading.Event()  # interrupted (or broken): send nothing more
        self._workers: list[threading.Thread] = []
        self._coordinator: threading.Thread | None = None

    # -- the kernel's thread --------------------------------------------------------------

    def start(self, batch: Any, pending: list[int]) -> None:
        count = min(self.concurrency, len(pending))
        self._workers = [threading.Thread(target=self._work, name=f"edge-map-{k}", daemon=True)
                         for k in range(count)]
        for worker in self._workers:
            worker.start()
        self._coordinator = threading.Thread(target=self._coordinate, args=(batch, pending),
                                             name="edge-map", daemon=True)
        self._coordinator.start()

    def running(self) -> bool:
        """Wait a little for the rows; False once all have ended."""
        coordinator = self._coordinator
        if coordinator is None:
            return False
        coordinator.join(0.1)
        if coordinator.is_alive():
            return True
        for worker in self._workers:  # each has its sentinel: done as soon as its row is
            worker.join()
        return False

    def interrupt(self) -> None:
        """Stop the running rows and wait until the coordinator has written them all."""
        while True:
            self._stopping.set()
            for call in list(self._live.values()):
                call.interrupted = True
                call.cancel()
            try:
                while self.running():
                    pass
                return
            except KeyboardInterrupt:  # a second interrupt: still never leave a row pending
                continue

    # -- the workers ----------------------------------------------------------------------

    def _work(self) -> None:
        from .calls import RunningCall

        while True:
            task = self._tasks.get()
            if task is None:
                return
            i, check, record = task
            call = RunningCall(record, self.bodies[i], guard=check.guard)
            row_id = check.row_id

            def started(running: Any, row_id: int = row_id) -> None:
                if running.record.generation_id:
                    self._started.put((row_id, running.record.generation_id))
            failure: BaseException | None = None
            self._live[i] = call  # before the check below: interrupt() either sees it or set it first
            try:
                if self._stopping.is_set():  # begun but not yet sent: send nothing
                    call.interrupted = True
                    call.cancel()
                call.run(self.client, on_start=started)
                call.finish_record(self.client, lookup_timeout=0)
            except BaseException as exc:  # any failure still completes the row, as in a cell
                failure = exc
            finally:
                self._live.pop(i, None)
            self._ended.put((i, check.row_id, call, failure))

    # -- the coordinator ------------------------------------------------------------------

    def _coordinate(self, batch: Any, pending: list[int]) -> None:
        todo = iter(pending)
        in_flight = 0
        ended: list[tuple[int, int, Any, BaseException | None]] = []
        try:
            while True:
                in_flight += self._turn(batch, todo, in_flight, ended)
                ended = []
                if in_flight == 0:
                    return
                ended.append(self._ended.get())
                while True:
                    try:
                        ended.append(self._ended.get_nowait())
                    except queue.Empty:
                        break
                in_flight -= len(ended)
        except BaseException as exc:  # the ledger could not be written: stop, keep what can be kept
            self.failure = exc
            self._stopping.set()
            for call in list(self._live.values()):
                call.cancel()
        finally:
            for _ in self._workers:
                self._tasks.put(None)

    def _turn(self, batch: Any, todo: Any, in_flight: int,
              ended: list[tuple[int, int, Any, BaseException | None]]) -> int:
        """One transaction: complete ``ended``, begin the rows for the free slots, hand them
        over, then store the answers for replay; returns how many rows were handed over."""
        from . import calls
        from .calls import Finishing, describe_failure

        take: list[int] = []
        if not (self._stopping.is_set() or self.stop_reason):
            for i in todo:
                take.append(i)
                if in_flight + len(take) >= self.concurrency:
                    break
        if not (ended or take):
            return 0
        finishing = []
        for _, row_id, call, failure in ended:
            if failure is not None:
                call.record.status, call.record.error = "error", describe_failure(failure)
            finishing.append(Finishing(row_id, call.record, calls.held_estimate(call)))
        noted = []
        while True:
            try:
                noted.append(self._started.get_nowait())
            except queue.Empty:
                break
        starting = [(self.new_record(i), self.bodies[i]) for i in take]
        checks, refused = batch.write(finishing, starting, generation_ids=noted)
        for i, (record, _), check in zip(take, starting, checks, strict=False):
            self._tasks.put((i, check, record))
        if refused is not None:  # a budget refused this row: stop here
            self.stop_reason = str(refused)
        answers = []
        for i, _, call, failure in ended:
            self.done += 1
            if failure is not None:
                if not isinstance(failure, OpenRouterError) and self.failure is None:
                    self.failure = failure
                    self._stopping.set()
                continue
            record = call.record
            self.results[i] = record
            self.cost += record.cost_usd or 0.0
            self.errors += record.status not in ("ok", "replayed")
            answers.append((self.keys[i], record))
        try:
            replay.store_many(answers)
        except BaseException as exc:  # the rows are handed over: keep counting them, then stop
            if self.failure is None:
                self.failure = exc
            self._stopping.set()
        return len(checks)


class _FewerCollections:
    """The garbage collector's young-generation threshold raised while the rows run.

    A map allocates a few objects per row and keeps every record: with the default threshold
    the collector's full passes walk a heap that grows with the rows. Measured here (sandbox at
    zero delay, concurrency 16, single runs, noisy): 8,000 rows took 34.4 s with the default
    threshold, 29.9–30.9 s with this one (three runs), 28.5–29.4 s with the collector off. The
    objects a map makes hold no reference cycles worth collecting early; the usual threshold is
    back as soon as the rows are done (or interrupted).
    """

    def __init__(self) -> None:
        self._saved: tuple[int, int, int] | None = None

    def start(self) -> None:
        import gc

        self._saved = gc.get_threshold()
        gc.set_threshold(max(self._saved[0], 50_000), self._saved[1], self._saved[2])

    def stop(self) -> None:
        import gc

        if self._saved is not None:
            gc.set_threshold(*self._saved)
            self._saved = None


_USUAL_COLUMNS = {"answer", "status", "cost_usd", "prompt_tokens", "completion_tokens", "model",
                  "error"}


def _schema(schema: Any) -> Any:
    """``schema=`` as a ``structured.Schema`` (None for none); BatchError when it is not one."""
    if schema is None:
        return None
    from .structured import SchemaError, schema_of

    try:
        return schema_of(schema)
    except SchemaError as exc:
        raise BatchError(f"schema: {exc} Nothing was sent.") from None


def _structured_columns(schema: Any, results: list[CallRecord | None], statuses: list[str],
                        errors: list[str]) -> dict[str, Any]:
    """The typed field columns; a row that does not fit becomes ``invalid`` (in place)."""
    from .structured import columns, validate

    instances: list[Any] = []
    for i, record in enumerate(results):
        if record is None or record.status not in ("ok", "replayed"):
            instances.append(None)
            continue
        try:
            instances.append(validate(schema, record.text))
        except ValueError as exc:
            instances.append(None)
            statuses[i], errors[i] = "invalid", str(exc)
    return columns(schema, instances, _USUAL_COLUMNS)


def map(
    data: Any,
    prompt: str,
    model: str | None = None,
    *,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    system: str | None = None,
    temperature: float | None = None,
    concurrency: int = 4,
    confirm_over: float | None = 1.0,
    budget: float | None = None,
    progress: bool = True,
    max_price: str | None = None,
    pdf_engine: str | None = None,
    schema: Any = None,
    heal: bool = False,
    web: bool = False,
    web_results: int | None = None,
    web_engine: str | None = None,
    web_searches: int | None = None,
    batch: bool = False,
    tier: str | None = None,
) -> Any:
    """Ask ``model`` the ``prompt`` (a ``str.format`` template over each row) for every row.

    A column of images, image paths or PDFs sends one per row where its ``{name}`` stands
    (``map(df, "Transcribe the handwriting in {scan}", "openai/gpt-4o-mini")``): a PIL image,
    image or PDF bytes, a ``Path``, or a string path to an existing image or PDF file. A
    model that does not take images is refused before any row is sent; PDFs to a model
    without file input are read by OpenRouter's ``file-parser`` plugin, free
    (``cloudflare-ai``) unless ``pdf_engine=`` names another (``"mistral-ocr"``: $0.002 a
    page, priced in the quote). ``{col:full}`` sends a DataFrame-valued cell whole.

    ``max_price="1/2"`` caps the price OpenRouter may route to (USD per million prompt /
    completion tokens, as ``--max-price``); it also makes a variable price (``openrouter/auto``)
    priceable, which ``confirm_over`` and ``budget`` need.

    ``schema=`` (a pydantic model, dataclass, TypedDict or JSON-Schema dict) asks every row
    for strict JSON (``heal=True`` adds OpenRouter's response-healing plugin); the frame then
    starts with one column per field, typed (integers ``Int64``, numbers ``float64``, booleans
    ``boolean``, strings ``string``, the rest ``object``), and a row whose answer does not fit
    has status ``invalid``, NA in those columns and the reason in ``error``.

    ``web=True`` lets every row search the web (OpenRouter's web search; ``web_results``,
    ``web_engine``, ``web_searches`` as the ``--web-*`` flags): each row's searches at most are
    in the quote and the budgets, and the frame gains a ``web_searches`` column.

    ``tier="flex"`` (or ``"priority"``) asks every row for that service tier (``--tier``);
    the quote keeps the standard price for flex (a provider may serve the default tier) and
    counts a listed priority price; each row is billed at the tier that served it.

    ``batch=True`` sends the rows through OpenRouter's Batch API (about half the price; the
    answers come when the whole batch is done): text rows only, no web search. The batch id
    is kept under ``EDGE_DATA_DIR``, so the same map run again (after an interrupt or a kernel
    restart) waits on the same batch instead of paying twice (:mod:`edge_jupyter.batch_api`).

    Returns a DataFrame on the input's index: ``answer, status, cost_usd, prompt_tokens,
    completion_tokens, model, error`` — ``cost_usd`` is 0 for rows reused from an earlier run.
    """
    import pandas as pd

    from . import calls
    from .calls import CallRefused, EdgeInterrupted

    max_tokens, temperature, concurrency, confirm_over, budget = _checked_numbers(
        max_tokens, temperature, concurrency, confirm_over, budget)
    cap = None
    if max_price is not None:
        from .routing import RoutingError, parse_max_price

        try:
            cap = parse_max_price(str(max_price))
        except RoutingError as exc:
            raise BatchError(str(exc).replace("--max-price", "max_price")) from None
    try:
        calls.check_pdf_engine(pdf_engine)
    except EdgeError as exc:
        raise BatchError(str(exc).replace("--pdf-engine, or pdf_engine=", "pdf_engine=")) from None
    web_entry = None
    if web:  # one web tool for every row: each row may search, priced in the quote and budgets
        try:
            web_entry = calls.web_tool(results=web_results, engine=web_engine, searches=web_searches)
        except EdgeError as exc:
            raise BatchError(str(exc)) from None
    elif (web_results, web_engine, web_searches) != (None, None, None):
        raise BatchError("web_results, web_engine and web_searches only work with web=True.")
    if batch and web:
        raise BatchError("batch=True cannot search the web (the Batch API bills searches at the "
                         "standard price and edge_jupyter does not price them there): pass one of them.")
    if tier is not None:  # refused before any row is built
        from .routing import RoutingError, service_tier

        try:
            tier = service_tier(str(tier))
        except RoutingError as exc:
            raise BatchError(f"tier: {exc}") from None
    model = model or preferences.load().default_model
    structured = _schema(schema)
    if heal and structured is None:
        raise BatchError("heal=True only works with schema=.")
    rows = _rows(data, prompt)
    template = _Template(prompt)
    bodies = []
    attached: list[bool] = []  # per row: does it send anything besides text?
    for index, values in rows:
        try:
            filled = template.fill(values)
        except (KeyError, IndexError, ValueError, AttributeError, TypeError) as exc:
            raise BatchError(f"The prompt template could not be filled: {exc}") from None
        except BatchError as exc:  # an attachment that cannot be sent: say which row
            raise BatchError(f"Row {index!r}: {str(exc).rstrip('.')}. Nothing was sent.") from None
        attached.append(bool(filled.attachments))
        messages: list[dict[str, Any]] = ([{"role": "system", "content": system}] if system else [])
        messages.append({"role": "user", "content": filled.content()})
        body: dict[str, Any] = {"model": model, "messages": messages, "max_tokens": max_tokens}
        if temperature is not None:
            body["temperature"] = temperature
        if cap is not None:
            body["provider"] = {"max_price": cap.to_object()}
        bodies.append(calls.add_answer_options(body, pdf_engine=pdf_engine, schema=structured,
                                               heal=heal, web=web_entry, tier=tier))

    client = calls.connected_client().with_retry(BATCH_RETRY)
    try:  # no list is not "unknown model": say which it is
        client.models()
    except OpenRouterError as exc:
        raise BatchError(f"OpenRouter's model list could not be fetched ({exc}), so {model!r} cannot "
                         "be checked or priced: nothing was sent; run the map again when it answers.") from None
    info = calls.model_info(client, model)
    if info is None:
        raise BatchError(f"Unknown model {model!r} (`%edge models` lists them).")
    if structured is not None:  # before any row is sent
        calls.check_structured(client, [model])
    if web_entry is not None:  # OpenRouter's web search is a tool the model calls
        calls.check_tools(client, [model], web=True)
    if batch and any(attached):  # the Batch API is text only
        which = [repr(index) for (index, _), a in zip(rows, attached, strict=True) if a]
        shown = ", ".join(which[:5]) + (f" and {len(which) - 5} more" if len(which) > 5 else "")
        raise BatchError(f"Rows {shown} send an image or a file, which OpenRouter's Batch API does "
                         "not take (text only): nothing was sent. Run those rows with batch=False, "
                         "or leave the attachments out.")
    keys = [replay.request_key(b) for b in bodies]  # hashed once, for look-up and store
    # Images and PDFs, once for the map (the model is the same for every row): refused
    # before any row is sent when the model takes no images; the PDF plugin goes into the
    # bodies SENT (the replay keys above stay those of the planned bodies, as the engine's).
    prepared = [calls.prepare_media(client, b, pdf_engine) if a else (b, calls.Sending())
                for b, a in zip(bodies, attached, strict=True)]
    bodies = [b for b, _ in prepared]
    #: per row: (images, files, pages) it sends, for its ledger row (pages: the known ones,
    #: as the engine's rows: a size-based guess is for the estimate only)
    media = [(s.images, s.files, s.known_pages) for _, s in prepared]
    reads_files = calls.reads_files(client, bodies[0]) if bodies else True
    answered = replay.lookup_many(keys)  # one look-up per row, for the quote and the run
    if batch:  # the answers a collected batch of these rows keeps: reused for $0, as replayed
        from .batch_api import with_kept_answers

        answered = with_kept_answers(client, model, keys, answered)
    q = quote(bodies, calls.request_price(client, bodies[0]) if bodies else _no_rows(model), max_tokens,
              model, answered=answered, reads_files=reads_files,
              web=calls.web_bound(client, bodies[0]) if bodies else None)
    if batch and bodies:  # the quote at the Batch API's price, the normal one beside it
        from dataclasses import replace

        from .batch_api import batch_price

        q = replace(quote(bodies, batch_price(calls.request_price(client, bodies[0])), max_tokens,
                          model, answered=answered, reads_files=reads_files), normal=q)
    print(f"edge map: {q}")
    _confirm(q, confirm_over)

    ctx = _where()
    from .ledger import set_context

    session_id = set_context(ctx.notebook).session_id

    def new_record(i: int) -> CallRecord:
        images, files, pages = media[i]  # what row i sends besides its text
        return CallRecord(model=model, notebook=ctx.notebook, cell_id=ctx.cell_id,
                          execution_count=ctx.execution_count, session_id=session_id, chat="map",
                          images=images, files=files, pages=pages)

    results: list[CallRecord | None] = [None] * len(rows)
    for i, entry in enumerate(answered):  # answers already paid for: no request, $0
        if entry is not None:
            record = new_record(i)
            replay.apply(entry, record)
            results[i] = record
    pending = [i for i, r in enumerate(results) if r is None]
    bar = _Progress(len(rows), progress and not batch)
    run = _Run(client, bodies, keys, results, new_record, concurrency, done=len(rows) - len(pending))
    collections = _FewerCollections()
    if pending and batch:  # one Batch API batch: submitted (or the kept one resumed), waited on
        from .batch_api import run_map

        collections.start()  # 10,000 records at once: as many young objects as a long map
        try:
            run.cost = run_map(client, model, bodies, keys, results, new_record, pending, budget,
                               progress)
        except CallRefused as exc:  # unreadable preferences, unpriceable under a budget
            run.stop_reason = str(exc)
        finally:
            collections.stop()
        if not run.stop_reason:
            run.done = len(rows)
            run.errors = sum(1 for r in results if r is not None and r.status not in ("ok", "replayed"))
    elif pending:
        try:
            many = calls.CallBatch.open(client, model, bodies[pending[0]], budget)
        except CallRefused as exc:  # unreadable preferences, unpriceable under a budget
            run.stop_reason = str(exc)
        else:
            collections.start()
            run.start(many, pending)
    try:
        while run.running():
            bar.update(run.done, run.cost, run.errors)
    except KeyboardInterrupt:
        collections.stop()
        run.interrupt()
        answered_rows = sum(1 for r in results if r is not None and r.status in ("ok", "replayed"))
        raise EdgeInterrupted(f"Interrupted: {answered_rows} of {len(rows)} rows are answered and kept; "
                              "run the same map again to finish, paying only for the rest.") from None
    collections.stop()
    if run.failure is not None:
        raise run.failure
    stop_reason = run.stop_reason
    bar.update(run.done, run.cost, run.errors, force=True)
    statuses = [r.status if r else "not_run" for r in results]
    errors = [(r.error if r else stop_reason) or "" for r in results]
    fields: dict[str, Any] = {}
    if structured is not None:
        fields = _structured_columns(structured, results, statuses, errors)
    frame = pd.DataFrame({
        **fields,
        "answer": [r.text if r else None for r in results],
        "status": statuses,
        "cost_usd": [r.cost_usd if r else float("nan") for r in results],
        "prompt_tokens": [r.prompt_tokens if r else 0 for r in results],
        "completion_tokens": [r.completion_tokens if r else 0 for r in results],
        "model": [r.model if r else model for r in results],
        "error": errors,
        **({"web_searches": pd.array([r.web_searches if r else 0 for r in results], dtype="Int64")}
           if web else {}),
        # the tier that served each row (its cost is billed at it): only when one was asked
        **({"service_tier": [(r.service_tier or None) if r else None for r in results]}
           if tier else {}),
    }, index=pd.Index([i for i, _ in rows], name=getattr(data.index, "name", None)))
    if stop_reason:  # may quote the server: printed to a terminal without control characters
        from .untrusted_text import strip_controls

        print(strip_controls(f"edge map: stopped early: {stop_reason}"))
    print(f"edge map: {int((frame['status'].isin(['ok', 'replayed'])).sum())}/{len(rows)} answered · "
          f"{exact_usd(run.cost)} spent")
    return frame
