"""Named conversations: ``chats`` lists them, ``history`` shows one, ``forget`` deletes one."""

from __future__ import annotations

from typing import Any

from ... import conversations
from .._args import sub_parser
from .._errors import EdgeCellError
from .._render import show_warning


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

    conv = conversations.load(conversations.check_name(args.name))
    if not conv.turns:
        raise EdgeCellError(f"No conversation named {args.name!r} (`%edge chats` lists them).")
    from .._render import transcript_bundle

    parts = [("system", conv.system)] if conv.system else []
    for i, turn in enumerate(conv.turns, 1):
        attached = turn.attached()  # described from the turn itself: the store is not read
        prompt = turn.prompt + (("\n\n(attached: " + ", ".join(attached) + ")") if attached else "")
        parts.append((f"{i}. you", prompt))
        parts.extend(turn.answers.items())
    display(transcript_bundle(parts), raw=True)  # answers are untrusted: rendered safely


def cmd_forget(shell: Any, argv: list[str]) -> None:
    p = sub_parser("forget", "Delete a named conversation (the usage ledger keeps its rows).")
    p.add_argument("name")
    args = p.parse_args(argv)
    gone = conversations.forget(args.name)
    print(f"Forgot {args.name!r}." if gone else f"No conversation named {args.name!r}.")
