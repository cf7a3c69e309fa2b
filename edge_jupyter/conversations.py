"""Named conversations that continue across cells and kernel restarts.

One JSON file per conversation under ``EDGE_DATA_DIR/chats``.  A turn is keyed by
the cell that made it (the frontend's cell id), so re-running that cell replaces
its turn instead of appending a duplicate, and an earlier cell re-run sees only
the turns before it.  Several models in one cell each keep their own answer, so
each model continues its own thread.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .storage import data_dir, read_json, write_json_atomic

_NAME = re.compile(r"^[\w.-]{1,64}$")


class ConversationError(Exception):
    pass


@dataclass
class Turn:
    key: str
    prompt: str
    answers: dict[str, str] = field(default_factory=dict)
    timestamp: float = field(default_factory=time.time)

    def answer_for(self, model: str) -> str:
        if model in self.answers:
            return self.answers[model]
        return next(iter(self.answers.values()), "")


@dataclass
class Conversation:
    name: str
    system: str | None = None
    turns: list[Turn] = field(default_factory=list)

    def _index(self, key: str) -> int | None:
        for i, turn in enumerate(self.turns):
            if turn.key == key:
                return i
        return None

    def messages_for(self, model: str, prompt: str, key: str, system: str | None = None
                     ) -> list[dict[str, str]]:
        """The messages to send: history before this cell's turn, then the new prompt."""
        index = self._index(key)
        history = self.turns if index is None else self.turns[:index]
        messages: list[dict[str, str]] = []
        system = system if system is not None else self.system
        if system:
            messages.append({"role": "system", "content": system})
        for turn in history:
            messages.append({"role": "user", "content": turn.prompt})
            messages.append({"role": "assistant", "content": turn.answer_for(model)})
        messages.append({"role": "user", "content": prompt})
        return messages

    def record(self, key: str, prompt: str, answers: dict[str, str], system: str | None = None) -> None:
        """Add this cell's turn, or replace it when the cell ran before."""
        if system is not None:
            self.system = system
        turn = Turn(key=key, prompt=prompt, answers=dict(answers))
        index = self._index(key)
        if index is None:
            self.turns.append(turn)
        else:
            self.turns[index] = turn


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise ConversationError(
            f"Conversation name {name!r} is not allowed: use up to 64 letters, digits, '-', '_' or '.'.")
    return name


def _folder() -> Path:
    return data_dir() / "chats"


def _path(name: str) -> Path:
    return _folder() / f"{check_name(name)}.json"


def load(name: str) -> Conversation:
    raw: dict[str, Any] = read_json(_path(name), {})
    turns = [Turn(**t) for t in raw.get("turns", []) if isinstance(t, dict)]
    return Conversation(name=name, system=raw.get("system"), turns=turns)


def save(conversation: Conversation) -> None:
    write_json_atomic(_path(conversation.name), {
        "name": conversation.name,
        "system": conversation.system,
        "turns": [asdict(t) for t in conversation.turns],
    })


def names() -> list[str]:
    folder = _folder()
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.json") if _NAME.match(p.stem))


def forget(name: str) -> bool:
    try:
        _path(name).unlink()
    except FileNotFoundError:
        return False
    return True
