"""A real IPython kernel driven over ZeroMQ (IPC transport), timing every iopub message.

Like ``tests/kernel_harness.py``, but each message is kept with the wall-clock time
(``time.time()``) at which it reached this process, so that it can be compared with
the sandbox's own timestamps (same machine, same clock). Messages are taken off the
socket in a tight loop, so an arrival time is late by at most the time it takes
jupyter_client to deserialise one message.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jupyter_client import KernelManager

#: iopub messages that put something on the screen.
DISPLAY_TYPES = ("display_data", "update_display_data", "execute_result")


@dataclass
class Message:
    arrived: float  # time.time() when it reached this process
    msg: dict[str, Any]

    @property
    def kind(self) -> str:
        return self.msg["msg_type"]

    @property
    def content(self) -> dict[str, Any]:
        return self.msg["content"]

    @property
    def data(self) -> dict[str, Any]:
        return self.content.get("data", {})

    def payload_bytes(self) -> int:
        """Bytes of what this message shows: every MIME value, or the stream text."""
        if self.kind in DISPLAY_TYPES:
            return sum(len(v.encode() if isinstance(v, str) else json.dumps(v).encode())
                       for v in self.data.values())
        if self.kind == "stream":
            return len(self.content["text"].encode())
        return 0

    def shows_text(self) -> bool:
        """True for a message that carries answer text (stdout, or a display of text)."""
        if self.kind == "stream":
            return self.content.get("name") == "stdout" and bool(self.content["text"])
        return False


@dataclass
class CellTrace:
    sent: float  # time.time() just before the execute request left
    messages: list[Message]
    reply: dict[str, Any]
    idle: float  # arrival of the "idle" status: the cell is over

    @property
    def status(self) -> str:
        return self.reply["content"]["status"]

    def of(self, *kinds: str) -> list[Message]:
        return [m for m in self.messages if m.kind in kinds]

    def display_bytes(self) -> int:
        """Bytes of every display, update and stream message of the cell."""
        return sum(m.payload_bytes() for m in self.messages)

    def first_text(self) -> Message:
        for m in self.messages:
            if m.shows_text():
                return m
        raise AssertionError("no message carried answer text")

    def last_display(self) -> Message:
        """The last thing the cell displayed (the cost line, or the total line)."""
        shown = self.of("display_data")
        if not shown:
            raise AssertionError(f"the cell displayed nothing: {self.error_text()}")
        return shown[-1]

    def cost_line(self) -> Message:
        """The cell's last cost line (``💰 …``): what ends a call in the output."""
        for m in reversed(self.of("display_data")):
            if m.data.get("text/plain", "").startswith("💰"):
                return m
        raise AssertionError(f"the cell showed no cost line: {self.error_text()}")

    def final_text(self, mime: str = "text/html") -> str:
        """The answer as finally displayed: the longest ``mime`` value of any display.

        A Markdown answer is shown as sanitised ``text/html`` rendered in the kernel
        (``edge_jupyter.untrusted_text``): compare with ``markdown_to_safe_html(answer)``.
        """
        values = [m.data[mime] for m in self.of("display_data") if mime in m.data]
        return max(values, key=len) if values else ""

    def error_text(self) -> str:
        errors = self.of("error")
        stderr = "".join(m.content["text"] for m in self.of("stream")
                         if m.content.get("name") == "stderr")
        return "\n".join("\n".join(m.content["traceback"]) for m in errors) + stderr


class BenchKernel:
    """A python3 kernel with ``env`` added to this process's environment."""

    def __init__(self, env: dict[str, str], *, load_ext: bool = True) -> None:
        full_env = {**os.environ, **env}
        full_env.pop("JPY_SESSION_NAME", None)
        self._sockets = tempfile.mkdtemp(prefix="edge-bench-k-")
        self.km = KernelManager(kernel_name="python3", transport="ipc",
                                ip=os.path.join(self._sockets, "k"))
        self.km.start_kernel(env=full_env, cwd=str(Path(__file__).resolve().parents[1]))
        self.kc = self.km.client()
        try:
            self.kc.start_channels()
            self.kc.wait_for_ready(timeout=60)
            if load_ext:
                self.ok("%load_ext edge_jupyter")
        except BaseException:
            self.shutdown()
            raise

    def run(self, code: str, *, timeout: float = 300) -> CellTrace:
        content = {"code": code, "silent": False, "store_history": True,
                   "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}
        msg = self.kc.session.msg("execute_request", content)
        msg_id = msg["header"]["msg_id"]
        messages: list[Message] = []
        sent = time.time()
        self.kc.shell_channel.send(msg)
        deadline = time.monotonic() + timeout
        get = self.kc.iopub_channel.get_msg
        while True:
            if time.monotonic() > deadline:
                raise TimeoutError(f"cell did not finish in {timeout}s: {code[:80]!r}")
            try:
                m = get(timeout=0.2)
            except queue.Empty:
                continue
            arrived = time.time()
            if m["parent_header"].get("msg_id") != msg_id:
                continue
            if m["msg_type"] == "status":
                if m["content"]["execution_state"] == "idle":
                    idle = arrived
                    break
                continue
            messages.append(Message(arrived, m))
        reply = self.kc.get_shell_msg(timeout=30)
        while reply["parent_header"].get("msg_id") != msg_id:
            reply = self.kc.get_shell_msg(timeout=30)
        return CellTrace(sent, messages, reply, idle)

    def ok(self, code: str, **kwargs: Any) -> CellTrace:
        trace = self.run(code, **kwargs)
        if trace.status != "ok":
            raise RuntimeError(f"cell failed:\n{code}\n{trace.error_text()}")
        return trace

    def value(self, expression: str) -> Any:
        """Evaluate ``expression`` in the kernel; its value comes back through JSON."""
        trace = self.ok(f"import json as _bench_json\nprint(_bench_json.dumps({expression}))")
        text = "".join(m.content["text"] for m in trace.of("stream")
                       if m.content.get("name") == "stdout")
        return json.loads(text.strip().splitlines()[-1])

    def shutdown(self) -> None:
        try:
            self.kc.stop_channels()
            self.km.shutdown_kernel(now=True)
        finally:
            shutil.rmtree(self._sockets, ignore_errors=True)

    def __enter__(self) -> BenchKernel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


def kernel_env(url: str, key: str, data_dir: str | Path) -> dict[str, str]:
    """The environment that points a kernel's edge_jupyter at a sandbox."""
    return {
        "EDGE_OPENROUTER_URL": url,
        "OPENROUTER_API_KEY": key,
        "EDGE_DATA_DIR": str(data_dir),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
        "NO_PROXY": "127.0.0.1,localhost",
        "JUPYTER_PLATFORM_DIRS": "1",
    }


def edge_cell(prompt: str, *models: str, flags: str = "") -> str:
    """The source of a ``%%edge`` cell asking ``models`` (default model when none)."""
    line = " ".join(f"-m {m}" for m in models)
    return f"%%edge {line} {flags}".rstrip() + "\n" + prompt
