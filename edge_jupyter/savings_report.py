"""What replay, OpenRouter's response cache, prompt caching, the Batch API and the flex tier
saved: ``%edge savings`` and ``edge_jupyter.savings()``, from the ledger's ``saved_*``
columns (schema 4; ``calls/_savings.py`` fills them), and the ``%edge advise`` lines that
point at the savings a notebook's calls are not using yet.

Each row saved at most one kind (the largest). A group's figure is "exact" when every
saving in it is OpenRouter's own (a replayed call's billed cost, ``cache_discount``, the
replayed generation's cost), "computed" when any was worked out from prices.
pandas is imported inside each function, so importing this stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .money import short_usd, total_usd
from .record import SAVINGS

if TYPE_CHECKING:
    import pandas as pd

#: ``by``: the key column(s) of each grouping (None: per model and kind).
KEYS: dict[str | None, tuple[str, ...]] = {None: ("model", "kind"), "model": ("model",),
                                           "kind": ("kind",)}
COLUMNS = ("calls", "saved_usd", "figures")
TOTAL = "Total"
#: How each kind reads in a sentence.
KIND_WORDS = {"replay": "replayed answers", "openrouter_cache": "OpenRouter's response cache",
              "prompt_cache": "prompt caching", "batch": "the Batch API", "flex": "the flex tier"}
#: ``advise``: a cell whose map ran this many rows at the normal price could have batched them.
BATCH_ROWS = 100
#: ``advise``: a chat turn with this many prompt tokens is long enough for a prompt cache.
CACHE_PROMPT_TOKENS = 1024


def table(df: pd.DataFrame, by: str | None = None) -> pd.DataFrame:
    """The savings in ``df`` (a ledger frame) per model and kind (``by``: None), per model
    or per kind: ``calls``, ``saved_usd`` (summed without float drift), ``figures``
    ("exact"/"computed"); largest first, then a "Total" row."""
    import numpy as np
    import pandas as pd

    if by not in KEYS:
        raise ValueError(f"cannot group savings by {by!r}; use model or kind")
    keys = KEYS[by]
    saved = df["saved_usd"].to_numpy(dtype=np.float64)
    kind = df["saved_by"].to_numpy(dtype=object)
    mask = ~np.isnan(saved) & np.isin(kind, SAVINGS)
    groups: dict[tuple[str, ...], list[tuple[float, bool]]] = {}
    for model, k, usd, exact in zip(df["model"].to_numpy(dtype=object)[mask], kind[mask],
                                    saved[mask], df["saved_exact"].to_numpy(dtype=bool)[mask],
                                    strict=True):
        key = tuple({"model": str(model), "kind": str(k)}[name] for name in keys)
        groups.setdefault(key, []).append((float(usd), bool(exact)))

    def figures(items: list[tuple[float, bool]]) -> str:
        return "exact" if all(exact for _, exact in items) else "computed"

    ordered = sorted(groups.items(), key=lambda kv: (-total_usd([u for u, _ in kv[1]]), kv[0]))
    rows = [{**dict(zip(keys, key, strict=True)), "calls": len(items),
             "saved_usd": total_usd([usd for usd, _ in items]), "figures": figures(items)}
            for key, items in ordered]
    every = [item for items in groups.values() for item in items]
    total = {**{k: "" for k in keys}, keys[0]: TOTAL, "calls": len(every),
             "saved_usd": total_usd([usd for usd, _ in every]),
             "figures": figures(every) if every else ""}
    out = pd.DataFrame([*rows, total], columns=[*keys, *COLUMNS])
    return out.astype({"calls": "int64", "saved_usd": "float64"})


def savings(scope: str = "notebook", since: Any = None, by: str | None = None) -> pd.DataFrame:
    """What your calls saved, per model and kind (``by="model"`` or ``"kind"`` for one of
    them): ``scope`` "notebook", "session" or "all", ``since`` as for :func:`usage`."""
    from .ledger import usage

    return table(usage(scope=scope, since=since), by)


def headline(summary: pd.DataFrame) -> str:
    """One line over a :func:`table`: what was saved in all, and how much of it is exact."""
    total = summary.iloc[-1]
    if not int(total["calls"]):
        return ("Nothing saved yet: replayed answers, OpenRouter's cache (--or-cache), prompt "
                "caching, map(..., batch=True) and --tier flex all show here when they save.")
    calls = int(total["calls"])
    how = ("every figure OpenRouter's own" if total["figures"] == "exact"
           else "some figures computed from prices")
    return (f"Saved {short_usd(float(total['saved_usd']))} over {calls:,} "
            f"call{'s' if calls != 1 else ''} ({how}).")


def advice(df: pd.DataFrame, flex_models: set[str]) -> list[str]:
    """Short lines pointing at savings ``df``'s calls (a ledger frame) are not using: the
    Batch API for cells whose map ran many rows at the normal price, the flex tier for
    models in ``flex_models`` (those with a flex tier) not served by it, and prompt caching
    for named chats that re-send long prompts with nothing read from a cache."""
    lines = []
    maps = df[(df["chat"] == "map") & (df["saved_by"] != "batch") & (df["saved_by"] != "replay")]
    if len(maps):
        per_cell = maps.groupby(["notebook", "cell_id"]).size()
        big = int(per_cell[per_cell >= BATCH_ROWS].sum())
        if big:
            lines.append(f"Batch: {big:,} map rows ran at the normal price; map(..., batch=True) "
                         "sends such maps through OpenRouter's Batch API at about half the price "
                         "(the answers come later).")
    for model in sorted(flex_models):
        mine = df[(df["model"] == model) & (df["service_tier"] != "flex")]
        if len(mine):
            lines.append(f"Flex: {model} has a flex tier at a lower price; --tier flex (tier='flex' "
                         f"in ask and map) for the {len(mine):,} call(s) that can wait for it.")
    chats = df[(df["chat"] != "") & (df["chat"] != "map")
               & (df["prompt_tokens"] >= CACHE_PROMPT_TOKENS)]
    uncached = sorted({str(c) for c, group in chats.groupby("chat")
                       if len(group) >= 2 and not group["cached_tokens"].any()})
    if uncached:
        names = ", ".join(uncached[:3]) + (" …" if len(uncached) > 3 else "")
        lines.append(f"Prompt caching: chat(s) {names} re-send long prompts with nothing read "
                     "from a cache; --cache-prompt marks them for the models that need it "
                     "(Anthropic, Gemini), and a named chat stays on one provider so its cache hits.")
    return lines
