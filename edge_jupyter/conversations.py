"""Named conversations that continue across cells and kernel restarts.

One JSON file per conversation under ``EDGE_DATA_DIR/chats``.  A turn is keyed by
the execution that made it: in JupyterLab/Notebook 7 by the frontend's cell id, so
re-running that cell replaces its turn instead of appending a duplicate, and an earlier
cell re-run sees only the turns before it; without a cell id (nbclient, consoles,
terminal IPython) by a new id per execution, so a repeated prompt ("go on") is a new
turn.  Several models in one cell each keep their own answer, so each model continues
its own thread.

A turn is saved by :func:`record_turn`: a locked read-modify-write that merges the turn
into the file as it is on disk then, so two kernels writing one chat keep both turns.
A file that is not valid JSON or has the wrong shape is kept aside under a unique name
and removed, and the cell fails with that message rather than paying for an answer
without the context the user expected (``storage.py`` has the design).
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import EdgeError
from .storage import (
    DamagedFile,
    DataError,
    DataFileError,
    data_dir,
    load_json,
    read_json,
    update_json,
)
from .user_numbers import finite

#: A letter, digit or '_' first (no '.', '..' or hidden files), then letters, digits, '_', '.'
#: or '-'; matched whole (``$`` would let a trailing newline through).
_NAME = re.compile(r"\w[\w.-]{0,63}")
NAME_RULE = ("up to 64 letters, digits, '_', '.' or '-', starting with a letter, digit or '_' "
             "(no spaces, slashes or control characters)")


class ConversationError(EdgeError):
    """A conversation (``--chat NAME``) that cannot be used; the message says why."""


@dataclass
class Turn:
    key: str
    prompt: str
    answers: dict[str, str] = field(default_factory=dict)
    timestamp: float = field(default_factory=time.time)
    #: Keys a newer version wrote into the turn: not used here, written back unchanged.
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

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
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ConversationError(f"Conversation name {name!r} is not allowed: use {NAME_RULE}, "
                                "e.g. trip-2026.")
    return name


def _folder() -> Path:
    return data_dir() / "chats"


def _path(name: str) -> Path:
    return _folder() / f"{check_name(name)}.json"


def _is_turn(t: Any) -> bool:
    return (isinstance(t, dict) and isinstance(t.get("key"), str) and isinstance(t.get("prompt"), str)
            and isinstance(t.get("answers", {}), dict)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in t.get("answers", {}).items())
            and finite(t.get("timestamp", 0.0)) is not None)  # other keys: a newer version's


def _problem(raw: Any) -> str | None:
    if not isinstance(raw, dict):
        return f"a JSON object was expected, not {type(raw).__name__}"
    if raw.get("system") is not None and not isinstance(raw["system"], str):
        return "'system' should be text"
    turns = raw.get("turns", [])
    if not isinstance(turns, list):
        return "'turns' should be a list"
    for i, turn in enumerate(turns, 1):
        if not _is_turn(turn):
            return f"turn {i} is not a turn (key, prompt, answers, timestamp)"
    return None


def _damaged(name: str, damage: DamagedFile, *, saved: bool = False) -> ConversationError:
    then = ("this cell's turn starts it afresh" if saved else
            "run the cell again to start the conversation afresh")
    return ConversationError(f"Conversation {name!r}: {damage}; {then}, or restore the turns "
                             "from the kept copy.")


_TURN_KEYS = ("key", "prompt", "answers", "timestamp")


def _turn(raw: dict[str, Any]) -> Turn:
    return Turn(**{k: raw[k] for k in _TURN_KEYS if k in raw},
                extra={k: v for k, v in raw.items() if k not in _TURN_KEYS})


def _from_raw(name: str, raw: dict[str, Any]) -> Conversation:
    return Conversation(name=name, system=raw.get("system"),
                        turns=[_turn(t) for t in raw.get("turns", [])])


def _to_raw(conversation: Conversation, kept: dict[str, Any] | None = None) -> dict[str, Any]:
    """The file's content; ``kept``: the file as read, whose unknown keys are written back."""
    turns = []
    for t in conversation.turns:
        fields = asdict(t)
        turns.append({**fields.pop("extra"), **fields})
    known = {"name", "system", "turns"}
    return {**{k: v for k, v in (kept or {}).items() if k not in known},
            "name": conversation.name, "system": conversation.system, "turns": turns}


def load(name: str) -> Conversation:
    """The conversation (empty if new); a damaged file raises :class:`ConversationError`."""
    try:
        raw: dict[str, Any] = read_json(_path(name), {}, check=_problem)
    except DamagedFile as damage:
        raise _damaged(name, damage) from None
    return _from_raw(name, raw)


def diagnose(name: str) -> str | None:
    """What is wrong with the chat's file, without touching it (for ``%edge status``), or None."""
    try:
        load_json(_path(name), {}, _problem)
    except DataError as exc:
        return str(exc)
    return None


def record_turn(name: str, key: str, prompt: str, answers: dict[str, str],
                system: str | None = None) -> Conversation:
    """Add (or, for the same key, replace) one turn in the file as it is now, under the lock.

    Only this turn is merged: turns another kernel added meanwhile are kept.
    """
    found: list[DamagedFile] = []

    def start_afresh(damage: DamagedFile) -> dict[str, Any]:
        found.append(damage)
        return {}

    def add(raw: dict[str, Any]) -> dict[str, Any]:
        conversation = _from_raw(name, raw)
        conversation.record(key, prompt, answers, system)
        return _to_raw(conversation, raw)

    raw = update_json(_path(name), add, {}, check=_problem, repair=start_afresh)
    if found:
        raise _damaged(name, found[0], saved=True)
    return _from_raw(name, raw)


def names() -> list[str]:
    folder = _folder()
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.json") if _NAME.fullmatch(p.stem))


def forget(name: str) -> bool:
    path = _path(name)
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise DataFileError(path, "delete", exc) from None
    return True
