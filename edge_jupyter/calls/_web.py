"""Web search: OpenRouter's ``openrouter:web_search`` server tool in a body, and what its
searches can cost at most (pure, apart from reading the model's price from ``/models``).

The search runs on OpenRouter's side, as many times as the model asks, and each search is
billed (``pricing.web_search`` of the model, else the engine's own price). A budget can
only hold if that number is bounded: every body this module builds says ``max_uses``
(default :data:`DEFAULT_MAX_SEARCHES`), and the worst case counts that many searches at the
dearest price that can apply.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._errors import NothingSent

if TYPE_CHECKING:
    from ..openrouter import OpenRouterClient

WEB_TOOL = "openrouter:web_search"
#: the spec's WebSearchEngineEnum; "auto" (OpenRouter's default) is the provider's own
#: search where it has one, else Exa
WEB_ENGINES = ("auto", "native", "exa", "parallel", "firecrawl", "perplexity")
#: Documented prices per search (OpenRouter docs, web search): Exa $0.007, Perplexity $0.005.
ENGINE_USD_PER_SEARCH = {"exa": 0.007, "perplexity": 0.005}
#: An engine whose price is not documented is counted at the dearest documented one.
UNKNOWN_ENGINE_USD = 0.007
#: Searches a request may run when the user does not say (``--web-searches N``).
DEFAULT_MAX_SEARCHES = 3
#: A body built elsewhere that leaves ``max_uses`` out is counted as this many searches.
UNBOUNDED_SEARCHES = 10


def check_web_options(results: int | None, engine: str | None, searches: int | None) -> None:
    """:class:`NothingSent` for an engine that is not one of :data:`WEB_ENGINES` or a count
    that is not a positive whole number (``--web-results``, ``--web-searches``)."""
    if engine is not None and engine not in WEB_ENGINES:
        raise NothingSent(f"Nothing was sent: the web search engine {engine!r} is not one of "
                          f"{', '.join(WEB_ENGINES)} (--web-engine in a cell, web_engine= in Python).")
    for flag, value in (("web-results", results), ("web-searches", searches)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise NothingSent(f"Nothing was sent: --{flag} ({flag.replace('-', '_')}= in Python) "
                              f"must be a whole number of at least 1 (got {value!r}).")


def web_tool(*, results: int | None = None, engine: str | None = None,
             searches: int | None = None) -> dict[str, Any]:
    """The server tool entry of a body's ``tools`` (schema ``WebSearchServerTool_OpenRouter``)."""
    check_web_options(results, engine, searches)
    parameters: dict[str, Any] = {"max_uses": searches or DEFAULT_MAX_SEARCHES}
    if results is not None:
        parameters["max_results"] = results
    if engine is not None:
        parameters["engine"] = engine
    return {"type": WEB_TOOL, "parameters": parameters}


def web_tools(body: dict[str, Any]) -> list[dict[str, Any]]:
    tools = body.get("tools")
    return [t for t in tools if isinstance(t, dict) and t.get("type") == WEB_TOOL] \
        if isinstance(tools, list) else []


def engine_usd(engine: str | None, model_usd: float | None) -> float:
    """One search's price: the engine's documented price, or (the provider's own search,
    "native"/"auto") the model's ``pricing.web_search``; the dearest known when neither is."""
    if engine in ENGINE_USD_PER_SEARCH:
        return ENGINE_USD_PER_SEARCH[engine]
    if engine in (None, "auto", "native") and model_usd is not None and model_usd > 0:
        # "auto" may also fall back to Exa: the dearer of the two
        return model_usd if engine == "native" else max(model_usd, ENGINE_USD_PER_SEARCH["exa"])
    return UNKNOWN_ENGINE_USD


def search_worst_usd(client: OpenRouterClient | None, body: dict[str, Any]) -> tuple[int, float]:
    """(searches at most, their price at most) for ``body``: every web tool's ``max_uses`` at
    the dearest price any model the body can reach (``models`` fallbacks included) charges."""
    tools = web_tools(body)
    if not tools:
        return 0, 0.0
    from ._checks import model_info

    models = [body.get("model"), *(body.get("models") or [])]
    prices = []
    for model in dict.fromkeys(m for m in models if isinstance(m, str)):
        info = model_info(client, model) if client is not None else None
        prices.append(info.pricing.web_search if info is not None else None)
    total_usd, total = 0.0, 0
    for tool in tools:
        parameters = tool.get("parameters") or {}
        uses = parameters.get("max_uses")
        uses = uses if isinstance(uses, int) and uses > 0 else UNBOUNDED_SEARCHES
        engine = parameters.get("engine")
        each = max(engine_usd(engine, p) for p in (prices or [None]))
        total += uses
        total_usd += uses * each
    return total, total_usd
