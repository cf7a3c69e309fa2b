"""OpenRouter provider routing: the ``provider`` object, its flags, and why nothing could serve.

OpenRouter routes each call to one of the providers (endpoints) that serve the model.
A request steers that choice with a ``provider`` object (``ProviderPreferences`` in the
OpenAPI spec, ``additionalProperties: false``) and may name fallback *models* in
``models``. This module is the pure core behind ``%%edge --provider/--only/...`` and
``%edge route``:

- :class:`RoutePrefs` holds one set of preferences (a cell's flags, a participant's
  options or the saved defaults), merges cell over defaults, and renders exactly the
  ``provider`` object the spec accepts;
- :func:`parse_provider_list` / :func:`provider_slug` check names against the slugs
  OpenRouter knows, *before* anything is sent, with "did you mean" suggestions;
- :func:`validate` rejects combinations that cannot route anywhere;
- :func:`explain_no_endpoints` turns OpenRouter's "no endpoints" 404 into a sentence
  naming the preference that excluded every provider of the model;
- :func:`add_route_arguments` / :func:`route_from_args` give the magic its flags;
- :func:`endpoints_frame` tabulates ``/models/{author}/{slug}/endpoints``.

Nothing here does I/O except :func:`load_defaults` / :func:`save_defaults`, which
only wrap :mod:`edge_jupyter.preferences`; pandas is imported inside
:func:`endpoints_frame` only.
"""

from __future__ import annotations

import argparse
import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


class RoutingError(ValueError):
    """A routing preference OpenRouter would reject, or one that can route nowhere.

    The message names the offending flag or value and what to do instead, so the
    magic can show it as is (a ``ValueError``: it is bad input, not a failed call).
    """


# -- what OpenRouter accepts -------------------------------------------------------------------
# Both tables were extracted once from the OpenAPI spec (``shared/openrouter-openapi.yaml``):
# the slugs are the keys of ``ProviderOptions`` ("keyed by provider slug"), which also hold the
# two ``slug/variant`` forms OpenRouter documents there; display names are the ``ProviderName``
# enum (and, for retired providers, ``ProviderResponse.provider_name``). The spec gives no mapping between the two, so it is derived by spelling
# ("Amazon Bedrock" -> amazon-bedrock) plus four by hand: "Google" is Vertex AI (its endpoints
# carry the tag ``google-vertex``), "Mancer 2" is ``mancer``, "Claude Platform on AWS" is
# ``claude-on-aws`` and "VoyageAI by MongoDB" is ``voyageai``. Update both when the spec grows.
KNOWN_PROVIDERS: tuple[str, ...] = (
    "01ai", "ai21", "aion-labs", "akashml", "alibaba", "amazon-bedrock",
    "amazon-bedrock/claude-on-aws", "amazon-nova", "ambient", "anthropic", "anthropic/2",
    "anyscale", "arcee-ai", "atlas-cloud", "atoma", "avian", "azure", "baidu", "baseten",
    "black-forest-labs", "byteplus", "centml", "cerebras", "chutes", "cirrascale", "clarifai",
    "claude-on-aws", "cloudflare", "cohere", "coreweave", "crofai", "crucible", "crusoe",
    "darkbloom", "databricks", "decart", "deepgram", "deepinfra", "deepseek", "dekallm",
    "digitalocean", "enfer", "fake-provider", "featherless", "fireworks", "fish-audio",
    "friendli", "gmicloud", "google-ai-studio", "google-vertex", "gopomelo", "groq", "heygen",
    "huggingface", "hyperbolic", "hyperbolic-quantized", "inception", "inceptron",
    "inferact-vllm", "inference-net", "infermatic", "inflection", "inocloud", "io-net",
    "ionstream", "klusterai", "krea", "lambda", "lepton", "liquid", "lynn", "lynn-private",
    "makora", "mancer", "mancer-old", "mara", "meta", "minimax", "mistral", "modal", "modelrun",
    "modular", "moonshotai", "morph", "ncompass", "nebius", "nex-agi", "nextbit", "nineteen",
    "novita", "nvidia", "octoai", "open-inference", "openai", "parasail", "perceptron",
    "perplexity", "phala", "poolside", "quiver", "recraft", "recursal", "reflection", "reka",
    "relace", "replicate", "runway", "sail-research", "sakana", "sakana-ai", "sambanova",
    "sambanova-cloaked", "seed", "sf-compute", "siliconflow", "sourceful", "stealth", "stepfun",
    "streamlake", "switchpoint", "targon", "tencent", "tenstorrent", "thinkingmachines",
    "together", "together-lite", "ubicloud", "upstage", "venice", "voyageai", "wafer", "wandb",
    "wandb-legacy", "xai", "xiaomi", "z-ai",
)
_DISPLAY_TO_SLUG: dict[str, str] = {
    "AI21": "ai21", "AionLabs": "aion-labs", "AkashML": "akashml", "Alibaba": "alibaba",
    "Amazon Bedrock": "amazon-bedrock", "Amazon Nova": "amazon-nova", "Ambient": "ambient",
    "Anthropic": "anthropic", "Arcee AI": "arcee-ai", "AtlasCloud": "atlas-cloud",
    "Avian": "avian", "Azure": "azure", "Baidu": "baidu", "BaseTen": "baseten",
    "Black Forest Labs": "black-forest-labs", "BytePlus": "byteplus", "Cerebras": "cerebras",
    "Chutes": "chutes", "Cirrascale": "cirrascale", "Clarifai": "clarifai",
    "Claude Platform on AWS": "claude-on-aws", "Cloudflare": "cloudflare", "Cohere": "cohere",
    "CoreWeave": "coreweave", "Crucible": "crucible", "Crusoe": "crusoe",
    "Darkbloom": "darkbloom", "Databricks": "databricks", "Decart": "decart",
    "Deepgram": "deepgram", "DeepInfra": "deepinfra", "DeepSeek": "deepseek",
    "DekaLLM": "dekallm", "DigitalOcean": "digitalocean", "FakeProvider": "fake-provider",
    "Featherless": "featherless", "Fireworks": "fireworks", "Fish Audio": "fish-audio",
    "Friendli": "friendli", "GMICloud": "gmicloud", "Google AI Studio": "google-ai-studio",
    "Google": "google-vertex", "Groq": "groq", "HeyGen": "heygen", "Inception": "inception",
    "Inceptron": "inceptron", "Inferact vLLM": "inferact-vllm", "InferenceNet": "inference-net",
    "Infermatic": "infermatic", "Inflection": "inflection", "Io Net": "io-net",
    "Ionstream": "ionstream", "Krea": "krea", "Liquid": "liquid", "Makora": "makora",
    "Mancer 2": "mancer", "Mara": "mara", "Meta": "meta", "Minimax": "minimax",
    "Mistral": "mistral", "Modal": "modal", "ModelRun": "modelrun", "Modular": "modular",
    "Moonshot AI": "moonshotai", "Morph": "morph", "NCompass": "ncompass", "Nebius": "nebius",
    "Nex AGI": "nex-agi", "NextBit": "nextbit", "Novita": "novita", "Nvidia": "nvidia",
    "OpenInference": "open-inference", "OpenAI": "openai", "Parasail": "parasail",
    "Perceptron": "perceptron", "Perplexity": "perplexity", "Phala": "phala",
    "Poolside": "poolside", "Quiver": "quiver", "Recraft": "recraft", "Reka": "reka",
    "Relace": "relace", "Runway": "runway", "Sail Research": "sail-research",
    "Sakana AI": "sakana-ai", "SambaNova": "sambanova", "Seed": "seed",
    "SiliconFlow": "siliconflow", "Sourceful": "sourceful", "Stealth": "stealth",
    "StepFun": "stepfun", "StreamLake": "streamlake", "Switchpoint": "switchpoint",
    "Tencent": "tencent", "Tenstorrent": "tenstorrent", "Thinking Machines": "thinkingmachines",
    "Together": "together", "Upstage": "upstage", "Venice": "venice",
    "VoyageAI by MongoDB": "voyageai", "Wafer": "wafer", "WandB": "wandb", "xAI": "xai",
    "Xiaomi": "xiaomi", "Z.AI": "z-ai",
}
#: Retired providers, named only in the spec's ``ProviderResponse.provider_name`` enum; their
#: slugs are still in ``ProviderOptions``. ("Mancer" and the "… 2" names are left out: their
#: slug is ambiguous.)
_DISPLAY_TO_SLUG.update({
    "01.AI": "01ai", "AnyScale": "anyscale", "Atoma": "atoma", "Cent-ML": "centml",
    "CrofAI": "crofai", "Enfer": "enfer", "GoPomelo": "gopomelo", "HuggingFace": "huggingface",
    "Hyperbolic": "hyperbolic", "InoCloud": "inocloud", "Kluster": "klusterai", "Lambda": "lambda",
    "Lepton": "lepton", "Lynn": "lynn", "Nineteen": "nineteen", "OctoAI": "octoai",
    "Recursal": "recursal", "Reflection": "reflection", "Replicate": "replicate",
    "SF Compute": "sf-compute", "Targon": "targon", "Ubicloud": "ubicloud",
})


#: Display name -> slug, for every display name in the spec's ``ProviderName`` enum.
DISPLAY_TO_SLUG: Mapping[str, str] = _DISPLAY_TO_SLUG
#: Slug -> display name (first display name wins where two map to one slug).
SLUG_TO_DISPLAY: Mapping[str, str] = {v: k for k, v in reversed(list(_DISPLAY_TO_SLUG.items()))}
#: ``provider.sort`` values (``ProviderSort``); ``exacto`` ranks by tool-calling quality.
SORTS: tuple[str, ...] = ("price", "throughput", "latency", "exacto")
#: ``provider.data_collection`` values.
DATA_COLLECTION: tuple[str, ...] = ("allow", "deny")
PRIVACY_URL = "https://openrouter.ai/settings/privacy"

_BASES = frozenset(p.split("/", 1)[0] for p in KNOWN_PROVIDERS)
_LOWER_DISPLAY = {k.lower(): v for k, v in _DISPLAY_TO_SLUG.items()}
_VARIANT = re.compile(r"^[a-z0-9][a-z0-9._-]*(/[a-z0-9][a-z0-9._-]*)*$")
#: ``author/slug`` with an optional ``:variant`` (and the ``~`` of ``~openai/gpt-latest`` aliases).
_MODEL_ID = re.compile(r"^~?[A-Za-z0-9][\w.-]*/[\w.-]+(:[\w.-]+)?$")
_MILLION = Decimal(1_000_000)


# -- names ---------------------------------------------------------------------------------------
def _suggestions(text: str, extra: Iterable[str] = ()) -> list[str]:
    """Close slugs for a misspelt name (display names are matched too, slugs returned)."""
    pool = {**{b: b for b in _BASES}, **_LOWER_DISPLAY, **{e.lower(): e.lower() for e in extra}}
    found = difflib.get_close_matches(text.lower(), list(pool), n=3, cutoff=0.6)
    return list(dict.fromkeys(pool[f] for f in found))


def provider_slug(name: str, extra_known: Iterable[str] = ()) -> str:
    """The canonical slug for a slug, a ``slug/variant`` or a display name.

    ``"Amazon Bedrock"`` -> ``amazon-bedrock``; ``"google-vertex/us-east5"`` is kept (it
    targets one endpoint); anything else raises :class:`RoutingError` with close matches.
    Slugs are what the spec's ``order``/``only``/``ignore`` descriptions ask for, so we
    always send slugs even when the user typed a display name. ``extra_known`` lets
    through slugs the caller has seen elsewhere (e.g. the ``tag`` of a model's endpoints),
    for providers newer than the table above.
    """
    text = name.strip()
    if not text:
        raise RoutingError("A provider name is empty; give slugs like amazon-bedrock,azure.")
    low = text.lower()
    if low in _LOWER_DISPLAY:
        return _LOWER_DISPLAY[low]
    base, sep, variant = low.partition("/")
    extra = {e.strip().lower().split("/", 1)[0] for e in extra_known}
    if base in _BASES or base in extra:
        if sep and not _VARIANT.match(variant):
            raise RoutingError(f"Provider {text!r}: after the '/' comes an endpoint variant such "
                               "as google-vertex/us-east5 or deepinfra/turbo.")
        return low
    hint = _suggestions(text, extra)
    did = f" Did you mean {' or '.join(hint)}?" if hint else ""
    raise RoutingError(f"Unknown provider {text!r}.{did} `%edge models MODEL --endpoints` "
                       "lists the providers that serve a model.")


def parse_provider_list(text: str | Iterable[str], extra_known: Iterable[str] = ()) -> list[str]:
    """``"amazon-bedrock, Azure"`` -> ``["amazon-bedrock", "azure"]`` (checked, de-duplicated).

    Every unknown name is reported in one error, so a user fixes them in one go.
    """
    parts = text.split(",") if isinstance(text, str) else [p for t in text for p in t.split(",")]
    extra = list(extra_known)
    out: list[str] = []
    problems: list[str] = []
    for part in parts:
        if not part.strip():
            continue
        try:
            slug = provider_slug(part, extra)
        except RoutingError as exc:
            problems.append(str(exc))
            continue
        if slug not in out:
            out.append(slug)
    if problems:
        raise RoutingError(" ".join(problems))
    if not out:
        raise RoutingError("No provider named; give slugs separated by commas, e.g. amazon-bedrock,azure.")
    return out


def check_model_id(model: str) -> str:
    """A fallback model id must look like ``author/slug`` (``:variant`` allowed)."""
    model = model.strip()
    if not _MODEL_ID.match(model):
        raise RoutingError(f"{model!r} is not a model id; fallback models look like "
                           "anthropic/claude-3.5-haiku.")
    return model


def _covers(a: str, b: str) -> bool:
    """Does the name ``a`` select endpoint name ``b``? (``google-vertex`` covers ``google-vertex/eu``.)"""
    return a == b or b.startswith(a + "/")


# -- max_price -----------------------------------------------------------------------------------
def _usd(text: str, what: str) -> Decimal:
    raw = text.strip().lstrip("$").strip()
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise RoutingError(f"--max-price: {what} price {text!r} is not a number.") from None
    if not value.is_finite() or value < 0:
        raise RoutingError(f"--max-price: {what} price {text!r} must be zero or more.")
    return value


def _plain(value: Decimal) -> str:
    """``Decimal("1.50")`` -> ``"1.5"``; never exponent notation (``1E+2``)."""
    return format(value.normalize(), "f")


@dataclass(frozen=True)
class MaxPrice:
    """Highest price accepted, in USD per **million** tokens (as the spec's ``max_price`` says)."""

    prompt: Decimal | None = None
    completion: Decimal | None = None

    def to_object(self) -> dict[str, str]:
        """The ``max_price`` object. The spec types its members as strings (the docs show
        numbers and OpenRouter takes both); strings keep the request schema-valid and exact."""
        out: dict[str, str] = {}
        if self.prompt is not None:
            out["prompt"] = _plain(self.prompt)
        if self.completion is not None:
            out["completion"] = _plain(self.completion)
        return out

    @classmethod
    def from_object(cls, data: Any) -> MaxPrice:
        """Read ``{"prompt": "1", "completion": 2}`` (strings or numbers)."""
        if not isinstance(data, Mapping):
            raise RoutingError("max_price must be an object with prompt and/or completion.")
        values = {k: _usd(str(data[k]), k) for k in ("prompt", "completion") if data.get(k) is not None}
        if not values:
            raise RoutingError("max_price needs a prompt and/or a completion price.")
        return cls(**values)

    def flag(self) -> str:
        """The ``--max-price`` argument that gives this value back."""
        p = _plain(self.prompt) if self.prompt is not None else ""
        c = _plain(self.completion) if self.completion is not None else ""
        return f"{p}/{c}"

    def describe(self) -> str:
        parts = []
        if self.prompt is not None:
            parts.append(f"${_plain(self.prompt)}/M prompt")
        if self.completion is not None:
            parts.append(f"${_plain(self.completion)}/M completion")
        return "at most " + " and ".join(parts)

    def admits(self, prompt_per_token: Decimal, completion_per_token: Decimal) -> bool:
        """Is an endpoint with these per-token prices within the limit?"""
        if self.prompt is not None and prompt_per_token * _MILLION > self.prompt:
            return False
        return not (self.completion is not None and completion_per_token * _MILLION > self.completion)


def parse_max_price(text: str) -> MaxPrice:
    """``"1/2"`` -> $1/M prompt, $2/M completion; ``"1/"`` prompt only; ``"/2"`` completion only.

    A single number is refused rather than guessed: prompt and completion prices differ
    by 4-5x for most models, so "1" alone would silently mean very different things.
    """
    if "/" not in text:
        raise RoutingError(f"--max-price {text!r}: give PROMPT/COMPLETION in USD per million tokens, "
                           "e.g. 1/2 (or 1/ for prompt only, /2 for completion only).")
    prompt, _, completion = text.partition("/")
    if "/" in completion:
        raise RoutingError(f"--max-price {text!r}: give exactly PROMPT/COMPLETION, e.g. 1/2.")
    values: dict[str, Decimal] = {}
    if prompt.strip():
        values["prompt"] = _usd(prompt, "prompt")
    if completion.strip():
        values["completion"] = _usd(completion, "completion")
    if not values:
        raise RoutingError("--max-price needs at least one price, e.g. 1/2.")
    return MaxPrice(**values)


# -- the preferences -----------------------------------------------------------------------------
def _join(names: Sequence[str]) -> str:
    return ",".join(names)


@dataclass
class RoutePrefs:
    """One set of routing preferences: a cell's flags, a participant's options or the defaults.

    Every field is "unset" when ``None``, so :meth:`merged_over` can tell "the cell says
    nothing" from "the cell says: nobody" (an empty list, typed as ``--ignore none``).
    Provider names are canonical slugs (see :func:`provider_slug`); ``fallbacks`` are
    model ids sent as the request's ``models`` list, tried after the cell's model.
    """

    order: list[str] | None = None
    only: list[str] | None = None
    ignore: list[str] | None = None
    allow_fallbacks: bool | None = None
    data_collection: str | None = None
    zdr: bool | None = None
    sort: str | None = None
    max_price: MaxPrice | None = None
    fallbacks: list[str] | None = None

    def is_empty(self) -> bool:
        """True when these preferences add nothing to a request."""
        return self.to_provider_object() is None and not self.fallbacks

    def to_provider_object(self) -> dict[str, Any] | None:
        """Exactly OpenRouter's ``provider`` object, or ``None`` when there is nothing to send.

        Empty lists are left out (``only: []`` would read as "allow nobody" to a careful
        reader of the spec, while for us it means "no restriction"). Key order follows the
        docs' example so a logged body reads naturally.
        """
        obj: dict[str, Any] = {}
        for name in ("order", "only", "ignore"):
            names = getattr(self, name)
            if names:
                obj[name] = list(names)
        if self.allow_fallbacks is not None:
            obj["allow_fallbacks"] = self.allow_fallbacks
        if self.data_collection is not None:
            obj["data_collection"] = self.data_collection
        if self.zdr is not None:
            obj["zdr"] = self.zdr
        if self.sort is not None:
            obj["sort"] = self.sort
        if self.max_price is not None:
            obj["max_price"] = self.max_price.to_object()
        return obj or None

    def apply_to_body(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of a chat request body with ``provider`` and ``models`` set from these prefs.

        ``models`` holds only the fallbacks: OpenRouter tries ``model`` first and then
        ``models`` in order ([DOCS guides/routing/model-fallbacks]); the cell's own model
        is dropped from the list so it is not tried twice.
        """
        out = dict(body)
        obj = self.to_provider_object()
        if obj is not None:
            out["provider"] = obj
        models = [m for m in self.fallbacks or [] if m != body.get("model")]
        if models:
            out["models"] = models
        return out

    def merged_over(self, defaults: RoutePrefs) -> RoutePrefs:
        """These (cell) preferences over ``defaults``, field by field: a set field wins.

        One refinement: the defaults' ``order`` is a wish, not a policy, so entries this
        cell ignores, or leaves out of its own ``only``, are dropped from it instead of
        turning into a conflict. Allow- and deny-lists are never widened behind the user's
        back: a real contradiction (``--only x`` over a default ``ignore x``) is left for
        :func:`validate` to report.
        """
        order = self.order
        if order is None and defaults.order is not None:
            order = [n for n in defaults.order
                     if not any(_covers(i, n) for i in self.ignore or [])
                     and (not self.only or _allowed_by(n, self.only))] or None

        def pick(name: str) -> Any:
            mine = getattr(self, name)
            return mine if mine is not None else getattr(defaults, name)

        return RoutePrefs(
            order=order, only=pick("only"), ignore=pick("ignore"),
            allow_fallbacks=pick("allow_fallbacks"), data_collection=pick("data_collection"),
            zdr=pick("zdr"), sort=pick("sort"), max_price=pick("max_price"),
            fallbacks=pick("fallbacks"),
        )

    # -- persistence -------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The form stored in ``preferences.route`` (unset fields left out)."""
        out: dict[str, Any] = dict(self.to_provider_object() or {})
        if self.fallbacks:
            out["fallbacks"] = list(self.fallbacks)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> RoutePrefs:
        """Read :meth:`to_json` output (or a hand-edited file); bad values raise RoutingError.

        Unknown keys are ignored so that a newer edge_jupyter's file still loads.
        """
        if not data:
            return cls()
        if not isinstance(data, Mapping):
            raise RoutingError("The saved routing defaults are not an object; reset them with "
                               "`%edge route --reset`.")

        def names(key: str) -> list[str] | None:
            value = data.get(key)
            if value is None:
                return None
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list):
                raise RoutingError(f"Saved routing {key!r} must be a list of provider names.")
            return parse_provider_list([str(v) for v in value]) if value else []

        def flag(key: str) -> bool | None:
            value = data.get(key)
            if value is not None and not isinstance(value, bool):
                raise RoutingError(f"Saved routing {key!r} must be true or false.")
            return value

        prefs = cls(order=names("order"), only=names("only"), ignore=names("ignore"),
                    allow_fallbacks=flag("allow_fallbacks"), zdr=flag("zdr"))
        if data.get("data_collection") is not None:
            prefs.data_collection = _choice(str(data["data_collection"]), DATA_COLLECTION,
                                            "data_collection")
        sort = data.get("sort")
        if isinstance(sort, Mapping):  # the spec's ProviderSortConfig form {"by": ..., "partition": ...}
            sort = sort.get("by")
        if sort is not None:
            prefs.sort = _choice(str(sort), SORTS, "sort")
        if data.get("max_price") is not None:
            prefs.max_price = MaxPrice.from_object(data["max_price"])
        fallbacks = data.get("fallbacks", data.get("models"))
        if fallbacks is not None:
            if not isinstance(fallbacks, list):
                raise RoutingError("Saved routing 'fallbacks' must be a list of model ids.")
            prefs.fallbacks = [check_model_id(str(m)) for m in fallbacks]
        return prefs

    # -- words -------------------------------------------------------------------------------
    def flags(self) -> str:
        """The ``%%edge`` flags that give these preferences back (for status and messages)."""
        out: list[str] = []
        if self.order:
            out.append(f"--provider {_join(self.order)}")
        if self.only:
            out.append(f"--only {_join(self.only)}")
        if self.ignore:
            out.append(f"--ignore {_join(self.ignore)}")
        if self.allow_fallbacks is not None:
            out.append("--allow-fallbacks" if self.allow_fallbacks else "--no-fallbacks")
        if self.data_collection is not None:
            out.append(f"--data-collection {self.data_collection}")
        if self.zdr is not None:
            out.append("--zdr" if self.zdr else "--no-zdr")
        if self.sort is not None:
            out.append(f"--sort {self.sort}")
        if self.max_price is not None:
            out.append(f"--max-price {self.max_price.flag()}")
        out.extend(f"--fallback {m}" for m in self.fallbacks or [])
        return " ".join(out)

    def describe(self) -> str:
        """One line for ``%edge status`` and the panel, e.g.
        ``only amazon-bedrock, azure; no fallbacks; no data collection``."""
        parts: list[str] = []
        if self.order:
            parts.append("prefer " + " > ".join(self.order))
        if self.only:
            parts.append("only " + ", ".join(self.only))
        if self.ignore:
            parts.append("never " + ", ".join(self.ignore))
        if self.allow_fallbacks is False:
            parts.append("no fallbacks")
        elif self.allow_fallbacks:
            parts.append("fallbacks allowed")
        if self.data_collection == "deny":
            parts.append("no data collection")
        elif self.data_collection == "allow":
            parts.append("data collection allowed")
        if self.zdr:
            parts.append("zero data retention only")
        if self.sort:
            parts.append("cheapest first" if self.sort == "price" else f"sort by {self.sort}")
        if self.max_price is not None:
            parts.append(self.max_price.describe())
        if self.fallbacks:
            parts.append("then " + ", ".join(self.fallbacks))
        return "; ".join(parts) if parts else "OpenRouter's default routing"


def _choice(value: str, allowed: Sequence[str], what: str) -> str:
    low = value.strip().lower()
    if low not in allowed:
        raise RoutingError(f"{what} {value!r} is not one of {', '.join(allowed)}.")
    return low


def _allowed_by(name: str, only: Sequence[str]) -> bool:
    """Can ``name`` be served under this allow-list? (Either may be the narrower variant.)"""
    return any(_covers(o, name) or _covers(name, o) for o in only)


def validate(prefs: RoutePrefs, extra_known: Iterable[str] = ()) -> list[str]:
    """Refuse combinations that cannot route; return warnings for ones that half-work.

    Checks only (``prefs`` is not changed); run it on the merged preferences of a call.

    Errors (:class:`RoutingError`): an unknown name; a provider both in ``only`` and
    ``ignore``; an ``order`` whose every entry is ignored or outside ``only`` (it could never
    apply, and with ``--no-fallbacks`` nothing could serve); a bad sort, data policy or
    fallback model id.

    Warnings: some ``order`` entries excluded; ``sort`` together with ``order`` (the spec
    applies ``sort`` only "if order is not specified").

    Deliberately *not* an error: ``--no-fallbacks`` with no ``--provider``/``--only``.
    OpenRouter defines it as "use only the primary provider", which still means something
    (no silent switch to a backup provider, e.g. for reproducible comparisons).
    """
    extra = list(extra_known)
    for name in ("order", "only", "ignore"):
        if getattr(prefs, name):
            parse_provider_list(getattr(prefs, name), extra)
    only, ignore, order = prefs.only or [], prefs.ignore or [], prefs.order or []
    clash = [o for o in only if any(_covers(i, o) for i in ignore)]
    if clash:
        raise RoutingError(f"{_join(clash)} is both allowed (--only {_join(only)}) and ignored "
                           f"(--ignore {_join(ignore)}); drop it from one of them "
                           "(`--ignore none` clears a default for one cell).")
    warnings: list[str] = []
    if order:
        ignored = [n for n in order if any(_covers(i, n) for i in ignore)]
        dead = [n for n in order if n in ignored or (only and not _allowed_by(n, only))]
        if dead and len(dead) == len(order):
            why = (f"--ignore {_join(ignore)}" if len(ignored) == len(dead)
                   else f"--only {_join(only)}" if not ignored
                   else f"--only {_join(only)} with --ignore {_join(ignore)}")
            raise RoutingError(f"--provider {_join(order)} can never be used: {why} rules it out. "
                               "Change one of them (for this cell, or in `%edge route`).")
        if dead:
            warnings.append(f"--provider: {_join(dead)} is excluded by --only/--ignore and will not be tried.")
        if prefs.sort:
            warnings.append(f"--sort {prefs.sort} does not reorder --provider {_join(order)}: "
                            "OpenRouter sorts only when no order is given.")
    if prefs.sort is not None:
        _choice(prefs.sort, SORTS, "--sort")
    if prefs.data_collection is not None:
        _choice(prefs.data_collection, DATA_COLLECTION, "--data-collection")
    for model in prefs.fallbacks or []:
        check_model_id(model)
    return warnings


# -- "no endpoints": which preference excluded every provider ----------------------------------
@dataclass(frozen=True)
class _Endpoint:
    """One provider endpoint of a model, reduced to what routing looks at."""

    label: str
    names: frozenset[str]
    prompt: Decimal | None
    completion: Decimal | None

    def matches(self, name: str) -> bool:
        return any(_covers(name, n) for n in self.names)


def _price(pricing: Any, key: str) -> Decimal | None:
    try:
        return Decimal(str(pricing[key]))
    except (KeyError, TypeError, InvalidOperation):
        return None


def _endpoint_dicts(endpoints: Any) -> tuple[str | None, list[Mapping[str, Any]]]:
    """Accept the whole ``/endpoints`` response, its ``data``, or the bare endpoint list."""
    data = endpoints
    if isinstance(data, Mapping) and isinstance(data.get("data"), Mapping):
        data = data["data"]
    if isinstance(data, Mapping):
        model = data.get("id") if isinstance(data.get("id"), str) else None
        rows = data.get("endpoints") or []
    else:
        model, rows = None, data or []
    return model, [r for r in rows if isinstance(r, Mapping)]


def _reduce(rows: list[Mapping[str, Any]]) -> list[_Endpoint]:
    named = [str(r.get("provider_name") or r.get("tag") or "?") for r in rows]
    out = []
    for row, label in zip(rows, named, strict=True):
        tag = str(row.get("tag") or "").lower()
        names = {label.lower(), tag, tag.split("/", 1)[0]}
        if label.lower() in _LOWER_DISPLAY:
            names.add(_LOWER_DISPLAY[label.lower()])
        if named.count(label) > 1 and tag:
            label = f"{label} ({tag})"
        pricing = row.get("pricing") or {}
        out.append(_Endpoint(label, frozenset(n for n in names if n), _price(pricing, "prompt"),
                             _price(pricing, "completion")))
    return out


def _from_metadata(metadata: Mapping[str, Any] | None) -> list[_Endpoint]:
    """OpenRouter's "No allowed providers" 404 lists ``available_providers`` (slugs)."""
    slugs = (metadata or {}).get("available_providers") or []
    return [_Endpoint(SLUG_TO_DISPLAY.get(str(s), str(s)), frozenset({str(s).lower()}), None, None)
            for s in slugs]


def _labels(eps: Sequence[_Endpoint]) -> str:
    return ", ".join(e.label for e in eps)


def _per_m(value: Decimal | None) -> str:
    """A per-token price as USD per million, at least two decimals: ``$0.80``, ``$0.055``."""
    if value is None:
        return "?"
    text = _plain((value * _MILLION).quantize(Decimal("0.0001")))
    whole, _, frac = text.partition(".")
    return f"${whole}.{frac.ljust(2, '0')}"


def is_no_endpoints_error(status: int, message: str, metadata: Mapping[str, Any] | None = None) -> bool:
    """Is this OpenRouter's "nothing can serve this request" answer (400/404)?

    Recognised by the messages OpenRouter is seen to send ("No endpoints found …",
    "No allowed providers are available …") or the documented ``availability`` codes.
    """
    if status not in (400, 404):
        return False
    low = message.lower()
    if "no endpoints" in low or "no allowed providers" in low:
        return True
    meta = metadata or {}
    availability = meta.get("availability") if isinstance(meta.get("availability"), Mapping) else {}
    return "available_providers" in meta or availability.get("code") in (
        "no_endpoints", "constraint_filtered", "privacy_restricted")


def explain_no_endpoints(prefs: RoutePrefs, endpoints: Any, *, model: str | None = None,
                         message: str = "", metadata: Mapping[str, Any] | None = None) -> str:
    """Say which preference excluded every provider of the model, in one or two sentences.

    ``endpoints`` is what ``OpenRouterClient.model_endpoints(model)`` returns (or the raw
    response, or ``None`` when it could not be fetched: then the 404's own
    ``available_providers`` metadata is used). The filters are replayed in OpenRouter's
    order (``only``, ``ignore``, ``order`` without fallbacks, ``max_price``); the first
    that leaves nobody is named. Data policy (``--data-collection deny``, ``--zdr``)
    cannot be replayed: the endpoint list does not publish it, so it is named when it is
    the only preference left that could explain the answer.
    """
    listed_model, rows = _endpoint_dicts(endpoints)
    model = model or listed_model or "this model"
    eps = _reduce(rows) if rows else _from_metadata(metadata)
    said = f" (OpenRouter: {message.strip()})" if message.strip() else ""
    if not eps:
        return (f"OpenRouter lists no provider for {model} right now, so no routing preference "
                f"can help; try another model{said}.")
    head = (f"the only provider of {model} ({_labels(eps)})" if len(eps) == 1
            else f"all {len(eps)} providers of {model} ({_labels(eps)})")
    fix = " Loosen it for this cell, or change the defaults with `%edge route`."
    filters: list[tuple[str, Any]] = []
    if prefs.only:
        filters.append((f"--only {_join(prefs.only)}", lambda e: any(e.matches(n) for n in prefs.only or [])))
    if prefs.ignore:
        filters.append((f"--ignore {_join(prefs.ignore)}",
                        lambda e: not any(e.matches(n) for n in prefs.ignore or [])))
    if prefs.order and prefs.allow_fallbacks is False:
        filters.append((f"--provider {_join(prefs.order)} --no-fallbacks",
                        lambda e: any(e.matches(n) for n in prefs.order or [])))
    cap = prefs.max_price
    if cap is not None:
        filters.append((f"--max-price {cap.flag()}",
                        lambda e: e.prompt is None or e.completion is None or cap.admits(e.prompt, e.completion)))
    alive, narrowed = eps, []
    for flag, keep in filters:
        kept = [e for e in alive if keep(e)]
        if not kept:
            detail = ""
            if flag.startswith("--max-price"):
                detail = " (" + "; ".join(f"{e.label} {_per_m(e.prompt)}/{_per_m(e.completion)} per M"
                                          for e in alive) + ")"
            if not narrowed:
                return f"`{flag}` excluded {head}{detail}.{fix}"
            steps = "; ".join(f"`{f}` left {_labels(k)}" for f, k in narrowed)
            return (f"Of {head.removeprefix('all ')}: {steps}; then `{flag}` excluded "
                    f"{'it' if len(alive) == 1 else 'those'}{detail}.{fix}")
        if len(kept) < len(alive):
            narrowed.append((flag, kept))
        alive = kept
    policy = [f for f, on in (("--data-collection deny", prefs.data_collection == "deny"),
                              ("--zdr", bool(prefs.zdr))) if on]
    rest = (f"the remaining provider{'s' if len(alive) != 1 else ''} ({_labels(alive)})"
            if len(alive) < len(eps) else head)
    if policy:
        flag = " ".join(policy)
        verdict = "none of them meets" if len(alive) > 1 else "it does not meet"
        fix = (" Drop it for this cell, or pick a model with a compliant provider "
               f"(your account-wide policy is at {PRIVACY_URL}).")
        if not narrowed:
            return f"`{flag}` excluded {head}: {verdict} that data policy.{fix}"
        steps = "; ".join(f"`{f}` left {_labels(k)}" for f, k in narrowed)
        return (f"Of {head.removeprefix('all ')}: {steps}; then `{flag}` excluded "
                f"{'it' if len(alive) == 1 else 'those'}: {verdict} that data policy.{fix}")
    if "data policy" in message.lower():
        return (f"Your account's data policy excluded {rest}; change it at {PRIVACY_URL} "
                f"or pick another model{said}.")
    flags = prefs.flags()
    mine = f"Your routing preferences ({flags}) leave" if flags else "No routing preference of yours excludes"
    return (f"{mine} {_labels(alive)} for {model}, yet OpenRouter found no endpoint{said}. "
            f"Your account-wide provider settings ({PRIVACY_URL}) also apply: check its "
            "allowed and ignored providers.")

# -- argparse ------------------------------------------------------------------------------------
def _names_arg(text: str) -> list[str]:
    if text.strip().lower() == "none":  # clears a saved default for one cell
        return []
    try:
        return parse_provider_list(text)
    except RoutingError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _models_arg(text: str) -> list[str]:
    if text.strip().lower() == "none":
        return []
    try:
        return [check_model_id(m) for m in text.split(",") if m.strip()]
    except RoutingError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _max_price_arg(text: str) -> MaxPrice:
    try:
        return parse_max_price(text)
    except RoutingError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_route_arguments(parser: argparse.ArgumentParser, *, cell: bool = True) -> Any:
    """Add the provider-routing flags to ``parser`` (``%%edge`` and ``%edge route`` share them).

    Destinations are prefixed ``route_`` so they cannot collide with the magic's own flags;
    read them back with :func:`route_from_args`. Lists may be repeated or comma-separated,
    and ``none`` clears a saved default for one cell (``--ignore none``). ``cell=True``
    adds ``--no-route-defaults`` (ignore the saved defaults for this cell).
    """
    g = parser.add_argument_group(
        "provider routing",
        "OpenRouter's provider preferences. Names are provider slugs (amazon-bedrock, azure, "
        "google-vertex/us-east5 …); `%edge models MODEL --endpoints` lists a model's providers.")
    many = {"action": "extend", "type": _names_arg, "metavar": "NAME[,NAME…]"}
    g.add_argument("--provider", dest="route_order", help="try these providers first, in this order",
                   **many)  # type: ignore[arg-type]
    g.add_argument("--only", dest="route_only", help="use only these providers", **many)  # type: ignore[arg-type]
    g.add_argument("--ignore", dest="route_ignore", help="never use these providers", **many)  # type: ignore[arg-type]
    fb = g.add_mutually_exclusive_group()
    fb.add_argument("--no-fallbacks", dest="route_allow_fallbacks", action="store_const", const=False,
                    help="no backup provider: only the --provider list (or OpenRouter's first choice)")
    fb.add_argument("--allow-fallbacks", dest="route_allow_fallbacks", action="store_const", const=True,
                    help="allow backup providers (overrides a saved --no-fallbacks)")
    g.add_argument("--data-collection", dest="route_data_collection", choices=DATA_COLLECTION,
                   help="deny: only providers that do not store or train on your data")
    g.add_argument("--zdr", dest="route_zdr", action=argparse.BooleanOptionalAction, default=None,
                   help="only zero-data-retention endpoints")
    g.add_argument("--sort", dest="route_sort", choices=SORTS,
                   help="rank providers by price, throughput or latency (when no --provider order)")
    g.add_argument("--max-price", dest="route_max_price", type=_max_price_arg, metavar="PROMPT/COMPLETION",
                   help="highest price in USD per million tokens, e.g. 1/2")
    g.add_argument("--fallback", dest="route_fallbacks", action="extend", type=_models_arg,
                   metavar="MODEL", help="another model to try if this one fails (repeatable)")
    if cell:
        g.add_argument("--no-route-defaults", dest="route_no_defaults", action="store_true",
                       help="ignore the routing defaults saved with `%%edge route` for this cell")
    return g


def route_from_args(namespace: argparse.Namespace) -> RoutePrefs:
    """The :class:`RoutePrefs` given by the flags of :func:`add_route_arguments` (unset = None)."""
    get = vars(namespace).get
    return RoutePrefs(
        order=get("route_order"), only=get("route_only"), ignore=get("route_ignore"),
        allow_fallbacks=get("route_allow_fallbacks"), data_collection=get("route_data_collection"),
        zdr=get("route_zdr"), sort=get("route_sort"), max_price=get("route_max_price"),
        fallbacks=get("route_fallbacks"),
    )


def effective_route(namespace: argparse.Namespace, defaults: RoutePrefs
                    ) -> tuple[RoutePrefs, list[str]]:
    """The cell's flags over the saved defaults (unless ``--no-route-defaults``), validated.

    Returns the preferences to send and any warnings to show; raises :class:`RoutingError`.
    """
    cell = route_from_args(namespace)
    merged = cell if vars(namespace).get("route_no_defaults") else cell.merged_over(defaults)
    return merged, validate(merged)


def load_defaults() -> RoutePrefs:
    """The routing defaults saved in the preferences file (``%edge route``)."""
    from . import preferences

    return RoutePrefs.from_json(preferences.load().route)


def save_defaults(prefs: RoutePrefs) -> None:
    """Save ``prefs`` as the routing defaults (validated first, so a bad set is never stored)."""
    from . import preferences

    validate(prefs)
    preferences.update(route=prefs.to_json())


# -- %edge models MODEL --endpoints ----------------------------------------------------------
_FRAME_COLUMNS = ["provider", "tag", "quantization", "context_length", "max_completion_tokens",
                  "prompt_usd_per_m", "completion_usd_per_m", "uptime_30m", "latency_p50_ms",
                  "throughput_p50", "status"]


def endpoints_frame(endpoints_json: Any) -> pd.DataFrame:
    """The providers serving a model as a DataFrame, prices in USD per million tokens.

    Columns: provider, tag (what ``--provider``/``--only`` accept), quantization, context
    and completion limits, prompt/completion price, uptime over 30 minutes (%), median
    latency (ms, time to first token) and throughput (tokens/s), and OpenRouter's status
    code (0 = normal). Missing values stay missing: OpenRouter omits stats for
    unauthenticated calls. ``frame.attrs["model"]`` holds the model id.
    """
    import pandas as pd

    model, rows = _endpoint_dicts(endpoints_json)

    def per_m(value: Any) -> float | None:
        try:
            return float(Decimal(str(value)) * _MILLION)
        except (InvalidOperation, ValueError):
            return None

    def p50(stats: Any) -> float | None:
        return stats.get("p50") if isinstance(stats, Mapping) else None

    records = []
    for r in rows:
        pricing = r.get("pricing") or {}
        records.append({
            "provider": r.get("provider_name"), "tag": r.get("tag"),
            "quantization": r.get("quantization"), "context_length": r.get("context_length"),
            "max_completion_tokens": r.get("max_completion_tokens"),
            "prompt_usd_per_m": per_m(pricing.get("prompt")),
            "completion_usd_per_m": per_m(pricing.get("completion")),
            "uptime_30m": r.get("uptime_last_30m"), "latency_p50_ms": p50(r.get("latency_last_30m")),
            "throughput_p50": p50(r.get("throughput_last_30m")), "status": r.get("status"),
        })
    frame = pd.DataFrame(records, columns=_FRAME_COLUMNS)
    frame = frame.astype({"context_length": "Int64", "max_completion_tokens": "Int64", "status": "Int64",
                          "prompt_usd_per_m": "float64", "completion_usd_per_m": "float64",
                          "uptime_30m": "float64", "latency_p50_ms": "float64", "throughput_p50": "float64"})
    frame.attrs["model"] = model
    return frame
