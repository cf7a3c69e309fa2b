"""Models: ``use`` (the default), ``models`` (the catalogue), ``fav`` (favourites) and
``advise`` (what your calls would cost elsewhere)."""

from __future__ import annotations

import difflib
from typing import Any

from ... import preferences
from ...money import exact_usd, total_usd
from ...openrouter import OpenRouterError
from ...pricing_sheet import price_text
from ...user_numbers import CONTEXT, COUNT, USD_PER_M
from .._args import UsageError, sub_parser
from .._errors import EdgeCellError
from ._shared import public_client


def cmd_use(shell: Any, argv: list[str]) -> None:
    p = sub_parser("use", "Set (or show) the default model used when a cell gives no -m.")
    p.add_argument("model", nargs="?", help="an OpenRouter model id, e.g. openai/gpt-4o-mini")
    args = p.parse_args(argv)
    prefs = preferences.load()
    if not args.model:
        print(f"Default model: {prefs.default_model}")
        return
    try:
        ids = [m.id for m in public_client().models()]
    except OpenRouterError:
        ids = []  # offline: accept it, the call will say if it is wrong
    if ids and args.model not in ids:
        close = difflib.get_close_matches(args.model, ids, n=3, cutoff=0.4)
        hint = f" Did you mean: {', '.join(close)}?" if close else " `%edge models SEARCH` lists them."
        raise EdgeCellError(f"Unknown model {args.model!r}.{hint}")
    preferences.update(default_model=args.model)
    print(f"Default model: {args.model}")


SUPPORTS = {"tools": ("tools",), "reasoning": ("reasoning", "include_reasoning"),
            "vision": (), "json": ("response_format", "structured_outputs")}


def _supports(model: Any, feature: str) -> bool:
    if feature == "vision":
        return "image" in model.input_modalities
    return any(p in model.supported_parameters for p in SUPPORTS[feature])


def models_frame(search: str = "", sort: str = "name", *, free: bool = False,
                 max_price: float | None = None, min_context: int | None = None,
                 refresh: bool = False, supports: list[str] | None = None) -> Any:
    """The model catalogue as a DataFrame, prices in USD per million tokens."""
    import pandas as pd

    rows = []
    needle = search.lower()
    for m in public_client().models(refresh=refresh):
        if needle and needle not in m.id.lower() and needle not in m.name.lower():
            continue
        # A variable ("-1") or broken price has no number: shown as "variable", never as
        # $-1,000,000/M, and never matched by --free or --max-price.
        known = m.pricing.known
        prompt = round(m.pricing.prompt * 1e6, 6) if m.pricing.prompt is not None else None
        completion = round(m.pricing.completion * 1e6, 6) if m.pricing.completion is not None else None
        if free and not m.pricing.is_free:
            continue
        if max_price is not None and (not known or max(prompt or 0.0, completion or 0.0) > max_price):
            continue
        if min_context is not None and (m.context_length or 0) < min_context:
            continue
        if supports and not all(_supports(m, f) for f in supports):
            continue
        rows.append({"id": m.id, "name": m.name, "prompt_usd_per_m": prompt,
                     "completion_usd_per_m": completion, "context_length": m.context_length,
                     "max_completion_tokens": m.max_completion_tokens,
                     "pricing": "per token" if known else "variable" if m.pricing.is_variable else "unknown",
                     # the whole sheet in words: tiers, windows, discount, "variable (bound it …)"
                     "price": price_text(m.pricing)})
    frame = pd.DataFrame(rows, columns=["id", "name", "prompt_usd_per_m", "completion_usd_per_m",
                                        "context_length", "max_completion_tokens", "pricing", "price"])
    frame = frame.astype({"context_length": "Int64", "max_completion_tokens": "Int64",
                          "prompt_usd_per_m": "Float64", "completion_usd_per_m": "Float64"})
    by = {"price": ["completion_usd_per_m", "prompt_usd_per_m"], "context": ["context_length"],
          "name": ["id"]}[sort]
    return frame.sort_values(by, ascending=sort != "context", ignore_index=True)


def cmd_models(shell: Any, argv: list[str]) -> Any:
    p = sub_parser("models", "List OpenRouter's models with prices (USD per million tokens).")
    p.add_argument("search", nargs="?", default="", help="text to look for in the id or name")
    p.add_argument("--sort", choices=("name", "price", "context"), default="name")
    p.add_argument("--free", action="store_true", help="only free models")
    p.add_argument("--max-price", type=USD_PER_M.argtype(), metavar="USD",
                   help="highest price per million tokens")
    p.add_argument("--min-context", type=CONTEXT.argtype(), metavar="N", help="smallest context length")
    p.add_argument("--supports", action="append", choices=sorted(SUPPORTS), metavar="FEATURE",
                   help="only models that support tools, vision, reasoning or json (repeatable)")
    p.add_argument("--refresh", action="store_true", help="ignore the five-minute cache")
    p.add_argument("--endpoints", action="store_true",
                   help="with a model id: the providers serving it, with prices, context, "
                        "quantisation and uptime (to pick where to route)")
    args = p.parse_args(argv)
    if args.endpoints:
        if not args.search:
            raise UsageError("%edge models --endpoints: name the model, e.g. "
                             "`%edge models openai/gpt-4o-mini --endpoints`.")
        from ...routing import endpoints_frame

        try:
            return endpoints_frame(public_client().model_endpoints(args.search))
        except OpenRouterError as exc:
            raise EdgeCellError(f"Could not list the providers of {args.search}: {exc}") from None
    try:
        return models_frame(args.search, args.sort, free=args.free, max_price=args.max_price,
                            min_context=args.min_context, refresh=args.refresh,
                            supports=args.supports)
    except OpenRouterError as exc:
        raise EdgeCellError(f"Could not list the models: {exc}") from None


def cmd_fav(shell: Any, argv: list[str]) -> None:
    p = sub_parser("fav", "Favourite models: %edge fav add MODEL | rm MODEL | list")
    p.add_argument("action", choices=("add", "rm", "list"), nargs="?", default="list")
    p.add_argument("model", nargs="?")
    args = p.parse_args(argv)
    if args.action in ("add", "rm") and not args.model:
        raise UsageError(f"%edge fav {args.action}: name the model.")

    def change(prefs: preferences.Preferences) -> None:  # on the file as it is now, locked
        if args.action == "add" and args.model not in prefs.favourites:
            prefs.favourites = [*prefs.favourites, args.model]
        elif args.action == "rm":
            if args.model not in prefs.favourites:
                raise EdgeCellError(f"{args.model!r} is not a favourite.")
            prefs.favourites = [f for f in prefs.favourites if f != args.model]

    favs = (preferences.edit(change) if args.action != "list" else preferences.load()).favourites
    print("Favourites: " + (", ".join(favs) if favs else "none"))


def cmd_advise(shell: Any, argv: list[str]) -> Any:
    p = sub_parser("advise", "What this notebook's calls would have cost on your favourites and on "
                   "cheaper models (same token counts × their prices: an estimate, tokenizers differ).")
    p.add_argument("--all", action="store_true", help="use the whole ledger, not just this notebook")
    p.add_argument("--top", type=COUNT.argtype(), default=5,
                   help="how many of the cheapest models to add")
    args = p.parse_args(argv)
    from collections import Counter

    import pandas as pd

    from ...ledger import Ledger, current_context, worst_case_cost

    ctx = current_context()
    book = Ledger.default()
    df = book.frame("all") if args.all else book.frame(
        "notebook" if ctx.notebook else "session", notebook=ctx.notebook, session_id=ctx.session_id)
    df = df[df["status"].isin(["ok", "interrupted", "stopped_budget"])]
    if df.empty:
        raise EdgeCellError("No calls to learn from yet: run some %%edge cells first.")
    models = {m.id: m for m in public_client().models()}
    prompt, completion = int(df["prompt_tokens"].sum()), int(df["completion_tokens"].sum())
    actual = float(df["cost_usd"].fillna(0).sum())
    used = list(dict.fromkeys(df["model"]))
    # A variable or unknown price cannot be compared: such models are skipped, not ranked first.
    cheapest = sorted((m for m in models.values() if m.pricing.known and not m.pricing.is_free),
                      key=lambda m: m.pricing.prompt * prompt + m.pricing.completion * completion)  # type: ignore[operator]
    candidates = list(dict.fromkeys(used + preferences.load().favourites
                                    + [m.id for m in cheapest[: args.top]]))
    rows = []
    # Each call priced on its own (a tier applies per request, by its prompt tokens) through the
    # budgets' price reading, so tiers, windows and discounts count as they do for a budget.
    calls = Counter(zip(df["prompt_tokens"].fillna(0).astype(int), df["completion_tokens"].fillna(0).astype(int),
                        strict=True))
    for model_id in candidates:
        info = models.get(model_id)
        if info is None or not info.pricing.known:
            continue
        cost = total_usd([n * worst_case_cost(p, c, info.pricing) for (p, c), n in calls.items()])
        rows.append({"model": model_id, "would_cost_usd": cost, "vs_actual": cost / actual if actual else None,
                     "used": model_id in used, "favourite": model_id in preferences.load().favourites,
                     "context_length": info.context_length})
    print(f"{len(df)} calls · {prompt:,} prompt + {completion:,} completion tokens · actual {exact_usd(actual)}")
    from ...savings_report import advice

    for line in advice(df, _flex_models(used)):  # the ways to pay less these calls do not use
        print(line)
    return pd.DataFrame(rows).sort_values("would_cost_usd", ignore_index=True)


def _flex_models(models: list[str]) -> set[str]:
    """Those of ``models`` with a provider whose ``/endpoints`` lists a flex tier (a model
    whose list cannot be had is left out: advice, not a price)."""
    from ... import calls

    client, found = public_client(), set()
    for model in models:
        data = calls.endpoints_of(client, model).data
        rows = data.get("endpoints") if isinstance(data, dict) else None
        if any(isinstance(r, dict) and isinstance(r.get("service_tiers"), dict)
               and "flex" in r["service_tiers"] for r in rows or []):
            found.add(model)
    return found
