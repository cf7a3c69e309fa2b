"""A listener of the call engine for terminals: ``edge-jupyter ask``, and the Python API's
``stream=True`` outside a kernel."""

from __future__ import annotations

import sys
from typing import TextIO

from . import calls
from .untrusted_text import strip_controls


class TerminalView:
    """The text on stdout as it comes, control characters removed (an OSC 52 or CSI sequence
    in an answer would write the clipboard or rewrite the screen); several models each
    printed whole when done; a reasoning model's reasoning dim above its answer. ``warnings`` (e.g. ``sys.stderr``): where a low balance is said,
    and what a call sends besides its text ("sending 1 image · ~12 text tokens · at most $0.01")."""

    def __init__(self, *, warnings: TextIO | None = None, show_reasoning: bool = True) -> None:
        self.warnings = warnings
        #: a reasoning model's thinking, dim (SGR 2) above its answer; False: not shown
        self.show_reasoning = show_reasoning
        self._reasoned = False  # reasoning was printed and the answer has not started
        self.models: tuple[str, ...] = ()
        self.parts: dict[int, list[str]] = {}
        self._ends_line = True

    def __call__(self, event: calls.Event) -> None:
        if isinstance(event, calls.Began):
            self.models = event.models
            for message in event.warnings if self.warnings is not None else ():
                print(strip_controls(f"warning: {message}"), file=self.warnings)
            for model, sending in zip(event.models, event.sending, strict=False):
                if sending and self.warnings is not None:  # what goes besides the text, priced
                    who = f"{model}: " if len(event.models) > 1 else ""
                    print(strip_controls(f"{who}sending {sending}"), file=self.warnings)
        elif isinstance(event, calls.Reasoning):
            if len(self.models) == 1 and self.show_reasoning:
                shown = strip_controls(event.text)
                if shown:
                    sys.stdout.write(f"\x1b[2m{shown}\x1b[0m")
                    sys.stdout.flush()
                    self._ends_line = shown.endswith("\n")
                    self._reasoned = True
        elif isinstance(event, calls.Text):
            if len(self.models) == 1:
                if self._reasoned:  # the answer under the reasoning, a blank line between
                    self._reasoned = False
                    self._write("\n" if self._ends_line else "\n\n")
                self._write(strip_controls(event.text))
            else:
                self.parts.setdefault(event.index, []).append(event.text)
        elif isinstance(event, calls.Ended) and len(self.models) > 1:
            text = strip_controls("".join(self.parts.pop(event.index, [])))
            self._write(f"== {strip_controls(self.models[event.index])}\n{text}\n")

    def _write(self, text: str) -> None:
        if text:
            sys.stdout.write(text)
            sys.stdout.flush()
            self._ends_line = text.endswith("\n")

    def end(self) -> None:
        if not self._ends_line:
            self._write("\n")
