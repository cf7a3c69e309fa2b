"""The account: ``status``, ``connect``, ``disconnect``, ``balance`` and ``limit``."""

from __future__ import annotations

from typing import Any

from ... import conversations, preferences, settings
from ...money import exact_usd, short_left_usd, short_usd
from .._args import sub_parser
from .._errors import EdgeCellError
from .._render import show_warning
from ._shared import display_table, keyed_client


def cmd_status(shell: Any, argv: list[str]) -> None:
    p = sub_parser("status", "Show the connection, where the key comes from, and the defaults.")
    p.parse_args(argv)
    from ...keystore import resolve_api_key

    current = settings.current()
    resolved = resolve_api_key()
    source = resolved.source if resolved.key else "none"
    if resolved.key and resolved.provisioned:
        who = "JupyterHub" if resolved.provisioned == "jupyterhub" else resolved.provisioned
        source = f"provisioned by {who} (OPENROUTER_API_KEY; `%edge connect` to use your own)"
    connected = "yes" if resolved.key else "no — run %edge connect"
    from ... import routing
    from ...storage import DataError

    rows = [("connected", connected), ("key source", source), ("origin", current.origin)]
    try:  # status diagnoses damaged or unreadable data: each problem is a row, never a traceback
        prefs = preferences.load()
    except DataError as exc:
        rows.append(("preferences", str(exc)))
    else:
        rows += [("default model", prefs.default_model),
                 ("alert under", short_usd(prefs.alert_threshold_usd)),
                 ("budgets", ", ".join(f"{s}: {short_usd(v)}" for s, v in prefs.budgets.items())
                  or "none")]
        damage = preferences.damage_status(prefs)
        if damage:
            rows.append(("preferences", damage))
    rows += _data_rows(current.data_dir)
    try:
        rows.append(("routing", routing.load_defaults().describe()))
    except routing.RoutingError as exc:
        rows.append(("routing", f"saved defaults are invalid ({exc}): `%edge route --reset`"))
    except DataError:
        pass  # the preferences row says why
    problem = getattr(resolved, "problem", "")
    if problem:
        rows.append(("key store", problem))
    display_table(rows, "edge_jupyter status")


def _data_rows(folder: Any) -> list[tuple[str, str]]:
    """The data folder, the ledger and the chats: what is wrong with which file, if anything."""
    from ...storage import DataError, check_writable

    if not folder.exists():
        return [("data folder", f"{folder} (made on first use)")]
    problem = check_writable(folder) if folder.is_dir() else "not a folder: move it aside"
    rows = [("data folder", f"{folder} — {problem}" if problem else str(folder))]
    try:
        from ...ledger import Ledger

        rows.append(("ledger", f"ok, {exact_usd(Ledger.default().spent('day'))} spent today"))
    except DataError as exc:
        rows.append(("ledger", str(exc)))
    try:
        damaged = [p for p in map(conversations.diagnose, conversations.names()) if p]
        if damaged:
            rows.append(("chats", " · ".join(damaged)))
    except DataError as exc:
        rows.append(("chats", str(exc)))
    return rows


def cmd_connect(shell: Any, argv: list[str]) -> None:
    from ... import events
    from ...connect import run_connect

    try:
        run_connect(argv)
    finally:  # the panel (if shown) refreshes its Account tab at once
        events.publish(events.ACCOUNT_CHANGED)


def cmd_disconnect(shell: Any, argv: list[str]) -> None:
    from ... import events
    from ...connect import run_disconnect

    try:
        run_disconnect(argv)
    finally:
        events.publish(events.ACCOUNT_CHANGED)


def cmd_balance(shell: Any, argv: list[str]) -> None:
    p = sub_parser("balance", "What OpenRouter will let you spend, and what you spent.")
    p.add_argument("--management-key", action="store_true",
                   help="store a management key (asked for privately): the account balance, "
                        "%%edge limit, %%edge disconnect --revoke, %%edge activity")
    p.add_argument("--forget-management-key", action="store_true", help="remove the management key")
    args = p.parse_args(argv)
    from ... import balance as balance_mod
    from ... import keystore

    if args.forget_management_key:
        keystore.delete_management_key()
        print("Management key removed.")
        return
    if args.management_key:
        import getpass

        key = getpass.getpass("OpenRouter management key (not shown): ").strip()
        if not key:
            raise EdgeCellError("No key entered; nothing stored.")
        where = keystore.store_management_key(key)
        print(f"Management key stored in the {where}; it reads the account balance (/credits) "
              "and lets `%edge limit`, `%edge disconnect --revoke` and `%edge activity` work.")
    bal = balance_mod.fetch(keyed_client())
    rows: list[tuple[str, str]] = []
    if bal.credits is not None:
        rows.append(("account balance", f"{short_usd(bal.credits.balance)} "
                     f"({short_usd(bal.credits.total_credits)} bought, "
                     f"{short_usd(bal.credits.total_usage)} used)"))
    if bal.key is not None:
        k = bal.key
        limit = "no limit" if k.limit is None else (
            f"{short_left_usd(k.limit_remaining, k.limit)} left of {short_usd(k.limit)}"
            + (f", resets {k.limit_reset}" if k.limit_reset else ""))
        rows += [("key", k.label or "—"), ("key limit", limit),
                 ("key spend", f"today {short_usd(k.usage_daily)} · this week "
                  f"{short_usd(k.usage_weekly)} · this month {short_usd(k.usage_monthly)}")]
        if k.byok_usage:
            rows.append(("BYOK (billed by providers)", short_usd(k.byok_usage)))
    rows += _ledger_rows(bal.remaining)
    display_table(rows, "OpenRouter balance")
    if bal.credits_note:
        show_warning(bal.credits_note)
    if bal.problem:
        raise EdgeCellError(f"Could not read the key's figures: {bal.problem}")


def _ledger_rows(remaining: float | None) -> list[tuple[str, str]]:
    from ...ledger import Ledger

    book = Ledger.default()
    today, month = book.spent("day"), book.spent("month")
    rows = [("spent (this machine)", f"today {exact_usd(today)} · this month {exact_usd(month)}")]
    if remaining is not None:
        from ...ledger import current_context

        frame = book.frame("notebook", notebook=current_context().notebook)
        costs = frame["cost_usd"].dropna()
        costs = costs[costs > 0]
        if len(costs):
            avg = float(costs.mean())
            rows.append(("calls left", f"about {int(remaining // avg):,} at this notebook's "
                         f"average of {short_usd(avg)}"))
    return rows


def cmd_limit(shell: Any, argv: list[str]) -> None:
    p = sub_parser("limit", "The connected key's credit limit on OpenRouter: shown with no "
                            "arguments; changing it needs a management key "
                            "(`%edge balance --management-key`).")
    p.add_argument("amount", nargs="?", metavar="USD|none",
                   help="the new limit in USD, or `none` for no limit")
    p.add_argument("--reset", choices=("daily", "weekly", "monthly", "never"),
                   help="when the limit starts again (00:00 UTC; weeks run Monday to Sunday)")
    byok = p.add_mutually_exclusive_group()
    byok.add_argument("--include-byok", dest="include_byok", action="store_const", const=True,
                      help="count spend on your own provider keys (BYOK) against the limit")
    byok.add_argument("--no-include-byok", dest="include_byok", action="store_const", const=False,
                      help="do not count BYOK spend against the limit")
    args = p.parse_args(argv)
    from ... import account
    from ...errors import EdgeError
    from ...user_numbers import USD

    changes: dict[str, Any] = {}
    if args.amount is not None:
        changes["limit"] = (None if args.amount.strip().lower() == "none"
                            else USD.read(args.amount, "The limit"))
    if args.reset is not None:
        changes["limit_reset"] = None if args.reset == "never" else args.reset
    if args.include_byok is not None:
        changes["include_byok_in_limit"] = args.include_byok
    client = keyed_client()
    manager = account.management_client(client.origin)
    if not changes:
        info = client.key_info()
        name = ""
        if manager is not None:
            try:
                name = account.find_connected_key(manager, client, info).name
            except EdgeError as exc:  # the limit is still worth showing
                show_warning(f"The key's name is not shown: {exc}")
        display_table(_limit_rows(info, name), "OpenRouter key limit")
        if manager is None:
            from ... import keystore

            if keystore.provisioned_by():  # a hub user can do neither of the two below
                print("This key's limit is set by your JupyterHub's admin (`edge-jupyter hub "
                      "set-limit`); `%edge connect` uses a key of your own instead.")
            else:
                print(f"To change it from here, a management key is needed: "
                      f"{account.ADD_MANAGEMENT_KEY}; or change it at {account.KEYS_PAGE}.")
        return
    if manager is None:
        display_table(_limit_rows(client.key_info(), ""), "OpenRouter key limit (unchanged)")
        raise EdgeCellError(f"Changing the key's limit needs an OpenRouter management key, and "
                            f"none is stored: {account.ADD_MANAGEMENT_KEY}; or change it at "
                            f"{account.KEYS_PAGE}.")
    change = account.set_limit(manager, client, **changes)
    display_table(_limit_rows(change.confirmed, change.key.name),
                  "OpenRouter key limit — confirmed by OpenRouter")


def _limit_rows(info: Any, name: str) -> list[tuple[str, str]]:
    """What ``GET /key`` says about the key's limit, as table rows."""
    rows = [("key", info.label or "—")]
    if name and name != info.label:
        rows.append(("name", name))
    if info.limit is None:
        rows.append(("limit", "no limit"))
    else:
        rows += [("limit", short_usd(info.limit)),
                 ("left", short_left_usd(info.limit_remaining, info.limit))]
    rows += [("resets", f"{info.limit_reset} (00:00 UTC)" if info.limit_reset else "never"),
             ("BYOK in limit", "yes" if info.include_byok_in_limit else "no"),
             ("spend", f"today {short_usd(info.usage_daily)} · this week "
              f"{short_usd(info.usage_weekly)} · this month {short_usd(info.usage_monthly)} · "
              f"in all {short_usd(info.usage)}")]
    if info.byok_usage:
        rows.append(("BYOK spend", f"today {short_usd(info.byok_usage_daily)} · in all "
                     f"{short_usd(info.byok_usage)} (billed by your providers)"))
    if info.expires_at:
        rows.append(("expires", info.expires_at))
    return rows
