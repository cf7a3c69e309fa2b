"""``edge-jupyter hub usage`` and ``edge-jupyter hub set-limit``: the admin's two commands.

Both read OpenRouter's ``GET /keys`` (the source of truth: what each key spent and what
is left is what OpenRouter enforces), find the hub's keys by name (:mod:`._names`) and
need no access to the hub's store.  The provisioning key comes from
``EDGE_PROVISIONING_KEY`` or ``--key-file``; the hub's name from ``--hub-name`` or
``EDGE_HUB_NAME``.  Exit status: 0 done, 1 refused or failed (one line on stderr saying
what to do), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

from ..money import short_left_usd, short_usd
from ._edge_keys import ENV_HUB_NAME, ENV_OPENROUTER_URL, RESETS, read_provisioning_key
from ._errors import HubError
from ._names import check_hub_name, key_name, user_of
from ._provision import explain

if TYPE_CHECKING:
    from ..openrouter import ApiKey, OpenRouterClient

COLUMNS = ("user", "spent", "limit", "left", "resets", "state")


def _limit_arg(text: str) -> float | None:
    """``USD`` (the one USD parser) or ``none`` for no limit."""
    from ..user_numbers import USD

    if text.strip().lower() in ("none", "no", "unlimited"):
        return None
    return float(USD.argtype()(text))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edge-jupyter hub",
        description="Each JupyterHub user's OpenRouter key (made by edge_jupyter.hub.EdgeKeys): "
                    "what it spent, what is left, its limit.")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--hub-name", default=os.environ.get(ENV_HUB_NAME),
                        help=f"the hub_name in jupyterhub_config.py (default: {ENV_HUB_NAME} from the environment)")
    common.add_argument("--key-file", metavar="PATH",
                        help="a file holding the provisioning key (default: EDGE_PROVISIONING_KEY from the environment)")
    sub = parser.add_subparsers(dest="command", required=True)
    usage = sub.add_parser("usage", parents=[common],
                           help="each user's spend, limit and what is left (from GET /keys)")
    usage.add_argument("--all", action="store_true",
                       help="also the disabled keys (removed users, replaced keys)")
    limit = sub.add_parser("set-limit", parents=[common], help="change one user's credit limit")
    limit.add_argument("user")
    limit.add_argument("limit", type=_limit_arg, metavar="USD|none")
    limit.add_argument("--reset", choices=(*RESETS, "never"),
                       help="when the limit resets (00:00 UTC); unchanged when not given")
    return parser


def _client(args: argparse.Namespace) -> OpenRouterClient:
    from ..openrouter import OpenRouterClient

    key = read_provisioning_key(None, args.key_file)
    return OpenRouterClient(key, origin=os.environ.get(ENV_OPENROUTER_URL) or None)


def _hub_keys(client: OpenRouterClient, hub_name: str, include_disabled: bool
              ) -> list[tuple[str, ApiKey]]:
    found = [(user_of(k.name, hub_name), k)
             for k in client.list_keys(include_disabled=include_disabled)]
    return sorted(((u, k) for u, k in found if u is not None),
                  key=lambda pair: (pair[0], pair[1].disabled, pair[1].created_at or ""))


def _left(key: ApiKey) -> str:
    if key.limit is None:
        return "no limit"
    return short_left_usd(key.limit_remaining, key.limit)


def _table(rows: list[tuple[str, ...]], out: TextIO) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        out.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() + "\n")


def usage(args: argparse.Namespace, hub_name: str, out: TextIO) -> int:
    keys = _hub_keys(_client(args), hub_name, include_disabled=args.all)
    if not keys:
        out.write(f"No OpenRouter keys of hub {hub_name!r} yet: a user gets one at their "
                  "first spawn.\n")
        return 0
    rows: list[tuple[str, ...]] = [COLUMNS]
    for user, key in keys:
        rows.append((user, short_usd(key.usage),
                     short_usd(key.limit) if key.limit is not None else "none", _left(key),
                     key.limit_reset or "never", "disabled" if key.disabled else "active"))
    _table(rows, out)
    return 0


def set_limit(args: argparse.Namespace, hub_name: str, out: TextIO) -> int:
    client = _client(args)
    name = key_name(hub_name, args.user)
    keys = [k for u, k in _hub_keys(client, hub_name, include_disabled=True) if u == args.user]
    live = [k for k in keys if not k.disabled]
    if not live:
        if keys:
            raise HubError(f"{args.user}'s OpenRouter key on hub {hub_name!r} is disabled (the "
                           "user was removed, or the key replaced): it cannot be changed; the "
                           "user's next spawn makes a new one.")
        users = sorted({u for u, k in _hub_keys(client, hub_name, include_disabled=False)})
        known = f" Users with keys: {', '.join(users)}." if users else " No user has a key yet."
        raise HubError(f"No OpenRouter key named {name!r}: {args.user!r} has not spawned on hub "
                       f"{hub_name!r} yet (check the name and --hub-name).{known}")
    fields: dict[str, object] = {"limit": args.limit}
    if args.reset is not None:
        fields["limit_reset"] = None if args.reset == "never" else args.reset
    for key in live:
        client.update_key(key.hash, **fields)
    for key in live:  # a fresh read: say what OpenRouter now holds, not what was asked
        now = client.get_key(key.hash)
        wanted_reset = fields.get("limit_reset", now.limit_reset)
        same_limit = (now.limit is None) if args.limit is None else (
            now.limit is not None and math.isclose(now.limit, args.limit, abs_tol=1e-9))
        if not same_limit or now.limit_reset != wanted_reset:
            raise HubError(f"OpenRouter did not confirm the change for {args.user}: it now "
                           f"shows limit {short_usd(now.limit)}, resets "
                           f"{now.limit_reset or 'never'}; run the command again.")
        limit = (f"limit {short_usd(now.limit)}, resets {now.limit_reset or 'never'}, "
                 f"{_left(now)} left" if now.limit is not None else "no limit")
        out.write(f"{args.user}: {limit}, {short_usd(now.usage)} spent (confirmed by "
                  "OpenRouter).\n")
    return 0


def main(argv: Sequence[str], out: TextIO | None = None, err: TextIO | None = None) -> int:
    """``edge-jupyter hub …``; returns the exit status."""
    from ..openrouter import OpenRouterError

    out = out or sys.stdout
    err = err or sys.stderr
    args = _parser().parse_args(list(argv))
    try:
        if not args.hub_name:
            raise HubError(f"Which hub? Pass --hub-name NAME or set {ENV_HUB_NAME} (the hub_name "
                           "given to EdgeKeys in jupyterhub_config.py).")
        hub_name = check_hub_name(args.hub_name)
        if args.command == "usage":
            return usage(args, hub_name, out)
        return set_limit(args, hub_name, out)
    except HubError as exc:
        err.write(f"edge-jupyter hub: {exc}\n")
    except OpenRouterError as exc:
        err.write(f"edge-jupyter hub: {explain(exc)}\n")
    return 1
