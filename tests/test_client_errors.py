"""Every error path of the client, against faults the sandbox really produces."""

from __future__ import annotations

import json
import traceback

import pytest

from edge_jupyter.openrouter import (
    AuthenticationError,
    ConnectionFailed,
    InsufficientCredits,
    KeyLimitExceeded,
    OpenRouterClient,
    ProviderError,
    RateLimited,
    RequestTimeout,
    RetryPolicy,
    StreamInterrupted,
    TextDelta,
    UnknownModel,
)
from edge_jupyter.sandbox import Fault

FAST_RETRY = RetryPolicy(max_retries=2, base_delay=0.01, max_delay=0.05)
BODY = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}


def client_for(sb, key=None, retry=FAST_RETRY) -> OpenRouterClient:
    return OpenRouterClient(key or sb.key, origin=sb.url, retry=retry)


def chat_requests(sb) -> int:
    return sum(1 for r in sb.requests if r.path.endswith("/chat/completions"))


def consume(stream) -> str:
    return "".join(e.text for e in stream if isinstance(e, TextDelta))


def assert_no_key(sb, err: BaseException, key: str | None = None) -> None:
    key = key or sb.key
    text = "".join(traceback.format_exception(err)) + repr(err) + str(err)
    assert key not in text
    assert key[10:30] not in text


def test_unknown_model_is_a_clear_400(sb):
    with pytest.raises(UnknownModel) as err:
        consume(client_for(sb).stream_chat({**BODY, "model": "openai/gpt-4o-mni"}))
    assert err.value.status == 400
    assert err.value.model == "openai/gpt-4o-mni"
    assert "not a valid model" in str(err.value)
    assert chat_requests(sb) == 1, "a 400 is never retried"


def test_bad_key_says_reconnect_and_never_shows_the_key(sb):
    bad = "sk-or-v1-" + "ab" * 32
    with pytest.raises(AuthenticationError) as err:
        consume(client_for(sb, bad).stream_chat(BODY))
    assert err.value.status == 401
    assert "%edge connect" in str(err.value)
    assert_no_key(sb, err.value, bad)


def test_revoked_key_is_401(sb):
    key = sb.issue_key()
    client = client_for(sb, key)
    consume(client.stream_chat(BODY))
    sb.revoke(key)
    with pytest.raises(AuthenticationError):
        consume(client.stream_chat(BODY))


def test_insufficient_credits_says_how_to_top_up(sb):
    sb.inject(Fault.http(402))
    with pytest.raises(InsufficientCredits) as err:
        consume(client_for(sb).stream_chat(BODY))
    assert "openrouter.ai/settings/credits" in str(err.value)
    assert "--max-tokens" in str(err.value)
    assert chat_requests(sb) == 1


def test_reservation_over_the_balance_is_402(sb):
    with pytest.raises(InsufficientCredits) as err:
        client_for(sb).complete({**BODY, "model": "openai/gpt-4o", "max_tokens": 100_000_000})
    assert "can only afford" in str(err.value)


def test_spent_key_limit_is_403_key_limit(sb):
    key = sb.issue_key(limit=0.0)  # a cap that is already used up
    client = client_for(sb, key)
    with pytest.raises(KeyLimitExceeded) as err:
        consume(client.stream_chat(BODY))
    assert err.value.status == 403
    assert "limit" in str(err.value)
    assert "%edge connect --limit" in err.value.hint


def test_a_spent_hub_key_tells_the_user_to_ask_the_hubs_admin(sb, monkeypatch):
    # a student can neither raise a provisioned key's cap nor reconnect it with a higher one
    monkeypatch.setenv("EDGE_KEY_PROVISIONED", "jupyterhub")
    with pytest.raises(KeyLimitExceeded) as err:
        consume(client_for(sb, sb.issue_key(limit=0.0)).stream_chat(BODY))
    assert "admin" in err.value.hint and "edge-jupyter hub set-limit" in err.value.hint
    assert "--limit" not in err.value.hint and "spending limit is used up" in err.value.hint


def test_rate_limit_is_retried_honouring_retry_after(sb):
    sb.inject(Fault.http(429, retry_after=0.3))
    waits = []
    text = consume(client_for(sb).stream_chat(BODY, on_retry=lambda e, w, n: waits.append(w)))
    assert text == sb.completions[-1].text
    assert waits == [0.3]
    assert chat_requests(sb) == 2


def test_rate_limit_that_persists_ends_as_rate_limited(sb):
    sb.inject(Fault.http(429, retry_after=0.05, times=5))
    with pytest.raises(RateLimited) as err:
        consume(client_for(sb).stream_chat(BODY))
    assert err.value.retry_after == pytest.approx(0.05)
    assert "try again" in str(err.value)
    assert chat_requests(sb) == 3  # the first try and two retries


def test_a_long_retry_after_is_reported_not_slept(sb):
    sb.inject(Fault.http(429, retry_after=600))
    with pytest.raises(RateLimited) as err:
        consume(client_for(sb).stream_chat(BODY))
    assert "600" in str(err.value)
    assert chat_requests(sb) == 1


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_before_the_first_token_are_retried(sb, status):
    sb.inject(Fault.http(status))
    assert consume(client_for(sb).stream_chat(BODY)) == sb.completions[-1].text
    assert chat_requests(sb) == 2


def test_server_error_that_persists_is_a_provider_error(sb):
    sb.inject(Fault.http(502, times=3))
    with pytest.raises(ProviderError) as err:
        consume(client_for(sb).stream_chat(BODY))
    assert err.value.status == 502 and not err.value.during_stream


def test_408_is_a_timeout(sb):
    sb.inject(Fault.http(408, times=3))
    with pytest.raises(RequestTimeout):
        consume(client_for(sb).stream_chat(BODY))


def test_midstream_error_keeps_the_partial_text_and_is_not_retried(sb):
    sb.answer_length = 50
    sb.inject(Fault.midstream(after_tokens=5, code=502))
    stream = client_for(sb).stream_chat(BODY)
    seen, chunks = [], 0
    with pytest.raises(ProviderError) as err:
        for event in stream:
            if isinstance(event, TextDelta):
                seen.append(event.text)
                chunks += event.chunks
    assert err.value.during_stream
    assert chunks == 5  # the text before the error reached the consumer, in one burst or five
    assert stream.completion.text == "".join(seen)
    assert stream.completion.finish_reason == "error"
    assert chat_requests(sb) == 1


def test_dropped_connection_keeps_the_partial_text(sb):
    sb.answer_length = 50
    sb.inject(Fault.drop(after_tokens=7))
    stream = client_for(sb).stream_chat(BODY)
    with pytest.raises(StreamInterrupted) as err:
        consume(stream)
    assert "dropped" in str(err.value) or "closed" in str(err.value)
    assert len(stream.completion.text) > 0
    assert stream.completion.generation_id
    assert chat_requests(sb) == 1


def texts_before(error: type[BaseException], stream) -> list[str]:
    """The texts a consumer saw before ``stream`` raised ``error`` (it must raise it)."""
    seen = []
    with pytest.raises(error):
        for event in stream:
            if isinstance(event, TextDelta):
                seen.append(event.text)
    return seen


def test_a_malformed_chunk_is_skipped_said_and_the_rest_of_the_answer_arrives(sb):
    sb.inject(Fault.malformed(after_tokens=3))
    stream = client_for(sb).stream_chat(BODY)
    seen = consume(stream)
    sent = sb.completions[-1]
    assert seen == stream.completion.text == sent.text, "every token after the bad chunk arrived"
    assert stream.completion.usage is not None and stream.completion.usage.cost == sent.usage["cost"]
    assert stream.malformed == 1
    assert stream.completion.notes == [
        "1 malformed chunk from the server was skipped; the answer may miss a few words."]


def _replayed(body: str) -> OpenRouterClient:
    """A client whose every request is answered with ``body`` in one network read."""
    import httpx

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"},
                              content=body.encode())

    return OpenRouterClient("sk-or-test", origin="http://mock.invalid",
                            http=httpx.Client(transport=httpx.MockTransport(answer)))


def _chunk(**fields) -> str:
    choice = {"index": 0, "delta": {}, "finish_reason": None}
    choice["delta"].update(fields.pop("delta", {}))
    choice["finish_reason"] = fields.pop("finish", None)
    return "data: " + json.dumps({"id": "gen-1", "model": "m/x", "choices": [choice], **fields}) + "\n\n"


def test_one_read_keeps_the_order_text_finish_usage_and_ignores_what_follows_done():
    usage = {"prompt_tokens": 3, "completion_tokens": 2, "cost": 0.5}
    body = (_chunk(delta={"role": "assistant", "content": ""})  # the first chunk: ids, no text
            + _chunk(delta={"content": "He"}) + _chunk(delta={"content": "llo"})
            + _chunk(finish="stop") + 'data: {"id": "gen-1", "choices": [], "usage": '
            + json.dumps(usage) + "}\n\ndata: [DONE]\n\ndata: {not json}\n\n")
    events = list(_replayed(body).stream_chat(BODY))
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["Started", "TextDelta", "Finished", "UsageReceived"]
    text = next(e for e in events if isinstance(e, TextDelta))
    assert (text.text, text.chunks) == ("Hello", 2)


@pytest.mark.parametrize("bad", ['{"choices": [{"delta": "oops"}]}', '{"choices": 7}', "[1, 2]",
                                 "{not json"])
def test_a_chunk_of_the_wrong_shape_is_skipped_and_the_text_around_it_kept(bad):
    body = (_chunk(delta={"content": "kept"}) + f"data: {bad}\n\n" + f"data: {bad}\n\n"
            + _chunk(delta={"content": " and more"}) + _chunk(finish="stop") + "data: [DONE]\n\n")
    stream = _replayed(body).stream_chat(BODY)
    assert consume(stream) == "kept and more"
    assert stream.completion.finish_reason == "stop"
    assert stream.completion.notes == [
        "2 malformed chunks from the server were skipped; the answer may miss a few words."]


def test_a_stalled_stream_times_out(sb):
    import httpx

    sb.inject(Fault.stall(3, after_tokens=2))
    http = httpx.Client(timeout=httpx.Timeout(5, read=0.5))
    client = OpenRouterClient(sb.key, origin=sb.url, retry=FAST_RETRY, http=http)
    stream = client.stream_chat(BODY)
    with pytest.raises(StreamInterrupted) as err:
        consume(stream)
    assert "stalled" in str(err.value)
    http.close()


def test_nothing_listening_is_connection_failed():
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    client = OpenRouterClient("sk-or-v1-" + "0" * 64, origin=f"http://127.0.0.1:{port}", retry=FAST_RETRY)
    with pytest.raises(ConnectionFailed) as err:
        consume(client.stream_chat(BODY))
    assert "EDGE_OPENROUTER_URL" in str(err.value)
    assert ("0" * 64) not in repr(err.value) + str(err.value)


def test_the_key_is_in_no_repr_or_error(sb):
    client = client_for(sb)
    assert sb.key not in repr(client)
    assert sb.key not in repr(client.__dict__)
    sb.inject(Fault.http(500, message=f"upstream said {sb.key}", times=3))
    with pytest.raises(ProviderError) as err:
        consume(client.stream_chat(BODY))
    assert_no_key(sb, err.value)
    assert "sk-or-…" in str(err.value)


def test_with_retry_keeps_key_origin_and_pool_and_only_changes_the_policy(sb):
    base = client_for(sb)  # gives up after 2 retries
    patient = base.with_retry(RetryPolicy(max_retries=5, base_delay=0.01, max_delay=0.02))
    sb.inject(Fault.http(429, times=4, retry_after=0.01))
    assert consume(patient.stream_chat(BODY)) == sb.completions[-1].text
    assert chat_requests(sb) == 5
    assert (patient.origin, patient.key_fingerprint) == (base.origin, base.key_fingerprint)
    assert patient.http is base.http and base.retry.max_retries == 2
    assert sb.key not in repr(patient) + patient.key_fingerprint
