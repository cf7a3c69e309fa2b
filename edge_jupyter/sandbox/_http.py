"""HTTP plumbing: a threaded HTTP/1.1 server and the request/response helpers.

Why HTTP/1.1 with ``Content-Length`` / ``Transfer-Encoding: chunked``: real
clients (httpx, the ``openai`` SDK) pool keep-alive connections, and a server
that closes after each response would hide pooling bugs — or cause new ones.
Why ``TCP_NODELAY``: tokens are tiny writes; Nagle's algorithm would batch them
and make ``tokens_per_second`` pacing lie.

Nothing here knows about OpenRouter; routes live in ``_routes.py``.
"""

from __future__ import annotations

import json
import logging
import select
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

if TYPE_CHECKING:
    from ._sandbox import Sandbox

log = logging.getLogger("edge_jupyter.sandbox")

MAX_BODY = 16 * 1024 * 1024


class SandboxHTTPServer(ThreadingHTTPServer):
    """A threaded server that can close its open keep-alive connections on stop."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler],
                 sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.stopping = False
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(address, handler)

    def track(self, conn: socket.socket, add: bool) -> None:
        """Remember (or forget) an open client connection."""
        with self._conns_lock:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    def close_connections(self) -> None:
        """Shut every open client connection so idle handler threads exit."""
        self.stopping = True
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Client disconnects are normal here; anything else is logged, never printed."""
        log.debug("error while handling a request", exc_info=True)


class ChunkedWriter:
    """Writes a ``Transfer-Encoding: chunked`` body straight to the socket.

    ``piece`` (``Sandbox.write_chunk_bytes``) splits every write into chunks of at
    most that many bytes, each sent on its own, so clients see UTF-8 characters
    and SSE lines cut at arbitrary byte boundaries.
    """

    def __init__(self, sock: socket.socket, piece: int | None = None) -> None:
        self.sock = sock
        self.piece = piece if piece and piece > 0 else None

    def send(self, data: bytes | bytearray) -> None:
        """Send ``data`` as one chunk (or several small ones). Raises ``OSError`` if gone."""
        if not data:
            return
        if self.piece is None:
            self.sock.sendall(b"%X\r\n%s\r\n" % (len(data), data))
            return
        step = self.piece
        for i in range(0, len(data), step):
            part = data[i:i + step]
            self.sock.sendall(b"%X\r\n%s\r\n" % (len(part), part))

    def end(self) -> None:
        """The terminating zero-length chunk: the response is complete."""
        self.sock.sendall(b"0\r\n\r\n")


def client_gone(sock: socket.socket, seconds: float) -> bool:
    """Wait up to ``seconds``; ``True`` as soon as the peer has closed the connection.

    Sleeping with ``select`` instead of ``time.sleep`` notices a client that
    disconnects during a slow or stalled stream right away, so the completion
    is marked cancelled at the right token count.
    """
    deadline = time.monotonic() + max(0.0, seconds)
    while True:
        left = deadline - time.monotonic()
        try:
            readable, _, _ = select.select([sock], [], [], max(0.0, left))
        except (OSError, ValueError):
            return True
        if readable:
            try:
                if not sock.recv(1, socket.MSG_PEEK):
                    return True
            except OSError:
                return True
            # The client sent something (a pipelined request); just wait it out.
            time.sleep(max(0.0, deadline - time.monotonic()))
            return False
        if left <= 0:
            return False


class Request:
    """The parts of an HTTP request the route functions need."""

    def __init__(self, method: str, target: str, headers: Any, body: bytes) -> None:
        parts = urlsplit(target)
        self.method = method
        self.path = parts.path or "/"
        self.query: dict[str, str] = dict(parse_qsl(parts.query, keep_blank_values=True))
        self.headers = headers
        self.body = body
        self._json: Any = None
        self._json_ok: bool | None = None

    def json(self) -> Any:
        """The body parsed as JSON; raises ``ValueError`` if it is not JSON."""
        if self._json_ok is None:
            try:
                self._json = json.loads(self.body) if self.body else None
                self._json_ok = self.body != b""
            except ValueError:
                self._json_ok = False
        if not self._json_ok:
            raise ValueError("body is not JSON")
        return self._json

    def json_or_none(self) -> Any:
        """The JSON body, or ``None`` when there is none or it is not JSON."""
        try:
            return self.json()
        except ValueError:
            return None

    def bearer(self) -> str | None:
        """The bearer token from ``Authorization``, if any."""
        value = self.headers.get("Authorization") or ""
        scheme, _, token = value.partition(" ")
        token = token.strip()
        return token if scheme.lower() == "bearer" and token else None


class BaseHandler(BaseHTTPRequestHandler):
    """Keep-alive HTTP/1.1 handler with JSON/HTML helpers and silent logs."""

    protocol_version = "HTTP/1.1"
    server_version = "edge-jupyter-sandbox"
    sys_version = ""
    server: SandboxHTTPServer

    @property
    def sandbox(self) -> Sandbox:
        """The :class:`Sandbox` this server belongs to."""
        return self.server.sandbox

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    # Never log request lines: a query string may carry a code, a header a key.
    def log_message(self, format: str, *args: Any) -> None:
        """Silenced; see :meth:`log_request`."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log.debug("%s %s -> %s", self.command, urlsplit(self.path).path, code)

    #: Set once a status line and headers went out (a late error can then only abort).
    responded = False

    def end_headers(self) -> None:
        self.responded = True
        super().end_headers()

    def read_body(self) -> bytes:
        """Read the whole request body (``Content-Length`` or chunked)."""
        if (self.headers.get("Transfer-Encoding") or "").lower() == "chunked":
            out = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
                if len(out) > MAX_BODY:
                    raise ValueError("body too large")
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ValueError("body too large")
        return self.rfile.read(length) if length > 0 else b""

    def cors(self) -> None:
        """OpenRouter's API is callable from browsers; so is the sandbox's."""
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Expose-Headers", "X-Generation-Id")

    def send_bytes(self, status: int, body: bytes, content_type: str,
                   headers: dict[str, str] | None = None) -> None:
        """A complete response with ``Content-Length`` (keeps the connection alive)."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.cors()
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        """A JSON response (UTF-8, non-ASCII kept as is, like OpenRouter)."""
        data = json.dumps(body, ensure_ascii=False).encode()
        self.send_bytes(status, data, "application/json", headers)

    def send_html(self, status: int, html: str) -> None:
        """An HTML page."""
        self.send_bytes(status, html.encode(), "text/html; charset=utf-8",
                        {"Cache-Control": "no-store"})

    def redirect(self, location: str) -> None:
        """A 302 to ``location``."""
        self.send_bytes(302, b"", "text/plain", {"Location": location, "Cache-Control": "no-store"})

    def abort_connection(self) -> None:
        """Close the TCP connection at once, mid-response, with no terminating chunk."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
