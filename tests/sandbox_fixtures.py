"""Shared fixtures and helpers for the sandbox tests (imported by ``test_sandbox*.py``).

The tests use ``sb`` from ``conftest.py``: one real :class:`Sandbox` on 127.0.0.1
for the session, reset before each test. This module adds a raw ``client``
fixture (loaded with ``pytest_plugins``) and plain helper functions.
The OpenAPI spec is parsed once per session (libyaml when available: ~1 s
instead of ~5 s) and JSON bodies are validated against its component schemas;
``jsonschema`` and ``yaml`` are imported only when a test validates something.

PYTEST_DONT_REWRITE: this module is imported by the test modules before pytest
loads it as a plugin; its one ``assert`` carries its own message.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import time
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from edge_jupyter.sandbox import Sandbox

if TYPE_CHECKING:
    from referencing import Registry

def _find_spec() -> Path:
    """The spec lives in ``shared/`` beside the repository (also in CI); env var wins."""
    here = Path(__file__).resolve()
    candidates = [Path(os.environ.get("EDGE_OPENAPI_SPEC", "")), here.parents[2] / "shared",
                  here.parents[1] / "shared", Path("/work/shared")]
    for base in candidates:
        path = base if base.suffix == ".yaml" else base / "openrouter-openapi.yaml"
        if path.is_file():
            return path
    return candidates[-1] / "openrouter-openapi.yaml"


SPEC_PATH = _find_spec()
_SPEC_URI = "urn:openrouter-openapi"


@lru_cache(maxsize=1)
def _registry() -> Registry:
    # Imported here: jsonschema takes seconds to import, and only schema tests need it.
    import yaml
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with SPEC_PATH.open("rb") as fh:
        spec = yaml.load(fh, Loader=loader)
    resource = Resource.from_contents(spec, default_specification=DRAFT202012)
    return Registry().with_resource(_SPEC_URI, resource)


def _pointer(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


def schema_for(name: str) -> dict[str, Any]:
    """``"ChatResult"`` -> a component schema; ``"GET /key"`` -> that path's 200 JSON schema;
    ``"POST /keys 201"`` -> another status's; ``"PATCH /keys/{hash} request"`` -> the request body's."""
    if " " in name:
        method, path, *status = name.split(" ")
        where = "requestBody" if status == ["request"] else f"responses/{status[0] if status else 200}"
        ref = (f"{_SPEC_URI}#/paths/{_pointer(path)}/{method.lower()}/{where}"
               "/content/application~1json/schema")
    else:
        ref = f"{_SPEC_URI}#/components/schemas/{name}"
    return {"$ref": ref}


def validate(instance: Any, name: str) -> None:
    """Assert that ``instance`` is valid against the named OpenAPI schema."""
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(schema_for(name), registry=_registry())
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(
        f"{name}: {'/'.join(map(str, e.absolute_path))}: {e.message[:300]}" for e in errors
    )


def spec_available() -> bool:
    """The spec lives in the shared folder; skip schema tests cleanly without it."""
    return SPEC_PATH.exists()


@pytest.fixture
def clean_sandbox(sb: Sandbox) -> Iterator[Sandbox]:
    """Reset the shared sandbox after the test too, so tests that use the session
    ``sandbox`` without ``sb`` never inherit a knob (CRLF, low credits...) set here."""
    yield sb
    sb.reset()


@pytest.fixture
def at_noon(clean_sandbox: Sandbox) -> None:
    """Move the sandbox's billing clock to the next 12:00 UTC, so no test sees a UTC day
    end that it did not end itself (``sb.advance_clock``): a run near midnight would
    otherwise split its calls over two days. ``clean_sandbox`` brings real time back."""
    now = clean_sandbox.now
    hours = (12 - now.hour - now.minute / 60 - now.second / 3600 - now.microsecond / 3.6e9) % 24
    clean_sandbox.advance_clock(days=hours / 24)


@pytest.fixture
def client(sb: Sandbox) -> Iterator[httpx.Client]:
    """A raw httpx client against the sandbox origin, with the main key."""
    with httpx.Client(base_url=sb.url, headers=auth(sb.key), timeout=10) as c:
        yield c


def auth(key: str) -> dict[str, str]:
    """The bearer header for ``key``."""
    return {"Authorization": f"Bearer {key}"}


def chat_body(content: str = "Hello there", model: str = "openai/gpt-4o-mini", **extra: Any) -> dict[str, Any]:
    """A minimal chat request body."""
    return {"model": model, "messages": [{"role": "user", "content": content}], **extra}


def parse_sse(text: str) -> tuple[list[str], list[str]]:
    """Split an SSE body into (``data`` payloads, comment lines), per the SSE spec."""
    data, comments = [], []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        for line in block.split("\n"):
            if line.startswith(":"):
                comments.append(line)
            elif line.startswith("data: "):
                data.append(line[6:])
    return data, comments


def chunks(text: str) -> list[dict[str, Any]]:
    """The JSON chunks of an SSE body (``[DONE]`` excluded)."""
    payloads, _ = parse_sse(text)
    return [json.loads(p) for p in payloads if p != "[DONE]"]


def content_of(chunk_list: list[dict[str, Any]]) -> str:
    """Concatenated ``delta.content`` of a list of chunks."""
    return "".join(
        c["choices"][0]["delta"].get("content") or "" for c in chunk_list if c.get("choices")
    )


def pkce_pair() -> tuple[str, str]:
    """(verifier, S256 challenge), the way OpenRouter's own examples make them."""
    verifier = secrets.token_urlsafe(32)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def generation(sb, generation_id: str) -> dict:
    """The sandbox's own /generation record of a call (once it is ready)."""
    import httpx

    deadline = time.monotonic() + 10
    while True:
        r = httpx.get(f"{sb.api_url}/generation", params={"id": generation_id},
                      headers={"Authorization": f"Bearer {sb.key}"})
        if r.status_code == 200:
            return r.json()["data"]
        assert time.monotonic() < deadline, r.text
        time.sleep(0.1)
