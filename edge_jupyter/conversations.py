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

A turn that attached images or files keeps them.  In a saved chat the turn's ``"prompt"``
stays its text alone (so an older edge_jupyter still reads a valid turn, sends the text
and keeps the rest unchanged) and a ``"parts"`` list gives the prompt in order:
``{"text": ...}`` or ``{"attachment": "<sha256>", "kind", "mime", "filename"}`` (plus
``"width"``/``"height"`` of an image, ``"pages"`` of a file, ``"source"`` when known).  The
bytes are stored once by their hash under ``EDGE_DATA_DIR/attachments``
(``content/_store.py``), not copied into the turn, and read back (hash checked) when the
history is sent: each later turn re-sends them, as the model needs them.  A missing or
changed attachment fails the cell, naming the turn, before anything is paid.  An in-memory
conversation (``Chat()`` without a name) keeps the :class:`Prompt` itself.
:func:`forget` then removes the attachments no chat refers to any more.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .content import (
    Attachment,
    AttachmentGone,
    Prompt,
    attachments_lock,
    collect_attachments,
    read_attachment,
    store_attachment,
)
from .errors import EdgeError
from .storage import (
    DamagedFile,
    DataError,
    DataFileError,
    data_dir,
    load_json,
    read_json,
    remove_file,
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
    #: The prompt with what it attached, when it attached anything (else None: ``prompt`` is
    #: all of it): the :class:`Prompt` itself in memory; in a saved chat the file's
    #: ``"parts"`` (text, and attachments by hash), read from the store when sent.
    parts: Prompt | list[dict[str, Any]] | None = None
    #: Per model, the answer's ``reasoning_details`` as the server sent them: OpenRouter
    #: wants them back unmodified with the answer on later turns (the file's key of the same
    #: name; written only when there are some, so older versions read the file as before).
    reasoning_details: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: Keys a newer version wrote into the turn: not used here, written back unchanged.
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def answer_for(self, model: str) -> str:
        if model in self.answers:
            return self.answers[model]
        return next(iter(self.answers.values()), "")

    def attached(self) -> list[str]:
        """What the turn attached, described ("figure.png 1000×800", "paper.pdf (12 pages)"),
        without reading the store (``%edge history``)."""
        if isinstance(self.parts, Prompt):
            return [a.describe() for a in self.parts.attachments]
        return [Attachment(kind=p["kind"], data=b"", mime=p["mime"], filename=p["filename"],
                           width=p.get("width"), height=p.get("height"), pages=p.get("pages"),
                           source=p.get("source", ""), sha256=p["attachment"]).describe()
                for p in self.parts or () if "attachment" in p]


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

    def messages_for(self, model: str, prompt: str | Prompt, key: str, system: str | None = None
                     ) -> list[dict[str, Any]]:
        """The messages to send: history before this cell's turn, then the new prompt.

        A user message's content is a string unless its turn attached something (then the
        content-part list, its attachments read back from the store); raises
        :class:`ConversationError` when a stored attachment is missing or damaged.
        """
        index = self._index(key)
        history = self.turns if index is None else self.turns[:index]
        messages: list[dict[str, Any]] = []
        system = system if system is not None else self.system
        if system:
            messages.append({"role": "system", "content": system})
        for number, turn in enumerate(history, 1):
            messages.append({"role": "user", "content": self._content(turn, number)})
            answer: dict[str, Any] = {"role": "assistant", "content": turn.answer_for(model)}
            details = turn.reasoning_details.get(model)
            if details:  # this model's own, exactly as it sent them (another's would not fit)
                answer["reasoning_details"] = details
            messages.append(answer)
        messages.append({"role": "user", "content": prompt if isinstance(prompt, str)
                         else prompt.content()})
        return messages

    def _content(self, turn: Turn, number: int) -> str | list[dict[str, Any]]:
        if turn.parts is None:
            return turn.prompt
        if isinstance(turn.parts, Prompt):
            return turn.parts.content()
        return Prompt(tuple(self._piece(part, number) for part in turn.parts)).content()

    def _piece(self, part: dict[str, Any], number: int) -> str | Attachment:
        if "text" in part:
            return str(part["text"])
        sha256 = part["attachment"]
        try:
            data = read_attachment(sha256)
        except AttachmentGone as gone:
            raise ConversationError(
                f"Conversation {self.name!r}: turn {number}'s attachment {part['filename']} is "
                f"{gone.problem} ({gone.path}); run the cell that made turn {number} again (it "
                f"stores the attachment again), or `%edge forget {self.name}` to start "
                "afresh.") from None
        return Attachment(kind=part["kind"], data=data, mime=part["mime"],
                          filename=part["filename"], width=part.get("width"),
                          height=part.get("height"), pages=part.get("pages"),
                          source=part.get("source", ""), sha256=sha256)

    def record(self, key: str, prompt: str | Prompt, answers: dict[str, str],
               system: str | None = None, *,
               reasoning_details: dict[str, list[dict[str, Any]]] | None = None) -> None:
        """Add this cell's turn, or replace it when the cell ran before (in memory: a
        prompt's attachments are kept as they are)."""
        attached = prompt if isinstance(prompt, Prompt) and prompt.attachments else None
        self._put(Turn(key=key, prompt=str(prompt), answers=dict(answers), parts=attached,
                       reasoning_details=dict(reasoning_details or {})), system)

    def _put(self, turn: Turn, system: str | None) -> None:
        if system is not None:
            self.system = system
        index = self._index(turn.key)
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


_SHA256 = re.compile(r"[0-9a-f]{64}")


def _part_problem(part: Any) -> str | None:
    """What is wrong with one entry of a turn's ``"parts"``, or None (other keys: a newer
    version's, kept)."""
    if not isinstance(part, dict):
        return "not an object"
    if "text" in part:
        return None if isinstance(part["text"], str) else "'text' should be text"
    if not isinstance(part.get("attachment"), str) or not _SHA256.fullmatch(part["attachment"]):
        return "neither 'text' nor an 'attachment' hash (64 hex digits)"
    if part.get("kind") not in ("image", "file"):
        return "'kind' should be \"image\" or \"file\""
    for name in ("mime", "filename"):
        if not isinstance(part.get(name), str):
            return f"'{name}' should be text"
    if not isinstance(part.get("source", ""), str):
        return "'source' should be text"
    for name in ("width", "height", "pages"):
        value = part.get(name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            return f"'{name}' should be a whole number"
    return None


def _parts_problem(parts: Any) -> str | None:
    if parts is None:
        return None
    if not isinstance(parts, list) or not parts:
        return "'parts' should be a list of text and attachments"
    for j, part in enumerate(parts, 1):
        problem = _part_problem(part)
        if problem:
            return f"part {j}: {problem}"
    return None


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
        problem = _parts_problem(turn.get("parts"))
        if problem:
            return f"turn {i}'s attachments are damaged ({problem})"
    return None


def _damaged(name: str, damage: DamagedFile, *, saved: bool = False) -> ConversationError:
    then = ("this cell's turn starts it afresh" if saved else
            "run the cell again to start the conversation afresh")
    return ConversationError(f"Conversation {name!r}: {damage}; {then}, or restore the turns "
                             "from the kept copy.")


_TURN_KEYS = ("key", "prompt", "answers", "timestamp", "parts", "reasoning_details")


def _details(raw: Any) -> dict[str, list[dict[str, Any]]]:
    """A turn's ``reasoning_details`` as saved; anything malformed is left out (a turn is
    still usable without them: the model is sent the answer alone)."""
    if not isinstance(raw, dict):
        return {}
    return {model: details for model, details in raw.items() if isinstance(model, str)
            and isinstance(details, list) and all(isinstance(d, dict) for d in details)}


def _turn(raw: dict[str, Any]) -> Turn:
    known = {k: raw[k] for k in _TURN_KEYS if k in raw}
    known["reasoning_details"] = _details(known.get("reasoning_details"))
    return Turn(**known, extra={k: v for k, v in raw.items() if k not in _TURN_KEYS})


def _from_raw(name: str, raw: dict[str, Any]) -> Conversation:
    return Conversation(name=name, system=raw.get("system"),
                        turns=[_turn(t) for t in raw.get("turns", [])])


def _to_raw(conversation: Conversation, kept: dict[str, Any] | None = None) -> dict[str, Any]:
    """The file's content; ``kept``: the file as read, whose unknown keys are written back."""
    turns = []
    for t in conversation.turns:
        fields: dict[str, Any] = {"key": t.key, "prompt": t.prompt, "answers": dict(t.answers),
                                  "timestamp": t.timestamp}
        if isinstance(t.parts, Prompt):  # only record_turn saves a turn: it stores them first
            raise TypeError("a turn's attachments must be stored before the turn is saved")
        if t.parts is not None:
            fields["parts"] = t.parts
        if t.reasoning_details:
            fields["reasoning_details"] = t.reasoning_details
        turns.append({**t.extra, **fields})
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


def record_turn(name: str, key: str, prompt: str | Prompt, answers: dict[str, str],
                system: str | None = None, *,
                reasoning_details: dict[str, list[dict[str, Any]]] | None = None) -> Conversation:
    """Add (or, for the same key, replace) one turn in the file as it is now, under the lock.

    Only this turn is merged: turns another kernel added meanwhile are kept.  Its
    attachments are stored first (once each, by hash), under the store's lock until the
    turn is written, so a :func:`forget` meanwhile cannot collect them.
    """
    found: list[DamagedFile] = []
    path = _path(name)
    attachments = prompt.attachments if isinstance(prompt, Prompt) else ()

    def start_afresh(damage: DamagedFile) -> dict[str, Any]:
        found.append(damage)
        return {}

    def add(raw: dict[str, Any]) -> dict[str, Any]:
        conversation = _from_raw(name, raw)
        conversation._put(Turn(key=key, prompt=str(prompt), answers=dict(answers), parts=parts,
                               reasoning_details=dict(reasoning_details or {})), system)
        return _to_raw(conversation, raw)

    with attachments_lock() if attachments else contextlib.nullcontext():
        for attachment in attachments:
            store_attachment(attachment)
        parts = _saved_parts(prompt) if isinstance(prompt, Prompt) and attachments else None
        raw = update_json(path, add, {}, check=_problem, repair=start_afresh)
    if found:
        raise _damaged(name, found[0], saved=True)
    return _from_raw(name, raw)


def _saved_parts(prompt: Prompt) -> list[dict[str, Any]]:
    """The turn's ``"parts"``: text as it is, attachments by hash with what describes them."""
    parts: list[dict[str, Any]] = []
    for piece in prompt.pieces:
        if isinstance(piece, str):
            parts.append({"text": piece})
            continue
        part: dict[str, Any] = {"attachment": piece.sha256, "kind": piece.kind, "mime": piece.mime,
                                "filename": piece.filename}
        extra = {"width": piece.width, "height": piece.height, "pages": piece.pages,
                 "source": piece.source or None}
        parts.append({**part, **{k: v for k, v in extra.items() if v is not None}})
    return parts


def names() -> list[str]:
    folder = _folder()
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.json") if _NAME.fullmatch(p.stem))


def forget(name: str) -> bool:
    """Delete the chat; then the attachments no chat refers to any more are removed."""
    if not remove_file(_path(name)):
        return False
    try:
        collect_unreferenced()
    except DataError:
        pass  # the chat is gone as asked; its attachments are collected at the next forget
    return True


_REFERENCE = re.compile(rb'"attachment"\s*:\s*"([0-9a-f]{64})"')


def _referenced() -> set[str]:
    """Every attachment hash any file in the chats folder mentions: damaged chats' kept
    copies too (their turns may be restored by hand), and files this version cannot read
    (a hash in them is kept all the same)."""
    folder = _folder()
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return set()
    except OSError as exc:
        raise DataFileError(folder, "read", exc) from None
    found: set[str] = set()
    for entry in entries:
        if not entry.is_file():
            continue
        try:
            with open(entry.path, "rb") as f:
                blob = f.read()
        except FileNotFoundError:
            continue  # removed meanwhile (a chat forgotten by another kernel)
        except OSError as exc:  # unreadable: nothing may be collected on a guess
            raise DataFileError(entry.path, "read", exc) from None
        found.update(m.decode("ascii") for m in _REFERENCE.findall(blob))
    return found


def collect_unreferenced() -> int:
    """Remove the stored attachments that no chat refers to any more; returns how many."""
    return collect_attachments(_referenced)
