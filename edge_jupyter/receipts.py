"""Receipts: the bill a notebook carries in its own outputs, and what "Run All" would cost.

Every ``%%edge`` answer's output metadata holds a receipt under ``edge_jupyter``
(model, provider, generation id, tokens, exact cost, BYOK flag, timestamp; never
the key).  This module reads them back from a notebook file (plain JSON, no
kernel needed) and prices a re-run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .openrouter import ModelInfo

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


def _source(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def read_notebook(path: str | Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def collect(notebook: dict[str, Any]) -> list[Receipt]:
    receipts = []
    for number, cell in enumerate(notebook.get("cells", []), 1):
        if cell.get("cell_type") != "code":
            continue
        for output in cell.get("outputs", []):
            meta = (output.get("metadata") or {}).get(RECEIPT_KEY)
            if not isinstance(meta, dict):
                continue
            receipts.append(Receipt(
                cell=number, cell_id=str(cell.get("id", "")), model=str(meta.get("model", "")),
                provider=str(meta.get("provider") or ""), generation_id=str(meta.get("generation_id") or ""),
                prompt_tokens=int(meta.get("prompt_tokens") or 0),
                completion_tokens=int(meta.get("completion_tokens") or 0),
                cost_usd=meta.get("cost_usd"), upstream_cost_usd=meta.get("upstream_cost_usd"),
                is_byok=bool(meta.get("is_byok")), status=str(meta.get("status") or ""),
                timestamp=str(meta.get("timestamp") or "")))
    return receipts


def frame(receipts: list[Receipt]) -> Any:
    import pandas as pd

    columns = list(Receipt.__dataclass_fields__)
    return pd.DataFrame([r.__dict__ for r in receipts], columns=columns)


def totals(receipts: list[Receipt], by: str) -> Any:
    """Calls, tokens and cost per ``model`` or per ``cell``, with a Total row."""
    import pandas as pd

    df = frame(receipts)
    if df.empty:
        return pd.DataFrame(columns=[by, "calls", "prompt_tokens", "completion_tokens", "cost_usd"])
    grouped = df.groupby(by, sort=True).agg(
        calls=("model", "size"), prompt_tokens=("prompt_tokens", "sum"),
        completion_tokens=("completion_tokens", "sum"),
        cost_usd=("cost_usd", lambda s: float(s.dropna().sum()))).reset_index()
    grouped[by] = grouped[by].astype(str)
    total = {by: "Total", "calls": int(grouped["calls"].sum()),
             "prompt_tokens": int(grouped["prompt_tokens"].sum()),
             "completion_tokens": int(grouped["completion_tokens"].sum()),
             "cost_usd": float(df["cost_usd"].dropna().sum())}
    return pd.concat([grouped, pd.DataFrame([total])], ignore_index=True)


def estimate_run_all(notebook: dict[str, Any], models: dict[str, ModelInfo], default_model: str) -> Any:
    """What running every ``%%edge`` cell again would cost at today's prices.

    A cell with receipts: its recorded token counts × today's prices (an estimate: the
    answer may come out longer or shorter).  A cell never run: its worst case, from the
    prompt text and ``--max-tokens`` (or the model's completion limit).
    """
    import pandas as pd

    from .ledger import completion_ceiling, estimate_prompt_tokens, worst_case_cost
    from .magics._args import UsageError, parse_cell_line

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
                priced = info is not None and info.pricing.known
                now = (r.prompt_tokens * info.pricing.prompt + r.completion_tokens * info.pricing.completion
                       + info.pricing.request) if priced else None  # type: ignore[operator, union-attr]
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
