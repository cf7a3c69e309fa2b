"""The ``%edge`` subcommands: small functions, each with its own parser and ``--help``."""

from __future__ import annotations

import argparse
import difflib
import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import conversations, preferences, settings
from ..money import exact_usd, short_usd
from ..openrouter import OpenRouterClient, OpenRouterError
from ..user_numbers import CONTEXT, COUNT, USD, USD_PER_M
from ._args import UsageError, sub_parser
from ._errors import EdgeCellError
from ._render import show_warning

Command = Callable[[Any, list[str]], Any]


def _display_table(rows: list[tuple[str, str]], title: str) -> None:
    from IPython.display import display

    body = "".join(f"<tr><th style='text-align:left;padding-right:1em'>{html.escape(k)}</th>"
                   f"<td style='text-align:left'>{html.escape(v)}</td></tr>" for k, v in rows)
    plain = "\n".join(f"{k:>16}: {v}" for k, v in rows)
    # _bundle strips control characters from the plain form: values quote the server
    # (the /key label), and terminal IPython prints text/plain as it is.
    from ._render import _bundle

    display(_bundle(f"<b>{html.escape(title)}</b><table class='edge-table'>{body}</table>",
                    f"{title}\n{plain}"), raw=True)


def _public_client() -> OpenRouterClient:
    return OpenRouterClient(None)


def _keyed_client() -> OpenRouterClient:
    from ._cell import _client

    return _client()


# -- models -----------------------------------------------------------------------------------

def cmd_use(shell: Any, argv: list[str]) -> None:
    p = sub_parser("use", "Set (or show) the default model used when a cell gives no -m.")
    p.add_argument("model", nargs="?", help="an OpenRouter model id, e.g. openai/gpt-4o-mini")
    args = p.parse_args(argv)
    prefs = preferences.load()
    if not args.model:
        print(f"Default model: {prefs.default_model}")
        return
    try:
        ids = [m.id for m in _public_client().models()]
    except OpenRouterError:
        ids = []  # offline: accept it, the call will say if it is wrong
    if ids and args.model not in ids:
        close = difflib.get_close_matches(args.model, ids, n=3, cutoff=0.4)
        hint = f" Did you mean: {', '.join(close)}?" if close else " `%edge models SEARCH` lists them."
        raise EdgeCellError(f"Unknown model {args.model!r}.{hint}")
    preferences.update(default_model=args.model)
    print(f"Default model: {args.model}")


SUPPORTS = {"tools": ("tools",), "reasoning": ("reasoning", "include_reasoning"),
            "vision": (), "json": ("response_format", "structured_outputs")}


def _supports(model: Any, feature: str) -> bool:
    if feature == "vision":
        return "image" in model.input_modalities
    return any(p in model.supported_parameters for p in SUPPORTS[feature])


def models_frame(search: str = "", sort: str = "name", *, free: bool = False,
                 max_price: float | None = None, min_context: int | None = None,
                 refresh: bool = False, supports: list[str] | None = None) -> Any:
    """The model catalogue as a DataFrame, prices in USD per million tokens."""
    import pandas as pd

    rows = []
    needle = search.lower()
    for m in _public_client().models(refresh=refresh):
        if needle and needle not in m.id.lower() and needle not in m.name.lower():
            continue
        # A variable ("-1") or broken price has no number: shown as "variable", never as
        # $-1,000,000/M, and never matched by --free or --max-price.
        known = m.pricing.known
        prompt = round(m.pricing.prompt * 1e6, 6) if m.pricing.prompt is not None else None
        completion = round(m.pricing.completion * 1e6, 6) if m.pricing.completion is not None else None
        if free and not m.pricing.is_free:
            continue
        if max_price is not None and (not known or max(prompt or 0.0, completion or 0.0) > max_price):
            continue
        if min_context is not None and (m.context_length or 0) < min_context:
            continue
        if supports and not all(_supports(m, f) for f in supports):
            continue
        rows.append({"id": m.id, "name": m.name, "prompt_usd_per_m": prompt,
                     "completion_usd_per_m": completion, "context_length": m.context_length,
                     "max_completion_tokens": m.max_completion_tokens,
                     "pricing": "per token" if known else "variable" if m.pricing.is_variable else "unknown"})
    frame = pd.DataFrame(rows, columns=["id", "name", "prompt_usd_per_m", "completion_usd_per_m",
                                        "context_length", "max_completion_tokens", "pricing"])
    frame = frame.astype({"context_length": "Int64", "max_completion_tokens": "Int64",
                          "prompt_usd_per_m": "Float64", "completion_usd_per_m": "Float64"})
    by = {"price": ["completion_usd_per_m", "prompt_usd_per_m"], "context": ["context_length"],
          "name": ["id"]}[sort]
    return frame.sort_values(by, ascending=sort != "context", ignore_index=True)


def cmd_models(shell: Any, argv: list[str]) -> Any:
    p = sub_parser("models", "List OpenRouter's models with prices (USD per million tokens).")
    p.add_argument("search", nargs="?", default="", help="text to look for in the id or name")
    p.add_argument("--sort", choices=("name", "price", "context"), default="name")
    p.add_argument("--free", action="store_true", help="only free models")
    p.add_argument("--max-price", type=USD_PER_M.argtype(), metavar="USD",
                   help="highest price per million tokens")
    p.add_argument("--min-context", type=CONTEXT.argtype(), metavar="N", help="smallest context length")
    p.add_argument("--supports", action="append", choices=sorted(SUPPORTS), metavar="FEATURE",
                   help="only models that support tools, vision, reasoning or json (repeatable)")
    p.add_argument("--refresh", action="store_true", help="ignore the five-minute cache")
    p.add_argument("--endpoints", action="store_true",
                   help="with a model id: the providers serving it, with prices, context, "
                        "quantisation and uptime (to pick where to route)")
    args = p.parse_args(argv)
    if args.endpoints:
        if not args.search:
            raise UsageError("%edge models --endpoints: name the model, e.g. "
                             "`%edge models openai/gpt-4o-mini --endpoints`.")
        from ..routing import endpoints_frame

        try:
            return endpoints_frame(_public_client().model_endpoints(args.search))
        except OpenRouterError as exc:
            raise EdgeCellError(f"Could not list the providers of {args.search}: {exc}") from None
    try:
        return models_frame(args.search, args.sort, free=args.free, max_price=args.max_price,
                            min_context=args.min_context, refresh=args.refresh,
                            supports=args.supports)
    except OpenRouterError as exc:
        raise EdgeCellError(f"Could not list the models: {exc}") from None


# -- conversations ------------------------------------------------------------------------------

def cmd_chats(shell: Any, argv: list[str]) -> Any:
    p = sub_parser("chats", "List the named conversations.")
    p.parse_args(argv)
    import pandas as pd

    rows = []
    for name in conversations.names():
        damage = conversations.diagnose(name)  # listed without touching a damaged file
        if damage:
            show_warning(f"Conversation {name!r} is left out: {damage}")
            continue
        conv = conversations.load(name)
        models = sorted({m for t in conv.turns for m in t.answers})
        last = max((t.timestamp for t in conv.turns), default=None)
        rows.append({"chat": name, "turns": len(conv.turns), "models": ", ".join(models),
                     "last_used": pd.to_datetime(round(last), unit="s", utc=True) if last else pd.NaT})
    return pd.DataFrame(rows, columns=["chat", "turns", "models", "last_used"])


def cmd_history(shell: Any, argv: list[str]) -> None:
    p = sub_parser("history", "Show a conversation, turn by turn.")
    p.add_argument("name")
    args = p.parse_args(argv)
    from IPython.display import display

    try:
        conv = conversations.load(conversations.check_name(args.name))
    except conversations.ConversationError as exc:
        raise EdgeCellError(str(exc)) from None
    if not conv.turns:
        raise EdgeCellError(f"No conversation named {args.name!r} (`%edge chats` lists them).")
    from ._render import transcript_bundle

    parts = [("system", conv.system)] if conv.system else []
    for i, turn in enumerate(conv.turns, 1):
        parts.append((f"{i}. you", turn.prompt))
        parts.extend(turn.answers.items())
    display(transcript_bundle(parts), raw=True)  # answers are untrusted: rendered safely


def cmd_forget(shell: Any, argv: list[str]) -> None:
    p = sub_parser("forget", "Delete a named conversation (the usage ledger keeps its rows).")
    p.add_argument("name")
    args = p.parse_args(argv)
    try:
        gone = conversations.forget(args.name)
    except conversations.ConversationError as exc:
        raise EdgeCellError(str(exc)) from None
    print(f"Forgot {args.name!r}." if gone else f"No conversation named {args.name!r}.")


# -- account ---------------------------------------------------------------------------------

def cmd_status(shell: Any, argv: list[str]) -> None:
    p = sub_parser("status", "Show the connection, where the key comes from, and the defaults.")
    p.parse_args(argv)
    from ..keystore import resolve_api_key

    current = settings.current()
    resolved = resolve_api_key()
    source = resolved.source if resolved.key else "none"
    connected = "yes" if resolved.key else "no — run %edge connect"
    from .. import routing
    from ..storage import DataError

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
    _display_table(rows, "edge_jupyter status")


def _data_rows(folder: Any) -> list[tuple[str, str]]:
    """The data folder, the ledger and the chats: what is wrong with which file, if anything."""
    from ..storage import DataError, check_writable

    if not folder.exists():
        return [("data folder", f"{folder} (made on first use)")]
    problem = check_writable(folder) if folder.is_dir() else "not a folder: move it aside"
    rows = [("data folder", f"{folder} — {problem}" if problem else str(folder))]
    try:
        from . import _recorder

        rows.append(("ledger", f"ok, {exact_usd(_recorder.ledger().spent('day'))} spent today"))
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
    from .. import events
    from ..connect import run_connect

    try:
        run_connect(argv)
    finally:  # the panel (if shown) refreshes its Account tab at once
        events.publish(events.ACCOUNT_CHANGED)


def cmd_disconnect(shell: Any, argv: list[str]) -> None:
    from .. import events
    from ..connect import run_disconnect

    try:
        run_disconnect(argv)
    finally:
        events.publish(events.ACCOUNT_CHANGED)


def cmd_balance(shell: Any, argv: list[str]) -> None:
    p = sub_parser("balance", "What OpenRouter will let you spend, and what you spent.")
    p.add_argument("--management-key", action="store_true",
                   help="store a management key (asked for privately) to show the account balance")
    p.add_argument("--forget-management-key", action="store_true", help="remove the management key")
    args = p.parse_args(argv)
    from .. import balance as balance_mod
    from .. import keystore

    if args.forget_management_key:
        keystore.delete_management_key()
        print("Management key removed.")
        return
    if args.management_key:
        import getpass

        key = getpass.getpass("OpenRouter management key (not shown): ").strip()
        if not key:
            raise EdgeCellError("No key entered; nothing stored.")
        try:
            where = keystore.store_management_key(key)
        except keystore.KeyStoreError as exc:
            raise EdgeCellError(str(exc)) from None
        print(f"Management key stored in the {where}; it is used only to read /credits.")
    bal = balance_mod.fetch(_keyed_client())
    rows: list[tuple[str, str]] = []
    if bal.credits is not None:
        rows.append(("account balance", f"{short_usd(bal.credits.balance)} "
                     f"({short_usd(bal.credits.total_credits)} bought, "
                     f"{short_usd(bal.credits.total_usage)} used)"))
    if bal.key is not None:
        k = bal.key
        limit = "no limit" if k.limit is None else (
            f"{short_usd(k.limit_remaining)} left of {short_usd(k.limit)}"
            + (f", resets {k.limit_reset}" if k.limit_reset else ""))
        rows += [("key", k.label or "—"), ("key limit", limit),
                 ("key spend", f"today {short_usd(k.usage_daily)} · this week "
                  f"{short_usd(k.usage_weekly)} · this month {short_usd(k.usage_monthly)}")]
        if k.byok_usage:
            rows.append(("BYOK (billed by providers)", short_usd(k.byok_usage)))
    rows += _ledger_rows(bal.remaining)
    _display_table(rows, "OpenRouter balance")
    if bal.credits_note:
        show_warning(bal.credits_note)
    if bal.problem:
        raise EdgeCellError(f"Could not read the key's figures: {bal.problem}")


def _ledger_rows(remaining: float | None) -> list[tuple[str, str]]:
    from . import _recorder

    book = _recorder.ledger()
    today, month = book.spent("day"), book.spent("month")
    rows = [("spent (this machine)", f"today {exact_usd(today)} · this month {exact_usd(month)}")]
    if remaining is not None:
        from ..ledger import current_context

        frame = book.frame("notebook", notebook=current_context().notebook)
        costs = frame["cost_usd"].dropna()
        costs = costs[costs > 0]
        if len(costs):
            avg = float(costs.mean())
            rows.append(("calls left", f"about {int(remaining // avg):,} at this notebook's "
                         f"average of {short_usd(avg)}"))
    return rows


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
    from ..ledger import current_context
    from . import _recorder

    ctx = current_context()
    rows = []
    for scope, limit in budgets.items():
        spent = _recorder.ledger().spent(scope, notebook=ctx.notebook, session_id=ctx.session_id)
        rows.append((scope, f"{short_usd(limit)} limit · {exact_usd(spent)} spent · "
                     f"{short_usd(max(0.0, limit - spent))} left"))
    _display_table(rows, "Spending limits")


def _since_arg(text: str) -> str:
    """Check ``--since`` while parsing, so a typo is one line before the ledger is read."""
    from datetime import datetime, timezone

    from ..ledger import LedgerError
    from ..ledger._frame import since_to_us

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
    scope = p.add_mutually_exclusive_group()
    for name in ("cell", "notebook", "session", "all"):
        scope.add_argument(f"--{name}", dest="scope", action="store_const", const=name)
    p.add_argument("--by", choices=("model", "provider", "day", "notebook", "chat", "cell"))
    p.add_argument("--since", type=_since_arg,
                   help="only calls since this date/time (ISO), e.g. 2026-11-01, or a span back "
                        "from now, e.g. 7D or 12h")
    p.add_argument("--export", metavar="PATH", help="write the rows to .csv (or .parquet/.xlsx)")
    p.add_argument("--force", action="store_true",
                   help="with --export: replace an existing file and create missing folders")
    p.add_argument("--reconcile", action="store_true",
                   help="fetch exact costs of pending/interrupted calls from OpenRouter now")
    args = p.parse_args(argv)
    from ..ledger import LedgerError, current_context, export, group
    from . import _recorder

    book = _recorder.ledger()
    if args.reconcile:
        fixed = book.reconcile(_keyed_client().generation)
        print(f"Reconciled {fixed} call(s) with OpenRouter's exact figures.")
    ctx = current_context()
    scope = args.scope or ("notebook" if ctx.notebook else "session")
    from . import _context

    cell_id = _context.current(shell).cell_id if scope == "cell" else ""
    frame = book.frame(scope, args.since, notebook=ctx.notebook, session_id=ctx.session_id,
                       cell_id=cell_id)
    if args.export:
        try:
            path = export(frame, _export_target(args.export, force=args.force))
        except LedgerError as exc:
            raise EdgeCellError(str(exc)) from None
        except OSError as exc:  # a read-only folder, a full disk
            raise EdgeCellError(f"Could not write {args.export}: {exc.strerror or exc}.") from None
        print(f"Wrote {len(frame)} rows to {path}.")
        return None
    return group(frame, args.by) if args.by else frame


def cmd_fav(shell: Any, argv: list[str]) -> None:
    p = sub_parser("fav", "Favourite models: %edge fav add MODEL | rm MODEL | list")
    p.add_argument("action", choices=("add", "rm", "list"), nargs="?", default="list")
    p.add_argument("model", nargs="?")
    args = p.parse_args(argv)
    if args.action in ("add", "rm") and not args.model:
        raise UsageError(f"%edge fav {args.action}: name the model.")

    def change(prefs: preferences.Preferences) -> None:  # on the file as it is now, locked
        if args.action == "add" and args.model not in prefs.favourites:
            prefs.favourites = [*prefs.favourites, args.model]
        elif args.action == "rm":
            if args.model not in prefs.favourites:
                raise EdgeCellError(f"{args.model!r} is not a favourite.")
            prefs.favourites = [f for f in prefs.favourites if f != args.model]

    favs = (preferences.edit(change) if args.action != "list" else preferences.load()).favourites
    print("Favourites: " + (", ".join(favs) if favs else "none"))


def cmd_receipt(shell: Any, argv: list[str]) -> Any:
    p = sub_parser("receipt", "Total the receipts a notebook carries in its outputs, or price a re-run.")
    p.add_argument("path", nargs="?", help="a notebook file (default: the open notebook, as last saved)")
    p.add_argument("--by", choices=("model", "cell"), default="model")
    p.add_argument("--estimate", action="store_true",
                   help="what Run All would cost now: recorded tokens at today's prices, "
                        "never-run cells at their worst case")
    args = p.parse_args(argv)
    import os

    from .. import receipts

    path = args.path or os.environ.get("JPY_SESSION_NAME", "")
    if not path or not os.path.isfile(path):
        raise EdgeCellError("No notebook file to read: pass its PATH (the open notebook is known "
                            "only when the kernel runs under a Jupyter server).")
    try:
        notebook = receipts.read_notebook(path)
    except receipts.ReceiptError as exc:  # names the file and the problem already
        raise EdgeCellError(str(exc)) from None
    except OSError as exc:
        raise EdgeCellError(f"Could not read {path}: {exc.strerror or exc}.") from None
    if not args.path:
        print(f"Receipts of {os.path.basename(path)} as last saved (save first to include new outputs).")
    if args.estimate:
        models = {m.id: m for m in _public_client().models()}
        table = receipts.estimate_run_all(notebook, models, preferences.load().default_model)
        total = float(table["estimate_usd"].dropna().sum())
        print(f"Run All would cost about {short_usd(total)} at today's prices "
              f"(recorded so far: {exact_usd(float(table['recorded_usd'].dropna().sum()))}).")
        return table
    return receipts.totals(receipts.collect(notebook), args.by)


def cmd_advise(shell: Any, argv: list[str]) -> Any:
    p = sub_parser("advise", "What this notebook's calls would have cost on your favourites and on "
                   "cheaper models (same token counts × their prices: an estimate, tokenizers differ).")
    p.add_argument("--all", action="store_true", help="use the whole ledger, not just this notebook")
    p.add_argument("--top", type=COUNT.argtype(), default=5,
                   help="how many of the cheapest models to add")
    args = p.parse_args(argv)
    import pandas as pd

    from ..ledger import current_context
    from . import _recorder

    ctx = current_context()
    book = _recorder.ledger()
    df = book.frame("all") if args.all else book.frame(
        "notebook" if ctx.notebook else "session", notebook=ctx.notebook, session_id=ctx.session_id)
    df = df[df["status"].isin(["ok", "interrupted", "stopped_budget"])]
    if df.empty:
        raise EdgeCellError("No calls to learn from yet: run some %%edge cells first.")
    models = {m.id: m for m in _public_client().models()}
    prompt, completion = int(df["prompt_tokens"].sum()), int(df["completion_tokens"].sum())
    actual = float(df["cost_usd"].fillna(0).sum())
    used = list(dict.fromkeys(df["model"]))
    # A variable or unknown price cannot be compared: such models are skipped, not ranked first.
    cheapest = sorted((m for m in models.values() if m.pricing.known and not m.pricing.is_free),
                      key=lambda m: m.pricing.prompt * prompt + m.pricing.completion * completion)  # type: ignore[operator]
    candidates = list(dict.fromkeys(used + preferences.load().favourites
                                    + [m.id for m in cheapest[: args.top]]))
    rows = []
    for model_id in candidates:
        info = models.get(model_id)
        if info is None or not info.pricing.known:
            continue
        cost = prompt * info.pricing.prompt + completion * info.pricing.completion + len(df) * info.pricing.request
        rows.append({"model": model_id, "would_cost_usd": cost, "vs_actual": cost / actual if actual else None,
                     "used": model_id in used, "favourite": model_id in preferences.load().favourites,
                     "context_length": info.context_length})
    print(f"{len(df)} calls · {prompt:,} prompt + {completion:,} completion tokens · actual {exact_usd(actual)}")
    return pd.DataFrame(rows).sort_values("would_cost_usd", ignore_index=True)


def cmd_route(shell: Any, argv: list[str]) -> None:
    p = sub_parser("route", "Default provider routing for every call (a cell's own flags win).\n"
                   "  %edge route                                  show the defaults\n"
                   "  %edge route --only amazon-bedrock,azure --no-fallbacks --data-collection deny\n"
                   "  %edge route --reset                          remove them")
    from .. import routing

    routing.add_route_arguments(p, cell=False)
    p.add_argument("--reset", action="store_true", help="remove every routing default")
    args = p.parse_args(argv)
    try:
        if args.reset:
            preferences.update(route={})
        else:
            change = routing.route_from_args(args)
            if change.to_json():
                routing.save_defaults(change, over_saved=True)
        current = routing.load_defaults()
    except routing.RoutingError as exc:
        raise EdgeCellError(str(exc)) from None
    flags = current.flags()
    _display_table([("routing", current.describe()), ("as flags", flags or "—")], "Routing defaults")


def cmd_participants(shell: Any, argv: list[str]) -> Any:
    p = sub_parser("participants", "Named sets of models with their own options, for `%%edge -p NAME`.\n"
                   '  %edge participants save NAME "MODEL key=value ..." ...\n'
                   "  %edge participants list | show NAME | rm NAME")
    p.add_argument("action", choices=("list", "save", "show", "rm"), nargs="?", default="list")
    p.add_argument("name", nargs="?")
    p.add_argument("specs", nargs="*", help='participant specs, e.g. "openai/gpt-4o-mini temperature=0.2"')
    args = p.parse_args(argv)
    from .. import participants

    try:
        if args.action == "save":
            if not args.name or not args.specs:
                raise UsageError('%edge participants save: give a NAME and at least one "MODEL options" spec.')
            parts = participants.save_set(args.name, args.specs)
            print(f"Saved {args.name!r}: " + "; ".join(x.spec() for x in parts))
            return None
        if args.action == "rm":
            if not args.name:
                raise UsageError("%edge participants rm: name the set.")
            participants.delete_set(args.name)
            print(f"Removed {args.name!r}.")
            return None
        sets = participants.list_sets()
        if args.action == "show":
            sets = {args.name: participants.load_set(args.name or "")}
    except participants.ParticipantError as exc:
        raise EdgeCellError(str(exc)) from None
    import pandas as pd

    rows = [{"set": name, "model": part.model, "options": part.label()}
            for name, specs in sets.items() for part in participants.parse_participants(specs)]
    return pd.DataFrame(rows, columns=["set", "model", "options"])


def cmd_panel(shell: Any, argv: list[str]) -> None:
    from ..panel import show_panel

    show_panel(argv)


def cmd_cache(shell: Any, argv: list[str]) -> None:
    p = sub_parser("cache", "The replay store of --replay: %edge cache [info|clear]")
    p.add_argument("action", choices=("info", "clear"), nargs="?", default="info")
    args = p.parse_args(argv)
    from .. import replay

    if args.action == "clear":
        print(f"Removed {replay.clear()} stored answer(s).")
    else:
        print(f"{replay.count()} stored answer(s) for --replay.")


COMMANDS: dict[str, tuple[Command, str]] = {
    "use": (cmd_use, "set or show the default model"),
    "models": (cmd_models, "list models with prices (a DataFrame)"),
    "chats": (cmd_chats, "list named conversations"),
    "history": (cmd_history, "show a conversation"),
    "forget": (cmd_forget, "delete a conversation"),
    "status": (cmd_status, "connection, key source, origin, defaults"),
    "connect": (cmd_connect, "connect your OpenRouter account (OAuth)"),
    "disconnect": (cmd_disconnect, "remove the stored key (chats and ledger stay)"),
    "balance": (cmd_balance, "what you can still spend, and what you spent"),
    "alert": (cmd_alert, "low-balance alert threshold"),
    "budget": (cmd_budget, "local spending limits"),
    "usage": (cmd_usage, "the usage ledger, grouped or exported"),
    "fav": (cmd_fav, "favourite models"),
    "panel": (cmd_panel, "the edge panel: balance, models, usage (--sidebar for JupyterLab)"),
    "cache": (cmd_cache, "the replay store: info, clear"),
    "route": (cmd_route, "default provider routing (only, ignore, no fallbacks, data policy…)"),
    "participants": (cmd_participants, "named sets of models with options, for %%edge -p"),
    "receipt": (cmd_receipt, "the bill a notebook carries; --estimate prices a Run All"),
    "advise": (cmd_advise, "what your calls would cost on other models"),
}


def help_text() -> str:
    lines = ["%edge SUBCOMMAND [--help]", ""]
    lines += [f"  {name:<11} {summary}" for name, (_, summary) in COMMANDS.items()]
    lines += ["", "%%edge [-m MODEL]... [--chat NAME] [-s SYSTEM] [-t T] [--max-tokens N]",
              "       [-f markdown|text|code|json] [-o VAR] [--budget USD] [--no-stream]",
              "  prompt with {python_expression} interpolation   (%%edge --help for details)"]
    return "\n".join(lines)
