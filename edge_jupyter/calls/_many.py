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

from .. import preferences
from ..ledger import (
    FinishedCall,
    Ledger,
    Limit,
    StartingCall,
    StreamGuard,
    estimate_prompt_tokens,
    worst_case_cost,
)
from ..openrouter import OpenRouterClient
from ..record import CallRecord
from ._checks import PreCall
from ._errors import CallRefused

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

    def __init__(self, model: str, limits: Sequence[Limit], price: WorstPrice | None) -> None:
        self.model = model
        self.limits = tuple(limits)
        self.price = price  # None when no limit applies: nothing to reserve
        self.ledger = Ledger.default()  # one look-up per batch, not per row

    @classmethod
    def open(cls, client: OpenRouterClient, model: str, body: dict[str, Any],
             cell_budget: float | None) -> CallBatch:
        """Read the limits and price ``body``'s route once; refuse as :func:`pre_call` does.

        Raises :class:`CallRefused` (nothing written) when the preferences cannot be read,
        or a limit applies and the price cannot be known.
        """
        from ..storage import DataError
        from ._prices import request_price

        try:
            prefs = preferences.load_for_spending()
        except DataError as exc:
            raise CallRefused(str(exc)) from None
        limits = [Limit(scope, float(usd)) for scope, usd in prefs.budgets.items() if usd is not None]
        if cell_budget is not None:
            limits.append(Limit("cell", cell_budget))
        if not limits:
            return cls(model, (), None)
        price = request_price(client, body)
        if price.pricing is None:  # fail closed, as pre_call: an unpriced call is unguarded
            raise CallRefused(f"Refused before sending to {model}: a budget applies and the price "
                              f"cannot be known: {price.reason}. To go ahead, {price.fix}.")
        return cls(model, limits, price)

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
        for record, body in starting:
            if price is None or price.pricing is None:
                starts.append(StartingCall(record))
                prompts.append(0)
                continue
            prompt_tokens = estimate_prompt_tokens(body["messages"])
            ceiling = price.completion_ceiling(body.get("max_tokens"), prompt_tokens)
            starts.append(StartingCall(record, worst_case_cost(prompt_tokens, ceiling, price.pricing)))
            prompts.append(prompt_tokens)
        begun, exceeded = self.ledger.write_many(
            [FinishedCall(f.row_id, f.record, f.estimated_usd) for f in finished], starts, self.limits,
            generation_ids=generation_ids)
        checks = []
        for row, start, prompt_tokens in zip(begun, starts, prompts, strict=False):
            if price is None or price.pricing is None:
                checks.append(PreCall(row.row_id))
            else:  # the same dearest prices as the reservation
                guard = StreamGuard(row.left_usd, price.pricing, prompt_tokens)
                checks.append(PreCall(row.row_id, guard, start.worst_case_usd, list(price.notes)))
        refusal = None
        if exceeded is not None:
            refusal = self._refusal(exceeded, starting[len(begun)][1], prompts[len(begun)])
        return checks, refusal

    def _refusal(self, exc: Exception, body: dict[str, Any], prompt_tokens: int) -> CallRefused:
        """The words of :func:`pre_call`'s refusal."""
        price = self.price
        assert price is not None
        ceiling = price.completion_ceiling(body.get("max_tokens"), prompt_tokens)
        hint = "" if body.get("max_tokens") else f" (no --max-tokens given: up to {ceiling:,} tokens)"
        dear = f" (worst case at the dearest provider it can reach: {price.dearest})" if price.dearest else ""
        return CallRefused(f"Refused before sending to {self.model}{hint}{dear}: {exc}")
