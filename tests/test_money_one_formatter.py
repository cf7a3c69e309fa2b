"""One money formatter: every ``$`` amount the product writes comes from ``edge_jupyter.money``.

Before, three formatters disagreed: the budget refusal wrote "$0.5000" where the panel wrote
"$0.50", and "-$0.50" where ``short_usd`` wrote "$-0.50"; the refusal could also say "$5.00
is left of ... $5.00" after a fraction of a cent was spent.  The guard at the end reads every
module's syntax tree, so a new hand-written ``f"${x:.2f}"`` anywhere fails it.
"""

from __future__ import annotations

import ast
from decimal import Decimal
from pathlib import Path

import pytest

import edge_jupyter
from edge_jupyter.ledger import BudgetExceeded
from edge_jupyter.money import exact_usd, per_million_usd, short_left_usd, short_usd, total_usd
from edge_jupyter.panel._model import money, money_left
from edge_jupyter.routing import parse_max_price

PACKAGE = Path(edge_jupyter.__file__).parent


# -- the forms -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("amount", "exact", "short"), [
    (0.5, "$0.5", "$0.50"),
    (-0.5, "-$0.5", "-$0.50"),
    (-0.0012345, "-$0.0012345", "-$0.0012"),
    (-1234.5, "-$1234.5", "-$1,234.50"),
    (9.3e-05, "$0.000093", "$0.000093"),
    (0.0, "$0", "$0"),
    (None, "—", "—"),
    (float("nan"), "—", "—"),
    (Decimal("1.50"), "$1.5", "$1.50"),
])
def test_every_form_writes_a_negative_as_minus_dollar(amount, exact, short) -> None:
    assert exact_usd(amount) == exact
    assert short_usd(amount) == short


def test_an_infinite_figure_from_a_broken_server_is_quoted_as_sent() -> None:
    assert (exact_usd(float("inf")), exact_usd(float("-inf"))) == ("$inf", "-$inf")


def test_prices_per_million_and_what_is_left() -> None:
    assert per_million_usd(1.5e-07) == "$0.15"
    assert per_million_usd(Decimal("0.000000055")) == "$0.055"
    assert per_million_usd(-1e-06) == "-$1.00"
    assert short_left_usd(4.99986, 5.0) == "$4.9999"
    assert total_usd([1.0, -0.9712]) == 0.0288


# -- the places that disagreed -------------------------------------------------------------------


def test_the_budget_refusal_writes_a_limit_as_the_panel_does() -> None:
    text = str(BudgetExceeded(scope="day", limit_usd=0.5, spent_usd=0.25, worst_case_usd=0.3))
    assert "day budget of $0.50 " in text and money(0.5) == "$0.50"  # was "$0.5000"
    assert "$0.25 spent or reserved" in text and "only $0.25 is left" in text


def test_the_budget_refusal_never_says_the_whole_limit_is_left_once_something_was_spent() -> None:
    text = str(BudgetExceeded(scope="session", limit_usd=5.0, spent_usd=0.00014,
                              worst_case_usd=6.0))
    assert "only $4.99986 is left of the session budget of $5.00" in text  # was "$5.00 ... $5.00"
    assert "($0.00014 spent or reserved)" in text
    assert money_left(4.99986, 5.0) == "$4.9999"  # the panel: never "$5.00" either


def test_a_price_cap_is_written_as_it_was_given() -> None:
    cap = parse_max_price("1/0.5")
    assert cap.describe() == "at most $1/M prompt and $0.5/M completion"


# -- the guard -----------------------------------------------------------------------------------


def hand_written_amounts(source: str) -> list[int]:
    """Lines that write a ``$`` amount by hand: ``f"${x}"``, ``"$" + x``, ``"$%.2f" % x``,
    ``"${:.2f}".format(x)``."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.JoinedStr):
            pairs = zip(node.values, node.values[1:], strict=False)
            if any(isinstance(a, ast.Constant) and isinstance(a.value, str) and a.value.endswith("$")
                   and isinstance(b, ast.FormattedValue) for a, b in pairs):
                lines.append(node.lineno)
        elif (isinstance(node, ast.BinOp) and isinstance(node.left, ast.Constant)
              and isinstance(node.left.value, str)):
            text = node.left.value
            if ((isinstance(node.op, ast.Add) and text.endswith("$"))
                    or (isinstance(node.op, ast.Mod) and "$%" in text)):
                lines.append(node.lineno)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "format" and isinstance(node.func.value, ast.Constant)
              and isinstance(node.func.value.value, str) and "${" in node.func.value.value):
            lines.append(node.lineno)
    return lines


@pytest.mark.parametrize("source", [
    'x = f"limit ${limit:,.2f}"', 'x = f"${whole}.{cents}"', 'x = "$" + str(v)',
    'x = "$%.2f" % v', 'x = "${:,.2f}".format(v)', 'x = "cost: $" f"{v}"',
])
def test_the_guard_sees_an_amount_written_by_hand(source) -> None:
    assert hand_written_amounts(source) == [1]


@pytest.mark.parametrize("source", [
    'x = f"limit {short_usd(v)}"', 'x = "reused for $0"', 'x = f"(default: $EDGE_URL) {v}"',
    'x = "<span>$</span>"',
])
def test_the_guard_leaves_other_dollar_signs_alone(source) -> None:
    assert hand_written_amounts(source) == []


def test_no_module_but_money_writes_a_dollar_amount_by_hand() -> None:
    # The sandbox is the OpenRouter look-alike: it sends numbers in JSON, never shows money.
    found = [f"{path.relative_to(PACKAGE.parent)}:{line}"
             for path in sorted(PACKAGE.rglob("*.py"))
             if "sandbox" not in path.parts and path.name != "money.py"
             for line in hand_written_amounts(path.read_text(encoding="utf-8"))]
    assert found == []


def test_an_amount_just_under_a_cent_rounds_to_two_significant_digits() -> None:
    from edge_jupyter.money import short_usd

    assert short_usd(0.00999) == "$0.01"  # was "$0.0100": three digits that read as a whole cent
    assert short_usd(-0.00999) == "-$0.01" and short_usd(0.0099) == "$0.0099"
