"""The ``%edge`` subcommands, one module per family; each command has its own parser and ``--help``.

* ``_models``   -- ``use``, ``models`` (and :func:`models_frame`, the catalogue), ``fav``, ``advise``
* ``_chats``    -- ``chats``, ``history``, ``forget``
* ``_account``  -- ``status``, ``connect``, ``disconnect``, ``balance``, ``limit``
* ``_activity`` -- ``activity`` (OpenRouter's ``/activity`` beside the ledger)
* ``_money``    -- ``alert``, ``budget``, ``usage``, ``savings``, ``receipt``
* ``_routing``  -- ``route``, ``participants``
* ``_tools``    -- ``panel``, ``cache``
* ``_shared``   -- the two-column table and the clients the families share

:data:`COMMANDS` maps each name to its function and the summary ``%edge help`` prints.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._account import cmd_balance, cmd_connect, cmd_disconnect, cmd_limit, cmd_status
from ._activity import cmd_activity
from ._chats import cmd_chats, cmd_forget, cmd_history
from ._models import cmd_advise, cmd_fav, cmd_models, cmd_use, models_frame
from ._money import cmd_alert, cmd_budget, cmd_receipt, cmd_savings, cmd_usage
from ._routing import cmd_participants, cmd_route
from ._tools import cmd_cache, cmd_panel

__all__ = ["COMMANDS", "Command", "help_text", "models_frame"]

Command = Callable[[Any, list[str]], Any]


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
    "limit": (cmd_limit, "the key's credit limit on OpenRouter: show or change it"),
    "activity": (cmd_activity, "what OpenRouter billed the account, beside this ledger"),
    "alert": (cmd_alert, "low-balance alert threshold"),
    "budget": (cmd_budget, "local spending limits"),
    "usage": (cmd_usage, "the usage ledger, grouped or exported"),
    "savings": (cmd_savings, "what replay, caches, batch and flex saved, per model and kind"),
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
