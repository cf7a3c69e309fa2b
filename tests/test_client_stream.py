"""The OpenRouter client streaming from the sandbox over real HTTP."""

from __future__ import annotations

import httpx
import pytest

from edge_jupyter.openrouter import (
    Finished,
    OpenRouterClient,
    ReasoningDelta,
    RetryPolicy,
    Started,
    TextDelta,
    UsageReceived,
)
from edge_jupyter.sandbox import answer_tokens

FAST_RETRY = RetryPolicy(max_retries=2, base_delay=0.01, max_delay=0.05)
MESSAGES = [{"role": "user", "content": "Tell me about edge cases — é 🙂"}]


def client_for(sb, key: str | None = None) -> OpenRouterClient:
    return OpenRouterClient(key or sb.key, origin=sb.url, retry=FAST_RETRY)


def stream_text(client: OpenRouterClient, **body):
    stream = client.stream_chat({"model": "openai/gpt-4o-mini", "messages": MESSAGES, **body})
    events = list(stream)
    return stream, events


def test_streamed_text_equals_what_the_sandbox_sent(sb):
    sb.answer_length = 300
    stream, events = stream_text(client_for(sb))
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    sent = sb.completions[-1]
    assert text == sent.text == "".join(answer_tokens("openai/gpt-4o-mini", MESSAGES, 300))
    assert stream.completion.text == text
    assert isinstance(events[0], Started) and events[0].generation_id == sent.id
    assert any(isinstance(e, Finished) for e in events)
    assert isinstance(events[-1], UsageReceived)


def test_a_burst_comes_as_a_few_deltas_and_a_paced_stream_chunk_by_chunk(sb):
    sb.answer_length = 3000  # at zero delay the client reads many chunks at once
    _, events = stream_text(client_for(sb))
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert sum(d.chunks for d in deltas) == len(answer_tokens("openai/gpt-4o-mini", MESSAGES, 3000))
    assert len(deltas) < 300, "a burst should be handed over a read at a time"
    sb.answer_length, sb.tokens_per_second = 12, 20  # a model's pace: 50 ms between chunks
    _, events = stream_text(client_for(sb))
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert sum(d.chunks for d in deltas) == 12
    # one by one as they come, not held back (a little slack for a busy CI machine)
    assert len(deltas) >= 9, [d.chunks for d in deltas]


def test_cost_and_tokens_are_exactly_the_usage_chunk(sb):
    stream, _ = stream_text(client_for(sb))
    usage = stream.completion.usage
    sent = sb.completions[-1].usage
    assert usage.cost == sent["cost"]
    assert usage.prompt_tokens == sent["prompt_tokens"]
    assert usage.completion_tokens == sent["completion_tokens"] > 0
    assert usage.upstream_cost == sent["cost_details"]["upstream_inference_cost"]
    assert usage.is_byok is False
    assert stream.completion.provider == "OpenAI"
    assert stream.completion.model == "openai/gpt-4o-mini"
    assert stream.completion.finish_reason == "stop"


def test_crlf_and_utf8_split_across_network_writes(sb):
    sb.line_ending = "\r\n"
    sb.write_chunk_bytes = 3
    sb.answer_length = 1000
    try:
        stream, events = stream_text(client_for(sb))
    finally:
        sb.line_ending = "\n"
        sb.write_chunk_bytes = None
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert text == sb.completions[-1].text
    assert any(ord(ch) > 0xFFFF for ch in text), "the answer should hold 4-byte characters"
    assert "\u2028" in text, "a line separator inside a JSON string must not split the event"
    assert stream.completion.usage is not None


def test_comment_lines_are_on_the_wire_and_skipped(sb):
    body = {"model": "openai/gpt-4o-mini", "messages": MESSAGES, "stream": True}
    raw = httpx.post(f"{sb.api_url}/chat/completions", json=body,
                     headers={"Authorization": f"Bearer {sb.key}"}).text
    assert ": OPENROUTER PROCESSING" in raw
    _, events = stream_text(client_for(sb))
    assert all(not getattr(e, "text", "").startswith(":") for e in events)


def test_reasoning_tokens_are_separate_from_the_text(sb):
    client = client_for(sb)
    stream = client.stream_chat({"model": "deepseek/deepseek-r1", "messages": MESSAGES})
    events = list(stream)
    reasoning = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert reasoning and text == sb.completions[-1].text
    assert stream.completion.usage.reasoning_tokens > 0


def test_byok_call_reports_fee_and_upstream_cost_apart(sb):
    from edge_jupyter.sandbox import Fault

    sb.inject(Fault.byok())
    stream, _ = stream_text(client_for(sb))
    usage = stream.completion.usage
    assert usage.is_byok is True
    assert usage.upstream_cost is not None and usage.cost is not None
    assert usage.cost < usage.upstream_cost


def test_non_streaming_completion(sb):
    completion = client_for(sb).complete({"model": "openai/gpt-4o-mini", "messages": MESSAGES,
                                          "max_tokens": 7})
    sent = sb.completions[-1]
    assert completion.text == sent.text
    assert completion.finish_reason == "length"
    assert completion.usage.completion_tokens == 7
    assert completion.usage.cost == sent.usage["cost"]
    assert completion.generation_id == sent.id


def test_cancel_from_another_thread_stops_the_stream(sb):
    import threading

    sb.answer_length = 5000
    sb.tokens_per_second = 200
    client = client_for(sb)
    stream = client.stream_chat({"model": "openai/gpt-4o-mini", "messages": MESSAGES})
    seen = 0
    for event in stream:
        if isinstance(event, TextDelta):
            seen += 1
            if seen == 5:
                threading.Timer(0.05, stream.close).start()
    assert stream.cancelled
    assert 5 <= seen < 200
    assert stream.completion.generation_id


def test_models_are_parsed_and_cached(sb):
    client = client_for(sb)
    models = client.models(refresh=True)
    by_id = {m.id: m for m in models}
    mini = by_id["openai/gpt-4o-mini"]
    assert mini.pricing.prompt == pytest.approx(0.15e-6)
    assert mini.pricing.completion == pytest.approx(0.6e-6)
    assert mini.context_length == 128000
    assert by_id["meta-llama/llama-3.1-8b-instruct:free"].pricing.is_free
    before = len(sb.requests)
    client.models()
    assert len(sb.requests) == before, "the second call must come from the cache"


def test_generation_lags_then_gives_the_exact_cost(sb):
    from edge_jupyter.openrouter import NotFound

    sb.generation_ready_after = 0.4
    client = client_for(sb)
    stream, _ = stream_text(client)
    gen_id = stream.completion.generation_id
    with pytest.raises(NotFound):
        client.generation(gen_id)
    gen = client.wait_for_generation(gen_id, timeout=5)
    assert gen.total_cost == stream.completion.usage.cost
    assert gen.completion_tokens == stream.completion.usage.completion_tokens
    assert gen.cancelled is False


def test_key_info_and_credits_need_the_right_key(sb):
    from edge_jupyter.openrouter import PermissionDenied

    client = client_for(sb)
    stream_text(client)
    info = client.key_info()
    assert info.usage > 0 and info.limit is None
    with pytest.raises(PermissionDenied) as err:
        client.credits()
    assert "management" in str(err.value).lower()
    credits = client_for(sb, sb.management_key).credits()
    assert credits.total_credits > 0 and credits.balance <= credits.total_credits


def test_the_generation_id_is_handed_over_with_the_headers_before_any_chunk(sb):
    _, events = stream_text(client_for(sb))
    first, second = events[0], events[1]
    assert isinstance(first, Started) and first.model is None  # from X-Generation-Id
    assert first.generation_id == sb.completions[-1].id
    assert isinstance(second, Started) and second.model == "openai/gpt-4o-mini"  # the first chunk


def test_close_from_another_thread_ends_a_read_blocked_in_a_stall(sb):
    # The server goes silent (a stalled provider): the consuming thread sits in recv().
    # Closing the response alone left it blocked until the next byte; shutting the socket
    # down ends the read at once, so an interrupt of several models returns.
    import threading

    from edge_jupyter.sandbox import Fault

    sb.inject(Fault.stall(60, after_tokens=2))
    stream = client_for(sb).stream_chat({"model": "openai/gpt-4o-mini", "messages": MESSAGES})
    text_seen, errors = threading.Event(), []

    def consume():
        try:
            for event in stream:
                if isinstance(event, TextDelta):
                    text_seen.set()
        except Exception as exc:  # reported below
            errors.append(exc)

    worker = threading.Thread(target=consume, daemon=True)
    worker.start()
    assert text_seen.wait(10)
    stream.close()
    worker.join(20)  # the stall lasts 60 s: ending well before it means the read was ended
    assert not worker.is_alive() and errors == [] and stream.cancelled
    assert stream.completion.generation_id
