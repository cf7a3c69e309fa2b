"""Cancelling a call stops its retries: a cancel during a ``Retry-After`` back-off sends
nothing more, and a response that arrived as the cancel came keeps its generation id (so
its row can be reconciled from ``/generation`` instead of holding money no budget counts).

Real HTTP against the sandbox; the engine runs in a worker thread and is cancelled from the
test's thread, as the panel or a kernel interrupt of several models would.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable

import httpx
import pytest

from edge_jupyter import calls
from edge_jupyter.ledger import Ledger
from edge_jupyter.openrouter import OpenRouterClient
from edge_jupyter.sandbox import Fault

MODEL = "openai/gpt-4o-mini"


def chat_requests(sb) -> int:
    return sum(1 for r in sb.requests if r.path.endswith("/chat/completions"))


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("the condition was not met in time")
        time.sleep(0.02)


def start(request: calls.Request, listener: Callable[[calls.Event], None] | None = None
          ) -> tuple[calls.CallRun, threading.Thread, list[calls.Outcome]]:
    run = calls.CallRun(calls.plan(request), listener)
    outcomes: list[calls.Outcome] = []
    worker = threading.Thread(target=lambda: outcomes.append(run.execute()), daemon=True)
    worker.start()
    return run, worker, outcomes


def ledger_rows() -> list[tuple[str, str | None, float]]:
    with sqlite3.connect(Ledger.default().path) as conn:
        return conn.execute("SELECT status, generation_id, reserved_usd FROM calls").fetchall()


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "not-streamed"])
def test_a_cancel_during_the_retry_after_wait_sends_nothing_more(edge_env, sb, stream) -> None:
    sb.inject(Fault.http(429, retry_after=3))
    run, worker, outcomes = start(calls.Request(prompt="hi", models=[MODEL], stream=stream))
    wait_until(lambda: chat_requests(sb) == 1)  # the 429 is on its way: the back-off follows
    run.cancel()
    worker.join(timeout=15)
    assert not worker.is_alive()
    assert chat_requests(sb) == 1, "the call was sent again after it was cancelled"
    [outcome] = outcomes
    assert outcome.interrupted and outcome.records[0].status == "interrupted"
    # Nothing reached a model: the row is complete and holds nothing.
    [(status, generation_id, reserved)] = ledger_rows()
    assert status == "interrupted" and not generation_id and reserved == 0


def test_a_response_that_arrives_as_the_stream_is_cancelled_keeps_its_generation_id(sb) -> None:
    # The cancel lands after the server answered (its headers are in), before the stream is
    # read: the generation exists and may be billed, so its id must not be lost.
    holder: list = []

    def cancel_on_headers(response: httpx.Response) -> None:
        if response.url.path.endswith("/chat/completions"):
            holder[0].close()

    with httpx.Client(event_hooks={"response": [cancel_on_headers]}) as http:
        client = OpenRouterClient(sb.key, origin=sb.url, http=http)
        stream = client.stream_chat({"model": MODEL,
                                     "messages": [{"role": "user", "content": "hi"}]})
        holder.append(stream)
        events = list(stream)
    assert events == [] and stream.cancelled
    [completion] = sb.wait_for_completions(1)
    assert stream.completion.generation_id == completion.id, \
        "the generation id of a response cancelled before reading was lost"


def test_a_cancel_mid_stream_still_stops_the_answer_and_keeps_its_id(edge_env, sb) -> None:
    sb.tokens_per_second, sb.answer_length = 20, 2000
    texts = threading.Event()
    run, worker, outcomes = start(calls.Request(prompt="A long story", models=[MODEL]),
                                  lambda event: texts.set() if isinstance(event, calls.Text) else None)
    wait_until(texts.is_set)  # the answer is arriving
    run.cancel()
    worker.join(timeout=15)
    assert not worker.is_alive()
    [outcome] = outcomes
    [record] = outcome.records
    assert outcome.interrupted and record.status == "interrupted" and record.text
    assert chat_requests(sb) == 1
    [completion] = sb.wait_for_completions(1)
    assert completion.cancelled and record.generation_id == completion.id
    [(status, generation_id, _reserved)] = ledger_rows()
    assert status == "interrupted" and generation_id == completion.id
