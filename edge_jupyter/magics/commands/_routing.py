"""Where calls go: the ``route`` defaults and the named ``participants`` sets."""

from __future__ import annotations

from typing import Any

from ... import preferences
from .._args import UsageError, sub_parser
from ._shared import display_table


def cmd_route(shell: Any, argv: list[str]) -> None:
    p = sub_parser("route", "Default provider routing for every call (a cell's own flags win).\n"
                   "  %edge route                                  show the defaults\n"
                   "  %edge route --only amazon-bedrock,azure --no-fallbacks --data-collection deny\n"
                   "  %edge route --reset                          remove them")
    from ... import routing

    routing.add_route_arguments(p, cell=False)
    p.add_argument("--reset", action="store_true", help="remove every routing default")
    args = p.parse_args(argv)
    if args.reset:
        preferences.update(route={})
    else:
        change = routing.route_from_args(args)
        if change.to_json():
            routing.save_defaults(change, over_saved=True)
    current = routing.load_defaults()
    flags = current.flags()
    display_table([("routing", current.describe()), ("as flags", flags or "—")], "Routing defaults")


def cmd_participants(shell: Any, argv: list[str]) -> Any:
    p = sub_parser("participants", "Named sets of models with their own options, for `%%edge -p NAME`.\n"
                   '  %edge participants save NAME "MODEL key=value ..." ...\n'
                   "  %edge participants list | show NAME | rm NAME")
    p.add_argument("action", choices=("list", "save", "show", "rm"), nargs="?", default="list")
    p.add_argument("name", nargs="?")
    p.add_argument("specs", nargs="*", help='participant specs, e.g. "openai/gpt-4o-mini temperature=0.2"')
    args = p.parse_args(argv)
    from ... import participants

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
    import pandas as pd

    rows = [{"set": name, "model": part.model, "options": part.label()}
            for name, specs in sets.items() for part in participants.parse_participants(specs)]
    return pd.DataFrame(rows, columns=["set", "model", "options"])
