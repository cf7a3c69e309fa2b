"""What the panel shows, as plain data (pure: no widgets, no I/O, no pandas import).

The widgets (``_widgets.py``) draw these objects and the HTML (``_html.py``) is
made from them, so everything a person reads in the panel -- which figures, which
digits, which colour, which rows in which order -- is decided here and tested
directly with real preferences, balances and ledger frames.

Money is written with a sensible number of digits (:func:`money`: cents from a cent
up, two significant digits below), and every figure carries the exact amount --
OpenRouter's own number, never rounded (:func:`~edge_jupyter.money.exact_usd`) -- in
its hover text.  Small costs have different numbers of decimals, so the usage table
pads them to line up on the decimal point (:func:`align_decimals`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ..ledger import unsettled
from ..ledger.budgets import left_usd
from ..money import exact_usd, per_million_usd, short_left_usd, short_usd, total_usd
from ..pricing_sheet import price_text
from ..record import sent_summary

if TYPE_CHECKING:
    from datetime import date

    from ..balance import Balance
    from ..openrouter import ModelInfo
    from ..preferences import Preferences
    from ..spend_chart import SpendByDay

#: Colours, as JupyterLab theme variables (so dark themes work) with light-theme fallbacks.
ALERT_COLOUR = "var(--jp-error-color1, #d32f2f)"
WARN_COLOUR = "var(--jp-warn-color1, #e65100)"
GOOD_COLOUR = "var(--jp-success-color1, #2e7d32)"
MUTED_COLOUR = "var(--jp-ui-font-color2, #616161)"
TONES: Mapping[str, str] = {"alert": ALERT_COLOUR, "warn": WARN_COLOUR, "good": GOOD_COLOUR,
                            "muted": MUTED_COLOUR, "": "inherit"}

#: Widths that line numbers up in a proportional font: U+2007 is as wide as a digit
#: (with ``font-variant-numeric: tabular-nums``), U+2008 as wide as a full stop.
FIGURE_SPACE = "\u2007"
POINT_SPACE = "\u2008"

PLACEHOLDER = "…"  # a value still being fetched: same line, same height, no jump later
MISSING = "—"

KEY_SOURCES: Mapping[str, str] = {
    "environment": "key from OPENROUTER_API_KEY",
    "keyring": "key in your OS keyring",
    "file": "key in the edge_jupyter key file",
}


# -- inputs that are not already project data classes -------------------------------------------


@dataclass(frozen=True)
class KeyStatus:
    """Whether a key is in use and where it comes from (never the key itself)."""

    connected: bool
    #: "environment" | "keyring" | "file" | "none" (as :class:`keystore.ResolvedKey`)
    source: str = "none"
    backend: str = ""
    problem: str = ""
    #: who provisioned an environment key ("jupyterhub"), "" when the user set it
    provisioned: str = ""


@dataclass(frozen=True)
class Spending:
    """What the local ledger says was spent (settled costs plus running reservations)."""

    today: float = 0.0
    notebook: float = 0.0
    #: budget scope ("session", "notebook", "day", "month") -> USD spent in it
    budgets: Mapping[str, float] = field(default_factory=dict)


# -- small formatters ---------------------------------------------------------------------------


def context_text(tokens: int | None) -> str:
    """128000 -> "128K", 1048576 -> "1.05M": the size people compare, not every digit."""
    if not tokens:
        return MISSING
    if tokens >= 1_000_000:
        return f"{tokens / 1e6:.3g}M"
    if tokens >= 1000:
        return f"{round(tokens / 1000):,}K"
    return str(tokens)


def align_decimals(values: Sequence[str]) -> list[str]:
    """Pad amounts on the right so that, right-aligned, their decimal points line up.

    "$0.0000165" and "$0.00002" become "$0.0000165" and "$0.00002\u2007\u2007"; text that
    is not a number ("…", "—") is left alone.
    """
    def fraction(text: str) -> int | None:
        if not text or not (text[-1].isdigit()):
            return None
        return len(text.partition(".")[2]) if "." in text else 0

    widths = [f for f in map(fraction, values) if f is not None]
    widest = max(widths, default=0)
    out = []
    for text in values:
        digits = fraction(text)
        if digits is None or digits == widest:
            out.append(text)
        elif digits == 0:
            out.append(text + POINT_SPACE + FIGURE_SPACE * widest)
        else:
            out.append(text + FIGURE_SPACE * (widest - digits))
    return out


def short_model(model_id: str) -> str:
    """"openai/gpt-4o-mini" -> "gpt-4o-mini": the part that fits a narrow column."""
    return model_id.split("/", 1)[1] if "/" in model_id else model_id


# -- the account section ------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """One line of the account section: a label, a readable value, the exact one on hover."""

    label: str
    value: str
    exact: str = ""
    note: str = ""
    tone: str = ""  # "", "muted", "good", "warn", "alert" (see TONES)
    #: What the line means, for the label's hover text.
    hint: str = ""

    @property
    def colour(self) -> str:
        return TONES.get(self.tone, "inherit")


@dataclass(frozen=True)
class AccountView:
    connected: bool
    status: str
    source: str
    figures: tuple[Figure, ...]
    #: What is left to spend (the tighter of account balance and key limit), when known.
    remaining: float | None
    #: True when ``remaining`` is under the alert threshold.
    alert: bool
    alert_text: str
    alert_colour: str
    notes: tuple[str, ...]
    #: One line for the panel's header, e.g. "$4.99 left · today $0.02".
    headline: str
    can_disconnect: bool
    disconnect_hint: str


def money(amount: float | None) -> str:
    """``short_usd``, but zero reads "$0.00" like the amounts around it."""
    return "$0.00" if amount == 0 else short_usd(amount)


def money_left(left: float | None, whole: float | None) -> str:
    """What is left of ``whole``, never printed equal to it once something was spent
    ("$4.9999 of $5.00", not "$5.00 of $5.00" after spending $0.00014)."""
    return "$0.00" if left == 0 else short_left_usd(left, whole)


def _money(label: str, amount: float | None, note: str = "", tone: str = "",
           hint: str = "", *, of: float | None = None) -> Figure:
    shown = money(amount) if of is None else money_left(amount, of)
    return Figure(label, shown, exact_usd(amount) if amount is not None else "",
                  note, tone, hint)


def _provider(by: str) -> str:
    return "JupyterHub" if by == "jupyterhub" else by


def account_view(prefs: Preferences, key: KeyStatus, balance: Balance | None,
                 spending: Spending, *, loading: bool = False) -> AccountView:
    """The account section for these inputs.

    ``loading``: the balance is being fetched for the first time; its lines are shown
    with a placeholder rather than left out, so that nothing moves when it arrives.
    """
    figures: list[Figure] = []
    notes: list[str] = []
    threshold = float(prefs.alert_threshold_usd or 0.0)
    remaining = balance.remaining if balance is not None else None
    alert = bool(key.connected and remaining is not None and threshold > 0
                 and remaining < threshold)
    low = "alert" if alert else ""

    if not key.connected:
        hint = "Connect to see your balance and your key's limit"
        figures.append(Figure("Balance", MISSING, tone="muted", hint=hint))
        figures.append(Figure("Key limit", MISSING, tone="muted", hint=hint))
        if key.problem:
            notes.append(key.problem)
    elif balance is None:
        placeholder = PLACEHOLDER if loading else MISSING
        figures.append(Figure("Balance", placeholder, tone="muted"))
        figures.append(Figure("Key limit", placeholder, tone="muted"))
    else:
        credits, info = balance.credits, balance.key
        if credits is not None:
            tight = low if balance.remaining_source == "account balance" else ""
            figures.append(_money("Balance", credits.balance, f"of {money(credits.total_credits)}",
                                  tight, "The account's credits left, of those bought "
                                  "(OpenRouter /credits)", of=credits.total_credits))
        else:
            figures.append(Figure("Balance", MISSING, tone="muted", hint=balance.credits_note))
            if balance.credits_note:
                notes.append(balance.credits_note)
        if info is None:
            figures.append(Figure("Key limit", MISSING, tone="muted",
                                  hint="The key's figures could not be read"))
        elif info.limit is None:
            figures.append(Figure("Key limit", "none", note=f"{money(info.usage)} used",
                                  tone="muted", hint="This key has no credit limit"))
        else:
            tight = low if balance.remaining_source == "key limit" else ""
            reset = f", resets {info.limit_reset}" if info.limit_reset else ""
            figures.append(_money("Key limit", info.limit_remaining, f"of {money(info.limit)}",
                                  tight, f"What is left of this key's credit limit{reset} "
                                  "(OpenRouter /key)", of=info.limit))
        if balance.problem:
            notes.append(f"The key's figures could not be read: {balance.problem}")

    figures.append(_money("Spent today", spending.today,
                          hint="Calls from this machine today (UTC), from the local ledger"))
    figures.append(_money("This notebook", spending.notebook,
                          hint="Every call made from this notebook, from the local ledger"))
    for scope, limit in prefs.budgets.items():
        spent = float(spending.budgets.get(scope, 0.0))
        left = left_usd(float(limit), spent)
        tone = "alert" if left <= 0 else ("warn" if left < 0.1 * float(limit) else "")
        figures.append(_money(f"{scope.capitalize()} budget", left, f"of {money(float(limit))}",
                              tone, f"What is left of your {scope} spending limit (%edge budget)",
                              of=float(limit)))
    figures.append(Figure("Alert under", money(threshold) if threshold > 0 else "off",
                          exact_usd(threshold) if threshold > 0 else "", tone="muted",
                          hint="A warning shows when what is left falls under this (%edge alert)"))

    alert_text = ""
    if alert:
        alert_text = (f"Low balance: {money(remaining)} left on your "
                      f"{balance.remaining_source if balance else 'key'}, under your alert "
                      f"threshold of {money(threshold)}.")
    if key.connected:
        status = "Connected"
        source = KEY_SOURCES.get(key.source, f"key from {key.source}")
        if key.source == "keyring" and key.backend:
            source = f"key in {key.backend}"
        if key.source == "environment" and key.provisioned:
            source = (f"provisioned by {_provider(key.provisioned)} (`%edge connect` to use "
                      "your own)")
    else:
        status, source = "Not connected", "no OpenRouter key"
    headline_parts = []
    if key.connected and remaining is not None:
        headline_parts.append(
            f"{money_left(remaining, balance.remaining_of if balance else None)} left")
    elif key.connected:
        headline_parts.append(PLACEHOLDER if loading and balance is None else "connected")
    else:
        headline_parts.append("not connected")
    headline_parts.append(f"today {money(spending.today)}")
    can_disconnect = key.connected and key.source in ("keyring", "file")
    hint = (f"The key was provisioned by {_provider(key.provisioned)}: `%edge connect` to "
            "use your own instead (`%edge disconnect` returns to this one)."
            if key.source == "environment" and key.provisioned else
            "The key comes from OPENROUTER_API_KEY: unset it where Jupyter starts."
            if key.source == "environment" else
            "Remove the stored key (conversations, preferences and the ledger stay)."
            if can_disconnect else "No stored key to remove.")
    return AccountView(
        connected=key.connected, status=status, source=source, figures=tuple(figures),
        remaining=remaining, alert=alert, alert_text=alert_text,
        alert_colour=ALERT_COLOUR if alert else "inherit", notes=tuple(notes),
        headline=" · ".join(headline_parts), can_disconnect=can_disconnect,
        disconnect_hint=hint)


# -- the models section -------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelRow:
    id: str
    name: str
    prompt: str
    completion: str
    context: str
    favourite: bool
    default: bool
    #: False when the catalogue does not list this id (offline, or a retired model).
    known: bool = True
    #: The price sheet's conditional part in words (tiers, windows, discount:
    #: :func:`edge_jupyter.pricing_sheet.price_text`), "" when it has none
    sheet: str = ""

    @property
    def price(self) -> str:
        """"$0.15 / $0.60 per M" (prompt / completion, USD per million tokens)."""
        if not self.known:
            return "not in the catalogue"
        if self.prompt == "$0" and self.completion == "$0" and not self.sheet:
            return "free"
        if "variable" in (self.prompt, self.completion):  # "-1": openrouter/auto and other routers
            return "variable"  # the hover text says how to bound it
        if self.sheet:  # "$3.00/$15.00 (above 200K prompt tokens: $6.00/$22.50) per M"
            return f"{self.sheet} per M"
        return f"{self.prompt} / {self.completion} per M"

    @property
    def title(self) -> str:
        """Hover text: the full name and what the numbers mean."""
        if not self.known:
            return self.id
        if "variable" in (self.prompt, self.completion):
            return (f"{self.name} ({self.id}): a variable price (a router bills at the price of the "
                    f"model it picks): bound it with --max-price; context {self.context}")
        if self.sheet:
            return f"{self.name} ({self.id}): {self.sheet} per million tokens, context {self.context}"
        return (f"{self.name} ({self.id}): {self.prompt} per million prompt tokens, "
                f"{self.completion} per million completion tokens, context {self.context}")


@dataclass(frozen=True)
class ModelsView:
    default: ModelRow
    favourites: tuple[ModelRow, ...]
    results: tuple[ModelRow, ...]
    #: How many models match the search (``results`` holds at most ``limit`` of them).
    matched: int
    search: str
    note: str


def _row(model_id: str, info: ModelInfo | None, prefs: Preferences) -> ModelRow:
    favourite, default = model_id in prefs.favourites, model_id == prefs.default_model
    if info is None:
        return ModelRow(model_id, model_id, MISSING, MISSING, MISSING, favourite, default, False)
    def price(value: float | None) -> str:  # None: variable ("-1", openrouter/auto) or unknown
        return per_million_usd(value) if value is not None else "variable"

    sheet = price_text(info.pricing) if info.pricing.known and (
        info.pricing.overrides or info.pricing.discount) else ""
    return ModelRow(model_id, info.name, price(info.pricing.prompt),
                    price(info.pricing.completion), context_text(info.context_length),
                    favourite, default, sheet=sheet)


def search_models(catalogue: Sequence[ModelInfo], search: str) -> list[ModelInfo]:
    """Every model whose id or name holds each word of ``search`` (any case).

    Matches in the id come before matches in the name only, then by id, so that
    "gpt 4o" puts ``openai/gpt-4o`` before a model that merely mentions it.
    """
    words = search.lower().split()
    if not words:
        return []
    found = []
    for info in catalogue:
        model_id, name = info.id.lower(), info.name.lower()
        if all(w in model_id or w in name for w in words):
            in_id = all(w in model_id for w in words)
            found.append((not in_id, model_id, info))
    found.sort(key=lambda item: (item[0], item[1]))
    return [info for _, _, info in found]


def models_view(prefs: Preferences, catalogue: Sequence[ModelInfo] | None, search: str = "",
                *, limit: int = 20, problem: str = "") -> ModelsView:
    """The default model, the favourites and the search results, with prices.

    ``catalogue`` is ``None`` while it loads (or when it could not be read: ``problem``);
    the favourites are shown anyway, marked as not in the catalogue.
    """
    by_id = {m.id: m for m in catalogue or ()}
    default = _row(prefs.default_model, by_id.get(prefs.default_model), prefs)
    favourites = tuple(_row(m, by_id.get(m), prefs) for m in prefs.favourites)
    matches = search_models(catalogue or (), search)
    results = tuple(_row(m.id, m, prefs) for m in matches[:limit])
    if catalogue is None:
        note = (f"The model list could not be read: {problem}" if problem
                else "Loading the model list…")
    elif not search.strip():
        note = f"Search {len(by_id):,} models by name or id."
    elif not matches:
        note = f"No model matches “{search.strip()}”."
    elif len(matches) > limit:
        note = f"{len(matches):,} models match; the first {limit} are shown."
    else:
        note = f"{len(matches):,} model{'s' if len(matches) != 1 else ''} match."
    return ModelsView(default, favourites, results, len(matches), search, note)


# -- the usage section --------------------------------------------------------------------------

#: status -> (symbol, tone, words for the hover text)
STATUS_LOOK: Mapping[str, tuple[str, str, str]] = {
    "ok": ("✓", "good", "ok"),
    "error": ("✗", "alert", "failed"),
    "interrupted": ("■", "warn", "interrupted"),
    "stopped_budget": ("■", "warn", "stopped at the budget"),
    "pending": ("…", "muted", "running"),
    "replayed": ("↺", "muted", "replayed from an earlier answer"),
}


@dataclass(frozen=True)
class UsageRow:
    cell: str
    model: str
    model_short: str
    tokens: str
    #: Readable cost (``money``), padded to line up on the decimal point in its column.
    cost: str
    #: Every digit OpenRouter sent, for the hover text.
    cost_exact: str
    status: str
    symbol: str
    tone: str
    #: Hover text of the row: time, provider, token split, exact cost, error.
    title: str

    @property
    def colour(self) -> str:
        return TONES.get(self.tone, "inherit")


@dataclass(frozen=True)
class UsageView:
    rows: tuple[UsageRow, ...]
    calls: int
    #: Calls not in ``rows`` (older than the newest ``limit``); all are in the CSV export.
    hidden: int
    tokens: str
    #: The total, readable and aligned with the rows' costs; ``cost_exact`` to the last digit.
    cost: str
    cost_exact: str
    #: Calls whose exact cost is not known yet (running, or interrupted and not reconciled).
    unknown: int
    summary: str


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(math.isnan(value))
    except TypeError:
        return value.__class__.__name__ in ("NAType", "NaTType")


def _cell_label(count: Any) -> str:
    return MISSING if _is_missing(count) else f"[{int(count)}]"


def _cost_texts(cost: Any, status: str) -> tuple[str, str]:
    """(readable, exact) cost of one call; a running or interrupted call shows "…"."""
    if not _is_missing(cost):
        return money(float(cost)), exact_usd(float(cost))
    if status in ("pending", "interrupted"):
        return PLACEHOLDER, "exact cost not known yet"
    return MISSING, "no cost"


#: The ledger columns the usage table reads.
USAGE_COLUMNS = ("timestamp", "execution_count", "model", "provider", "prompt_tokens",
                 "completion_tokens", "reasoning_tokens", "images", "files", "pages",
                 "cost_usd", "upstream_cost_usd", "is_byok", "status", "error")


def _usage_title(row: Mapping[str, Any], status_words: str) -> str:
    parts = []
    stamp = row["timestamp"]
    if not _is_missing(stamp):
        parts.append(stamp.strftime("%Y-%m-%d %H:%M:%S UTC"))
    parts.append(row["model"] + (f" via {row['provider']}" if row["provider"] else ""))
    tokens = f"{int(row['prompt_tokens']):,} prompt + {int(row['completion_tokens']):,} completion"
    if int(row["reasoning_tokens"]):
        tokens += f" ({int(row['reasoning_tokens']):,} reasoning)"
    parts.append(tokens + " tokens")
    sent = sent_summary(int(row["images"]), int(row["files"]), int(row["pages"]))
    if sent:  # nothing for a text-only call
        parts.append(sent)
    cost = row["cost_usd"]
    if _is_missing(cost):
        parts.append("exact cost not known yet (fetched from OpenRouter on a later call)")
    elif row["is_byok"]:
        parts.append(f"{exact_usd(float(cost))} OpenRouter fee (BYOK), "
                     f"{exact_usd(row['upstream_cost_usd'])} billed by the provider")
    else:
        parts.append(exact_usd(float(cost)))
    parts.append(status_words + (f": {row['error']}" if row["error"] else ""))
    return " · ".join(parts)


def usage_view(frame: Any, *, limit: int = 50) -> UsageView:
    """This notebook's calls, newest first, with totals.

    ``frame`` is a ledger DataFrame (``Ledger.frame`` / ``edge_jupyter.usage()``), oldest
    row first as the ledger returns it; only its newest ``limit`` rows become table rows,
    the totals cover every row.  Costs read with two significant digits below a cent
    (``$0.000015``) so that a narrow column stays readable; the exact amount is in the
    hover text of each cost.

    The newest rows are taken as plain lists, column by column: walking a DataFrame row
    by row costs pandas' indexing overhead per cell, and this runs after every call.
    """
    calls = len(frame)
    costs = [None if _is_missing(c) else float(c) for c in frame["cost_usd"].tolist()]
    # what is still to be priced, as the ledger reconciles it: a refused call cost $0
    unknown = int(unsettled(frame).sum()) if calls else 0
    total = total_usd(costs)
    tokens = int(frame["prompt_tokens"].sum() + frame["completion_tokens"].sum()) if calls else 0
    newest = frame.tail(limit)
    columns = {name: newest[name].tolist() for name in USAGE_COLUMNS}
    rows = []
    for i in reversed(range(len(newest))):
        row = {name: values[i] for name, values in columns.items()}
        status = str(row["status"])
        symbol, tone, words = STATUS_LOOK.get(status, ("?", "muted", status))
        cost, exact = _cost_texts(row["cost_usd"], status)
        rows.append(UsageRow(
            cell=_cell_label(row["execution_count"]), model=str(row["model"]),
            model_short=short_model(str(row["model"])),
            tokens=f"{int(row['prompt_tokens']) + int(row['completion_tokens']):,}",
            cost=cost, cost_exact=exact, status=status, symbol=symbol, tone=tone,
            title=_usage_title(row, words)))
    aligned = align_decimals([r.cost for r in rows] + [money(total)])
    rows = [replace(r, cost=cost) for r, cost in zip(rows, aligned, strict=False)]
    if not calls:
        summary = "No calls in this notebook yet."
    else:
        summary = f"{calls:,} call{'s' if calls != 1 else ''} · {tokens:,} tokens · {money(total)}"
        if unknown:
            summary += f" (+ {unknown} not priced yet)"
    return UsageView(rows=tuple(rows), calls=calls, hidden=max(0, calls - len(rows)),
                     tokens=f"{tokens:,}", cost=aligned[-1], cost_exact=exact_usd(total),
                     unknown=unknown, summary=summary)


# -- the spend chart of the usage tab -----------------------------------------------------------

#: The Usage tab's chart covers this many UTC days, today included.
CHART_DAYS = 14


def spend_view(frame: Any, *, today: date | None = None) -> SpendByDay:
    """Spend per UTC day of every call on this machine over the last ``CHART_DAYS`` days
    (``frame``: the ledger's rows since then, ``Source.spend_frame``); days without calls
    are empty bars, calls whose cost is still to come are counted in the title.  A day's
    bar is what the tab's "today" and ``%edge usage --by day`` count
    (``ledger.spend_usd``: a BYOK call's provider bill included; a call refused before
    any token is $0, not "unknown")."""
    from .. import spend_chart
    from ..ledger import spend_usd

    first, last = spend_chart.last_days(CHART_DAYS, today)
    return spend_chart.from_frame(frame.assign(spend_usd=spend_usd(frame)), date="timestamp",
                                  model="model", usd="spend_usd", first=first, last=last,
                                  title=f"Last {CHART_DAYS} days, all notebooks")
