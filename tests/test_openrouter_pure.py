"""Pure parts of the client: chunk assembly, retry arithmetic, money formatting."""

from __future__ import annotations

import pytest

from edge_jupyter.money import exact_usd, short_usd, total_usd
from edge_jupyter.openrouter import (
    ProviderError,
    RateLimited,
    RetryPolicy,
    StreamAssembler,
    TextDelta,
    UsageReceived,
    parse_retry_after,
)

USAGE = {"prompt_tokens": 13, "completion_tokens": 16, "total_tokens": 29, "cost": 0.000093,
         "is_byok": False, "prompt_tokens_details": {"cached_tokens": 3},
         "cost_details": {"upstream_inference_cost": 0.000093},
         "completion_tokens_details": {"reasoning_tokens": 2}}


def chunk(content=None, finish=None, **extra):
    choice = {"index": 0, "delta": {"content": content} if content is not None else {},
              "finish_reason": finish}
    return {"id": "gen-1", "model": "m/x", "provider": "P", "choices": [choice], **extra}


@pytest.mark.parametrize("final", [
    {"id": "gen-1", "choices": [], "usage": USAGE},  # 2026 shape
    chunk("", None, usage=USAGE),  # 2024 shape: one empty choice
])
def test_both_usage_chunk_shapes(final):
    a = StreamAssembler()
    events = []
    for c in (chunk(""), chunk("Hel"), chunk("lo"), chunk("", "stop"), final):
        events += a.feed(c)
    result = a.result()
    assert result.text == "Hello"
    assert result.finish_reason == "stop"
    assert result.usage.cost == 0.000093 and result.usage.cached_tokens == 3
    assert result.usage.reasoning_tokens == 2
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Hel", "lo"]
    assert isinstance(events[-1], UsageReceived)


def test_last_usage_wins_over_an_early_one_without_a_cost():
    # some upstreams attach a running usage (no cost) to an earlier chunk
    a = StreamAssembler()
    a.feed(chunk("a", usage={"prompt_tokens": 17, "completion_tokens": 5, "total_tokens": 22}))
    a.feed({"choices": [], "usage": USAGE})
    assert a.result().usage.cost == 0.000093
    assert a.result().notes == []


def test_a_second_costed_usage_that_disagrees_makes_the_usage_unknown():
    a = StreamAssembler()
    a.feed(chunk("a", usage={**USAGE, "cost": 1.0}))
    a.feed({"choices": [], "usage": USAGE})
    a.feed({"choices": [], "usage": {**USAGE, "cost": 1.0}})  # cannot make it known again
    result = a.result()
    assert result.usage is None
    assert len(result.notes) == 1 and "disagree" in result.notes[0]
    assert "/generation" in result.notes[0]


@pytest.mark.parametrize("code,status", [(429, 429), ("server_error", 502), (None, 502)])
def test_error_inside_the_stream(code, status):
    a = StreamAssembler()
    a.feed(chunk("partial "))
    err_chunk = chunk("", "error", error={"code": code, "message": "boom"})
    with pytest.raises((ProviderError, RateLimited)) as err:
        a.feed(err_chunk)
    assert err.value.status == status and err.value.during_stream
    assert a.result().text == "partial " and a.result().finish_reason == "error"


def test_retry_after_forms():
    assert parse_retry_after({"retry-after": "3"}) == 3
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, now=1445412470) == 10
    assert parse_retry_after({"x-ratelimit-reset": "1700000005000"}, now=1700000000) == 5
    assert parse_retry_after({"x-ratelimit-reset": "1700000005"}, now=1700000000) == 5
    assert parse_retry_after({}) is None
    assert parse_retry_after({"retry-after": "soon"}) is None


def test_retry_policy_bounds():
    policy = RetryPolicy(max_retries=2, base_delay=1, max_delay=4, max_wait=10)
    assert policy.delay(3, None) is None
    assert policy.delay(1, 7) == 7
    assert policy.delay(1, 11) is None  # too long to sleep through: tell the user
    assert 0.75 <= policy.delay(1, None) <= 1.25
    assert 1.5 <= policy.delay(2, None) <= 2.5


def test_money_is_exact_and_readable():
    assert exact_usd(0.000093) == "$0.000093"
    assert exact_usd(6e-07) == "$0.0000006"
    assert exact_usd(1.5) == "$1.5"
    assert exact_usd(None) == "—"
    assert exact_usd(0.1 + 0.2) == "$0.3"
    assert exact_usd(0.00025394999999999997) == "$0.00025395"
    assert short_usd(12.345) == "$12.35"
    assert short_usd(0.000093) == "$0.000093"
    assert short_usd(0.0012345) == "$0.0012"
    assert total_usd([0.1, 0.2, None]) == 0.3


@pytest.mark.parametrize("modalities, parameters", [
    ("text,image", "reasoning"),                     # strings, not lists
    ([1, {"image": True}, None, "text"], [3, "tools"]),  # items that are no names
    ({"image": True}, None),
])
def test_a_hostile_models_entry_gives_names_only(modalities, parameters):
    """/models lists feed refusals ("its inputs: text") and checks ("image" in inputs): a
    string is not a list of its letters, and a number in the list must not break them."""
    from edge_jupyter.openrouter import ModelInfo

    info = ModelInfo.from_json({"id": "m", "architecture": {"input_modalities": modalities},
                                "supported_parameters": parameters, "pricing": {}})
    assert all(isinstance(n, str) and len(n) > 1 for n in info.input_modalities)
    assert "image" not in info.input_modalities and "i" not in info.input_modalities
    assert all(isinstance(n, str) for n in info.supported_parameters)
    assert "reasoning" not in info.supported_parameters
    assert ModelInfo.from_json({"id": "m", "architecture": "text->text",
                                "top_provider": "x"}).input_modalities == ()
