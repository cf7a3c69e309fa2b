"""The SSE framer against httpx-sse, the reference it replaced, on streams cut anywhere."""

from __future__ import annotations

import random

import httpx
import pytest
from httpx_sse import EventSource

from edge_jupyter.openrouter._sse import SSEFramer

ENDINGS = ("\n", "\r\n", "\r")


def random_stream(rng: random.Random) -> str:
    """Events as a server might frame them: comments, several data lines, odd spacing,
    other fields, multi-byte text, any of the three line endings (mixed)."""
    out = []
    for _ in range(rng.randint(1, 25)):
        for _ in range(rng.randint(0, 2)):
            out.append(": OPENROUTER PROCESSING" + rng.choice(ENDINGS))
        if rng.random() < 0.2:
            out.append("event: message" + rng.choice(ENDINGS))
        for _ in range(rng.randint(1, 3)):
            value = rng.choice(['{"a": "naïve ☕"}', "", " leading", "x:y", "[DONE]", "é" * 5])
            out.append(rng.choice(["data: ", "data:"]) + value + rng.choice(ENDINGS))
        if rng.random() < 0.1:
            out.append("data" + rng.choice(ENDINGS))
        out.append(rng.choice(ENDINGS))  # the blank line that ends the event
    if rng.random() < 0.3:
        out.append("data: unfinished")  # dropped: no blank line follows
    return "".join(out)


def reference(text: str) -> list[str]:
    response = httpx.Response(200, headers={"content-type": "text/event-stream"},
                              content=text.encode())
    return [sse.data for sse in EventSource(response).iter_sse()]


def framed(pieces: list[str]) -> list[str]:
    framer = SSEFramer()
    events = []
    for piece in pieces:
        events += framer.feed(piece)
    return events


def cut(text: str, rng: random.Random) -> list[str]:
    points = sorted(rng.sample(range(1, len(text)), min(len(text) - 1, rng.randint(0, 12))))
    return [text[i:j] for i, j in zip([0, *points], [*points, len(text)], strict=True)]


@pytest.mark.parametrize("seed", range(300))
def test_same_events_as_httpx_sse_however_the_stream_is_cut(seed):
    rng = random.Random(seed)
    text = random_stream(rng)
    assert framed(cut(text, rng)) == reference(text)


def test_every_cut_of_a_crlf_stream_including_between_cr_and_lf():
    text = 'data: {"n": 1}\r\n\r\ndata: two\r\ndata: lines\r\n\r\n: ping\r\n\r\ndata: [DONE]\r\n\r\n'
    expected = ['{"n": 1}', "two\nlines", "[DONE]"]
    assert reference(text) == expected
    for i in range(1, len(text)):
        assert framed([text[:i], text[i:]]) == expected, i


def test_a_cr_ends_its_line_at_once_and_the_lf_after_it_is_skipped():
    framer = SSEFramer()
    assert framer.feed("data: one\r\r") == ["one"]  # not held back until the next read
    assert framer.feed("\ndata: two\r") == []  # that LF completed the CRLF: no extra blank line
    assert framer.feed("\n\r\n") == ["two"]
    assert framed(["data: last\r", "\r"]) == ["last"]


def test_a_byte_order_mark_opens_the_stream_harmlessly():
    assert framed(["\ufeffdata: x\n\n"]) == ["x"]


def test_one_read_hands_over_every_complete_event_and_keeps_the_rest():
    framer = SSEFramer()
    assert framer.feed("data: a\n\ndata: b\n\ndata: c") == ["a", "b"]
    assert framer.feed("\n\n") == ["c"]
    assert framer.feed("") == []
