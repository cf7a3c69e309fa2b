"""An OpenRouter-compatible server for demos, tests and benchmarks: no account, no network.

``Sandbox`` serves the parts of OpenRouter that edge_jupyter uses — models,
chat completions (streaming and not), generation stats, key and credits info,
key management (``/keys``: limits with daily/weekly/monthly windows, disabling),
``/activity`` built from its own billing, and the OAuth PKCE flow — on ``127.0.0.1``,
with deterministic answers, exact costs from a small price table, a billing clock a
test can move (``sb.advance_clock(days=1)``), and on-demand faults::

    from edge_jupyter.sandbox import Sandbox, Fault

    with Sandbox(tokens_per_second=50) as sb:
        client = openai.OpenAI(base_url=sb.api_url, api_key=sb.key)
        sb.inject(Fault.http(429, retry_after=1))
        sb.byok_providers = {"amazon-bedrock"}   # calls routed there are billed as BYOK
        sb.down_providers = {"anthropic"}        # routing falls back to the next provider

Routing honours OpenRouter's whole ``provider`` object (order, only, ignore,
allow_fallbacks, data_collection, zdr, sort, max_price, quantizations) and the
``models`` fallback list, with OpenRouter's 404s when nothing can serve.
Content parts (images, PDFs, the ``file-parser`` plugin) are checked, priced
from the sandbox's own table and recorded (``CompletionRecord.media``).
Function tools are called as scripted (``sb.script_tools([[("f", {"x": 1})], []])``) or as a
``[sandbox:tools=N]`` prompt asks; web search (``openrouter:web_search``, the ``web`` plugin,
``:online``) answers with ``url_citation`` annotations, billed per search (``_tools``).

Standard library only; imports nothing from IPython, widgets or Jupyter.
"""

from __future__ import annotations

from ._catalog import MODELS, CatalogEndpoint, CatalogModel
from ._faults import Fault
from ._media import ReceivedMedia
from ._records import CompletionRecord, RecordedRequest
from ._sandbox import Sandbox
from ._text import answer_tokens, count_prompt_tokens

__all__ = [
    "MODELS",
    "CatalogEndpoint",
    "CatalogModel",
    "CompletionRecord",
    "Fault",
    "ReceivedMedia",
    "RecordedRequest",
    "Sandbox",
    "answer_tokens",
    "count_prompt_tokens",
]
