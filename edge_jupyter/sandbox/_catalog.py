"""The sandbox's model catalog: a small, fixed price table shaped like OpenRouter's.

Prices are decimal strings in USD per token, exactly as ``GET /api/v1/models``
returns them, so client code that parses real prices parses these unchanged.
The numbers mirror OpenRouter's public list prices for these models (per
million tokens in the comments) so that demo costs look plausible.

Everything here is immutable data plus two pure functions that render the
JSON bodies; the HTTP layer only serialises what these return.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from decimal import Decimal
from types import MappingProxyType
from typing import Any

_COMMON_PARAMS: tuple[str, ...] = (
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "stop",
    "seed",
    "frequency_penalty",
    "presence_penalty",
    "response_format",
    "tools",
    "tool_choice",
)


@dataclass(frozen=True)
class CatalogEndpoint:
    """One provider serving a model (a row of ``/models/{author}/{slug}/endpoints``)."""

    provider_name: str
    tag: str
    quantization: str | None
    context_length: int
    max_completion_tokens: int | None
    prompt: str
    completion: str
    uptime_last_30m: float = 99.9
    #: USD per image part (``pricing.image``); "0": images are billed as prompt tokens.
    image: str = "0"
    #: USD per web search (``pricing.web_search``); "0": the search engine's own price.
    web_search: str = "0"
    #: USD per prompt token read from / written to the provider's prompt cache
    #: (``pricing.input_cache_read`` / ``input_cache_write``); "": this endpoint caches nothing
    cache_read: str = ""
    cache_write: str = ""
    #: Service tiers this provider sells besides its default one, each with its price as a
    #: multiple of the default (``(("flex", "0.5"), ("priority", "1.5"))``): a request's
    #: ``service_tier`` is honoured and billed at it, and ``/endpoints`` lists the tier's
    #: prices under ``service_tiers`` (not in the spec: a sandbox extension)
    tiers: tuple[tuple[str, str], ...] = ()
    #: What the provider itself calls a normal stop / a length cut-off; sent
    #: as ``native_finish_reason`` so clients see realistic provider values.
    native_stop: str = "stop"
    native_length: str = "length"
    #: Data policy (OpenRouter keeps it per endpoint but does not publish it in
    #: ``/endpoints``): ``retains_prompts`` endpoints are excluded by ``zdr: true``,
    #: ``trains_on_data`` ones by ``data_collection: "deny"``.
    retains_prompts: bool = True
    trains_on_data: bool = False
    #: Median time to first token (ms) and output speed (tokens/s) over 30 minutes;
    #: ``None`` derives plausible numbers from the endpoint's position.
    latency_ms: float | None = None
    throughput: float | None = None
    #: ``pricing.overrides``: each a tuple of (key, value) pairs of a ``PricingOverride``
    #: (``min_prompt_tokens``, ``utc_start``/``utc_end`` HHMM, price strings); billed by :meth:`billed_at`
    overrides: tuple[tuple[tuple[str, Any], ...], ...] = ()
    #: ``pricing.discount``: the fraction off the per-token prices ("0": none)
    discount: str = "0"

    def billed_at(self, prompt_tokens: int, now: datetime | None = None) -> CatalogEndpoint:
        """This endpoint with the prompt and completion prices a request of ``prompt_tokens``
        is billed at ``now`` (UTC): the overrides that hold (later ones win per key), then
        the discount — as OpenRouter documents ``PricingOverride`` and ``discount``."""
        if not self.overrides and self.discount == "0":
            return self
        moment = now or datetime.now(timezone.utc)
        hhmm = moment.hour * 100 + moment.minute
        prices = {"prompt": Decimal(self.prompt), "completion": Decimal(self.completion)}
        for entry in map(dict, self.overrides):
            if "min_prompt_tokens" in entry and not prompt_tokens > entry["min_prompt_tokens"]:
                continue
            start, end = entry.get("utc_start", 0), entry.get("utc_end", 2400)
            if not (start <= hhmm < end if start <= end else hhmm >= start or hhmm < end):
                continue
            prices.update({k: Decimal(v) for k, v in entry.items() if k in prices})
        scale = 1 - Decimal(self.discount)
        return replace(self, prompt=format((prices["prompt"] * scale).normalize(), "f"),
                       completion=format((prices["completion"] * scale).normalize(), "f"),
                       overrides=(), discount="0")

    @property
    def slug(self) -> str:
        """The provider slug (the tag without its ``/variant``), e.g. ``google-vertex``."""
        return self.tag.split("/", 1)[0]

    def names(self) -> frozenset[str]:
        """Every name a ``provider`` preference may use for this endpoint (lower case)."""
        return frozenset({self.provider_name.lower(), self.tag.lower(), self.slug.lower()})

    def stats(self, index: int) -> tuple[float, float]:
        """(p50 latency ms, p50 throughput tok/s), as served by ``/endpoints``."""
        latency = self.latency_ms if self.latency_ms is not None else 420.0 + 90 * index
        speed = self.throughput if self.throughput is not None else 95.0 - 10 * index
        return latency, speed

    @property
    def prompt_price(self) -> Decimal:
        """USD per prompt token, exact."""
        return Decimal(self.prompt)

    @property
    def completion_price(self) -> Decimal:
        """USD per completion token (reasoning tokens included), exact."""
        return Decimal(self.completion)

    @property
    def image_price(self) -> Decimal:
        """USD per image part, exact (0: the image is billed as prompt tokens)."""
        return Decimal(self.image)

    @property
    def web_search_price(self) -> Decimal:
        """USD per web search, exact (0: the engine's price applies)."""
        return Decimal(self.web_search)

    def tier_factor(self, tier: str) -> Decimal | None:
        """The price multiple of ``tier`` here (``flex``, ``priority``), None if not sold."""
        return next((Decimal(f) for name, f in self.tiers if name == tier), None)

    def at_tier(self, tier: str) -> CatalogEndpoint:
        """This endpoint priced at ``tier`` (one it sells): every per-token price times its
        factor, so the reservation, the bill and ``/generation`` all follow the tier."""
        factor = self.tier_factor(tier)
        assert factor is not None
        return replace(self, prompt=format((self.prompt_price * factor).normalize(), "f"),
                       completion=format((self.completion_price * factor).normalize(), "f"),
                       tiers=())


@dataclass(frozen=True)
class CatalogModel:
    """One model of the catalog. ``endpoints[0]`` is the default provider."""

    id: str
    name: str
    created: int
    description: str
    context_length: int
    max_completion_tokens: int
    tokenizer: str
    instruct_type: str | None
    input_modalities: tuple[str, ...]
    endpoints: tuple[CatalogEndpoint, ...]
    reasoning: bool = False
    knowledge_cutoff: str | None = None
    extra_params: tuple[str, ...] = field(default=())
    #: Common parameters this model does not list (a free variant without structured outputs).
    lacks_params: tuple[str, ...] = field(default=())
    #: A router (``openrouter/auto``): no endpoints of its own; each request goes to the first
    #: of these models that the request's provider preferences allow, billed at that
    #: model's endpoint price, and ``/models`` lists its price as ``"-1"`` (variable).
    routes_to: tuple[str, ...] = field(default=())

    @property
    def provider(self) -> str:
        """Display name of the default provider, as sent in ``provider`` fields."""
        return self.endpoints[0].provider_name if self.endpoints else "OpenRouter"

    @property
    def prompt(self) -> str:
        """Prompt price string (USD/token) of the default endpoint."""
        return self.endpoints[0].prompt

    @property
    def completion(self) -> str:
        """Completion price string (USD/token) of the default endpoint."""
        return self.endpoints[0].completion

    @property
    def prompt_price(self) -> Decimal:
        """Prompt price of the default endpoint, as an exact ``Decimal``."""
        return self.endpoints[0].prompt_price

    @property
    def completion_price(self) -> Decimal:
        """Completion price of the default endpoint, as an exact ``Decimal``."""
        return self.endpoints[0].completion_price

    @property
    def pricing(self) -> dict[str, Any]:
        """The ``pricing`` object exactly as ``/models`` serves it (``"-1"`` for a router)."""
        if self.routes_to:
            return {"prompt": "-1", "completion": "-1"}
        return _pricing_json(self.endpoints[0])

    @property
    def supported_parameters(self) -> list[str]:
        """Parameters the sandbox advertises (it ignores the ones it does not model)."""
        return [*(p for p in _COMMON_PARAMS if p not in self.lacks_params), *self.extra_params]


def _pricing_json(ep: CatalogEndpoint) -> dict[str, Any]:
    return {
        "prompt": ep.prompt,
        "completion": ep.completion,
        "request": "0",
        "image": ep.image,
        "web_search": ep.web_search,
        "internal_reasoning": "0",
        **({"input_cache_read": ep.cache_read} if ep.cache_read else {}),
        **({"input_cache_write": ep.cache_write} if ep.cache_write else {}),
        **({"overrides": [dict(entry) for entry in ep.overrides]} if ep.overrides else {}),
        **({"discount": float(ep.discount)} if ep.discount != "0" else {}),
    }


def _tiers_json(ep: CatalogEndpoint) -> dict[str, Any]:
    """``service_tiers``: each tier the endpoint sells, with its prices (none: nothing)."""
    if not ep.tiers:
        return {}
    return {"service_tiers": {name: {"prompt": ep.at_tier(name).prompt,
                                     "completion": ep.at_tier(name).completion}
                              for name, _ in ep.tiers}}


def _architecture(model: CatalogModel) -> dict[str, Any]:
    inputs = list(model.input_modalities)
    return {
        "modality": "+".join(inputs) + "->text",
        "input_modalities": inputs,
        "output_modalities": ["text"],
        "tokenizer": model.tokenizer,
        "instruct_type": model.instruct_type,
    }


def model_json(model: CatalogModel) -> dict[str, Any]:
    """One entry of ``GET /api/v1/models`` (every field the spec's ``Model`` requires)."""
    body: dict[str, Any] = {
        "id": model.id,
        "canonical_slug": model.id,
        "hugging_face_id": None,
        "name": model.name,
        "created": model.created,
        "description": model.description,
        "context_length": model.context_length,
        "architecture": _architecture(model),
        "pricing": model.pricing,
        "top_provider": {
            "context_length": model.context_length,
            "max_completion_tokens": model.max_completion_tokens or None,
            "is_moderated": model.provider in ("OpenAI", "Anthropic"),
        },
        "per_request_limits": None,
        "supported_parameters": model.supported_parameters,
        "default_parameters": {},
        "supported_voices": None,
        "knowledge_cutoff": model.knowledge_cutoff,
        "expiration_date": None,
        "links": {"details": f"/api/v1/models/{model.id}/endpoints"},
    }
    if model.reasoning:
        body["reasoning"] = {
            "mandatory": True,
            "default_enabled": True,
            "supports_max_tokens": False,
            "supported_efforts": None,
        }
    return body


def endpoints_json(model: CatalogModel) -> dict[str, Any]:
    """The ``data`` of ``GET /api/v1/models/{author}/{slug}/endpoints``."""
    rows = []
    for i, ep in enumerate(model.endpoints):
        # Plausible, deterministic stats; the spec allows nulls but clients
        # that chart them deserve numbers.
        latency, speed = ep.stats(i)
        rows.append(
            {
                "name": f"{ep.provider_name} | {model.id}",
                "model_id": model.id,
                "model_name": model.name,
                "provider_name": ep.provider_name,
                "tag": ep.tag,
                "quantization": ep.quantization,
                "context_length": ep.context_length,
                "max_completion_tokens": ep.max_completion_tokens,
                "max_prompt_tokens": None,
                "pricing": _pricing_json(ep),
                **_tiers_json(ep),
                "supported_parameters": model.supported_parameters,
                "status": 0,
                "uptime_last_5m": 100.0,
                "uptime_last_30m": ep.uptime_last_30m,
                "uptime_last_1d": round(ep.uptime_last_30m - 0.2, 2),
                "latency_last_30m": {"p50": latency, "p75": round(latency * 1.45, 1),
                                     "p90": round(latency * 2.1, 1), "p99": round(latency * 5, 1)},
                "throughput_last_30m": {"p50": speed, "p75": round(speed * 0.85, 1),
                                        "p90": round(speed * 0.65, 1), "p99": round(speed * 0.3, 1)},
                "supports_implicit_caching": ep.provider_name in ("OpenAI", "DeepSeek", "Google AI Studio"),
            }
        )
    return {
        "id": model.id,
        "name": model.name,
        "created": model.created,
        "description": model.description,
        "architecture": _architecture(model),
        "endpoints": rows,
    }


def _ep(provider: str, tag: str, quant: str | None, ctx: int, out: int | None, p: str, c: str,
        **kw: Any) -> CatalogEndpoint:
    return CatalogEndpoint(provider, tag, quant, ctx, out, p, c, **kw)


_ANTHROPIC = {"native_stop": "end_turn", "native_length": "max_tokens"}
_GOOGLE = {"native_stop": "STOP", "native_length": "MAX_TOKENS"}
#: Zero data retention: the provider keeps no prompt (Azure, Bedrock and Vertex on OpenRouter).
_ZDR = {"retains_prompts": False}
#: Claude Sonnet 4's long-context tier (``PricingOverride``): above 200,000 prompt tokens.
_LONG_CONTEXT = (("min_prompt_tokens", 200000), ("prompt", "0.000006"), ("completion", "0.0000225"))
#: OpenAI's service tiers: flex at half the price, priority at 1.5 times it (sandbox figures).
_OPENAI_TIERS = (("flex", "0.5"), ("priority", "1.5"))

# Several providers per model, as on OpenRouter, so routing has something to choose:
# the first endpoint is the default; prices, data policies and speeds differ where they
# do in reality (DeepSeek's own API is cheap but may train on prompts; Together is ZDR,
# faster and dearer; Bedrock and Vertex serve Claude at list price without retention).
_ALL: tuple[CatalogModel, ...] = (
    CatalogModel(
        id="openai/gpt-4o-mini", name="OpenAI: GPT-4o-mini", created=1721260800,
        description="GPT-4o mini is OpenAI's small, cheap multimodal model. (sandbox copy)",
        context_length=128000, max_completion_tokens=16384, tokenizer="GPT", instruct_type=None,
        input_modalities=("text", "image", "file"), knowledge_cutoff="2023-10-31",
        endpoints=(  # $0.15 / $0.60 per M; $0.007225 per image (OpenRouter's /models)
            _ep("OpenAI", "openai", None, 128000, 16384, "0.00000015", "0.0000006",
                latency_ms=420.0, throughput=95.0, image="0.007225",
                cache_read="0.000000075",  # automatic prompt caching at half price
                tiers=_OPENAI_TIERS),
            _ep("Azure", "azure", None, 128000, 16384, "0.00000015", "0.0000006", uptime_last_30m=99.5,
                latency_ms=380.0, throughput=120.0, image="0.007225", **_ZDR),
        ),
    ),
    CatalogModel(
        id="openai/gpt-4o", name="OpenAI: GPT-4o", created=1715558400,
        description="GPT-4o (\"o\" for \"omni\") is OpenAI's flagship multimodal model. (sandbox copy)",
        context_length=128000, max_completion_tokens=16384, tokenizer="GPT", instruct_type=None,
        input_modalities=("text", "image", "file"), knowledge_cutoff="2023-10-31",
        endpoints=(  # $2.50 / $10 per M; $0.003613 per image (OpenRouter's /models)
            # $0.01 per web search (its native search, as OpenRouter lists it)
            _ep("OpenAI", "openai", None, 128000, 16384, "0.0000025", "0.00001", image="0.003613",
                web_search="0.01"),
            _ep("Azure", "azure", None, 128000, 16384, "0.0000025", "0.00001", uptime_last_30m=99.4,
                image="0.003613", web_search="0.01", **_ZDR),
        ),
    ),
    CatalogModel(
        id="anthropic/claude-3.5-haiku", name="Anthropic: Claude 3.5 Haiku", created=1730678400,
        description="Claude 3.5 Haiku: fast, affordable, good at code. (sandbox copy)",
        context_length=200000, max_completion_tokens=8192, tokenizer="Claude", instruct_type=None,
        input_modalities=("text", "image"), knowledge_cutoff="2024-07-31",
        endpoints=(  # $0.80 / $4 per M everywhere
            _ep("Anthropic", "anthropic", None, 200000, 8192, "0.0000008", "0.000004",
                latency_ms=600.0, throughput=60.0, cache_read="0.00000008",
                cache_write="0.000001", **_ANTHROPIC),  # cache_control breakpoints: 0.1x / 1.25x
            _ep("Amazon Bedrock", "amazon-bedrock", None, 200000, 8192, "0.0000008", "0.000004",
                uptime_last_30m=99.7, latency_ms=450.0, throughput=75.0, **_ZDR, **_ANTHROPIC),
            _ep("Google", "google-vertex", None, 200000, 8192, "0.0000008", "0.000004",
                uptime_last_30m=99.6, latency_ms=500.0, throughput=90.0, **_ZDR, **_ANTHROPIC),
            _ep("Google", "google-vertex/europe", None, 200000, 8192, "0.0000008", "0.000004",
                uptime_last_30m=99.2, latency_ms=700.0, throughput=50.0, **_ZDR, **_ANTHROPIC),
        ),
    ),
    CatalogModel(
        id="google/gemini-2.0-flash-001", name="Google: Gemini 2.0 Flash", created=1738769413,
        description="Gemini 2.0 Flash: very fast, very long context. (sandbox copy)",
        context_length=1048576, max_completion_tokens=8192, tokenizer="Gemini", instruct_type=None,
        input_modalities=("text", "image", "file", "audio", "video"), knowledge_cutoff="2024-08-01",
        endpoints=(  # $0.10 / $0.40 per M
            _ep("Google AI Studio", "google-ai-studio", None, 1048576, 8192, "0.0000001", "0.0000004",
                **_GOOGLE),
            _ep("Google", "google-vertex", None, 1048576, 8192, "0.0000001", "0.0000004",
                uptime_last_30m=99.8, **_ZDR, **_GOOGLE),
        ),
    ),
    # The paid model behind the :free variant below. On OpenRouter a variant is a model of its
    # own in /models, with its own providers: `/models/meta-llama/llama-3.1-8b-instruct:free/
    # endpoints` lists the free ones, the base id's list the paid ones (a budget must price the
    # variant that is asked for, not its base).
    CatalogModel(
        id="meta-llama/llama-3.1-8b-instruct", name="Meta: Llama 3.1 8B Instruct", created=1721692800,
        description="Meta's 8B instruct model. (sandbox copy)",
        context_length=131072, max_completion_tokens=8192, tokenizer="Llama3", instruct_type="llama3",
        input_modalities=("text",), knowledge_cutoff="2023-12-31",
        endpoints=(  # $0.02 / $0.05 per M, and a dearer fast provider at $0.18 / $0.18
            _ep("DeepInfra", "deepinfra/bf16", "bf16", 131072, 8192, "0.00000002", "0.00000005"),
            _ep("Together", "together/fp8", "fp8", 131072, 8192, "0.00000018", "0.00000018",
                uptime_last_30m=99.5, **_ZDR),
        ),
    ),
    CatalogModel(
        id="meta-llama/llama-3.1-8b-instruct:free", name="Meta: Llama 3.1 8B Instruct (free)",
        created=1721692800,
        description="Meta's 8B instruct model, free variant (rate limited on OpenRouter). (sandbox copy)",
        context_length=131072, max_completion_tokens=8192, tokenizer="Llama3", instruct_type="llama3",
        input_modalities=("text",), knowledge_cutoff="2023-12-31",
        # Free endpoints are the ones whose terms allow training on prompts.
        endpoints=(_ep("DeepInfra", "deepinfra/bf16", "bf16", 131072, 8192, "0", "0", trains_on_data=True),),
        # Free variants often lack structured outputs and tool use on OpenRouter: the one model
        # here that a schema is refused for (the sandbox still answers it; the client refuses
        # first), and the one that function tools get a 404 from.
        lacks_params=("response_format", "tools", "tool_choice"),
    ),
    CatalogModel(
        id="deepseek/deepseek-r1", name="DeepSeek: R1", created=1737381095,
        description="DeepSeek R1: open reasoning model; streams its reasoning before the answer. (sandbox copy)",
        context_length=163840, max_completion_tokens=32768, tokenizer="DeepSeek",
        instruct_type="deepseek-r1", input_modalities=("text",), knowledge_cutoff="2024-07-01",
        reasoning=True, extra_params=("reasoning", "include_reasoning"),
        endpoints=(
            # $0.55 / $2.19 per M, slow, may train on prompts
            _ep("DeepSeek", "deepseek", "fp8", 163840, 32768, "0.00000055", "0.00000219",
                trains_on_data=True, latency_ms=1500.0, throughput=25.0),
            # $3 / $7 per M, fast, no retention
            _ep("Together", "together/fp8", "fp8", 163840, 32768, "0.000003", "0.000007",
                uptime_last_30m=98.9, latency_ms=400.0, throughput=110.0, **_ZDR),
        ),
    ),
    CatalogModel(
        id="mistralai/mistral-small-3.1-24b-instruct", name="Mistral: Mistral Small 3.1 24B",
        created=1742238937,
        description="Mistral Small 3.1: a 24B model with a 128k context. (sandbox copy)",
        context_length=131072, max_completion_tokens=32768, tokenizer="Mistral", instruct_type="mistral",
        input_modalities=("text", "image"), knowledge_cutoff="2024-10-01",
        endpoints=(  # $0.10 / $0.30 per M; $0.004 per web search (sandbox figure)
            _ep("Mistral", "mistral", None, 131072, 32768, "0.0000001", "0.0000003",
                native_stop="stop", native_length="length", web_search="0.004"),
        ),
    ),
    # Long-context pricing as OpenRouter lists it for Claude Sonnet 4: $3 / $15 per M, and
    # $6 / $22.50 per M for a request of more than 200,000 prompt tokens (every token of it).
    # Bedrock here also has a 10 % discount, and Vertex a cheaper night window that wraps
    # midnight (22:00-06:00 UTC), so the sandbox bills all three kinds of price sheet entry.
    CatalogModel(
        id="anthropic/claude-sonnet-4", name="Anthropic: Claude Sonnet 4", created=1747930371,
        description="Claude Sonnet 4: long context, priced higher above 200K prompt tokens. (sandbox copy)",
        context_length=1000000, max_completion_tokens=64000, tokenizer="Claude", instruct_type=None,
        input_modalities=("text", "image", "file"), knowledge_cutoff="2025-03-31",
        endpoints=(
            _ep("Anthropic", "anthropic", None, 1000000, 64000, "0.000003", "0.000015",
                overrides=(_LONG_CONTEXT,), **_ANTHROPIC),
            _ep("Amazon Bedrock", "amazon-bedrock", None, 1000000, 64000, "0.000003", "0.000015",
                overrides=(_LONG_CONTEXT,), discount="0.1", **_ZDR, **_ANTHROPIC),
            _ep("Google", "google-vertex", None, 1000000, 64000, "0.000003", "0.000015",
                overrides=(_LONG_CONTEXT, (("utc_start", 2200), ("utc_end", 600), ("prompt", "0.0000015"),
                                           ("completion", "0.0000075"))), **_ZDR, **_ANTHROPIC),
        ),
    ),
    # Sandbox-only: a very dear model, to show what a `models` fallback can cost when it
    # answers instead of a cheap primary ($15 / $75 per M, like the dearest models on OpenRouter).
    CatalogModel(
        id="pricey/opus", name="Pricey: Opus (sandbox)", created=1740000000,
        description="A deliberately dear model of the sandbox, for fallback and budget tests. (sandbox only)",
        context_length=200000, max_completion_tokens=32000, tokenizer="Claude", instruct_type=None,
        input_modalities=("text",),
        endpoints=(_ep("Anthropic", "anthropic", None, 200000, 32000, "0.000015", "0.000075",
                       **_ANTHROPIC),),
    ),
    # OpenRouter's Auto Router: "-1" prices in /models (variable), no endpoints of its own; the
    # answer comes from (and is billed as) the first model here that the route allows.
    CatalogModel(
        id="openrouter/auto", name="Auto Router", created=1699401600,
        description="Picks a model for each prompt; billed at the price of the model it picks. (sandbox copy)",
        context_length=2000000, max_completion_tokens=0, tokenizer="Router", instruct_type=None,
        input_modalities=("text", "image"), endpoints=(),
        routes_to=("openai/gpt-4o", "anthropic/claude-3.5-haiku", "openai/gpt-4o-mini"),
    ),
)

#: The catalog, keyed by model id (read-only). ``MODELS[id].prompt`` and
#: ``.completion`` are the USD-per-token price strings ``/models`` serves.
MODELS: MappingProxyType[str, CatalogModel] = MappingProxyType({m.id: m for m in _ALL})

#: The model used when a request names none (OpenRouter uses the account default).
DEFAULT_MODEL = "openai/gpt-4o-mini"
