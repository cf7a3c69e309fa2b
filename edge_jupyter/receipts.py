"""Receipts: the bill a notebook carries in its own outputs, and what "Run All" would cost.

Every ``%%edge`` answer's output metadata holds a receipt under ``edge_jupyter``
(model, provider, generation id, tokens, exact cost, BYOK flag, timestamp; never
the key; and ``images``, ``files``, ``pages`` when the call sent any, ``group_id`` and
``step`` for a tool loop's step -- one receipt per step -- and ``web_searches`` when the
call searched the web).  This module
reads them back from a notebook file (plain JSON, no kernel needed) and prices a re-run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import EdgeError
from .openrouter import ModelInfo
from .record import sent_summary
from .user_numbers import finite, whole

RECEIPT_KEY = "edge_jupyter"


@dataclass(frozen=True)
class Receipt:
    cell: int  # position among the notebook's cells, from 1
    cell_id: str
    model: str
    provider: str
    generation_id: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    upstream_cost_usd: float | None
    is_byok: bool
    status: str
    timestamp: str
    # What the call sent besides text; 0 in receipts of text-only calls (which omit them).
    images: int = 0
    files: int = 0
    pages: int = 0
    # A tool loop's step: the loop's id and the step's number (""/0 for a plain call), and
    # the web searches the call paid for.
    group_id: str = ""
    step: int = 0
    web_searches: int = 0

    @property
    def sent(self) -> str:
        """E.g. "2 images · 1 PDF (12 pages)"; "" for a text-only call."""
        return sent_summary(self.images, self.files, self.pages)


def _source(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


class ReceiptError(EdgeError, ValueError):
    """A notebook whose receipts cannot be read; the message names the file and the problem."""


def read_notebook(path: str | Path) -> dict[str, Any]:
    """The notebook at ``path``, checked to be an nbformat-4 notebook with well-formed receipts.

    Raises :class:`ReceiptError` (not JSON, not a notebook, another nbformat, a damaged
    receipt) and ``OSError`` (cannot be read). Checked here, once, so a bill is either
    right or refused, never a traceback half-way through the totals.
    """
    name = Path(path).name
    try:
        with open(path, encoding="utf-8") as f:
            notebook = json.load(f)
    except UnicodeDecodeError:
        raise ReceiptError(f"{name} is not a notebook: it is not UTF-8 text.") from None
    except json.JSONDecodeError as exc:
        raise ReceiptError(f"{name} is not a notebook: it is not valid JSON (line {exc.lineno}, "
                           f"column {exc.colno}: {exc.msg}).") from None
    problem = _notebook_problem(notebook)
    if problem:
        raise ReceiptError(f"{name} {problem}")
    try:
        collect(notebook)
    except ReceiptError as exc:
        raise ReceiptError(f"{name}: {exc}") from None
    return notebook


def _notebook_problem(notebook: Any) -> str:
    """What keeps ``notebook`` from being read as nbformat 4 ("" when nothing)."""
    if not isinstance(notebook, dict) or "nbformat" not in notebook:
        return "is not a notebook: it has no nbformat version."
    version = notebook.get("nbformat")
    if not isinstance(version, int) or isinstance(version, bool):
        return f"is not a notebook: its nbformat is {version!r}, not a version number."
    if version < 4:
        return (f"is an nbformat {version} notebook: open and save it in Jupyter to upgrade it "
                "to nbformat 4.")
    if version > 4:
        return f"is an nbformat {version} notebook; this edge_jupyter reads nbformat 4."
    cells = notebook.get("cells")
    if not isinstance(cells, list) or not all(isinstance(c, dict) for c in cells):
        return "is not a notebook: its cells are not a list of cells."
    for number, cell in enumerate(cells, 1):
        outputs = cell.get("outputs", [])
        if not isinstance(outputs, list) or not all(isinstance(o, dict) for o in outputs):
            return f"is damaged: the outputs of cell {number} are not a list of outputs."
        if any(not isinstance(o.get("metadata") or {}, dict) for o in outputs):
            return f"is damaged: an output of cell {number} has metadata that is not an object."
    return ""


def _count(meta: dict[str, Any], key: str, what: str = "tokens") -> int:
    value = meta.get(key)
    if value is None:
        return 0
    count = whole(value, low=0)
    if count is None:
        raise ReceiptError(f"{key} is {value!r}, not a number of {what}")
    return count


def _usd(meta: dict[str, Any], key: str) -> float | None:
    value = meta.get(key)
    if value is None:
        return None
    usd = finite(value, low=0)
    if usd is None:
        raise ReceiptError(f"{key} is {value!r}, not an amount of USD")
    return usd


def collect(notebook: dict[str, Any]) -> list[Receipt]:
    """Every receipt in the notebook's outputs; :class:`ReceiptError` names a damaged one.

    A generation is billed once: a result displayed again (``_edge`` or ``-o VAR`` as a
    cell's value, a copied output) carries the same generation id, and counts once, where it
    first appears."""
    receipts: list[Receipt] = []
    seen: set[str] = set()
    for number, cell in enumerate(notebook.get("cells", []), 1):
        if cell.get("cell_type") != "code":
            continue
        for output in cell.get("outputs", []):
            found = (output.get("metadata") or {}).get(RECEIPT_KEY)
            if found is None:
                continue
            # One output of the Python API's several-model result carries one receipt per
            # model: {"receipts": [...]} (a bare list stays damaged, as it always was).
            several = isinstance(found, dict) and isinstance(found.get("receipts"), list)
            for meta in found["receipts"] if several else [found]:
                receipt = _receipt(meta, number, cell)
                if receipt.generation_id and receipt.generation_id in seen:
                    continue
                seen.add(receipt.generation_id)
                receipts.append(receipt)
    return receipts


def _receipt(meta: Any, number: int, cell: dict[str, Any]) -> Receipt:
    """One receipt of cell ``number``; :class:`ReceiptError` when it is damaged."""
    try:
        if not isinstance(meta, dict):
            raise ReceiptError(f"it is {type(meta).__name__}, not an object")
        return Receipt(
            cell=number, cell_id=str(cell.get("id", "")), model=str(meta.get("model", "")),
            provider=str(meta.get("provider") or ""),
            generation_id=str(meta.get("generation_id") or ""),
            prompt_tokens=_count(meta, "prompt_tokens"),
            completion_tokens=_count(meta, "completion_tokens"),
            cost_usd=_usd(meta, "cost_usd"), upstream_cost_usd=_usd(meta, "upstream_cost_usd"),
            is_byok=bool(meta.get("is_byok")), status=str(meta.get("status") or ""),
            timestamp=str(meta.get("timestamp") or ""),
            images=_count(meta, "images", "images"), files=_count(meta, "files", "files"),
            pages=_count(meta, "pages", "pages"), group_id=str(meta.get("group_id") or ""),
            step=_count(meta, "step", "steps"),
            web_searches=_count(meta, "web_searches", "web searches"))
    except ReceiptError as exc:
        raise ReceiptError(f"cell {number} has a damaged receipt ({exc}); re-run the "
                           "cell, or clear its output, to replace it.") from None


def frame(receipts: list[Receipt]) -> Any:
    import pandas as pd

    columns = list(Receipt.__dataclass_fields__)
    return pd.DataFrame([r.__dict__ for r in receipts], columns=columns)


def calls(receipts: list[Receipt]) -> Any:
    """One row per receipt (``%edge receipt --by call``), then a Total row: cell, model,
    tokens, cost; ``group_id`` and ``step`` when a tool loop ran (each step is its own
    row, as in the ledger), ``web_searches`` when a call searched, ``sent`` when one sent
    images or PDFs."""
    import pandas as pd

    df = frame(receipts)
    columns = ["cell", "model", "generation_id", "prompt_tokens", "completion_tokens", "cost_usd"]
    if df.empty:
        return pd.DataFrame(columns=columns)
    if df["step"].to_numpy().any():
        columns[2:2] = ["group_id", "step"]
    if df["web_searches"].to_numpy().any():
        columns.append("web_searches")
    table = df[columns].copy()
    table["cell"] = table["cell"].astype(str)
    total: dict[str, Any] = {name: "" for name in columns}
    total.update(cell="Total", prompt_tokens=int(df["prompt_tokens"].sum()),
                 completion_tokens=int(df["completion_tokens"].sum()),
                 cost_usd=float(df["cost_usd"].dropna().sum()))
    if "step" in columns:
        total["step"] = 0
    if "web_searches" in columns:
        total["web_searches"] = int(df["web_searches"].sum())
    table = pd.concat([table, pd.DataFrame([total])], ignore_index=True)
    sent = [r.sent for r in receipts]
    if any(sent):
        table["sent"] = [*sent, sent_summary(int(df["images"].sum()), int(df["files"].sum()),
                                             int(df["pages"].sum()))]
    return table


def totals(receipts: list[Receipt], by: str) -> Any:
    """Calls, tokens and cost per ``model`` or per ``cell``, with a Total row (``call``:
    :func:`calls`, one row per receipt).

    When any call sent images or PDFs, a ``sent`` column says what each group sent
    ("2 images · 1 PDF (12 pages)"); a notebook of text-only calls has none. Likewise a
    ``web_searches`` column only when a call searched. A tool loop's steps are calls of
    their cell, each counted (``--by call`` shows each step's ``group_id`` and ``step``).
    """
    import pandas as pd

    if by == "call":
        return calls(receipts)
    df = frame(receipts)
    if df.empty:
        return pd.DataFrame(columns=[by, "calls", "prompt_tokens", "completion_tokens", "cost_usd"])
    grouped = df.groupby(by, sort=True).agg(
        calls=("model", "size"), prompt_tokens=("prompt_tokens", "sum"),
        completion_tokens=("completion_tokens", "sum"),
        cost_usd=("cost_usd", lambda s: float(s.dropna().sum())),
        images=("images", "sum"), files=("files", "sum"), pages=("pages", "sum"),
        web_searches=("web_searches", "sum")).reset_index()
    grouped[by] = grouped[by].astype(str)
    total = {by: "Total", "calls": int(grouped["calls"].sum()),
             "prompt_tokens": int(grouped["prompt_tokens"].sum()),
             "completion_tokens": int(grouped["completion_tokens"].sum()),
             "cost_usd": float(df["cost_usd"].dropna().sum()),
             **{name: int(grouped[name].sum())
                for name in ("images", "files", "pages", "web_searches")}}
    table = pd.concat([grouped, pd.DataFrame([total])], ignore_index=True)
    if not table["web_searches"].to_numpy().any():
        table = table.drop(columns=["web_searches"])
    media = table[["images", "files", "pages"]]
    if not media.to_numpy().any():
        return table.drop(columns=list(media.columns))
    table["sent"] = [sent_summary(int(i), int(f), int(p)) for i, f, p in media.to_numpy()]
    return table


def _priced_today(info: ModelInfo | None, prompt_tokens: int, completion_tokens: int,
                  images: int = 0) -> float | None:
    """What a recorded call's tokens (and images, where the model prices them one by one)
    cost at today's prices; None if unlisted or not priceable."""
    if info is None or not info.pricing.known:
        return None
    from .ledger import worst_case_cost
    from .ledger.budgets import UnknownPrice

    try:  # the budgets' reading of the price sheet: a tier, a window, a discount count here too
        return worst_case_cost(prompt_tokens, completion_tokens, info.pricing, images=images)
    except UnknownPrice:
        return None


def estimate_run_all(notebook: dict[str, Any], models: dict[str, ModelInfo], default_model: str) -> Any:
    """What running every ``%%edge`` cell again would cost at today's prices.

    A cell with receipts: its recorded token counts × today's prices (an estimate: the
    answer may come out longer or shorter).  A cell never run: its worst case, from the
    prompt text and ``--max-tokens`` (or the model's completion limit).
    """
    import pandas as pd

    from .ledger import completion_ceiling, estimate_prompt_tokens, worst_case_cost
    from .magics import UsageError, parse_cell_line

    rows = []
    by_cell: dict[int, list[Receipt]] = {}
    for receipt in collect(notebook):
        by_cell.setdefault(receipt.cell, []).append(receipt)
    for number, cell in enumerate(notebook.get("cells", []), 1):
        source = _source(cell)
        if cell.get("cell_type") != "code" or not source.lstrip().startswith("%%edge"):
            continue
        first, _, prompt = source.lstrip().partition("\n")
        if number in by_cell:
            for r in by_cell[number]:
                info = models.get(r.model)
                now = _priced_today(info, r.prompt_tokens, r.completion_tokens, r.images)
                priced = now is not None
                rows.append({"cell": number, "model": r.model, "recorded_usd": r.cost_usd,
                             "estimate_usd": now, "basis": "recorded tokens × today's prices" if priced
                             else "model no longer listed" if info is None else "price is variable"})
            continue
        try:
            args = parse_cell_line(first.strip()[len("%%edge"):])
        except (UsageError, Exception):
            continue
        messages = [{"role": "user", "content": prompt}]
        for model in args.model or [default_model]:
            info = models.get(model)
            if info is None or not info.pricing.known:
                rows.append({"cell": number, "model": model, "recorded_usd": None, "estimate_usd": None,
                             "basis": "unknown model" if info is None else "price is variable"})
                continue
            tokens = estimate_prompt_tokens(messages)
            ceiling = completion_ceiling(args.max_tokens, prompt_tokens=tokens,
                                         context_length=info.context_length,
                                         max_completion_tokens=info.max_completion_tokens)
            rows.append({"cell": number, "model": model, "recorded_usd": None,
                         "estimate_usd": worst_case_cost(tokens, ceiling, info.pricing),
                         "basis": f"never run: worst case ({ceiling:,} completion tokens)"})
    return pd.DataFrame(rows, columns=["cell", "model", "recorded_usd", "estimate_usd", "basis"])
