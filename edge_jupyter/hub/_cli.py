"""``edge-jupyter hub usage|set-limit|forget``: the admin's commands.

``usage`` and ``set-limit`` read OpenRouter's ``GET /keys`` (the source of truth: what
each key spent and what is left is what OpenRouter enforces), find the hub's keys by name
(:mod:`._names`) and need no access to the hub's store.  ``forget USER`` works on the
store (``--store`` or ``EDGE_HUB_STORE``): it disables the user's key on OpenRouter by its
stored hash and drops the row, so the user's next spawn makes a new key (a key disabled
on the website, a row that cannot be decrypted, a user removed behind the hub's back).  The provisioning key comes from
``EDGE_PROVISIONING_KEY`` or ``--key-file``; the hub's name from ``--hub-name`` or
``EDGE_HUB_NAME``.  Exit status: 0 done, 1 refused or failed (one line on stderr saying
what to do), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import shlex
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

from ..money import short_left_usd, short_usd
from ._edge_keys import ENV_HUB_NAME, ENV_OPENROUTER_URL, RESETS, read_provisioning_key
from ._errors import HubError
from ._names import check_hub_name, key_name, user_of
from ._provision import explain, retire

if TYPE_CHECKING:
    from ..openrouter import ApiKey, OpenRouterClient

COLUMNS = ("user", "spent", "limit", "left", "resets", "state")
ENV_HUB_STORE = "EDGE_HUB_STORE"


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
                           help="each user's spend, limit and what is left (from GET /keys)",
                           description="Each user's spend, limit, what is left and when it "
                                       "resets, read from OpenRouter's GET /keys.")
    usage.add_argument("--all", action="store_true",
                       help="also the disabled keys (removed users, replaced keys)")
    limit = sub.add_parser("set-limit", parents=[common], help="change one user's credit limit",
                           description="Change one user's credit limit on OpenRouter, confirmed "
                                       "by a fresh read of the key.")
    limit.add_argument("user", help="the JupyterHub user name")
    limit.add_argument("limit", type=_limit_arg, metavar="USD|none",
                       help="the new limit in USD (e.g. 10 or $10), or none for no limit")
    limit.add_argument("--reset", choices=(*RESETS, "never"),
                       help="when the limit resets (00:00 UTC); unchanged when not given")
    forget = sub.add_parser("forget", parents=[common],
                            help="disable one user's key on OpenRouter and drop it from the "
                                 "hub's store: their next spawn makes a new key",
                            description="Disable one user's key on OpenRouter (by its hash) and "
                                        "drop it from the hub's store, so that their next spawn "
                                        "makes a new key. Run it while their server is stopped.")
    forget.add_argument("user", help="the JupyterHub user name")
    forget.add_argument("--store", metavar="PATH", default=os.environ.get(ENV_HUB_STORE),
                        help=f"the hub's key store, store_path in jupyterhub_config.py "
                             f"(default: {ENV_HUB_STORE} from the environment)")
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
                           "user was removed, or the key disabled or replaced): it cannot be "
                           "changed. To give the user a new key, run `edge-jupyter hub forget "
                           f"{shlex.quote(args.user)}` on the hub; their next spawn makes one.")
        users = sorted({u for u, k in _hub_keys(client, hub_name, include_disabled=False)})
        known = f" Users with keys: {', '.join(users)}." if users else " No user has a key yet."
        raise HubError(f"No OpenRouter key named {name!r}: {args.user!r} has not spawned on hub "
                       f"{hub_name!r} yet (check the name and --hub-name).{known}")
    if len(live) > 1:  # one name, two working keys: changing both would change another's
        labels = " and ".join(f"{k.label or k.hash[:12]!r}" for k in live)
        raise HubError(f"{args.user} has {len(live)} working OpenRouter keys on hub "
                       f"{hub_name!r} ({labels}); one may be another user's (a second hub "
                       "with this hub name, or a renamed user's key not renamed yet), so none "
                       "was changed: disable the one that is not theirs at "
                       "https://openrouter.ai/settings/keys, then run this again.")
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


def forget(args: argparse.Namespace, out: TextIO) -> int:
    from pathlib import Path

    from ._store import HubKeyStore

    if not args.store:
        raise HubError(f"Which store? Pass --store PATH or set {ENV_HUB_STORE} (the store_path "
                       "given to EdgeKeys in jupyterhub_config.py).")
    path = Path(args.store).expanduser()
    if not path.is_file():
        raise HubError(f"No hub key store at {path}: pass the store_path of jupyterhub_config.py "
                       "as --store.")
    store = HubKeyStore(path, cipher=None)  # the hash is enough: no key is decrypted
    rows = store.named(args.user)
    if not rows:
        users = store.usernames()
        known = f" Users in it: {', '.join(users)}." if users else " It is empty."
        raise HubError(f"{args.user!r} has no row in the hub's key store {path}.{known}")
    client = _client(args)
    for row in rows:
        done = retire(row, store=store, client=client, log=_quiet_log())
        what = ("disabled on OpenRouter" if done else
                "already disabled or deleted on OpenRouter" if row.state == "active" else
                "no lost key left on OpenRouter")
        out.write(f"{args.user}: the key {row.name!r} is {what} and forgotten by the hub; "
                  "their next spawn makes a new key.\n")
    return 0


def _quiet_log() -> logging.Logger:
    return logging.getLogger("edge_jupyter.hub.cli")


def main(argv: Sequence[str], out: TextIO | None = None, err: TextIO | None = None) -> int:
    """``edge-jupyter hub …``; returns the exit status."""
    from ..openrouter import OpenRouterError

    out = out or sys.stdout
    err = err or sys.stderr
    args = _parser().parse_args(list(argv))
    try:
        if args.command == "forget":  # the store names the key: no hub name needed
            return forget(args, out)
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
