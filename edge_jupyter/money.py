"""How amounts of money are written (pure).

The cost shown is OpenRouter's own ``usage.cost`` as sent: a JSON number whose
shortest decimal form (``repr``) is what came over the wire.  ``exact_usd``
writes that form in fixed point, so nothing is rounded away; ``short_usd`` is
for tables and headlines where a few significant digits read better.
"""

from __future__ import annotations

import math
from decimal import Decimal


def exact_usd(amount: float | None) -> str:
    """Every digit OpenRouter sent, in fixed point: 9.3e-05 -> "$0.000093"."""
    if amount is None or (isinstance(amount, float) and math.isnan(amount)):
        return "—"
    # 15 significant digits: every digit OpenRouter sends, minus the float noise a sum
    # of costs picks up (0.1 + 0.2 shows as 0.3, not 0.30000000000000004).
    text = format(Decimal(f"{float(amount):.15g}"), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    sign = "-" if text.startswith("-") else ""
    return f"{sign}${text.lstrip('-')}"


def short_usd(amount: float | None) -> str:
    """A readable amount: cents for dollars, 2 significant digits below a cent."""
    if amount is None or (isinstance(amount, float) and math.isnan(amount)):
        return "—"
    value = float(amount)
    if value == 0:
        return "$0"
    if abs(value) >= 0.01:
        return f"${value:,.2f}"
    digits = max(2, -math.floor(math.log10(abs(value))) + 1)
    return f"${value:.{digits}f}"


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


def total_usd(amounts: list[float | None]) -> float:
    """Sum costs without float drift (Decimal over their exact decimal forms)."""
    total = sum((Decimal(repr(float(a))) for a in amounts if a is not None), Decimal(0))
    return float(total)
