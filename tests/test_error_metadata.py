"""An OpenRouter error quotes the useful part of ``error.metadata``: the provider and its words.

OpenRouter relays a provider's failure as ``"Provider returned error"``; what went wrong is
in ``metadata.raw`` (the provider's own body) and ``metadata.provider_name``.  The recorded
429 below is the shape real OpenRouter answers have for a rate-limited free model (key order
and every member as sent; the same shape is quoted in public bug reports of OpenRouter
clients, and in /work/shared/openrouter-api.md, 429 row).  It goes through the real client
and the sandbox over HTTP, and through ``%%edge`` in a real kernel.
"""

from __future__ import annotations

import json

import httpx
import pytest

from edge_jupyter.openrouter import (
    APIStatusError,
    OpenRouterClient,
    ProviderError,
    RateLimited,
    RetryPolicy,
    error_for_status,
)
from edge_jupyter.openrouter._errors import DETAIL_CHARS
from edge_jupyter.sandbox import Fault

RAW = ("google/gemini-2.0-flash-exp:free is temporarily rate-limited upstream. Please retry "
       "shortly, or add your own key to accumulate your rate limits: "
       "https://openrouter.ai/settings/integrations")
RECORDED_429 = {"error": {"message": "Provider returned error", "code": 429, "metadata": {
    "raw": RAW, "provider_name": "Google AI Studio", "is_byok": False,
    "provider_error_code": "429", "limit_source": "upstream_provider_shared_pool",
    "remedy_hint": "Retry shortly, add your own provider key "
                   "(https://openrouter.ai/settings/integrations), or route to another provider "
                   "with provider.order"}}, "user_id": "user_2yTQ3NXsrJgMhQvWjHGs4vPBr2a"}
META = RECORDED_429["error"]["metadata"]
QUOTED = f"Provider returned error — Google AI Studio: {RAW}."
FAST_RETRY = RetryPolicy(max_retries=1, base_delay=0.01, max_delay=0.02)
BODY = {"model": "google/gemini-2.0-flash-001", "messages": [{"role": "user", "content": "hi"}]}


# -- the message, from the body ------------------------------------------------------------------


def test_the_recorded_429_says_which_provider_and_why() -> None:
    body = json.dumps(RECORDED_429).encode()
    response = httpx.Response(429, content=body, headers={"Retry-After": "7"})
    err = OpenRouterClient("sk-or-v1-" + "0" * 64).error_from_response(response, body)
    assert isinstance(err, RateLimited)
    assert str(err) == (f"OpenRouter error 429: {QUOTED} Too many requests: try again in 7 s, "
                        "or pick another model or provider.")
    assert err.message == "Provider returned error"  # the server's own words stay as they were


def test_without_metadata_the_message_is_as_before() -> None:
    assert str(error_for_status(429, "Rate limit exceeded")) == (
        "OpenRouter error 429: Rate limit exceeded. Too many requests: try again in a moment, "
        "or pick another model or provider.")


def test_a_json_raw_gives_its_message() -> None:
    openai = json.dumps({"error": {"message": "max_tokens is too large: 99999.",
                                   "type": "invalid_request_error", "code": None}})
    err = error_for_status(400, "Provider returned error",
                           metadata={"raw": openai, "provider_name": "OpenAI"})
    assert "Provider returned error — OpenAI: max_tokens is too large: 99999. Check" in str(err)
    google = json.dumps([{"error": {"code": 429, "message": "Resource has been exhausted "
                                    "(e.g. check quota).", "status": "RESOURCE_EXHAUSTED"}}])
    err = error_for_status(429, "Provider returned error",
                           metadata={"raw": google, "provider_name": "Google Vertex"})
    assert "— Google Vertex: Resource has been exhausted (e.g. check quota)." in str(err)
    anthropic = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    err = error_for_status(529, "Provider returned error",
                           metadata={"raw": anthropic, "provider_name": "Anthropic"})
    assert "Provider returned error — Anthropic: Overloaded." in str(err)


def test_the_quote_is_one_short_clean_line_without_a_key() -> None:
    key = "sk-or-v1-" + "f" * 64
    raw = "upstream\r\nsaid \x1b]52;c;aGVsbG8=\x07no: " + key + " " + "x" * 2000
    err = error_for_status(502, "Provider returned error",
                           metadata={"raw": raw, "provider_name": "Evil\x1b[2J Inc"})
    text = str(err)
    assert key not in text and "f" * 20 not in text
    assert "\x1b" not in text and "\x07" not in text and "\n" not in text and "\r" not in text
    assert "— Evil[2J Inc: upstream said ]52;c;aGVsbG8=no: " in text
    assert "x" * DETAIL_CHARS not in text and "x…" in text
    assert len(text) < DETAIL_CHARS + 250


def test_a_provider_without_words_is_named_and_nothing_is_said_twice() -> None:
    err = error_for_status(502, "Provider returned error", metadata={"provider_name": "Anthropic"})
    assert str(err).startswith("OpenRouter error 502: Provider returned error (Anthropic). ")
    same = error_for_status(429, RAW, metadata={"raw": RAW, "provider_name": None})
    assert str(same).count("temporarily rate-limited") == 1
    for nothing in ({}, {"provider_name": None}, {"raw": ""}, {"raw": 42}, {"raw": None}):
        assert str(error_for_status(502, "Bad gateway", metadata=nothing)).startswith(
            "OpenRouter error 502: Bad gateway. The model's")


def test_an_error_inside_a_stream_quotes_its_metadata_too() -> None:
    err = error_for_status(429, "Provider returned error", metadata=META, during_stream=True)
    assert isinstance(err, APIStatusError)
    assert str(err).startswith(f"OpenRouter error 429 (during the answer): {QUOTED}")


# -- through the sandbox -------------------------------------------------------------------------


def test_the_sandbox_replays_the_recorded_body_and_the_client_quotes_it(sb) -> None:
    sb.inject(Fault.http(429, message="Provider returned error", metadata=META, times=2))
    r = httpx.post(f"{sb.url}/api/v1/chat/completions", json=BODY,
                   headers={"Authorization": f"Bearer {sb.key}"})
    assert r.status_code == 429
    assert r.json()["error"] == {"message": "Provider returned error", "code": 429,
                                 "metadata": META}
    with pytest.raises(RateLimited) as err:
        list(OpenRouterClient(sb.key, origin=sb.url, retry=FAST_RETRY).stream_chat(BODY))
    assert QUOTED in str(err.value)
    assert sb.key not in str(err.value)


def test_the_control_api_takes_a_fault_with_metadata() -> None:
    fault = Fault.from_dict({"kind": "http", "status": 502, "metadata": META})
    assert fault.metadata == META and Fault.from_dict(fault.to_dict()) == fault
    with pytest.raises(ValueError, match="metadata"):
        Fault.from_dict({"kind": "http", "status": 502, "metadata": "raw"})


def test_a_provider_error_names_the_provider_that_is_down(sb) -> None:
    sb.down_providers = {"google-ai-studio"}
    body = {**BODY, "provider": {"only": ["google-ai-studio"], "allow_fallbacks": False}}
    with pytest.raises(ProviderError) as err:
        list(OpenRouterClient(sb.key, origin=sb.url, retry=FAST_RETRY).stream_chat(body))
    assert str(err.value).startswith("OpenRouter error 502: Provider returned error "
                                     "(Google AI Studio). The model's provider failed")


# -- in a real kernel ----------------------------------------------------------------------------


def test_an_edge_cell_shows_the_providers_words_in_one_line(kernel, sb) -> None:
    sb.inject(Fault.http(429, message="Provider returned error", metadata=META,
                         retry_after=0.01, times=20))
    run = kernel.run("%%edge -m google/gemini-2.0-flash-001\nHi")
    assert run.status == "error"
    assert "Traceback" not in run.error_text
    assert f"OpenRouter error 429: {QUOTED} Too many requests" in run.all_text
    assert sb.key not in run.all_text
