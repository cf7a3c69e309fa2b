"""Money: the low-balance ``alert``, the ``budget`` limits, the ``usage`` ledger, what the
calls ``savings`` saved, and a notebook's ``receipt``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ... import preferences
from ...money import exact_usd, short_left_usd, short_usd
from ...user_numbers import USD
from .._args import UsageError, sub_parser
from .._errors import EdgeCellError
from ._shared import display_table, keyed_client, public_client


def cmd_alert(shell: Any, argv: list[str]) -> None:
    p = sub_parser("alert", "Warn above every answer when the balance falls under USD (0 turns it off).")
    p.add_argument("usd", nargs="?", type=USD.argtype(), metavar="THRESHOLD")
    args = p.parse_args(argv)
    if args.usd is None:
        print(f"Low-balance alert under {short_usd(preferences.load().alert_threshold_usd)}.")
        return
    preferences.update(alert_threshold_usd=args.usd)
    print(f"Low-balance alert under {short_usd(args.usd)}." if args.usd else "Low-balance alert off.")


SCOPES = ("session", "notebook", "day", "month")


def cmd_budget(shell: Any, argv: list[str]) -> None:
    p = sub_parser("budget", "Local spending limits, checked before and during every call.\n"
                   "  %edge budget                      show the limits and what is left\n"
                   "  %edge budget set USD [--scope S]  set a limit (scope: session, notebook, day, month)\n"
                   "  %edge budget clear [--scope S]    remove one limit, or all")
    p.add_argument("action", nargs="?", choices=("show", "set", "clear"), default="show")
    p.add_argument("usd", nargs="?", type=USD.argtype(), metavar="LIMIT")
    p.add_argument("--scope", choices=SCOPES, default=None)
    args = p.parse_args(argv)
    prefs = preferences.load()
    budgets = dict(prefs.budgets)
    if args.action == "set":
        if args.usd is None:
            raise UsageError("%edge budget set: give the limit in USD, e.g. `%edge budget set 5 --scope day`.")
        def set_limit(prefs: preferences.Preferences) -> None:  # on the file now, locked
            prefs.budgets = {**prefs.budgets, args.scope or "session": args.usd}

        budgets = dict(preferences.edit(set_limit).budgets)
    elif args.action == "clear":
        def clear_limits(prefs: preferences.Preferences) -> None:
            prefs.budgets = ({k: v for k, v in prefs.budgets.items() if k != args.scope}
                             if args.scope else {})

        budgets = dict(preferences.edit(clear_limits).budgets)
    if not budgets:
        print("No spending limits set (`%edge budget set USD --scope day`).")
        return
    from ...ledger import Ledger, current_context, left_usd

    ctx = current_context()
    rows = []
    for scope, limit in budgets.items():
        # spent: settled costs plus what running calls hold, as the pre-call check counts it
        spent = Ledger.default().spent(scope, notebook=ctx.notebook, session_id=ctx.session_id)
        # short_left_usd: a fraction of a cent spent of $5 reads "$4.9999", never "$5.00"
        rows.append((scope, f"{short_usd(limit)} limit · {exact_usd(spent)} spent · "
                     f"{short_left_usd(left_usd(limit, spent), limit)} left"))
    display_table(rows, "Spending limits")


def _since_arg(text: str) -> str:
    """Check ``--since`` while parsing, so a typo is one line before the ledger is read."""
    from datetime import datetime, timezone

    from ...ledger import LedgerError, since_to_us

    try:
        since_to_us(text, datetime.now(timezone.utc))
    except (LedgerError, ValueError, OverflowError):
        raise argparse.ArgumentTypeError(
            f"takes a date like 2026-12-01 or 2026-12-01T10:00 (or a span back from now like "
            f"7D or 12h), not {text[:40]!r}") from None
    return text


def _export_target(raw: str, *, force: bool) -> Path:
    """Where ``--export`` may write: never over a file, nor into a folder that is not there,
    unless ``--force`` (then the folders are made by the export)."""
    target = Path(raw).expanduser()
    if target.is_dir():
        raise EdgeCellError(f"--export {raw}: that is a folder; give a file name, "
                            "e.g. usage.csv inside it.")
    if force:
        return target
    if target.exists():
        raise EdgeCellError(f"--export {raw}: the file already exists; add --force to replace "
                            "it, or pick another name.")
    if not target.resolve().parent.is_dir():
        raise EdgeCellError(f"--export {raw}: the folder {target.parent} does not exist; "
                            "create it, or add --force to create it.")
    return target


def cmd_usage(shell: Any, argv: list[str]) -> Any:
    p = sub_parser("usage", "The usage ledger: every call with its exact cost.")
    scopes = p.add_mutually_exclusive_group()
    for name in ("cell", "notebook", "session", "all"):
        scopes.add_argument(f"--{name}", dest="scope", action="store_const", const=name)
    p.add_argument("--by", choices=("model", "provider", "day", "notebook", "chat", "cell"))
    p.add_argument("--since", type=_since_arg,
                   help="only calls since this date/time (ISO), e.g. 2026-11-01, or a span back "
                        "from now, e.g. 7D or 12h")
    p.add_argument("--export", metavar="PATH", help="write the rows to .csv (or .parquet/.xlsx)")
    p.add_argument("--force", action="store_true",
                   help="with --export: replace an existing file and create missing folders")
    p.add_argument("--reconcile", action="store_true",
                   help="fetch exact costs of pending/interrupted calls from OpenRouter now")
    p.add_argument("--plot", action="store_true",
                   help="a chart of the spend per day (UTC), stacked by model, up to today")
    args = p.parse_args(argv)
    if args.plot and args.by:
        raise UsageError("%edge usage --plot draws the spend per day by model: leave out --by.")
    from ...ledger import Ledger, current_context, export, group

    book = Ledger.default()
    if args.reconcile:
        fixed = book.reconcile(keyed_client().generation)
        print(f"Reconciled {fixed} call(s) with OpenRouter's exact figures.")
    ctx = current_context()
    scope = args.scope or ("notebook" if ctx.notebook else "session")
    from .. import _context

    cell_id = _context.current(shell).cell_id if scope == "cell" else ""
    frame = book.frame(scope, args.since, notebook=ctx.notebook, session_id=ctx.session_id,
                       cell_id=cell_id)
    if args.export:
        try:
            path = export(frame, _export_target(args.export, force=args.force))
        except OSError as exc:  # a read-only folder, a full disk
            raise EdgeCellError(f"Could not write {args.export}: {exc.strerror or exc}.") from None
        print(f"Wrote {len(frame)} rows to {path}.")
        if not args.plot:
            return None
    if args.plot:
        _plot_usage(frame, scope, args.since)
        return None
    return group(frame, args.by) if args.by else frame


_PLOT_SCOPES = {"cell": "this cell", "notebook": "this notebook", "session": "this session",
                "all": "every call on this machine"}


def _plot_usage(frame: Any, scope: str, since: str | None) -> None:
    """``%edge usage --plot``: the scope's spend per UTC day, from ``--since`` (or the first
    call) to today, days without calls as empty bars.  The spend ``--by day`` shows
    (``ledger.spend_usd``: BYOK calls with their provider's bill)."""
    from datetime import datetime, timezone

    from ... import spend_chart
    from ...ledger import since_to_us, spend_usd

    now = datetime.now(timezone.utc)
    since_us = since_to_us(since, now) if since else None
    first = (datetime.fromtimestamp(since_us / 1e6, timezone.utc).date()
             if since_us is not None else None)
    if not len(frame) and first is None:
        print(f"No calls to plot for {_PLOT_SCOPES[scope]} yet.")
        return
    # The range is on the axis (``--since`` as typed, "14D", would read oddly in the title).
    spend_chart.show(spend_chart.from_frame(frame.assign(spend_usd=spend_usd(frame)),
                                            date="timestamp", model="model",
                                            usd="spend_usd", first=first, last=now.date(),
                                            title=f"Spend per day (UTC), {_PLOT_SCOPES[scope]}"))


def cmd_savings(shell: Any, argv: list[str]) -> Any:
    p = sub_parser("savings", "What replay, OpenRouter's cache, prompt caching, the Batch API and "
                   "the flex tier saved, per model and kind (exact where OpenRouter reports it).")
    scopes = p.add_mutually_exclusive_group()
    for name in ("notebook", "session", "all"):
        scopes.add_argument(f"--{name}", dest="scope", action="store_const", const=name)
    p.add_argument("--by", choices=("model", "kind"), help="one of them instead of both")
    p.add_argument("--since", type=_since_arg,
                   help="only calls since this date/time (ISO), or a span back from now, e.g. 7D")
    args = p.parse_args(argv)
    from ...ledger import Ledger, current_context
    from ...savings_report import headline, table

    ctx = current_context()
    scope = args.scope or ("notebook" if ctx.notebook else "session")
    frame = Ledger.default().frame(scope, args.since, notebook=ctx.notebook,
                                   session_id=ctx.session_id)
    summary = table(frame, args.by)
    print(headline(summary))
    return summary if int(summary.iloc[-1]["calls"]) else None


def cmd_receipt(shell: Any, argv: list[str]) -> Any:
    p = sub_parser("receipt", "Total the receipts a notebook carries in its outputs, or price a re-run.")
    p.add_argument("path", nargs="?", help="a notebook file (default: the open notebook, as last saved)")
    p.add_argument("--by", choices=("model", "cell", "call"), default="model",
                   help="call: one row per receipt (a tool loop's steps with their group and step)")
    p.add_argument("--estimate", action="store_true",
                   help="what Run All would cost now: recorded tokens at today's prices, "
                        "never-run cells at their worst case")
    args = p.parse_args(argv)
    import os

    from ... import receipts

    path = args.path or os.environ.get("JPY_SESSION_NAME", "")
    if not path or not os.path.isfile(path):
        raise EdgeCellError("No notebook file to read: pass its PATH (the open notebook is known "
                            "only when the kernel runs under a Jupyter server).")
    try:
        notebook = receipts.read_notebook(path)
    except OSError as exc:
        raise EdgeCellError(f"Could not read {path}: {exc.strerror or exc}.") from None
    if not args.path:
        print(f"Receipts of {os.path.basename(path)} as last saved (save first to include new outputs).")
    if args.estimate:
        models = {m.id: m for m in public_client().models()}
        table = receipts.estimate_run_all(notebook, models, preferences.load().default_model)
        total = float(table["estimate_usd"].dropna().sum())
        print(f"Run All would cost about {short_usd(total)} at today's prices "
              f"(recorded so far: {exact_usd(float(table['recorded_usd'].dropna().sum()))}).")
        return table
    return receipts.totals(receipts.collect(notebook), args.by)
