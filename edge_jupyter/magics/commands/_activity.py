"""``%edge activity``: what OpenRouter billed the whole account, reconciled with this ledger."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from ... import settings
from .._args import UsageError, sub_parser


def _days_arg(text: str) -> int:
    import argparse

    from ...activity_report import MAX_DAYS
    from ...user_numbers import NumberError, Rule

    try:
        return int(Rule("number of days", low=1, high=MAX_DAYS, whole=True).read(text, ""))
    except NumberError as exc:
        raise argparse.ArgumentTypeError(str(exc).strip()) from None


def cmd_activity(shell: Any, argv: list[str]) -> Any:
    from ...activity_report import BY, DEFAULT_DAYS, MAX_DAYS

    p = sub_parser("activity", "What OpenRouter billed the account (every app and machine) per "
                               "completed UTC day, beside this machine's ledger: the rest was "
                               "spent elsewhere. Needs a management key.")
    p.add_argument("--days", type=_days_arg, default=DEFAULT_DAYS, metavar="N",
                   help=f"the last N completed UTC days, 1 to {MAX_DAYS} (default {DEFAULT_DAYS})")
    p.add_argument("--by", choices=BY, help="one total per day, model or provider")
    p.add_argument("--plot", action="store_true", help="a chart of the billed spend per day and model")
    args = p.parse_args(argv)
    if args.plot and args.by:
        raise UsageError("%edge activity --plot draws the billed spend per day by model: "
                         "leave out --by.")
    from ... import account
    from ...activity_report import last_completed_day, reconcile, window
    from ...ledger import Ledger

    # the management key alone is enough: an admin may have no key of their own connected
    manager = account.require_manager(settings.current().origin, "Reading the account's activity")
    rows = account.activity(manager)
    now = datetime.now(timezone.utc)
    last = last_completed_day(now.date(), rows)
    days = window(last, args.days)
    since = datetime.fromisoformat(days[0]).replace(tzinfo=timezone.utc)
    ledger = Ledger.default().frame("all", since)
    today = max(now.date(), last + timedelta(days=1)).isoformat()
    report = reconcile(rows, ledger, days, by=args.by, today=today)
    print(report.text)
    if args.plot:  # the chart instead of the table, as `%edge usage --plot`
        from ... import spend_chart

        spend_chart.show(spend_chart.from_frame(
            report.frame, date="date", model="model", usd="billed_usd", first=days[0],
            last=days[-1], title="Billed by OpenRouter per day (UTC), every app"))
        return None
    return report.frame
