"""Review of issue 13: server text is cleaned on arrival, and a cut-off answer is never "ok".

Against the real sandbox where it can produce the case; where it cannot (an HTTP body that
ends cleanly right after a skipped chunk, a key in a reason phrase or a content type), a
one-shot server on a real 127.0.0.1 socket sends the exact bytes.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from edge_jupyter.openrouter import (
    MalformedResponse,
    OpenRouterClient,
    OpenRouterError,
    RetryPolicy,
    StreamInterrupted,
    TextDelta,
)
from edge_jupyter.sandbox import Fault

NO_RETRY = RetryPolicy(max_retries=0)
BODY = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}
KEY = "sk-or-v1-" + "5e" * 32
OSC52 = "\x1b]52;c;aGk=\x07"  # writes the clipboard in a terminal
CONTROLS = ("\x1b", "\x07", "\x9b")


def no_controls(text: str) -> bool:
    return not any(c in text for c in CONTROLS)


@contextmanager
def one_shot_server(head: bytes, body_parts: list[bytes]) -> Iterator[str]:
    """Answer one request on 127.0.0.1 with ``head`` then each of ``body_parts``, then close."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            seen = b""
            while b"\r\n\r\n" not in seen:
                seen += conn.recv(65536)
            header, _, rest = seen.partition(b"\r\n\r\n")
            length = next((int(line.split(b":")[1]) for line in header.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            while len(rest) < length:
                rest += conn.recv(65536)
            try:
                conn.sendall(head)
                for part in body_parts:
                    conn.sendall(part)
                conn.shutdown(socket.SHUT_WR)
            except OSError:
                pass  # the client stopped reading (an error body over its cap) and closed

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        thread.join(10)
        listener.close()


def chunked(*pieces: str) -> list[bytes]:
    """HTTP/1.1 chunks of ``pieces``, ended properly with the zero chunk (a clean end)."""
    out = [f"{len(p.encode()):x}\r\n".encode() + p.encode() + b"\r\n" for p in pieces]
    return [*out, b"0\r\n\r\n"]


SSE_HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Transfer-Encoding: chunked\r\nX-Generation-Id: gen-cut\r\n\r\n")


def sse(**chunk: object) -> str:
    return "data: " + json.dumps({"id": "gen-cut", "model": "m/x", **chunk}) + "\n\n"


def text_chunk(text: str) -> str:
    return sse(choices=[{"index": 0, "delta": {"content": text}, "finish_reason": None}])


# -- item 1: a skipped chunk is no proof the answer finished -------------------------------------

def test_a_malformed_chunk_then_a_clean_close_is_a_cut_off_answer():
    # No [DONE], no usage, no finish_reason: the answer was cut off.  Before the fix the
    # "1 malformed chunk was skipped" note made the client take the stream as complete.
    body = chunked(text_chunk("The answer starts"), "data: {not json\n\n", text_chunk(" and"))
    with one_shot_server(SSE_HEAD, body) as url:
        stream = OpenRouterClient(KEY, origin=url, retry=NO_RETRY).stream_chat(BODY)
        with pytest.raises(StreamInterrupted, match="closed before the answer was complete"):
            list(stream)
    assert stream.completion.text == "The answer starts and"
    assert stream.malformed == 1


def test_a_refused_usage_chunk_still_ends_the_answer():
    # A usage chunk arrived (its cost impossible, so refused): the stream reached its end.
    usage = sse(choices=[], usage={"prompt_tokens": 3, "completion_tokens": 2, "cost": -1})
    with one_shot_server(SSE_HEAD, chunked(text_chunk("Whole."), usage)) as url:
        stream = OpenRouterClient(KEY, origin=url, retry=NO_RETRY).stream_chat(BODY)
        assert "".join(e.text for e in stream if isinstance(e, TextDelta)) == "Whole."
    assert stream.completion.usage is None and "impossible cost" in stream.completion.notes[0]


def test_sandbox_malformed_chunk_then_dropped_connection_is_interrupted(sb):
    sb.answer_length = 40
    sb.inject(Fault.malformed(after_tokens=3))
    stream = OpenRouterClient(sb.key, origin=sb.url, retry=NO_RETRY).stream_chat(BODY)
    list(stream)  # the sandbox carries on after its one bad line: the answer is whole
    assert stream.malformed == 1 and stream.completion.usage is not None
    sb.inject(Fault.drop(after_tokens=5))
    stream = OpenRouterClient(sb.key, origin=sb.url, retry=NO_RETRY).stream_chat(BODY)
    with pytest.raises(StreamInterrupted):
        list(stream)


# -- items 8 and 9: every server string is scrubbed and stripped, in one place ---------------------

def test_an_error_inside_the_stream_reaches_nobody_with_terminal_escapes(sb):
    sb.inject(Fault.midstream(after_tokens=2, message=f"upstream said {OSC52}no\x9b2J"))
    client = OpenRouterClient(sb.key, origin=sb.url, retry=NO_RETRY)
    with pytest.raises(OpenRouterError) as err:
        list(client.stream_chat(BODY))
    assert "upstream said" in str(err.value) and no_controls(str(err.value))
    assert no_controls(err.value.message)


def test_an_http_error_body_is_stripped_of_terminal_escapes(sb):
    sb.inject(Fault.http(400, message=f"bad request {OSC52}"))
    with pytest.raises(OpenRouterError) as err:
        list(OpenRouterClient(sb.key, origin=sb.url, retry=NO_RETRY).stream_chat(BODY))
    assert "bad request" in str(err.value) and no_controls(str(err.value))


def test_the_reason_phrase_of_an_oversized_error_body_is_scrubbed():
    head = (f"HTTP/1.1 502 Bad gateway {KEY}\r\nContent-Type: application/json\r\n"
            f"Connection: close\r\n\r\n").encode()
    big = [b"x" * 65536] * 20  # 1.25 MiB: over the error body's cap
    with one_shot_server(head, big) as url, pytest.raises(OpenRouterError) as err:
        list(OpenRouterClient(KEY, origin=url, retry=NO_RETRY).stream_chat(BODY))
    assert "was not read" in str(err.value)
    assert KEY not in str(err.value) and KEY[9:30] not in str(err.value)


def test_a_content_type_quoted_in_an_error_is_scrubbed():
    head = (f"HTTP/1.1 200 OK\r\nContent-Type: text/html; echo={KEY}\r\n"
            f"Content-Length: 2\r\n\r\n").encode()
    with one_shot_server(head, [b"hi"]) as url, pytest.raises(MalformedResponse) as err:
        list(OpenRouterClient(KEY, origin=url, retry=NO_RETRY).stream_chat(BODY))
    assert "Expected an event stream, got text/html" in str(err.value)
    assert KEY not in str(err.value) and KEY[9:30] not in str(err.value)


def test_a_key_label_with_terminal_escapes_is_stripped_by_the_client(sb):
    sb.inject(Fault("echo_key", where="label", encoding="exact", message=f"my {OSC52}key"))
    label = OpenRouterClient(sb.key, origin=sb.url, retry=NO_RETRY).key_info().label
    assert label.startswith("my ") and no_controls(label) and sb.key not in label


# -- item 3: edge-jupyter ask -------------------------------------------------------------------

def _ask(sb, tmp_path, *prompt: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "EDGE_OPENROUTER_URL": sb.url, "OPENROUTER_API_KEY": sb.key,
           "EDGE_DATA_DIR": str(tmp_path / "edge-data"),
           "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
    return subprocess.run([sys.executable, "-m", "edge_jupyter.cli", "ask", *prompt],
                          env=env, capture_output=True, text=True, timeout=120)


def test_ask_prints_no_terminal_escapes_from_the_answer(sb, tmp_path):
    done = _ask(sb, tmp_path, f"[sandbox:echo]Copied {OSC52}to your\x1b[2J clipboard")
    assert done.returncode == 0, done.stderr
    # The escapes' control characters go (what a terminal acts on); their printable rest stays.
    assert "Copied ]52;c;aGk=to your[2J clipboard" in done.stdout
    assert no_controls(done.stdout) and no_controls(done.stderr)


def test_ask_prints_no_terminal_escapes_from_an_error(sb, tmp_path):
    sb.inject(Fault.midstream(after_tokens=2, message=f"provider broke {OSC52}"))
    done = _ask(sb, tmp_path, "hello")
    assert done.returncode == 1 and "provider broke" in done.stderr
    assert no_controls(done.stdout) and no_controls(done.stderr)


def test_ask_reports_an_unreadable_preferences_file_in_one_line(sb, tmp_path):
    # A folder where preferences.json should be: a read error, not damage (nothing is moved).
    (tmp_path / "edge-data" / "preferences.json").mkdir(parents=True)
    requests = len(sb.requests)
    done = _ask(sb, tmp_path, "hello")
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "preferences.json" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and len(sb.requests) == requests


# -- item 4: %edge balance --------------------------------------------------------------------

def test_edge_balance_shows_a_hostile_label_without_control_characters(kernel, sb):
    kernel.ok("import edge_jupyter.balance\nedge_jupyter.balance.clear_cache()")
    sb.inject(Fault("echo_key", where="label", encoding="exact", message=f"my {OSC52}label"))
    run = kernel.ok("%edge balance")
    plain = "\n".join(run.texts("text/plain"))
    assert "my ]52;c;aGk=label" in plain and no_controls(plain)
    assert sb.key not in json.dumps(run.outputs)


# -- item 17: the generation id is written once --------------------------------------------------

def test_a_streamed_call_writes_its_generation_id_once(sb, edge_env):
    from edge_jupyter import calls
    from edge_jupyter.storage import data_dir

    path = data_dir() / "ledger.sqlite3"
    seen: list[tuple[int, str]] = []

    def read_row(event: calls.Event) -> None:
        # At Began the pending row is written; by the first text both announcements of
        # the id (the response header, then the first chunk) have been made.
        if isinstance(event, calls.Began) or (isinstance(event, calls.Text) and len(seen) == 1):
            with sqlite3.connect(path) as db:
                seen.append(db.execute("SELECT seq, generation_id FROM calls").fetchone())

    request = calls.Request(prompt=BODY["messages"][-1]["content"], models=[BODY["model"]])
    client = OpenRouterClient(sb.key, origin=sb.url, retry=NO_RETRY)
    calls.CallRun(calls.plan(request), read_row, client=client).execute()
    (before, _), (seq, generation_id) = seen
    # The header and the first chunk both announce the id: one ledger write (one seq step).
    assert generation_id == sb.completions[-1].id
    assert seq == before + 1
