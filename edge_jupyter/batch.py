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
import string
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import preferences, replay
from .errors import EdgeError
from .money import exact_usd, short_usd
from .openrouter import OpenRouterError, Pricing, RetryPolicy
from .record import CallRecord

if TYPE_CHECKING:
    from .calls import CallContext
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

    def __str__(self) -> str:
        reuse = f" ({self.replayed} already answered, reused for $0)" if self.replayed else ""
        if self.worst_case_usd is None:
            return f"{self.to_call} calls{reuse}: the price cannot be known ({self.unknown_reason})."
        expected = f", expected about {short_usd(self.expected_usd)}" if self.expected_usd is not None else ""
        return (f"{self.to_call} calls{reuse}: at most {short_usd(self.worst_case_usd)}{expected}.")


def _fields(template: str) -> list[str]:
    try:
        return [f for _, f, _, _ in string.Formatter().parse(template) if f]
    except ValueError as exc:
        raise BatchError(f"The prompt template has an unmatched brace ({exc}).") from None


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


def quote(bodies: list[dict[str, Any]], price: WorstPrice, max_tokens: int, model: str) -> Quote:
    """Price the rows not yet answered at ``price``: the dearest endpoint the rows' route can
    reach (:func:`edge_jupyter.calls.request_price`), not the one ``/models`` price."""
    from .ledger import estimate_prompt_tokens, worst_case_cost

    replayed = sum(1 for b in bodies if replay.lookup(b) is not None)
    to_call = [b for b in bodies if replay.lookup(b) is None]
    if price.pricing is None:
        return Quote(len(bodies), len(to_call), replayed, None, None, price.reason)
    pricing = price.pricing
    prompts = [estimate_prompt_tokens(b["messages"]) for b in to_call]
    worst = sum(worst_case_cost(p, price.completion_ceiling(max_tokens, p), pricing) for p in prompts)
    average = _expected_completion_tokens(model)
    expected = None if average is None else sum(
        worst_case_cost(p, math.ceil(min(average, max_tokens)), pricing) for p in prompts)
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
) -> Any:
    """Ask ``model`` the ``prompt`` (a ``str.format`` template over each row) for every row.

    ``max_price="1/2"`` caps the price OpenRouter may route to (USD per million prompt /
    completion tokens, as ``--max-price``); it also makes a variable price (``openrouter/auto``)
    priceable, which ``confirm_over`` and ``budget`` need.

    Returns a DataFrame on the input's index: ``answer, status, cost_usd, prompt_tokens,
    completion_tokens, model, error`` — ``cost_usd`` is 0 for rows reused from an earlier run.
    """
    import pandas as pd

    from . import calls
    from .calls import CallRefused, EdgeInterrupted, RunningCall, describe_failure

    max_tokens, temperature, concurrency, confirm_over, budget = _checked_numbers(
        max_tokens, temperature, concurrency, confirm_over, budget)
    cap = None
    if max_price is not None:
        from .routing import RoutingError, parse_max_price

        try:
            cap = parse_max_price(str(max_price))
        except RoutingError as exc:
            raise BatchError(str(exc).replace("--max-price", "max_price")) from None
    model = model or preferences.load().default_model
    rows = _rows(data, prompt)
    bodies = []
    for _, values in rows:
        try:
            text = prompt.format_map(values)
        except (KeyError, IndexError, ValueError, AttributeError) as exc:
            raise BatchError(f"The prompt template could not be filled: {exc}") from None
        messages = ([{"role": "system", "content": system}] if system else [])
        messages.append({"role": "user", "content": text})
        body: dict[str, Any] = {"model": model, "messages": messages, "max_tokens": max_tokens}
        if temperature is not None:
            body["temperature"] = temperature
        if cap is not None:
            body["provider"] = {"max_price": cap.to_object()}
        bodies.append(body)

    client = calls.connected_client().with_retry(BATCH_RETRY)
    try:  # no list is not "unknown model": say which it is
        client.models()
    except OpenRouterError as exc:
        raise BatchError(f"OpenRouter's model list could not be fetched ({exc}), so {model!r} cannot "
                         "be checked or priced: nothing was sent; run the map again when it answers.") from None
    info = calls.model_info(client, model)
    if info is None:
        raise BatchError(f"Unknown model {model!r} (`%edge models` lists them).")
    q = quote(bodies, calls.request_price(client, bodies[0]) if bodies else _no_rows(model), max_tokens, model)
    print(f"edge map: {q}")
    _confirm(q, confirm_over)

    ctx = _where()
    from .ledger import set_context

    session_id = set_context(ctx.notebook).session_id
    results: list[CallRecord | None] = [None] * len(rows)
    lock = threading.Lock()
    spent = [0.0, 0]  # cost, errors
    bar = _Progress(len(rows), progress)
    stop_reason = ""

    for i, body in enumerate(bodies):  # answers already paid for: no request, $0
        entry = replay.lookup(body)
        if entry is not None:
            record = CallRecord(model=model, notebook=ctx.notebook, cell_id=ctx.cell_id,
                                execution_count=ctx.execution_count, session_id=session_id,
                                chat="map")
            replay.apply(entry, record)
            results[i] = record

    def run_row(i: int) -> None:
        record = CallRecord(model=model, notebook=ctx.notebook, cell_id=ctx.cell_id,
                            execution_count=ctx.execution_count, session_id=session_id, chat="map")
        check = calls.pre_call(client, model, bodies[i], budget, record)
        p = RunningCall(record, bodies[i], guard=check.guard)
        live[i] = p
        try:
            p.run(client)
            p.finish_record(client, lookup_timeout=0)
        except BaseException as exc:  # any failure still completes the row, as in a cell
            calls.fail(check.row_id, record, describe_failure(exc),
                           estimated_usd=calls.held_estimate(p))
            raise
        finally:
            live.pop(i, None)
        calls.finish(check.row_id, record, estimated_usd=calls.held_estimate(p))
        replay.store(bodies[i], record)
        with lock:
            results[i] = record
            spent[0] += record.cost_usd or 0.0
            spent[1] += record.status not in ("ok", "replayed")

    live: dict[int, RunningCall] = {}
    pending = [i for i, r in enumerate(results) if r is None]
    done_count = len(rows) - len(pending)
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="edge-map")
    futures: dict[Future[None], int] = {}
    try:
        queue = iter(pending)
        for i in queue:
            futures[pool.submit(run_row, i)] = i
            if len(futures) >= concurrency:
                break
        while futures:
            finished, _ = wait(list(futures), timeout=0.2, return_when=FIRST_COMPLETED)
            for future in finished:
                futures.pop(future)
                exc = future.exception()
                if isinstance(exc, CallRefused):  # a budget refused this row: stop here
                    stop_reason = str(exc)
                elif exc is not None and not isinstance(exc, OpenRouterError):
                    raise exc
                done_count += 1
                if not stop_reason:
                    nxt = next(queue, None)
                    if nxt is not None:
                        futures[pool.submit(run_row, nxt)] = nxt
            bar.update(done_count, spent[0], spent[1])
    except KeyboardInterrupt:
        for p in list(live.values()):
            p.interrupted = True
            p.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
        answered = sum(1 for r in results if r is not None and r.status in ("ok", "replayed"))
        raise EdgeInterrupted(f"Interrupted: {answered} of {len(rows)} rows are answered and kept; "
                              "run the same map again to finish, paying only for the rest.") from None
    pool.shutdown(wait=True)
    bar.update(done_count, spent[0], spent[1], force=True)

    frame = pd.DataFrame({
        "answer": [r.text if r else None for r in results],
        "status": [r.status if r else "not_run" for r in results],
        "cost_usd": [r.cost_usd if r else float("nan") for r in results],
        "prompt_tokens": [r.prompt_tokens if r else 0 for r in results],
        "completion_tokens": [r.completion_tokens if r else 0 for r in results],
        "model": [r.model if r else model for r in results],
        "error": [(r.error if r else stop_reason) or "" for r in results],
    }, index=pd.Index([i for i, _ in rows], name=getattr(data.index, "name", None)))
    if stop_reason:  # may quote the server: printed to a terminal without control characters
        from .untrusted_text import strip_controls

        print(strip_controls(f"edge map: stopped early: {stop_reason}"))
    print(f"edge map: {int((frame['status'].isin(['ok', 'replayed'])).sum())}/{len(rows)} answered · "
          f"{exact_usd(spent[0])} spent")
    return frame
