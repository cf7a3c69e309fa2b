"""Web search: OpenRouter's ``openrouter:web_search`` server tool in a body, and what its
searches can cost at most (pure, apart from reading the model's price from ``/models``).

The search runs on OpenRouter's side, as many times as the model asks, and each search is
billed (the engine's price, or the model's ``pricing.web_search``: the dearer is counted). It
also costs tokens: each search is a round more of the model (the prompt again, and a
completion), and that round's output and the search's results are prompt in the rounds after
it. A budget can only hold if all of that is bounded, so every body this module builds says
``max_uses`` (default :data:`DEFAULT_MAX_SEARCHES`), ``max_characters`` per result and the
engine: Exa by default, which honours both (the spec: ``max_uses`` "Applies to the Exa,
Firecrawl, Parallel, and Perplexity engines"; native search ignores ``max_results`` and holds to
``max_uses`` only at Anthropic; Firecrawl ignores ``max_characters``). :class:`WebBound` is the
worst case; a body nothing bounds (the provider's own search, Firecrawl, the legacy ``web``
plugin, a ``:online`` model) is refused under a budget.
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
#: Engines that may be the provider's own search: the spec says it ignores ``max_results``
#: and holds to ``max_uses`` only at Anthropic, so nothing bounds what it costs.
NATIVE_ENGINES = ("auto", "native")
#: Engines the spec says honour ``max_characters`` (Firecrawl ignores it: not bounded).
CAPPED_ENGINES = ("exa", "parallel", "perplexity")
#: Characters of content per result that every body built here asks for (``max_characters``);
#: the estimate counts each character a token (the safe side for any script).
RESULT_CHARS = 2_000
#: OpenRouter's default number of results per search (the spec's ``max_results``), and the
#: most a body may ask for: Exa's and Parallel's price per search covers up to 10 results.
DEFAULT_RESULTS = 5
MAX_RESULTS = 10


def check_web_options(results: int | None, engine: str | None, searches: int | None) -> None:
    """:class:`NothingSent` for an engine that is not one of :data:`WEB_ENGINES` or a count
    that is not a positive whole number (``--web-results`` at most :data:`MAX_RESULTS`)."""
    if engine is not None and engine not in WEB_ENGINES:
        raise NothingSent(f"Nothing was sent: the web search engine {engine!r} is not one of "
                          f"{', '.join(WEB_ENGINES)} (--web-engine in a cell, web_engine= in Python).")
    for flag, value in (("web-results", results), ("web-searches", searches)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise NothingSent(f"Nothing was sent: --{flag} ({flag.replace('-', '_')}= in Python) "
                              f"must be a whole number of at least 1 (got {value!r}).")
    if results is not None and results > MAX_RESULTS:
        raise NothingSent(f"Nothing was sent: --web-results (web_results= in Python) is at most "
                          f"{MAX_RESULTS}: a search's price covers up to {MAX_RESULTS} results "
                          f"(got {results}).")


def web_tool(*, results: int | None = None, engine: str | None = None,
             searches: int | None = None) -> dict[str, Any]:
    """The server tool entry of a body's ``tools`` (schema ``WebSearchServerTool_OpenRouter``)."""
    check_web_options(results, engine, searches)
    parameters: dict[str, Any] = {"max_uses": searches or DEFAULT_MAX_SEARCHES,
                                  "engine": engine or DEFAULT_ENGINE,
                                  "max_characters": RESULT_CHARS}
    if results is not None:
        parameters["max_results"] = results
    return {"type": WEB_TOOL, "parameters": parameters}


def web_tools(body: dict[str, Any]) -> list[dict[str, Any]]:
    tools = body.get("tools")
    return [t for t in tools if isinstance(t, dict) and t.get("type") == WEB_TOOL] \
        if isinstance(tools, list) else []


def engine_usd(engine: str | None, model_usd: float | None) -> float:
    """One search's price, the dearest that can apply: the engine's documented price (the
    dearest documented one for an engine without), or the model's ``pricing.web_search``
    when that is more (OpenRouter may bill the model's price whatever the engine)."""
    documented = ENGINE_USD_PER_SEARCH.get(engine or "", UNKNOWN_ENGINE_USD)
    return max(documented, model_usd or 0.0)


@dataclass(frozen=True)
class WebBound:
    """The most a body's web searches can cost: ``searches`` at ``usd_per_search``, each a
    round more of the model, with ``results`` results of ``result_tokens`` each as prompt in
    the rounds after. ``unbounded`` names why there is no bound (the provider's own search,
    the legacy ``web`` plugin or ``:online``): a budget cannot hold then, and the figures are
    a guess (:data:`UNBOUNDED_SEARCHES` searches), not a worst case."""

    searches: int = 0
    results: int = 0
    usd_per_search: float = 0.0
    unbounded: str = ""
    result_tokens: int = RESULT_CHARS

    def worst_usd(self, pricing: Pricing, prompt_tokens: int, ceiling: int, *,
                  images: int = 0) -> float:
        """The searches' price and the tokens of their rounds, at ``pricing`` (known)."""
        if not self.searches:
            return 0.0
        from ..ledger import worst_case_cost

        # Round k (1…S) re-sends the prompt (its images too), plus what the k rounds before
        # it added: each one's output (up to the ceiling) and its search's results. So S
        # rounds more, and (ceiling + R·T)·(1 + … + S) tokens more of prompt.
        triangle = self.searches * (self.searches + 1) // 2
        added = (ceiling + self.results * self.result_tokens) * triangle
        return (self.searches * self.usd_per_search
                + self.searches * worst_case_cost(prompt_tokens, ceiling, pricing, images=images)
                + added * (pricing.prompt or 0.0))


def web_bound(client: OpenRouterClient | None, body: dict[str, Any]) -> WebBound:
    """The :class:`WebBound` of ``body``: every web tool's ``max_uses`` at the dearest price
    any model the body can reach (``models`` fallbacks included) charges."""
    models = [m for m in dict.fromkeys([body.get("model"), *(body.get("models") or [])])
              if isinstance(m, str)]
    legacy = _legacy_search(body, models)
    tools = web_tools(body)
    if not tools and not legacy:
        return WebBound()
    from ._checks import model_info

    prices = []
    for model in models:
        info = model_info(client, model) if client is not None else None
        prices.append(info.pricing.web_search if info is not None else None)
    if legacy:
        return WebBound(UNBOUNDED_SEARCHES, MAX_RESULTS,
                        max(engine_usd(None, p) for p in (prices or [None])), legacy)
    searches = results = 0
    usd = 0.0
    unbounded = ""
    for tool in tools:
        parameters = tool.get("parameters") or {}
        uses, count = parameters.get("max_uses"), parameters.get("max_results")
        engine = parameters.get("engine")
        chars = parameters.get("max_characters")
        if engine in (None, *NATIVE_ENGINES):
            unbounded = (f"the web search engine {engine or 'auto'!r} may be the provider's own "
                         "search, which OpenRouter does not hold to --web-searches and "
                         "--web-results (max_uses, max_results) at most providers")
            uses, count = UNBOUNDED_SEARCHES, MAX_RESULTS
        elif engine not in CAPPED_ENGINES or not (isinstance(chars, int) and chars > 0):
            unbounded = (f"the web search engine {engine!r} does not cap the text of its results "
                         "(max_characters)")
        uses = uses if isinstance(uses, int) and uses > 0 else UNBOUNDED_SEARCHES
        searches += uses
        results = max(results, count if isinstance(count, int) and count > 0 else DEFAULT_RESULTS)
        usd = max(usd, *(engine_usd(engine, p) for p in (prices or [None])))
    return WebBound(searches, results, usd, unbounded)


def _legacy_search(body: dict[str, Any], models: list[str]) -> str:
    """Why a body searches the web outside any bound ("" when it does not): the legacy
    ``web`` plugin or a ``:online`` model (OpenRouter searches for them as it sees fit)."""
    if any(m.endswith(":online") for m in models):
        return "a ':online' model searches the web with no bound on what it costs (use --web)"
    plugins = body.get("plugins")
    if isinstance(plugins, list) and any(isinstance(p, dict) and p.get("id") == "web"
                                         and p.get("enabled", True) is not False for p in plugins):
        return "the 'web' plugin searches the web with no bound on what it costs (use --web)"
    return ""
