"""How amounts of money are written: the one place (pure).

Every amount the product shows is written here, so the UI, the budget messages, the
panel and the CLI agree (``tests/test_money_one_formatter.py`` fails if another module
writes a ``$`` amount itself).  Which form for which figure:

- :func:`exact_usd` for billed figures (a call's cost, what was spent): OpenRouter's own
  ``usage.cost`` is a JSON number whose shortest decimal form (``repr``) is what came over
  the wire; this writes that form in fixed point, so nothing is rounded away.
- :func:`short_usd` for headlines, balances and limits, where a few digits read better:
  cents from a cent up, two significant digits below.
- :func:`short_left_usd` for what is left of a limit: never written equal to the limit
  once something was spent.
- :func:`per_million_usd` for prices, per million tokens.

A negative amount is written ``-$0.50`` in every form; an unknown one (``None``, NaN) is
``—``.
"""

from __future__ import annotations

import math
from decimal import Decimal

UNKNOWN = "—"


def _signed(negative: bool, digits: str) -> str:
    return f"-${digits}" if negative else f"${digits}"


def exact_usd(amount: float | Decimal | None) -> str:
    """Every digit OpenRouter sent, in fixed point: 9.3e-05 -> "$0.000093"."""
    if amount is None or math.isnan(amount):
        return UNKNOWN
    value = float(amount)
    if math.isinf(value):  # only ever quoted from a broken server, as what it sent
        return _signed(value < 0, "inf")
    # 15 significant digits: every digit OpenRouter sends, minus the float noise a sum
    # of costs picks up (0.1 + 0.2 shows as 0.3, not 0.30000000000000004).
    text = format(Decimal(f"{value:.15g}"), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return _signed(text.startswith("-"), text.lstrip("-"))


def short_usd(amount: float | Decimal | None) -> str:
    """A readable amount: cents for a cent and more, 2 significant digits below a cent."""
    if amount is None or math.isnan(amount):
        return UNKNOWN
    value = float(amount)
    if value == 0:
        return "$0"
    size = abs(value)
    if size < 0.01:  # two significant digits first: 0.00999 is "$0.01", not "$0.0100"
        size = float(f"{size:.2g}")
    if size >= 0.01:
        return _signed(value < 0, f"{size:,.2f}")
    digits = max(2, -math.floor(math.log10(size)) + 1)
    return _signed(value < 0, f"{size:.{digits}f}")


def short_left_usd(left: float | None, whole: float | None) -> str:
    """``short_usd`` of what is left of ``whole``, never written equal to it once something
    was spent: "$4.9999" of $5.00 after spending $0.00014, not "$5.00" (more digits, up to
    nine, until it differs)."""
    text = short_usd(left)
    if left is None or whole is None or not 0 <= left < whole or text != short_usd(whole):
        return text
    for digits in range(3, 10):
        text = f"${left:,.{digits}f}"
        if text != f"${whole:,.{digits}f}":
            break
    return text


def per_million_usd(per_token: float | Decimal) -> str:
    """A per-token price as USD per million tokens, with only the digits the price has.

    At least two decimals ("$0.60", "$15.00") so a column of prices reads like money;
    more when the price needs them ("$0.0375"), never more than six.
    """
    value = float(per_token) * 1e6
    if value == 0:
        return "$0"
    text = f"{abs(value):,.6f}".rstrip("0")
    whole, _, decimals = text.partition(".")
    return _signed(value < 0, f"{whole}.{decimals.ljust(2, '0')}")


def total_usd(amounts: list[float | None]) -> float:
    """Sum costs without float drift (Decimal over their exact decimal forms).

    Also the way to subtract: ``total_usd([limit, -spent])`` is 0.0288 for 1.0 - 0.9712,
    where floats give 0.028800000000000048.
    """
    total = sum((Decimal(repr(float(a))) for a in amounts if a is not None), Decimal(0))
    return float(total)
