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


# -- bounded against a hostile server: a line's length is capped, and cost stays linear ----------
CAP = 64


def stream_with_long_lines(rng: random.Random) -> tuple[str, list[str]]:
    """Events of one data line each, some longer than ``CAP``; and the events that must survive."""
    out, kept = [], []
    for _ in range(rng.randint(1, 20)):
        if rng.random() < 0.3:
            comment = ":" + "k" * rng.randint(0, 3 * CAP)  # a long comment breaks no event
            out.append(comment + rng.choice(ENDINGS))
        value = "v" * rng.randint(0, 2 * CAP)
        line = rng.choice(["data: ", "data:"]) + value
        end = rng.choice(ENDINGS)  # the same twice: "\r" then "\n" would be one line ending
        out.append(line + end + end)
        if len(line) <= CAP:
            kept.append(value)
    return "".join(out), kept


def framed_with_cap(pieces: list[str]) -> tuple[list[str], SSEFramer]:
    framer = SSEFramer(max_line=CAP)
    events = []
    for piece in pieces:
        events += framer.feed(piece)
        assert framer._pending_len <= CAP  # never holds more than one capped line
    return events, framer


@pytest.mark.parametrize("seed", range(300))
def test_a_line_over_the_cap_drops_its_event_only_however_the_stream_is_cut(seed):
    rng = random.Random(seed)
    text, kept = stream_with_long_lines(rng)
    events, framer = framed_with_cap(cut(text, rng))
    assert events == kept
    long_data = sum(1 for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
                    if len(line) > CAP)
    assert framer.skipped == long_data  # every dropped line is counted (comments too)


def test_many_data_lines_adding_up_past_the_cap_drop_the_event():
    framer = SSEFramer(max_line=CAP)
    events = framer.feed("data: " + "a" * 40 + "\ndata: " + "b" * 40 + "\n\ndata: ok\n\n")
    assert events == ["ok"] and framer.skipped == 1


class CountingStr(str):
    """A fed piece that counts the characters any concatenation, slice or replace copies."""

    copied = 0

    def __add__(self, other):
        result = str.__add__(self, other)
        CountingStr.copied += len(result)
        return result

    def __radd__(self, other):  # ``tail + piece``: Python asks the subclass first
        result = str.__add__(other, self)
        CountingStr.copied += len(result)
        return result

    def __getitem__(self, index):
        result = str.__getitem__(self, index)
        CountingStr.copied += len(result)
        return result

    def replace(self, *args):
        result = str.replace(self, *args)
        CountingStr.copied += len(result)
        return result


@pytest.mark.parametrize("piece", [1, 7, 4096])
def test_a_long_line_costs_copies_linear_in_its_length_however_it_is_cut(piece):
    # A 1 MiB line (under the default cap) arriving in small reads: the old framer made
    # ``tail + text`` on every read (1 MiB x reads characters copied: quadratic).
    line = "data: " + "x" * ((1 << 20) if piece > 1 else (1 << 16)) + "\n\n"
    CountingStr.copied = 0
    framer = SSEFramer()
    events = []
    for i in range(0, len(line), piece):
        events += framer.feed(CountingStr(line[i:i + piece]))
    assert events == [line[6:-2]]
    assert CountingStr.copied <= 3 * len(line)


def test_a_16_mb_line_is_dropped_as_it_streams_and_the_answer_goes_on():
    framer = SSEFramer()  # the default cap: 4 MiB
    events = framer.feed('data: {"choices": []}\n\n')
    big = "data: " + "a" * 16_000_000 + "\n\n"
    for i in range(0, len(big), 65536):
        events += framer.feed(big[i:i + 65536])
        assert framer._pending_len <= framer.max_line
    events += framer.feed("data: [DONE]\n\n")
    assert events == ['{"choices": []}', "[DONE]"] and framer.skipped == 1
