"""The ``%edge`` subcommands after their split into one module per family, and ``%edge budget``
showing what is really left of a limit once something was spent (issue 14)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from edge_jupyter.ledger.budgets import left_usd
from edge_jupyter.money import exact_usd, short_left_usd

#: ``%edge help`` as it read before the split: the split must not change a byte of it (only
#: commands added since: ``savings``, issue 17; ``limit`` and ``activity``, issue 18).
HELP = """\
%edge SUBCOMMAND [--help]

  use         set or show the default model
  models      list models with prices (a DataFrame)
  chats       list named conversations
  history     show a conversation
  forget      delete a conversation
  status      connection, key source, origin, defaults
  connect     connect your OpenRouter account (OAuth)
  disconnect  remove the stored key (chats and ledger stay)
  balance     what you can still spend, and what you spent
  limit       the key's credit limit on OpenRouter: show or change it
  activity    what OpenRouter billed the account, beside this ledger
  alert       low-balance alert threshold
  budget      local spending limits
  usage       the usage ledger, grouped or exported
  savings     what replay, caches, batch and flex saved, per model and kind
  fav         favourite models
  panel       the edge panel: balance, models, usage (--sidebar for JupyterLab)
  cache       the replay store: info, clear
  route       default provider routing (only, ignore, no fallbacks, data policy…)
  participants named sets of models with options, for %%edge -p
  receipt     the bill a notebook carries; --estimate prices a Run All
  advise      what your calls would cost on other models

%%edge [-m MODEL]... [--chat NAME] [-s SYSTEM] [-t T] [--max-tokens N]
       [-f markdown|text|code|json] [-o VAR] [--budget USD] [--no-stream]
  prompt with {python_expression} interpolation   (%%edge --help for details)"""


def test_help_lists_every_subcommand_as_before(kernel: Any) -> None:
    assert kernel.ok("%edge help").all_text.strip() == HELP


# -- what is left of a limit -------------------------------------------------------------------

def test_left_is_the_limit_minus_what_was_spent_never_below_zero() -> None:
    assert left_usd(5.0, 0.00014) == pytest.approx(4.99986)
    assert left_usd(5.0, 0.0) == 5.0
    assert left_usd(1.0, 1.5) == 0.0


@pytest.mark.parametrize(("left", "whole", "shown"), [
    (4.99986, 5.0, "$4.9999"),      # rounds to "$5.00": more digits until it differs
    (4.9999999, 5.0, "$4.9999999"),
    (5.0, 5.0, "$5.00"),            # nothing spent: as short_usd writes it
    (3.25, 5.0, "$3.25"),           # already different at cents
    (0.0, 5.0, "$0"),
    (None, 5.0, "—"),
])
def test_an_amount_left_is_never_written_equal_to_the_whole_once_something_was_spent(
        left: float | None, whole: float, shown: str) -> None:
    assert short_left_usd(left, whole) == shown


def _budget_row(text: str, scope: str) -> tuple[str, str]:
    match = re.search(rf"{scope}: \$[\d,.]+ limit · (\S+) spent · (\$[\d,.]+) left", text)
    assert match, text
    return match.group(1), match.group(2)


def test_budget_says_what_is_left_after_something_was_spent(kernel: Any, sb: Any) -> None:
    """On the old code this read "$5.00 left" after a call costing a fraction of a cent."""
    kernel.ok("%edge budget set 5 --scope day")
    try:
        spent_shown, left_shown = _budget_row(kernel.ok("%edge budget").all_text, "day")
        assert (spent_shown, left_shown) == ("$0", "$5.00")  # nothing spent: unchanged text
        kernel.ok("%%edge -m openai/gpt-4o-mini --max-tokens 20\nHi")
        assert sb.completions[-1].usage["cost"] > 0
        spent = kernel.value("edge_jupyter.ledger.Ledger.default().spent('day')")
        assert 0 < spent < 0.005  # a fraction of a cent: the case that rounded to "$5.00"
        spent_shown, left_shown = _budget_row(kernel.ok("%edge budget").all_text, "day")
        assert spent_shown == exact_usd(spent)
        left = float(left_shown.lstrip("$").replace(",", ""))
        digits = len(left_shown.partition(".")[2])
        assert left < 5.0, f"{left_shown} left after spending {exact_usd(spent)}"
        assert left == pytest.approx(5.0 - spent, abs=10 ** -digits)
    finally:
        kernel.ok("%edge budget clear")


def test_balance_says_what_is_left_of_the_key_limit_after_something_was_spent(kernel: Any, sb: Any
                                                                              ) -> None:
    from decimal import Decimal

    record = sb.accounts.lookup(sb.key)
    record.limit, record.usage = Decimal("5"), Decimal("0.00014")
    try:
        kernel.ok("import edge_jupyter.balance\nedge_jupyter.balance.clear_cache()")
        text = kernel.ok("%edge balance").all_text
    finally:
        record.limit, record.usage = None, Decimal(0)
    assert "$4.9999 left of $5.00" in text, text  # was "$5.00 left of $5.00"
