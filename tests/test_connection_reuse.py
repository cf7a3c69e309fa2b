"""A streamed answer gives its connection back to the pool: the body is read to its end after
``[DONE]``, so the next call needs no new TCP (on openrouter.ai: TLS) handshake. A server that
does not end the body after ``[DONE]``, or keeps sending, is cut off and the complete answer is
kept — it never makes a finished call hang until the read timeout.

The server here is a raw HTTP/1.1 one (chunked bodies, keep-alive) that records the client port
of every request, so reuse is seen from the server's side."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from edge_jupyter.openrouter import OpenRouterClient, RetryPolicy

KEY = "sk-or-v1-" + "fedcba9876543210" * 4
BODY = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def _event(payload: str) -> bytes:
    data = f"data: {payload}\n\n".encode()
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


class KeepAliveServer:
    """Serves every POST as a chunked SSE answer; ``after_done`` says what follows ``[DONE]``:
    "end" (the terminator), "stall" (nothing, the connection held open) or "flood" (100 KB
    more, then a stall)."""

    def __init__(self) -> None:
        self.after_done = "end"
        self.ports: list[int] = []
        self._stop = threading.Event()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, addr = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn, addr[1]), daemon=True).start()

    def _serve(self, conn: socket.socket, port: int) -> None:
        reader = conn.makefile("rb")
        try:
            while not self._stop.is_set():
                line = reader.readline()
                if not line:
                    return
                length = 0
                while (header := reader.readline()) not in (b"\r\n", b""):
                    name, _, value = header.decode().partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                reader.read(length)
                self.ports.append(port)
                chunk = {"id": "gen-keep-1", "model": "openai/gpt-4o-mini",
                         "choices": [{"index": 0, "delta": {"content": "Hello"}, "finish_reason": "stop"}],
                         "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4,
                                   "cost": 0.000001}}
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                             b"Transfer-Encoding: chunked\r\n\r\n"
                             + _event(json.dumps(chunk)) + _event("[DONE]"))
                if self.after_done == "end":
                    conn.sendall(b"0\r\n\r\n")
                    continue
                if self.after_done == "flood":
                    conn.sendall(_event(": " + "x" * 100_000))
                self._stop.wait(60)  # hold the body open
                return
        except OSError:
            return
        finally:
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._sock.close()


@pytest.fixture
def server() -> Iterator[KeepAliveServer]:
    s = KeepAliveServer()
    yield s
    s.close()


def _answer(server: KeepAliveServer) -> Any:
    client = OpenRouterClient(KEY, origin=server.url, retry=RetryPolicy(max_retries=0))
    stream = client.stream_chat(BODY)
    for _ in stream:
        pass
    return stream.completion


def test_calls_in_a_row_share_one_connection(server: KeepAliveServer) -> None:
    answers = [_answer(server) for _ in range(3)]
    assert [a.text for a in answers] == ["Hello"] * 3
    assert len(server.ports) == 3 and len(set(server.ports)) == 1, server.ports


@pytest.mark.parametrize("after_done", ["stall", "flood"])
def test_a_body_that_does_not_end_after_done_does_not_hold_the_answer(server: KeepAliveServer,
                                                                       after_done: str) -> None:
    server.after_done = after_done
    got: list[Any] = []
    worker = threading.Thread(target=lambda: got.append(_answer(server)), daemon=True)
    worker.start()
    # a hang detector, not a speed check: without the cut-off the call waits for the
    # client's 120 s read timeout (the server holds the body open for 60 s)
    worker.join(timeout=10)
    assert not worker.is_alive(), "a finished answer waited for the body's end"
    assert got[0].text == "Hello" and got[0].usage.cost == 0.000001
