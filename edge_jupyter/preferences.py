"""User preferences: default model, favourites, alert threshold, budgets.

One small JSON file under ``EDGE_DATA_DIR``, re-read on every access so that the magics,
the panel and other kernels stay in sync.  Every change is a locked read-modify-write
(:func:`edit`, :func:`update`): the file is re-read inside the lock and only the fields
being changed are changed, so a ``%edge budget set`` in one kernel is never reverted by a
``%edge fav add`` in another (``storage.py`` has the design).

Damage.  A file that is not valid JSON, or whose fields have the wrong type, is kept
aside under a unique name and replaced, in one atomic step, by the defaults plus a
*damage notice* (``damage``: which file, what was wrong, where the copy is).  Budgets
lost silently is the harm to prevent, so while the notice has not been shown:

* the first call that would spend (``%%edge``, ``map``) is refused with the message, and
  showing it marks the notice seen; the next call proceeds without the lost settings;
* any ``%edge`` line command shows it as a warning, which also marks it seen;
* ``%edge status`` shows it for as long as the damaged copy exists (delete or restore
  the copy once dealt with).

A file that cannot be *read* (too many open files, permissions, a folder in its place)
is an error, never damage: nothing is moved and the call is not made.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .storage import DamagedFile, DataError, data_dir, read_json, update_json
from .user_numbers import finite

DEFAULT_MODEL = "openai/gpt-4o-mini"
DEFAULT_ALERT_USD = 1.0


@dataclass
class Preferences:
    default_model: str = DEFAULT_MODEL
    favourites: list[str] = field(default_factory=list)
    alert_threshold_usd: float = DEFAULT_ALERT_USD
    #: scope ("session", "notebook", "day", "month") -> limit in USD
    budgets: dict[str, float] = field(default_factory=dict)
    #: default OpenRouter ``provider`` preferences (routing)
    route: dict[str, Any] = field(default_factory=dict)
    #: named participant sets: name -> list of participant specs
    participants: dict[str, list[str]] = field(default_factory=dict)
    #: set when a damaged file was replaced by the defaults: file, kept_as, problem, found, seen
    damage: dict[str, str] | None = None


class PreferencesDamaged(DataError):
    """A spending call refused because the preferences were found damaged and reset."""


def path() -> Path:
    return data_dir() / "preferences.json"


# -- shape --------------------------------------------------------------------------------

def _is_number(value: Any) -> bool:
    return finite(value, low=0) is not None


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


_SHAPES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "default_model": (lambda v: isinstance(v, str) and bool(v), "a model id"),
    "favourites": (_is_str_list, "a list of model ids"),
    "alert_threshold_usd": (_is_number, "a finite amount in USD, not negative"),
    "budgets": (lambda v: isinstance(v, dict) and all(
        isinstance(k, str) and (x is None or _is_number(x)) for k, x in v.items()),
        "scopes with finite amounts in USD, not negative"),
    "route": (lambda v: isinstance(v, dict), "an object"),
    "participants": (lambda v: isinstance(v, dict) and all(
        isinstance(k, str) and _is_str_list(x) for k, x in v.items()),
        "set names with lists of specs"),
    "damage": (lambda v: v is None or (isinstance(v, dict) and all(
        isinstance(x, str) for x in v.values())), "a damage notice"),
}


def _problem(raw: Any) -> str | None:
    """What is wrong with the file's content, or None (unknown fields are left alone)."""
    if not isinstance(raw, dict):
        return f"a JSON object was expected, not {type(raw).__name__}"
    for name, (ok, what) in _SHAPES.items():
        if name in raw and not ok(raw[name]):
            return f"'{name}' should be {what}, not {json_preview(raw[name])}"
    return None


def json_preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _repair(damage: DamagedFile) -> dict[str, Any]:
    """What replaces a damaged file: the defaults, carrying the damage notice."""
    notice = {"file": str(damage.path), "kept_as": str(damage.kept_as or ""),
              "problem": damage.problem,
              "found": datetime.now(timezone.utc).isoformat(timespec="seconds"), "seen": ""}
    return asdict(Preferences(damage=notice))


def _from_raw(raw: dict[str, Any]) -> Preferences:
    known = {f.name for f in fields(Preferences)}
    return Preferences(**{k: v for k, v in raw.items() if k in known})


def _read() -> dict[str, Any]:
    return read_json(path(), {}, check=_problem, repair=_repair)


# -- reading and writing ------------------------------------------------------------------

def load() -> Preferences:
    """The preferences now (defaults if there is no file).

    Raises :class:`~edge_jupyter.storage.DataError` when the file cannot be read; a
    damaged file is handled as the module's docstring says.
    """
    return _from_raw(_read())


def edit(change: Callable[[Preferences], None]) -> Preferences:
    """Apply ``change`` to the preferences as they are on disk, under the lock; save; return them."""
    result: list[Preferences] = []

    def apply(raw: dict[str, Any]) -> dict[str, Any]:
        prefs = _from_raw(raw)
        change(prefs)
        result.append(prefs)
        kept = {k: v for k, v in raw.items() if k not in {f.name for f in fields(Preferences)}}
        return {**kept, **asdict(prefs)}  # fields of a newer version are kept too

    update_json(path(), apply, {}, check=_problem, repair=_repair)
    from . import events

    events.publish(events.PREFERENCES_CHANGED, result[0])
    return result[0]


def update(**changes: Any) -> Preferences:
    """Set the named fields (under the lock, on the freshly read file); returns the new preferences."""
    names = {f.name for f in fields(Preferences)}
    for name in changes:
        if name not in names:
            raise AttributeError(f"unknown preference {name!r}")

    def apply(prefs: Preferences) -> None:
        for name, value in changes.items():
            setattr(prefs, name, value)

    return edit(apply)


def save(prefs: Preferences) -> None:
    """Replace every field with ``prefs`` (under the lock); prefer :func:`edit` for changes."""
    update(**asdict(prefs))


# -- damage -------------------------------------------------------------------------------

def damage_message(prefs: Preferences) -> str | None:
    """The one-line account of a damage notice, or None."""
    notice = prefs.damage
    if not notice:
        return None
    when = notice.get("found", "")[:16].replace("T", " ")
    return (f"{notice.get('file')} was damaged ({notice.get('problem')}) and was replaced by the "
            f"defaults on {when} UTC; the damaged file is kept as {notice.get('kept_as')}. Your "
            "budgets, favourites, alert, routing defaults and participant sets from it are not in "
            "force: check `%edge budget` and set them again (or restore them from the kept copy).")


def unseen_damage(prefs: Preferences | None = None) -> str | None:
    """The damage notice's message while it has not been shown yet."""
    prefs = prefs if prefs is not None else load()
    if prefs.damage and not prefs.damage.get("seen"):
        return damage_message(prefs)
    return None


def mark_damage_seen() -> None:
    def seen(prefs: Preferences) -> None:
        if prefs.damage and not prefs.damage.get("seen"):
            prefs.damage = {**prefs.damage,
                            "seen": datetime.now(timezone.utc).isoformat(timespec="seconds")}

    edit(seen)


def take_unseen_damage() -> str | None:
    """The damage notice's message if not shown yet, marked seen now (the caller shows it)."""
    message = unseen_damage()
    if message:
        mark_damage_seen()
    return message


def load_for_spending() -> Preferences:
    """:func:`load`, but refuse (once) while a damage notice has not been shown.

    Raises :class:`PreferencesDamaged`, whose message is shown instead of making the call.
    """
    prefs = load()
    message = unseen_damage(prefs)
    if message:
        mark_damage_seen()
        raise PreferencesDamaged(f"Nothing was sent: {message} Run the cell again to go on "
                                 "without them.")
    return prefs


def damage_status(prefs: Preferences) -> str | None:
    """For ``%edge status``: the notice while the damaged copy still exists."""
    notice = prefs.damage
    if not notice or not os.path.exists(notice.get("kept_as", "")):
        return None
    return damage_message(prefs)
