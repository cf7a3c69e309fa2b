"""What OpenRouter accepts: the provider slugs, their display names, sorts and data policies."""

from __future__ import annotations

from collections.abc import Mapping

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
