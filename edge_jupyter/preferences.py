"""User preferences: default model, favourites, alert threshold, budgets.

One small JSON file under ``EDGE_DATA_DIR`` written atomically, re-read on every
access so that the magics, the panel and other kernels stay in sync.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .storage import data_dir, read_json, write_json_atomic

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


def path() -> Path:
    return data_dir() / "preferences.json"


def load() -> Preferences:
    raw = read_json(path(), {})
    known = {f.name for f in fields(Preferences)}
    values = {k: v for k, v in raw.items() if k in known} if isinstance(raw, dict) else {}
    try:
        return Preferences(**values)
    except TypeError:
        return Preferences()


def save(prefs: Preferences) -> None:
    write_json_atomic(path(), asdict(prefs))


def update(**changes: Any) -> Preferences:
    """Load, change the named fields, save; returns the new preferences."""
    prefs = load()
    for name, value in changes.items():
        if not hasattr(prefs, name):
            raise AttributeError(f"unknown preference {name!r}")
        setattr(prefs, name, value)
    save(prefs)
    from . import events

    events.publish(events.PREFERENCES_CHANGED, prefs)
    return prefs
