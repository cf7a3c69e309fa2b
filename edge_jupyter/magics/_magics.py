"""The thin ``Magics`` class: parse, dispatch, and turn failures into one clear line."""

from __future__ import annotations

from typing import Any

from IPython.core.magic import Magics, line_cell_magic, magics_class
from traitlets import Bool

from ..errors import EdgeError
from ..storage import DataError
from ._args import HelpRequested, UsageError, split_line
from ._errors import EdgeCellError


@magics_class
class EdgeMagics(Magics):
    """``%%edge`` asks models; ``%edge SUBCOMMAND`` manages models, chats, money and the account."""

    replay = Bool(False, help="Answer unchanged cells from the replay store, for $0 "
                  "(`%config EdgeMagics.replay = True`); `--fresh` asks again.").tag(config=True)
    openrouter_cache = Bool(False, help="Send every cell with OpenRouter's response-cache "
                            "header, as `--or-cache` does (`%config EdgeMagics.openrouter_cache "
                            "= True`): a repeat OpenRouter answers from its cache costs $0."
                            ).tag(config=True)

    @line_cell_magic
    def edge(self, line: str, cell: str | None = None) -> Any:
        try:
            if cell is None:
                return self._line(line)
            from ._cell import run_cell

            run_cell(self.shell, line, cell, replay_default=self.replay,
                     or_cache_default=self.openrouter_cache)
            return None
        except HelpRequested as exc:
            print(exc.text)
        except EdgeCellError:
            raise  # already the cell's one line (or "details above"): shown by its own renderer
        except EdgeError as exc:
            # The one place any error of the tree (bad flags, OpenRouter, budget, ledger,
            # data files, routing, chats, …) becomes the cell's one line, without a traceback.
            raise EdgeCellError(str(exc)) from None
        return None

    def _line(self, line: str) -> Any:
        from .commands import COMMANDS, help_text

        argv = split_line(line)
        if not argv or argv[0] in ("help", "-h", "--help"):
            print(help_text())
            return None
        name, rest = argv[0], argv[1:]
        _warn_of_damaged_preferences()
        if name not in COMMANDS:
            import difflib

            close = difflib.get_close_matches(name, COMMANDS, n=1)
            hint = f" Did you mean `%edge {close[0]}`?" if close else ""
            raise UsageError(f"%edge: unknown subcommand {name!r}.{hint} `%edge help` lists them.")
        return COMMANDS[name][0](self.shell, rest)


def _warn_of_damaged_preferences() -> None:
    """Show (once, in any kernel) that the preferences were damaged and reset to defaults.

    A spending cell refuses instead (``preferences.load_for_spending``); a line command
    only warns.  A preferences file that cannot be read at all is left to the command.
    """
    from .. import preferences
    from ._render import show_warning

    try:
        message = preferences.take_unseen_damage()
    except DataError:
        return
    if message:
        show_warning(message)
