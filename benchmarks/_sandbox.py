"""The sandbox in its own process, so that it never competes with the client for a GIL.

A real OpenRouter is on another machine; a sandbox thread inside the measuring process
would slow the client it serves (and a kernel client, being another process, would not
pay that), which skews every throughput ratio. Benchmarks that need the sandbox's own
records (``latency``) use an in-process :class:`~edge_jupyter.sandbox.Sandbox` instead,
at a pace (50 tokens/s) where its CPU use does not matter.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

import httpx


class SandboxProcess:
    """``python -m edge_jupyter.sandbox.cli`` on a free port; ``url``, ``api_url``, ``key``,
    ``management_key``."""

    def __init__(self, tokens_per_second: float = 0.0, answer_length: int = 24) -> None:
        self._args = ["--port", "0", "--tokens-per-second", str(tokens_per_second),
                      "--answer-length", str(answer_length)]
        self._proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.key = ""
        self.management_key = ""  # the sandbox's provisioning key (``/keys``, ``/activity``)

    @property
    def api_url(self) -> str:
        return self.url + "/api/v1"

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def start(self) -> SandboxProcess:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "edge_jupyter.sandbox.cli", *self._args],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True)
        assert self._proc.stdout is not None
        deadline = time.monotonic() + 30
        for line in self._proc.stdout:
            if line.startswith("EDGE_OPENROUTER_URL="):
                self.url = line.split("=", 1)[1].strip()
            elif line.startswith("OPENROUTER_API_KEY="):
                self.key = line.split("=", 1)[1].strip()
            elif line.startswith("EDGE_PROVISIONING_KEY="):  # printed last
                self.management_key = line.split("=", 1)[1].strip()
                break
            if time.monotonic() > deadline:
                break
        if not (self.url and self.key):
            self.stop()
            raise RuntimeError("the sandbox process did not start")
        return self

    def configure(self, **values: Any) -> None:
        """Change knobs (``tokens_per_second``, ``answer_length``…) over the control API."""
        httpx.post(self.url + "/_sandbox/config", json=values, timeout=10,
                   trust_env=False).raise_for_status()

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGINT)  # the CLI stops cleanly on Ctrl-C
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()

    def __enter__(self) -> SandboxProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
