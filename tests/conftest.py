"""Shared fixtures: a real sandbox server, an isolated environment, real kernels."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins = ["pytest_jupyter.jupyter_server", "sandbox_fixtures"]

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session")
def sandbox() -> Iterator:
    """One OpenRouter-compatible sandbox on 127.0.0.1 for the whole run."""
    from edge_jupyter.sandbox import Sandbox

    with Sandbox(generation_ready_after=0.2) as sb:
        yield sb


@pytest.fixture
def sb(sandbox) -> Iterator:
    """The sandbox, reset to its defaults for one test."""
    sandbox.reset()
    sandbox.tokens_per_second = 0.0
    sandbox.answer_length = 24
    sandbox.generation_ready_after = 0.2
    yield sandbox
    sandbox.clear_faults()


@pytest.fixture
def edge_env(sb, tmp_path, monkeypatch) -> dict[str, str]:
    """Point edge_jupyter (this process and children started from it) at the sandbox."""
    env = {
        "EDGE_OPENROUTER_URL": sb.url,
        "OPENROUTER_API_KEY": sb.key,
        "EDGE_DATA_DIR": str(tmp_path / "edge-data"),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture(autouse=True)
def _no_proxy_env(monkeypatch) -> None:
    """Tests only talk to 127.0.0.1: make sure no proxy from the environment interferes."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


def pytest_configure(config) -> None:
    os.environ.setdefault("JUPYTER_PLATFORM_DIRS", "1")


@pytest.fixture(scope="module")
def kernel_env(sandbox, tmp_path_factory) -> dict[str, str]:
    """The environment of a module's kernel: the sandbox as OpenRouter, its own data folder."""
    return {
        "EDGE_OPENROUTER_URL": sandbox.url,
        "OPENROUTER_API_KEY": sandbox.key,
        "EDGE_DATA_DIR": str(tmp_path_factory.mktemp("kernel-data")),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
    }


@pytest.fixture(scope="module")
def kernel(kernel_env) -> Iterator:
    """A real ipykernel with edge_jupyter loaded, shared by the tests of one module."""
    from kernel_harness import Kernel

    k = Kernel(kernel_env)
    k.ok("%load_ext edge_jupyter\nimport edge_jupyter")
    yield k
    k.shutdown()
