"""A real IPython kernel driven over ZeroMQ with jupyter_client, as a frontend would.

``Kernel.run`` sends one execute request (optionally with JupyterLab's ``cellId``
metadata), collects every iopub message of that request, and rebuilds the
cell's final outputs the way a notebook frontend does (``clear_output(wait=True)``,
``update_display_data`` by display id, consecutive stream texts merged).
"""

from __future__ import annotations

import json
import os
import queue
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

from jupyter_client import KernelManager


@dataclass
class CellRun:
    messages: list[dict[str, Any]]
    reply: dict[str, Any]
    outputs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def status(self) -> str:
        return self.reply["content"]["status"]

    @property
    def error(self) -> dict[str, Any] | None:
        for out in self.outputs:
            if out["output_type"] == "error":
                return out
        return None

    @property
    def error_text(self) -> str:
        err = self.error
        return "\n".join(err["traceback"]) if err else ""

    def texts(self, mime: str = "text/plain") -> list[str]:
        """Every final output's ``mime`` representation (stream text counts as text/plain)."""
        found = []
        for out in self.outputs:
            if out["output_type"] == "stream" and mime == "text/plain":
                found.append(out["text"])
            elif "data" in out and mime in out["data"]:
                found.append(out["data"][mime])
        return found

    @property
    def streamed(self) -> str:
        """Everything the cell wrote to stdout while it ran (even if cleared later)."""
        return "".join(m["content"]["text"] for m in self.messages
                       if m["msg_type"] == "stream" and m["content"]["name"] == "stdout")

    @property
    def all_text(self) -> str:
        return "\n".join(self.texts("text/plain")) + "\n" + self.error_text

    def output_with(self, mime: str) -> dict[str, Any]:
        for out in self.outputs:
            if mime in out.get("data", {}):
                return out
        raise AssertionError(f"no output with {mime}: {self.outputs}")

    def display_bytes(self, *, include_stream: bool = True) -> int:
        """Bytes of display traffic sent to the frontend while the cell ran."""
        total = 0
        for msg in self.messages:
            kind = msg["msg_type"]
            content = msg["content"]
            if kind in ("display_data", "update_display_data", "execute_result"):
                total += sum(len(v.encode() if isinstance(v, str) else json.dumps(v).encode())
                             for v in content["data"].values())
            elif kind == "stream" and include_stream:
                total += len(content["text"].encode())
        return total

    def count(self, kind: str) -> int:
        return sum(1 for m in self.messages if m["msg_type"] == kind)


def rebuild_outputs(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    outputs: list[dict[str, Any]] = []
    clear_pending = False
    for msg in messages:
        kind, content = msg["msg_type"], msg["content"]
        if kind == "clear_output":
            if content.get("wait"):
                clear_pending = True
            else:
                outputs.clear()
            continue
        if kind not in ("stream", "display_data", "execute_result", "error", "update_display_data"):
            continue
        if kind == "update_display_data":
            display_id = content.get("transient", {}).get("display_id")
            for out in outputs:
                if out.get("display_id") == display_id:
                    out["data"] = content["data"]
                    out["metadata"] = content.get("metadata", {})
            continue
        if clear_pending:
            outputs.clear()
            clear_pending = False
        if kind == "stream":
            if content["name"] == "stderr" and "without encryption" in content["text"]:
                continue
            if outputs and outputs[-1]["output_type"] == "stream" and outputs[-1]["name"] == content["name"]:
                outputs[-1]["text"] += content["text"]
            else:
                outputs.append({"output_type": "stream", "name": content["name"], "text": content["text"]})
        elif kind == "error":
            outputs.append({"output_type": "error", **content})
        else:
            outputs.append({"output_type": kind, "data": content["data"],
                            "metadata": content.get("metadata", {}),
                            "display_id": content.get("transient", {}).get("display_id")})
    return outputs


class Kernel:
    def __init__(self, env: dict[str, str]) -> None:
        full_env = {**os.environ, **env}
        full_env.pop("JPY_SESSION_NAME", None)
        # IPC sockets in a private folder: faster than TCP and only this user can connect.
        self._sockets = tempfile.mkdtemp(prefix="edge-k-")
        self.km = KernelManager(kernel_name="python3", transport="ipc",
                                ip=os.path.join(self._sockets, "k"))
        self.km.start_kernel(env=full_env)
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)

    def run(self, code: str, *, timeout: float = 60, cell_id: str | None = None,
            interrupt_after: float | None = None, interrupt_when: Any = None,
            on_message: Any = None, answers: list[str] | None = None) -> CellRun:
        """Run ``code``; ``answers``: the cell may ask for input (``allow_stdin``), and each
        ``input()`` it makes gets the next answer, as a person at the frontend would type it
        (the prompts asked are kept in ``self.prompts``)."""
        content = {"code": code, "silent": False, "store_history": True,
                   "user_expressions": {}, "allow_stdin": answers is not None,
                   "stop_on_error": True}
        self.prompts: list[str] = []
        msg = self.kc.session.msg("execute_request", content,
                                  metadata={"cellId": cell_id} if cell_id else {})
        self.kc.shell_channel.send(msg)
        msg_id = msg["header"]["msg_id"]
        messages: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        started = time.monotonic()
        interrupted = False
        idle = False
        while not idle:
            if not interrupted and (
                    (interrupt_after is not None and time.monotonic() - started > interrupt_after)
                    or (interrupt_when is not None and interrupt_when())):
                self.km.interrupt_kernel()
                interrupted = True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"cell did not finish in {timeout}s: {code[:80]!r}")
            if answers is not None:
                self._answer(answers)
            try:
                m = self.kc.get_iopub_msg(timeout=min(0.05, remaining))
            except queue.Empty:
                continue
            if m["parent_header"].get("msg_id") != msg_id:
                continue
            if on_message is not None:
                on_message(m)
            if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
                idle = True
            else:
                messages.append(m)
        reply = self.kc.get_shell_msg(timeout=max(1.0, deadline - time.monotonic()))
        while reply["parent_header"].get("msg_id") != msg_id:
            reply = self.kc.get_shell_msg(timeout=10)
        return CellRun(messages, reply, rebuild_outputs(messages))

    def _answer(self, answers: list[str]) -> None:
        """Reply to an ``input_request`` waiting on the stdin channel, if any."""
        try:
            request = self.kc.stdin_channel.get_msg(timeout=0)
        except queue.Empty:
            return
        if request["msg_type"] == "input_request":
            self.prompts.append(request["content"].get("prompt", ""))
            self.kc.input(answers.pop(0) if answers else "")

    def ok(self, code: str, **kwargs: Any) -> CellRun:
        run = self.run(code, **kwargs)
        assert run.status == "ok", f"cell failed:\n{code}\n{run.error_text}\n{run.all_text}"
        return run

    def value(self, expression: str) -> Any:
        """Evaluate in the kernel and bring the value back as JSON."""
        run = self.ok(f"import json as _j; print(_j.dumps({expression}, default=str))")
        return json.loads(run.texts()[-1].strip().splitlines()[-1])

    def restart(self) -> None:
        self.km.restart_kernel(now=True)
        self.kc.wait_for_ready(timeout=60)
        # drain messages of the old kernel
        while True:
            try:
                self.kc.get_iopub_msg(timeout=0.2)
            except queue.Empty:
                break

    def shutdown(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)


def python_executable() -> str:
    return sys.executable


def once_streaming(sb: Any, *, requests: int = 1, after: float = 0.5) -> Any:
    """For ``run(interrupt_when=...)``: true ``after`` seconds once the sandbox has received
    ``requests`` new chat completions requests — an interrupt that lands mid-stream however
    long a loaded machine takes to get there (a fixed delay can land before the request)."""
    def chats() -> int:
        return sum(r.path.endswith("/chat/completions") for r in sb.requests)

    base = chats()
    seen: list[float] = []

    def ready() -> bool:
        if not seen and chats() >= base + requests:
            seen.append(time.monotonic())
        return bool(seen) and time.monotonic() - seen[0] >= after

    return ready
