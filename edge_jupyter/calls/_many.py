"""Many calls of one model at once (``edge_jupyter.map``): :func:`pre_call` for a batch.

:func:`~._checks.pre_call` reads the preferences, prices the route and commits the row
of one call.  For thousands of rows that is most of the time a batch spends of its own,
so :class:`CallBatch` decides the money once (preferences, limits, the dearest price the
rows' route can reach: every row of a batch has the same model, route and limits) and
writes the rows in group commits (:meth:`edge_jupyter.ledger.Ledger.write_many`): each
:meth:`CallBatch.write` completes the calls that finished and begins the ones about to
be sent, in one transaction.  A row is still committed ``pending`` before its request is
sent, and each is checked against the limits in order, as a run of ``pre_call`` would.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..ledger import (
    FinishedCall,
    Ledger,
    Limit,
    StartingCall,
    StreamGuard,
    estimate_body_tokens,
    worst_case_cost,
)
from ..openrouter import OpenRouterClient
from ..record import CallRecord
from ._checks import PreCall
from ._errors import CallRefused
from ._media import media_price
from ._web import WebBound

if TYPE_CHECKING:
    from ..routing import WorstPrice


@dataclass(frozen=True)
class Finishing:
    """A call of the batch that ended: its row, its final record, what it keeps holding
    while its cost is unknown (:func:`~._engine.held_estimate`)."""

    row_id: int
    record: CallRecord
    estimated_usd: float | None = None


class CallBatch:
    """The money checks and ledger rows of many calls of one model (module docstring)."""

    def __init__(self, model: str, limits: Sequence[Limit], price: WorstPrice | None, *,
                 budget: float | None = None) -> None:
        self.model = model
        self.limits = tuple(limits)  # the saved budgets
        self.budget = budget  # the batch's own, over its own rows only (scope "calls")
        self.price = price  # None when no limit applies: nothing to reserve
        self.ledger = Ledger.default()  # one look-up per batch, not per row
        #: what the batch's rows hold now (worst cases while running, then their costs), kept
        #: as a running total (O(1) a row) with each running row's worst case to settle it
        self._held = 0.0
        self._running: dict[int, float] = {}
        #: does the model read PDFs itself (None: unknown)? Prices rows that send one
        #: without a plugin at the engine OpenRouter would use (``_media``)
        self.reads_files: bool | None = None
        #: the rows' web searches at most (``_web``): the rows of a map share their web tool
        self.web = WebBound()

    @classmethod
    def open(cls, client: OpenRouterClient, model: str, body: dict[str, Any],
             cell_budget: float | None) -> CallBatch:
        """Read the limits and price ``body``'s route once; refuse as :func:`pre_call` does.

        Raises :class:`CallRefused` (nothing written) when the preferences cannot be read,
        or a limit applies and the price cannot be known.
        """
        from ._checks import spending_limits, unpriced_refusal
        from ._prices import request_price

        saved = spending_limits(None)
        if not saved and cell_budget is None:
            return cls(model, (), None)
        price = request_price(client, body)
        if price.pricing is None:  # fail closed, as pre_call: an unpriced call is unguarded
            raise unpriced_refusal(model, price)
        batch = cls(model, saved, price, budget=cell_budget)
        from ._media import reads_files

        batch.reads_files = reads_files(client, body)  # /models: cached
        from ._checks import check_web_bounded
        from ._web import web_bound

        check_web_bounded(client, model, body)
        batch.web = web_bound(client, body)
        return batch

    def _limits(self) -> list[Limit]:
        if self.budget is None:
            return list(self.limits)
        return [*self.limits, Limit("calls", self.budget, self._held)]

    def write(self, finished: Sequence[Finishing],
              starting: Sequence[tuple[CallRecord, dict[str, Any]]], *,
              generation_ids: Sequence[tuple[int, str]] = ()) -> tuple[list[PreCall], CallRefused | None]:
        """Complete ``finished`` and begin ``starting`` (record, body) in one transaction
        (and note the ``generation_ids`` (row, id) of calls still running).

        Returns a :class:`PreCall` (row, stream guard, worst case) for each call that may
        be sent, in order, and the :class:`CallRefused` of the first that a limit refused
        (the calls after it are not begun), or None.
        """
        price = self.price
        starts: list[StartingCall] = []
        prompts: list[int] = []
        extras: list[tuple[int, float]] = []  # (images, plugin USD) per row
        for record, body in starting:
            if price is None or price.pricing is None:
                starts.append(StartingCall(record))
                prompts.append(0)
                extras.append((0, 0.0))
                continue
            prompt_tokens = estimate_body_tokens(body)
            ceiling = price.completion_ceiling(body.get("max_tokens"), prompt_tokens)
            images, extra = media_price(body, self.reads_files)
            extra += self.web.worst_usd(price.pricing, prompt_tokens, ceiling, images=images)
            starts.append(StartingCall(record, worst_case_cost(prompt_tokens, ceiling, price.pricing,
                                                               images=images, extra_usd=extra)))
            prompts.append(prompt_tokens)
            extras.append((images, extra))
        for f in finished:  # a finished row holds its cost now (or its estimate, unknown)
            cost = f.record.cost_usd if f.record.cost_usd is not None else (f.estimated_usd or 0.0)
            self._held += cost - self._running.pop(f.row_id, 0.0)
        begun, exceeded = self.ledger.write_many(
            [FinishedCall(f.row_id, f.record, f.estimated_usd) for f in finished], starts,
            self._limits(), generation_ids=generation_ids)
        for row, start in zip(begun, starts, strict=False):
            self._running[row.row_id] = start.worst_case_usd
            self._held += start.worst_case_usd
        checks = []
        for row, start, prompt_tokens, (images, extra) in zip(begun, starts, prompts, extras, strict=False):
            if price is None or price.pricing is None:
                checks.append(PreCall(row.row_id))
            else:  # the same dearest prices as the reservation
                guard = StreamGuard(row.left_usd, price.pricing, prompt_tokens, images=images,
                                    extra_usd=extra)
                checks.append(PreCall(row.row_id, guard, start.worst_case_usd, list(price.notes)))
        refusal = None
        if exceeded is not None:
            refusal = self._refusal(exceeded, starting[len(begun)][1], prompts[len(begun)])
        return checks, refusal

    def _refusal(self, exc: Exception, body: dict[str, Any], prompt_tokens: int) -> CallRefused:
        """The words of :func:`pre_call`'s refusal."""
        from ._checks import budget_refusal

        price = self.price
        assert price is not None
        ceiling = price.completion_ceiling(body.get("max_tokens"), prompt_tokens)
        return budget_refusal(self.model, body, price, ceiling, exc)
