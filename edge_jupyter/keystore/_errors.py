"""The key store's errors: what happened (``summary``) apart from what to do (``steps``).

::

    EdgeError                  (edge_jupyter.errors)
    └── KeyStoreError          something went wrong with the store (message: what + what to do)
        ├── NoSecureStore      no secure OS keyring (and no opt-in file store)
        └── KeyringLocked      the OS keyring exists but is locked

No message ever carries the key: the stores scrub a backend's own text before it
reaches one of these.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import EdgeError

if TYPE_CHECKING:
    from collections.abc import Sequence


class KeyStoreError(EdgeError):
    """The key store failed; the message says what happened and what to do.

    ``summary`` is what happened and ``steps`` the options, kept apart so that a
    page can show them as a list; ``str()`` joins them into one paragraph.
    """

    def __init__(self, summary: str, steps: Sequence[str] = ()) -> None:
        self.summary = summary
        self.steps = list(steps)
        super().__init__(self.__str__())

    def __str__(self) -> str:
        if not self.steps:
            return self.summary
        if len(self.steps) == 1:
            return f"{self.summary} {self.steps[0]}"
        options = "; ".join(f"({chr(ord('a') + i)}) {step}" for i, step in enumerate(self.steps))
        return f"{self.summary} Do one of these, then connect again: {options}."


class NoSecureStore(KeyStoreError):
    """No secure OS keyring is available and the file store was not chosen."""


class KeyringLocked(KeyStoreError):
    """The OS keyring is there but locked."""
