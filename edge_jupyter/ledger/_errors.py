"""The ledger's errors.

::

    LedgerError               the ledger could not do what was asked (bad scope, export format, ...)
    └── BudgetExceeded        a call was refused because its worst case does not fit a spending limit

Every message is a sentence a person can act on: what happened, with the numbers, then
what to do.
"""

from __future__ import annotations

from ..errors import EdgeError


class LedgerError(EdgeError):
    """Base of the ledger's errors."""


def usd(amount: float) -> str:
    """Money for people: cents for large amounts, enough digits for tiny ones."""
    if amount != amount:  # NaN
        return "$?"
    sign = "-" if amount < 0 else ""
    amount = abs(amount)
    if amount >= 1 or amount == 0:
        return f"{sign}${amount:,.2f}"
    if amount >= 0.01:
        return f"{sign}${amount:.4f}"
    return f"{sign}${amount:.6f}".rstrip("0").rstrip(".") if amount >= 1e-6 else f"{sign}${amount:.2e}"


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
        return max(self.limit_usd - self.spent_usd, 0.0)

    def message(self) -> str:
        where = {"call": "this call's", "cell": "this cell's"}.get(self.scope, f"the {self.scope}")
        head = (f"Budget: this call could cost up to {usd(self.worst_case_usd)}, but only "
                f"{usd(self.remaining_usd)} is left of {where} budget of {usd(self.limit_usd)} "
                f"({usd(self.spent_usd)} spent or reserved).")
        if self.scope in ("call", "cell"):
            raise_it = "raise `--budget`"
        else:
            raise_it = f"raise the budget with `%edge budget set USD --scope {self.scope}`"
        return (f"{head} Ways out: lower `--max-tokens`, pick a cheaper model, or {raise_it}.")
