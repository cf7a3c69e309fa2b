"""``--confirm-tools``: ask the person before each call, and know when nobody can answer.

In a kernel, ``input()`` is ipykernel's ``raw_input`` while a cell runs: it sends an
``input_request`` to the frontend, which shows a text box — but only when the frontend said
it can answer (the execute request's ``allow_stdin``; ipykernel keeps it as
``kernel._allow_stdin`` for the running cell).  ``nbconvert --execute``, papermill and most
headless runners say no, and ``input()`` would raise there; so :func:`can_confirm` is asked
first, and a caller refuses ``--confirm-tools`` with a clear line instead.  Outside a kernel
(the CLI, a script) someone can answer when stdin is a terminal.

IPython is not imported here: a kernel is only looked for when IPython is loaded already.
"""

from __future__ import annotations

import builtins
import json
import sys
from typing import Any

from ._run import CONFIRM_CHARS, call_text

#: answers that mean yes (anything else, an empty line included, is no: the safe side)
YES = ("y", "yes")


def can_confirm() -> bool:
    """Whether someone can answer :func:`confirm_call` now: a kernel whose frontend allows
    stdin for this cell, or a terminal."""
    kernel = _kernel()
    if kernel is not None:
        return bool(getattr(kernel, "_allow_stdin", False))
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (AttributeError, ValueError):  # replaced by an object without isatty, or closed
        return False


def confirm_call(name: str, arguments_text: str) -> bool:
    """Ask "Run get_weather(city='Paris')? [y/N] "; true only for y/yes.  No answer possible
    (stdin refused, closed) is a no.  An interrupt while asking propagates (the loop stops)."""
    try:
        parsed: Any = json.loads(arguments_text) if arguments_text.strip() else {}
    except ValueError:
        parsed = None
    arguments = parsed if isinstance(parsed, dict) else None
    prompt = f"Run {call_text(name, arguments, arguments_text, cap=CONFIRM_CHARS)}? [y/N] "
    try:
        answer = builtins.input(prompt)  # ipykernel's raw_input in a kernel (its frontend asks)
    except (EOFError, NotImplementedError):  # IPython's StdinNotImplementedError included
        return False
    return answer.strip().lower() in YES


def _kernel() -> Any:
    """The running ipykernel, or None (a terminal IPython has a shell but no kernel)."""
    if "IPython" not in sys.modules:
        return None
    from IPython import get_ipython

    return getattr(get_ipython(), "kernel", None)
