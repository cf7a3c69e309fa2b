"""The ``panel`` and the replay store (``cache``)."""

from __future__ import annotations

from typing import Any

from .._args import sub_parser


def cmd_panel(shell: Any, argv: list[str]) -> None:
    from ...panel import show_panel

    show_panel(argv)


def cmd_cache(shell: Any, argv: list[str]) -> None:
    p = sub_parser("cache", "The replay store of --replay: %edge cache [info|clear]")
    p.add_argument("action", choices=("info", "clear"), nargs="?", default="info")
    args = p.parse_args(argv)
    from ... import replay

    if args.action == "clear":
        print(f"Removed {replay.clear()} stored answer(s).")
    else:
        print(f"{replay.count()} stored answer(s) for --replay.")
