"""Every JSON body the sandbox sends validates against OpenRouter's own OpenAPI schemas.

Schema names were found in ``openrouter-openapi.yaml``: component schemas
where the spec names one (``ModelsListResponse``, ``ChatResult``,
``ChatStreamChunk``, ``GenerationResponse``, ``*Response`` errors), and the
inline 200 schema of the path otherwise (``/key``, ``/credits``,
``/auth/keys``, ``/models/{author}/{slug}/endpoints``).
"""

from __future__ import annotations

import httpx
import pytest
from sandbox_fixtures import (
    auth,
    chat_body,
    chunks,
    pkce_pair,
    spec_available,
    validate,
)

from edge_jupyter.sandbox import MODELS, Fault, Sandbox

pytestmark = [
    pytest.mark.usefixtures("clean_sandbox"),
    pytest.mark.skipif(not spec_available(), reason="shared OpenAPI spec not present"),
]


def test_models_list_and_every_models_endpoints(sb: Sandbox) -> None:
    validate(httpx.get(sb.api_url + "/models").json(), "ModelsListResponse")
    with httpx.Client(base_url=sb.api_url) as c:
        for model_id in MODELS:
            body = c.get(f"/models/{model_id}/endpoints").json()
            validate(body, "GET /models/{author}/{slug}/endpoints")
            validate(body["data"], "ListEndpointsResponse")


@pytest.mark.parametrize("model", ["openai/gpt-4o-mini", "deepseek/deepseek-r1", "anthropic/claude-3.5-haiku"])
def test_chat_result_and_every_stream_chunk(client: httpx.Client, model: str) -> None:
    body = client.post("/api/v1/chat/completions", json=chat_body(model=model, max_tokens=10)).json()
    validate(body, "ChatResult")
    stream = client.post("/api/v1/chat/completions", json=chat_body(model=model, stream=True))
    cs = chunks(stream.text)
    assert len(cs) > 10
    for chunk in cs:
        validate(chunk, "ChatStreamChunk")
        validate({"data": chunk}, "ChatStreamingResponse")
    validate(cs[-1]["usage"], "ChatUsage")


def test_midstream_error_chunk_and_partial_non_stream(sb: Sandbox, client: httpx.Client) -> None:
    sb.inject(Fault.midstream(after_tokens=2, code=502))
    cs = chunks(client.post("/api/v1/chat/completions", json=chat_body(stream=True)).text)
    validate(cs[-1], "ChatStreamChunk")
    sb.inject(Fault.midstream(after_tokens=2, code=429))
    validate(client.post("/api/v1/chat/completions", json=chat_body()).json(), "ChatResult")


def test_byok_usage(sb: Sandbox, client: httpx.Client) -> None:
    sb.inject(Fault.byok())
    validate(client.post("/api/v1/chat/completions", json=chat_body()).json()["usage"], "ChatUsage")


def test_generation_normal_and_cancelled(sb: Sandbox, client: httpx.Client) -> None:
    sb.generation_ready_after = 0
    gen_id = client.post("/api/v1/chat/completions", json=chat_body()).json()["id"]
    validate(client.get("/api/v1/generation", params={"id": gen_id}).json(), "GenerationResponse")
    sb.tokens_per_second = 200
    sb.answer_length = 400
    with client.stream("POST", "/api/v1/chat/completions", json=chat_body(stream=True)) as r:
        gen_id = r.headers["x-generation-id"]
        for _ in zip(range(3), r.iter_bytes(), strict=False):
            pass
    sb.wait_for_completions(2)
    body = client.get("/api/v1/generation", params={"id": gen_id}).json()
    validate(body, "GenerationResponse")
    assert body["data"]["cancelled"] is True


def test_key_and_credits(sb: Sandbox, client: httpx.Client) -> None:
    validate(client.get("/api/v1/key").json(), "GET /key")
    limited = sb.issue_key(limit=2.5)
    validate(httpx.get(sb.api_url + "/key", headers=auth(limited)).json(), "GET /key")
    validate(httpx.get(sb.api_url + "/key", headers=auth(sb.management_key)).json(), "GET /key")
    validate(httpx.get(sb.api_url + "/credits", headers=auth(sb.management_key)).json(), "GET /credits")


def test_auth_keys_response(sb: Sandbox) -> None:
    verifier, challenge = pkce_pair()
    code = sb.accounts.issue_code(challenge, "S256", None)
    r = httpx.post(sb.api_url + "/auth/keys",
                   json={"code": code, "code_verifier": verifier, "code_challenge_method": "S256"})
    validate(r.json(), "POST /auth/keys")


@pytest.mark.parametrize(
    ("schema", "call"),
    [
        ("UnauthorizedResponse", lambda sb, c: httpx.post(sb.api_url + "/chat/completions", json=chat_body())),
        ("BadRequestResponse", lambda sb, c: c.post("/api/v1/chat/completions", json=chat_body(model="x/y"))),
        ("ForbiddenResponse", lambda sb, c: c.get("/api/v1/credits")),
        ("NotFoundResponse", lambda sb, c: c.get("/api/v1/generation", params={"id": "gen-1-x"})),
        ("NotFoundResponse", lambda sb, c: c.get("/api/v1/models/a/b/endpoints")),
        ("PaymentRequiredResponse", lambda sb, c: (setattr(sb, "credits", 0.0),
                                                   c.post("/api/v1/chat/completions", json=chat_body()))[1]),
        ("TooManyRequestsResponse", lambda sb, c: (sb.inject(Fault.http(429, retry_after=1)),
                                                   c.post("/api/v1/chat/completions", json=chat_body()))[1]),
        ("ServiceUnavailableResponse", lambda sb, c: (sb.inject(Fault.http(503)),
                                                      c.post("/api/v1/chat/completions", json=chat_body()))[1]),
    ],
)
def test_error_bodies(sb: Sandbox, client: httpx.Client, schema: str, call) -> None:  # type: ignore[no-untyped-def]
    r = call(sb, client)
    assert r.status_code >= 400
    validate(r.json(), schema)
