"""Web search: OpenRouter's ``openrouter:web_search`` server tool in a body, and what its
searches can cost at most (pure, apart from reading the model's price from ``/models``).

The search runs on OpenRouter's side, as many times as the model asks, and each search is
billed (``pricing.web_search`` of the model, else the engine's own price). It also costs
tokens: each search is a round more of the model (the prompt again, and a completion), and
its results are prompt in the rounds after it. A budget can only hold if all of that is
bounded, so every body this module builds says ``max_uses`` (default
:data:`DEFAULT_MAX_SEARCHES`) and names the engine: Exa by default, which honours
``max_uses`` (the spec: "Applies to the Exa, Firecrawl, Parallel, and Perplexity engines";
with native search it is forwarded only to Anthropic). :class:`WebBound` is the worst case.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._errors import NothingSent

if TYPE_CHECKING:
    from ..openrouter import OpenRouterClient, Pricing

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


#: The engine when the user names none: bounded by ``max_uses`` and priced as documented.
DEFAULT_ENGINE = "exa"
#: Engines that may be the provider's own search, which ``max_uses`` bounds only at Anthropic.
NATIVE_ENGINES = ("auto", "native")
#: Prompt tokens one search result may add to each later round (an allowance on the safe side:
#: Parallel's default excerpt is 1,500 characters, about 400 tokens; Exa's highlights are shorter).
RESULT_TOKENS = 1_000
#: OpenRouter's default number of results per search (the spec's ``max_results``).
DEFAULT_RESULTS = 5


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
    parameters: dict[str, Any] = {"max_uses": searches or DEFAULT_MAX_SEARCHES,
                                  "engine": engine or DEFAULT_ENGINE}
    if results is not None:
        parameters["max_results"] = results
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
    if engine in (None, *NATIVE_ENGINES) and model_usd is not None and model_usd > 0:
        # "auto" may also fall back to Exa: the dearer of the two
        return model_usd if engine == "native" else max(model_usd, ENGINE_USD_PER_SEARCH["exa"])
    return UNKNOWN_ENGINE_USD


@dataclass(frozen=True)
class WebBound:
    """The most a body's web searches can cost: ``searches`` at ``usd_per_search``, each a
    round more of the model, with ``results`` results each as prompt in the rounds after.
    ``unbounded`` names why there is no bound (the provider's own search, which ``max_uses``
    does not bind): a budget cannot hold then, and the figures are a guess
    (:data:`UNBOUNDED_SEARCHES` searches), not a worst case."""

    searches: int = 0
    results: int = 0
    usd_per_search: float = 0.0
    unbounded: str = ""

    def worst_usd(self, pricing: Pricing, prompt_tokens: int, ceiling: int) -> float:
        """The searches' price and the tokens of their rounds, at ``pricing`` (known)."""
        if not self.searches:
            return 0.0
        from ..ledger import worst_case_cost

        # round k (1…S) re-sends the prompt with the results of k searches, and may answer
        # up to the ceiling again: S rounds more, and R·T·(1 + … + S) tokens of results
        results_tokens = RESULT_TOKENS * self.results * self.searches * (self.searches + 1) // 2
        return (self.searches * self.usd_per_search
                + self.searches * worst_case_cost(prompt_tokens, ceiling, pricing)
                + results_tokens * (pricing.prompt or 0.0))


def web_bound(client: OpenRouterClient | None, body: dict[str, Any]) -> WebBound:
    """The :class:`WebBound` of ``body``: every web tool's ``max_uses`` at the dearest price
    any model the body can reach (``models`` fallbacks included) charges."""
    tools = web_tools(body)
    if not tools:
        return WebBound()
    from ._checks import model_info

    models = [m for m in dict.fromkeys([body.get("model"), *(body.get("models") or [])])
              if isinstance(m, str)]
    prices = []
    for model in models:
        info = model_info(client, model) if client is not None else None
        prices.append(info.pricing.web_search if info is not None else None)
    searches = results = 0
    usd = 0.0
    unbounded = ""
    for tool in tools:
        parameters = tool.get("parameters") or {}
        uses, count = parameters.get("max_uses"), parameters.get("max_results")
        engine = parameters.get("engine")
        if engine in (None, *NATIVE_ENGINES) and not all(m.startswith("anthropic/") for m in models):
            unbounded = (f"the web search engine {engine or 'auto'!r} may be the provider's own "
                         "search, which OpenRouter holds to --web-searches (max_uses) only at "
                         "Anthropic")
            uses = UNBOUNDED_SEARCHES
        uses = uses if isinstance(uses, int) and uses > 0 else UNBOUNDED_SEARCHES
        searches += uses
        results = max(results, count if isinstance(count, int) and count > 0 else DEFAULT_RESULTS)
        usd = max(usd, *(engine_usd(engine, p) for p in (prices or [None])))
    return WebBound(searches, results, usd, unbounded)
