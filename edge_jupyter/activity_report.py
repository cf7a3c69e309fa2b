"""OpenRouter's ``/activity`` reconciled with this machine's ledger: what was spent elsewhere.

Pure: rows and a ledger frame in, a :class:`Report` out (no network, no files), so every rule
is tested without I/O.  ``/activity`` is what OpenRouter billed the whole account per UTC day,
model and endpoint, through every app and machine; the ledger is what this machine's calls
cost.  Per day (and model, or provider) ``elsewhere_usd = billed_usd - ledger_usd`` is what
other apps, machines or people with the account's keys spent.  A day where the ledger has
more than OpenRouter billed is explained, not hidden: rows not yet settled, or calls made
with a key of another account.  Today is never in ``/activity`` (only completed UTC days are).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from .money import short_usd, total_usd

if TYPE_CHECKING:
    import pandas as pd

    from .openrouter import ActivityRow

#: ``%edge activity --days``: OpenRouter keeps the last 30 completed UTC days.
MAX_DAYS = 30
DEFAULT_DAYS = 7
BY = ("day", "model", "provider")
COLUMNS = ("date", "model", "requests", "billed_usd", "ledger_usd", "elsewhere_usd",
           "prompt_tokens", "completion_tokens")
_UNKNOWN_PROVIDER = "unknown"


@dataclass(frozen=True)
class Report:
    """The reconciled frame, one sentence per day with spend, and the note about today."""

    frame: pd.DataFrame
    sentences: list[str] = field(default_factory=list)
    today_note: str = ""

    @property
    def text(self) -> str:
        return "\n".join([*self.sentences, self.today_note]).strip()


def window(last_completed: date, days: int) -> list[str]:
    """The ``days`` UTC dates ending with ``last_completed``, oldest first, as ``YYYY-MM-DD``."""
    return [(last_completed - timedelta(days=n)).isoformat() for n in range(days - 1, -1, -1)]


def last_completed_day(utc_today: date, rows: Sequence[ActivityRow]) -> date:
    """The newest completed UTC day: yesterday by this machine's clock, or a later day that
    OpenRouter already reports (its clock decides what is complete: a machine whose clock is
    behind still sees every day OpenRouter closed)."""
    latest = utc_today - timedelta(days=1)
    for row in rows:
        try:
            day = date.fromisoformat(row.date)
        except ValueError:
            continue
        latest = max(latest, day)
    return latest


def _billed(rows: Sequence[ActivityRow], days: set[str]) -> pd.DataFrame:
    import pandas as pd

    kept = [r for r in rows if r.date in days]
    return pd.DataFrame({
        "date": pd.Series([r.date for r in kept], dtype=object),
        "model": pd.Series([r.model or r.model_permaslug or "unknown" for r in kept], dtype=object),
        "provider": pd.Series([r.provider_name or _UNKNOWN_PROVIDER for r in kept], dtype=object),
        "requests": pd.array([r.requests for r in kept], dtype="int64"),
        "billed_usd": pd.array([r.usage for r in kept], dtype="float64"),
        "prompt_tokens": pd.array([r.prompt_tokens for r in kept], dtype="int64"),
        "completion_tokens": pd.array([r.completion_tokens for r in kept], dtype="int64"),
    })


def _aliases(rows: Sequence[ActivityRow]) -> dict[str, str]:
    """Ledger model name -> activity ``model``: a ledger row names the model as asked or as
    served, which may be the activity row's ``model`` or its ``model_permaslug``."""
    aliases: dict[str, str] = {}
    for r in rows:
        if r.model:
            aliases.setdefault(r.model, r.model)
            if r.model_permaslug:
                aliases.setdefault(r.model_permaslug, r.model)
    return aliases


def _ledger_days(ledger: pd.DataFrame) -> Any:
    import pandas as pd

    stamps = pd.DatetimeIndex(ledger["timestamp"])
    if stamps.tz is not None:
        stamps = stamps.tz_convert("UTC").tz_localize(None)
    return pd.Series(stamps.strftime("%Y-%m-%d"), index=ledger.index)


def _spent(ledger: pd.DataFrame, aliases: dict[str, str]) -> pd.DataFrame:
    """The ledger as (date, model, provider, ledger_usd, pending) rows.

    ``pending``: the cost is still to come (:func:`ledger.unsettled`, the rows
    ``%edge usage --reconcile`` settles). A call refused before any token has no cost and
    nothing to settle: it cost $0 and is not pending."""
    import pandas as pd

    from .ledger import unsettled

    models = ledger["model"].astype(object).where(ledger["model"].notna(), "unknown")
    providers = ledger["provider"].astype(object).where(ledger["provider"].notna(), _UNKNOWN_PROVIDER)
    return pd.DataFrame({
        "date": _ledger_days(ledger),
        "model": [aliases.get(m, m) for m in models],
        "provider": providers.replace("", _UNKNOWN_PROVIDER),
        "ledger_usd": ledger["cost_usd"].astype("float64").fillna(0.0),
        "pending": pd.Series(unsettled(ledger), index=ledger.index).astype("int64"),
    })


def _exact_sum(amounts: pd.Series) -> float:
    """A group's dollars summed as the project sums money (:func:`money.total_usd`): 0.1 + 0.2
    is 0.3, so a ledger that has exactly what OpenRouter billed shows $0 elsewhere."""
    return total_usd(amounts.tolist())


def _keys(by: str | None) -> list[str]:
    return {"day": ["date"], "model": ["model"], "provider": ["provider"]}.get(by or "", ["date", "model"])


def reconcile(rows: Sequence[ActivityRow], ledger: pd.DataFrame, days: Sequence[str], *,
              by: str | None = None, today: str | None = None) -> Report:
    """``/activity`` ``rows`` against the ``ledger`` frame over ``days`` (``YYYY-MM-DD``).

    The frame is per date and model (``by=None``), or per ``day``, ``model`` or ``provider``
    (activity's ``provider_name``; the ledger's ``provider``), with :data:`COLUMNS` (``provider``
    in place of date and model for ``by="provider"``). ``today`` (default: the day after the
    last of ``days``) is the day the note is about: the ledger's spend on it so far.
    """
    import pandas as pd

    if by is not None and by not in BY:
        raise ValueError(f"by must be one of {', '.join(BY)}, not {by!r}")
    wanted = set(days)
    billed = _billed(rows, wanted)
    spent_all = _spent(ledger, _aliases(rows))
    spent = spent_all[spent_all["date"].isin(wanted)]
    keys = _keys(by)
    b = billed.groupby(keys, sort=False).agg({"requests": "sum", "billed_usd": _exact_sum,
                                              "prompt_tokens": "sum", "completion_tokens": "sum"})
    s = spent.groupby(keys, sort=False).agg({"ledger_usd": _exact_sum, "pending": "sum"})
    joined = b.join(s, how="outer").reset_index()
    for name in ("requests", "prompt_tokens", "completion_tokens", "pending"):
        joined[name] = joined[name].fillna(0).astype("int64")
    for name in ("billed_usd", "ledger_usd"):
        joined[name] = joined[name].fillna(0.0).astype("float64")
    for name in keys:  # text, also when there is no row at all
        joined[name] = joined[name].astype(object)
    joined["elsewhere_usd"] = pd.Series(
        [total_usd([b_usd, -l_usd]) for b_usd, l_usd in zip(joined["billed_usd"],
                                                             joined["ledger_usd"], strict=True)],
        index=joined.index, dtype="float64")
    # a row with nothing in it (only calls refused before any token, which cost $0) says
    # nothing; a row still waiting for its cost stays
    figures = [c for c in COLUMNS if c not in ("date", "model")]
    joined = joined[(joined[[*figures, "pending"]] != 0).any(axis=1)]
    order = keys if by in (None, "day") else ["billed_usd"]
    joined = joined.sort_values(order, ascending=by in (None, "day"), kind="stable")
    columns = [*keys, *figures]
    frame = joined[columns].reset_index(drop=True)
    by_day = _day_totals(billed, spent)
    sentences = [_sentence(day, *by_day[day]) for day in days if day in by_day]
    if not sentences:
        sentences = [f"OpenRouter billed nothing on these {len(days)} day(s) "
                     f"({days[0]} to {days[-1]}), and this ledger has nothing for them."
                     if days else "No days asked for."]
    if today is None and days:
        today = (date.fromisoformat(days[-1]) + timedelta(days=1)).isoformat()
    on_today = _exact_sum(spent_all.loc[spent_all["date"] == today, "ledger_usd"]) if today else 0.0
    note = (f"Today's spend ({today}, UTC) is not in OpenRouter's activity until the UTC day "
            f"ends; this ledger has {short_usd(on_today)} for it so far.") if today else ""
    return Report(frame, sentences, note)


def _day_totals(billed: pd.DataFrame, spent: pd.DataFrame) -> dict[str, tuple[float, float, int]]:
    """date -> (billed, ledger, pending rows) for the days with spend (or a cost to come)."""
    totals: dict[str, tuple[float, float, int]] = {}
    b = billed.groupby("date")["billed_usd"].agg(_exact_sum)
    s = spent.groupby("date").agg({"ledger_usd": _exact_sum, "pending": "sum"})
    for day in sorted(set(b.index) | set(s.index)):
        ledger = float(s.loc[day, "ledger_usd"]) if day in s.index else 0.0
        pending = int(s.loc[day, "pending"]) if day in s.index else 0
        billed_usd = float(b.get(day, 0.0))
        if billed_usd or ledger or pending:
            totals[day] = (billed_usd, ledger, pending)
    return totals


def _sentence(day: str, billed: float, ledger: float, pending: int) -> str:
    head = f"OpenRouter billed {short_usd(billed)} on {day}; "
    rows = "1 of its rows still has" if pending == 1 else f"{pending} of its rows still have"
    waiting = (f" ({rows} no exact cost: `%edge usage --reconcile` settles them)"
               if pending else "")
    gap = total_usd([billed, -ledger])
    if gap == 0:
        return head + f"this ledger has {short_usd(ledger)} too{waiting}: nothing was spent elsewhere."
    if gap > 0:
        return head + f"this ledger has {short_usd(ledger)}{waiting}; {short_usd(gap)} was spent elsewhere."
    return head + (f"this ledger has {short_usd(ledger)}, {short_usd(-gap)} more{waiting}: its rows "
                   "may not be settled yet, or some of its calls used a key of another "
                   "OpenRouter account.")
