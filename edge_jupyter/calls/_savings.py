"""What a call saved, and by which kind of saving (the ledger's ``saved_*`` columns).

One saving per row, the largest (:func:`note`): a replayed answer saves the stored call's
cost (exact: OpenRouter billed it); an OpenRouter response-cache hit saves the cost of the
generation it replays (``/generation``'s ``response_cache_source_id``: exact from that
generation's ``total_cost``, else computed from the model's prices at its tokens); a prompt
cache saves ``cache_discount`` (exact) or what ``input_cache_read`` makes of it (computed,
``_caches.settle_saving``); a Batch API row saves its normal price minus its batch price
(computed); a flex call its standard price minus its flex price (computed from the
endpoint's prices).  ``%edge savings`` and ``edge_jupyter.savings()`` sum them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..openrouter import OpenRouterClient

#: OpenRouter's flex tier "about half price": the share assumed when the endpoint lists no
#: flex price of its own (the figure is then labelled computed, as every flex saving is).
FLEX_SHARE = 0.5


def note(record: Any, kind: str, usd: float | None, *, exact: bool) -> None:
    """Record a saving of ``usd`` by ``kind`` on ``record`` unless a larger one is there."""
    if usd is None or usd != usd or usd < 0:  # None, NaN, or a cost rather than a saving
        return
    if record.saved_by and record.saved_usd is not None and record.saved_usd >= usd:
        return
    record.saved_usd, record.saved_by, record.saved_exact = float(usd), kind, exact


def per_token_cost(pricing: Any, prompt_tokens: int, completion_tokens: int) -> float | None:
    """What ``prompt_tokens`` and ``completion_tokens`` cost at ``pricing`` (its tier for that
    many prompt tokens); None when either price is unknown."""
    if pricing is None:
        return None
    if hasattr(pricing, "at"):
        pricing = pricing.at(prompt_tokens)
    prompt, completion = getattr(pricing, "prompt", None), getattr(pricing, "completion", None)
    if not isinstance(prompt, float) or not isinstance(completion, float):
        return None
    return prompt_tokens * prompt + completion_tokens * completion


def response_cache(record: Any, client: OpenRouterClient | None, wait_s: float) -> None:
    """A response-cache hit saved what the generation it replays cost: that generation's
    ``total_cost`` (exact), else its tokens at the model's prices (computed)."""
    if client is None or not record.generation_id or wait_s <= 0:
        return
    from ..openrouter import OpenRouterError

    try:
        hit = client.wait_for_generation(record.generation_id, timeout=wait_s)
        source_id = hit.response_cache_source_id
        if not source_id:
            return
        source = client.wait_for_generation(source_id, timeout=wait_s)
    except (OpenRouterError, KeyboardInterrupt):
        return
    if source.total_cost:
        note(record, "openrouter_cache", source.total_cost, exact=True)
        return
    from ._checks import model_info

    info = model_info(client, record.model)
    note(record, "openrouter_cache",
         per_token_cost(getattr(info, "pricing", None), source.prompt_tokens,
                        source.completion_tokens), exact=False)


def _rows(data: Any) -> list[dict[str, Any]]:
    endpoints = data.get("endpoints") if isinstance(data, dict) else None
    return [row for row in endpoints or [] if isinstance(row, dict)]


def _price(raw: Any, name: str) -> float | None:
    """A per-token price of a ``/endpoints`` pricing object (a decimal string); None when
    absent, unreadable or negative ("-1" is variable)."""
    if not isinstance(raw, dict):
        return None
    try:
        value = float(raw.get(name))  # type: ignore[arg-type]  # None: TypeError below
    except (TypeError, ValueError):
        return None
    return value if value >= 0 else None


def flex(record: Any, client: OpenRouterClient | None) -> None:
    """A call the flex tier served saved its tokens' standard price minus their flex price,
    from the serving endpoint's prices in ``/endpoints``; when it lists no flex price, the
    cost at OpenRouter's documented share (:data:`FLEX_SHARE`). Computed either way."""
    if record.service_tier != "flex" or not record.cost_usd or record.is_byok or client is None:
        return
    from ..routing import route_variant
    from ._prices import endpoints_of

    fetched = endpoints_of(client, route_variant(record.model)[0])
    provider = (record.provider or "").lower()
    row = next((r for r in _rows(fetched.data)
                if str(r.get("provider_name") or "").lower() == provider), None)
    tiers = row.get("service_tiers") if row is not None else None
    listed = tiers.get("flex") if isinstance(tiers, dict) else None
    standard = row.get("pricing") if row is not None else None
    prices = [_price(standard, "prompt"), _price(standard, "completion"),
              _price(listed, "prompt"), _price(listed, "completion")]
    if None not in prices:
        std_p, std_c, flex_p, flex_c = (p or 0.0 for p in prices)
        saved = record.prompt_tokens * (std_p - flex_p) + record.completion_tokens * (std_c - flex_c)
    else:
        saved = record.cost_usd * (1 - FLEX_SHARE) / FLEX_SHARE
    note(record, "flex", saved, exact=False)


def batch(record: Any, share: float) -> None:
    """A Batch API row saved its normal price minus its batch price: its per-token cost is
    ``share`` of the normal one (computed)."""
    if record.status == "ok" and record.cost_usd and not record.is_byok and 0 < share < 1:
        note(record, "batch", record.cost_usd * (1 - share) / share, exact=False)
