"""The ledger's errors.

::

    LedgerError               the ledger could not do what was asked (bad scope, export format, ...)
    └── BudgetExceeded        a call was refused because its worst case does not fit a spending limit

Every message is a sentence a person can act on: what happened, with the numbers, then
what to do.
"""

from __future__ import annotations

from ..errors import EdgeError
from ..money import exact_usd, short_usd, total_usd


class LedgerError(EdgeError):
    """Base of the ledger's errors."""


class BudgetExceeded(LedgerError):
    """A call could cost more than what is left of a spending limit.

    ``scope`` is the limit's scope ("session", "notebook", "day", "month", "cell", "call",
    "all"); the amounts are in USD.  ``spent_usd`` counts settled costs plus the
    reservations of calls still running (in any kernel).
    """

    def __init__(self, *, scope: str, limit_usd: float, spent_usd: float,
                 worst_case_usd: float) -> None:
        self.scope = scope
        self.limit_usd = limit_usd
        self.spent_usd = spent_usd
        self.worst_case_usd = worst_case_usd
        super().__init__(self.message())

    @property
    def remaining_usd(self) -> float:
        # in decimal: 1.0 - 0.9712 is 0.0288, where floats give 0.028800000000000048
        return max(total_usd([self.limit_usd, -self.spent_usd]), 0.0)

    def message(self) -> str:
        where = {"call": "this call's", "cell": "this cell's", "calls": "the given"}.get(
            self.scope, f"the {self.scope}")
        # Exact figures: the refusal compares amounts that can differ by a fraction of a
        # cent, and must never read "$5.00 left of $5.00" after something was spent.
        head = (f"Budget: this call could cost up to {exact_usd(self.worst_case_usd)}, but only "
                f"{exact_usd(self.remaining_usd)} is left of {where} budget of "
                f"{short_usd(self.limit_usd)} ({exact_usd(self.spent_usd)} spent or reserved).")
        if self.scope in ("call", "cell"):
            raise_it = "raise `--budget`"
        elif self.scope == "calls":
            raise_it = "raise the budget (`--budget`, or `budget=`)"
        else:
            raise_it = f"raise the budget with `%edge budget set USD --scope {self.scope}`"
        return (f"{head} Ways out: lower `--max-tokens`, pick a cheaper model, or {raise_it}.")
