"""The sandbox takes images and PDFs as OpenRouter does: checked, refused, priced and recorded.

Every request goes over HTTP to the real sandbox; every request body is validated against
the spec's ``ChatRequest`` first (so a test never relies on a body OpenRouter would reject
for its shape), and the answers against ``ChatResult`` / the error schemas. Images are made
with Pillow, PDFs with matplotlib (both in the test extra), so the bytes are real files.
Costs are checked to the 1e-12 USD the sandbox rounds to, from the catalog's own prices.
The sandbox reads pixel sizes and page counts with its own reader (``sandbox/_filetypes.py``,
not the client's), so the sizes here are checked against what Pillow and matplotlib made.
"""

from __future__ import annotations

import base64
import hashlib
import io
import math
import zlib
from decimal import Decimal
from typing import Any

import httpx
import pytest
from media_files import pdf_bytes
from sandbox_fixtures import chunks, spec_available, validate

from edge_jupyter.content import pdf_pages
from edge_jupyter.sandbox import MODELS, Sandbox, count_prompt_tokens

pytestmark = pytest.mark.usefixtures("clean_sandbox")

URL = "/api/v1/chat/completions"
MINI, GPT4O, HAIKU = "openai/gpt-4o-mini", "openai/gpt-4o", "anthropic/claude-3.5-haiku"
LLAMA, MISTRAL = "meta-llama/llama-3.1-8b-instruct", "mistralai/mistral-small-3.1-24b-instruct"
ANSWER = 24  # the sandbox's default answer length (conftest resets it)


# -- real files ---------------------------------------------------------------------------------
def image_bytes(fmt: str, size: tuple[int, int], mode: str = "RGB", **options: Any) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new(mode, size).save(buf, fmt, **options)
    return buf.getvalue()




@pytest.fixture(scope="module")
def png() -> bytes:
    return image_bytes("PNG", (640, 480))


@pytest.fixture(scope="module")
def pdf3() -> bytes:
    return pdf_bytes(3)


def data_url(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def image_part(data: bytes, mime: str = "image/png", **extra: Any) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": data_url(mime, data), **extra}}


def file_part(data: bytes, filename: str = "paper.pdf") -> dict[str, Any]:
    return {"type": "file", "file": {"filename": filename, "file_data": data_url("application/pdf", data)}}


def body_with(parts: list[dict[str, Any]], model: str = MINI, **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is in here?"}, *parts]}], **extra}


def post(client: httpx.Client, body: dict[str, Any]) -> httpx.Response:
    if spec_available():
        validate(body, "ChatRequest")
    return client.post(URL, json=body)


def usd(value: Decimal) -> float:
    """As the sandbox (and OpenRouter's JSON) carries money: a float of 1e-12 USD."""
    return float(value.quantize(Decimal("1e-12")))


def text_tokens(body: dict[str, Any]) -> int:
    return count_prompt_tokens(body["messages"])


def bill(model: str, prompt_tokens: int, *, per_image: int = 0, fee: Decimal = Decimal(0)) -> Decimal:
    """The expected ``usage.cost`` at the model's default endpoint, for the default answer."""
    ep = MODELS[model].endpoints[0]
    return (prompt_tokens * ep.prompt_price + per_image * ep.image_price + ANSWER * ep.completion_price
            + fee)


# -- images ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("fmt", "options", "mime", "size", "tokens"), [
    ("PNG", {}, "image/png", (640, 480), 410),                       # ceil(307,200 / 750)
    ("JPEG", {}, "image/jpeg", (100, 30), 4),                        # ceil(3,000 / 750)
    ("JPEG", {"progressive": True}, "image/jpeg", (1000, 3), 4),     # another frame marker (SOF2)
    ("GIF", {}, "image/gif", (751, 1), 2),                           # ceil(751 / 750)
    ("WEBP", {}, "image/webp", (2000, 1500), 1600),                  # 4,000 by area: capped at 1,600
    ("WEBP", {"lossless": True}, "image/webp", (300, 200), 80),      # the VP8L header
    ("WEBP", {"mode": "RGBA"}, "image/webp", (16383, 1), 22),        # the VP8X header, 14-bit limit
])
def test_an_image_is_recorded_and_billed_by_its_pixel_size(
        sb: Sandbox, client: httpx.Client, fmt: str, options: dict[str, Any], mime: str,
        size: tuple[int, int], tokens: int) -> None:
    data = image_bytes(fmt, size, **options)
    body = body_with([image_part(data, mime, detail="auto")], model=HAIKU)  # HAIKU: no per-image price
    r = post(client, body)
    assert r.status_code == 200, r.text
    result = r.json()
    if spec_available():
        validate(result, "ChatResult")
    usage = result["usage"]
    assert usage["prompt_tokens"] == text_tokens(body) + tokens
    assert usage["cost"] == usd(bill(HAIKU, text_tokens(body) + tokens))
    (media,) = sb.completions[-1].media
    assert (media.kind, media.mime, media.width, media.height) == ("image", mime, *size)
    assert media.size == len(data) and media.sha256 == hashlib.sha256(data).hexdigest()
    assert (media.tokens, media.usd, media.detail, media.url) == (tokens, 0, "auto", None)
    assert media.message == 0 and media.part == 1
    assert sb.requests[-1].media[0].sha256 == media.sha256


@pytest.mark.parametrize(("model", "price"), [(GPT4O, "0.003613"), (MINI, "0.007225")])
def test_a_model_that_prices_images_bills_each_image_at_that_price(
        sb: Sandbox, client: httpx.Client, png: bytes, model: str, price: str) -> None:
    listed = {m["id"]: m for m in client.get("/api/v1/models").json()["data"]}
    assert listed[model]["pricing"]["image"] == price
    rows = client.get(f"/api/v1/models/{model}/endpoints").json()["data"]["endpoints"]
    assert {row["pricing"]["image"] for row in rows} == {price}
    body = body_with([image_part(png), image_part(image_bytes("JPEG", (64, 64)), "image/jpeg")], model=model)
    usage = post(client, body).json()["usage"]
    assert usage["prompt_tokens"] == text_tokens(body)  # per-image price: no image tokens
    assert usage["cost"] == usd(bill(model, text_tokens(body), per_image=2))
    assert usage["cost"] == usd(text_tokens(body) * MODELS[model].prompt_price + 2 * Decimal(price)
                                + ANSWER * MODELS[model].completion_price)
    assert usage["cost_details"]["upstream_inference_prompt_cost"] == usd(
        text_tokens(body) * MODELS[model].prompt_price + 2 * Decimal(price))
    assert [m.usd for m in sb.completions[-1].media] == [Decimal(price)] * 2
    assert [m.mime for m in sb.completions[-1].media] == ["image/png", "image/jpeg"]


def test_streamed_and_generation_costs_include_the_images(sb: Sandbox, client: httpx.Client, png: bytes) -> None:
    sb.generation_ready_after = 0
    body = body_with([image_part(png)], model=GPT4O, stream=True)
    r = post(client, body)
    cs = chunks(r.text)
    if spec_available():
        for chunk in cs:
            validate(chunk, "ChatStreamChunk")
    expected = usd(bill(GPT4O, text_tokens(body), per_image=1))
    assert cs[-1]["usage"]["cost"] == expected
    gen = client.get("/api/v1/generation", params={"id": cs[-1]["id"]}).json()["data"]
    assert gen["total_cost"] == expected and gen["num_media_prompt"] == 1


def test_the_reservation_includes_the_image_price(sb: Sandbox, client: httpx.Client, png: bytes) -> None:
    """A key with $0.005 left can afford a one-token text call, not one carrying a $0.007225 image."""
    key = sb.issue_key(limit=0.005)
    headers = {"Authorization": f"Bearer {key}"}
    text_only = {"model": MINI, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1}
    assert client.post(URL, json=text_only, headers=headers).status_code == 200
    r = client.post(URL, json=body_with([image_part(png)], max_tokens=1), headers=headers)
    assert r.status_code == 402, r.text
    assert len(sb.completions) == 1


def test_an_image_to_a_text_only_model_is_refused_as_openrouter_does(
        sb: Sandbox, client: httpx.Client, png: bytes) -> None:
    r = post(client, body_with([image_part(png)], model=LLAMA))
    assert r.status_code == 404
    assert r.json()["error"] == {"message": "No endpoints found that support image input", "code": 404}
    if spec_available():
        validate(r.json(), "NotFoundResponse")
    assert sb.completions == [] and sb.credits_used == 0
    assert [m.mime for m in sb.requests[-1].media] == ["image/png"]  # recorded, though refused
    # A `models` fallback that takes images serves it; a PDF alone is parsed for any model.
    r = post(client, body_with([image_part(png)], model=LLAMA, models=[MISTRAL]))
    assert r.status_code == 200 and r.json()["model"] == MISTRAL
    assert post(client, body_with([file_part(pdf_bytes(1))], model=LLAMA)).status_code == 200


# -- PDFs and the file-parser plugin -------------------------------------------------------------
def _plugin(engine: str | None = None, **extra: Any) -> list[dict[str, Any]]:
    plugin: dict[str, Any] = {"id": "file-parser", **extra}
    if engine is not None:
        plugin["pdf"] = {"engine": engine}
    return [plugin]


@pytest.mark.parametrize(("model", "plugins", "engine", "per_page", "fee"), [
    (MINI, None, "native", 500, "0"),                       # reads files itself
    (MINI, _plugin("native"), "native", 500, "0"),
    (MINI, _plugin("cloudflare-ai"), "cloudflare-ai", 400, "0"),
    (MINI, _plugin("mistral-ocr"), "mistral-ocr", 400, "0.002"),
    (MINI, _plugin("pdf-text"), "cloudflare-ai", 400, "0"),  # deprecated name, redirected
    (LLAMA, None, "mistral-ocr", 400, "0.002"),             # no file input, no plugin: OCR (default)
    (LLAMA, _plugin(), "mistral-ocr", 400, "0.002"),        # the plugin without an engine: same
    (LLAMA, _plugin("cloudflare-ai"), "cloudflare-ai", 400, "0"),
    (LLAMA, _plugin("mistral-ocr", enabled=False), "mistral-ocr", 400, "0.002"),  # disabled: default
    (LLAMA, _plugin("native"), "native", 400, "0"),         # no native reader: text extracted, free
    (GPT4O, _plugin("mistral-ocr"), "mistral-ocr", 400, "0.002"),
])
def test_pdf_pages_are_billed_per_engine(sb: Sandbox, client: httpx.Client, pdf3: bytes, model: str,
                                         plugins: list[dict[str, Any]] | None, engine: str,
                                         per_page: int, fee: str) -> None:
    extra = {"plugins": plugins} if plugins is not None else {}
    body = body_with([file_part(pdf3, "three pages.pdf")], model=model, **extra)
    r = post(client, body)
    assert r.status_code == 200, r.text
    usage = r.json()["usage"]
    assert usage["prompt_tokens"] == text_tokens(body) + 3 * per_page
    assert usage["cost"] == usd(bill(model, text_tokens(body) + 3 * per_page, fee=3 * Decimal(fee)))
    (media,) = sb.completions[-1].media
    assert (media.kind, media.mime, media.pages, media.filename, media.engine) == (
        "file", "application/pdf", 3, "three pages.pdf", engine)
    assert media.size == len(pdf3) and media.sha256 == hashlib.sha256(pdf3).hexdigest()
    assert (media.tokens, media.usd) == (3 * per_page, 3 * Decimal(fee))


def test_an_engine_fee_is_openrouters_and_not_discounted_for_byok(
        sb: Sandbox, client: httpx.Client, pdf3: bytes) -> None:
    sb.byok_providers = {"deepinfra"}
    body = body_with([file_part(pdf3)], model=LLAMA, plugins=_plugin("mistral-ocr"))
    usage = post(client, body).json()["usage"]
    full = bill(LLAMA, text_tokens(body) + 1200)
    assert usage["is_byok"] is True
    assert usage["cost_details"]["upstream_inference_cost"] == usd(full)
    assert usage["cost"] == usd(full * Decimal("0.05") + Decimal("0.006"))


def test_a_pdf_whose_pages_cannot_be_read_is_billed_as_one_page(sb: Sandbox, client: httpx.Client) -> None:
    odd = b"%PDF-1.4\n% no page tree here\n%%EOF\n"
    body = body_with([file_part(odd)], model=MINI)
    assert post(client, body).json()["usage"]["prompt_tokens"] == text_tokens(body) + 500
    assert sb.completions[-1].media[0].pages is None


def packed_pdf(pages: int) -> bytes:
    """A PDF 1.5 whose catalog, page tree and pages sit in a compressed object stream."""
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [" + b" ".join(b"%d 0 R" % (3 + i) for i in range(pages))
            + b"] /Count %d >>" % pages,
            *[b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 10 10] >>"] * pages]
    offsets, body = [], b""
    for obj in objs:
        offsets.append(len(body))
        body += obj + b"\n"
    head = b" ".join(b"%d %d" % (n + 1, off) for n, off in enumerate(offsets)) + b"\n"
    packed = zlib.compress(head + body)
    n = len(objs)
    return (b"%PDF-1.5\n" + b"%d 0 obj\n<< /Type /ObjStm /N %d /First %d /Filter /FlateDecode /Length %d >>\n"
            % (n + 1, n, len(head), len(packed)) + b"stream\n" + packed + b"\nendstream\nendobj\n"
            + b"%d 0 obj\n<< /Type /XRef /Root 1 0 R /Size %d /Length 0 >>\nstream\n\nendstream\nendobj\n"
            % (n + 2, n + 3) + b"startxref\n0\n%%EOF\n")


def revised_pdf() -> bytes:
    """Three pages, then an incremental update that deletes one: the last revision has two."""
    first = (b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
             b"2 0 obj\n<< /Type /Pages /Kids [3 0 R 4 0 R 5 0 R] /Count 3 >>\nendobj\n"
             + b"".join(b"%d 0 obj\n<< /Type /Page /Parent 2 0 R >>\nendobj\n" % i for i in (3, 4, 5))
             + b"trailer\n<< /Root 1 0 R /Size 6 >>\n%%EOF\n")
    return first + (b"2 0 obj\n<< /Type /Pages /Kids [3 0 R 4 0 R] /Count 2 >>\nendobj\n"
                    b"trailer\n<< /Root 1 0 R /Size 6 /Prev 0 >>\n%%EOF\n")


@pytest.mark.parametrize(("data", "pages"), [
    (packed_pdf(7), 7), (revised_pdf(), 2), (pdf_bytes(12), 12),
], ids=["object-stream", "incremental-update", "matplotlib"])
def test_the_sandbox_reads_page_counts_itself(sb: Sandbox, client: httpx.Client, data: bytes,
                                              pages: int) -> None:
    """The sandbox's own PDF reader follows /Root -> /Pages -> /Count, last revision first."""
    body = body_with([file_part(data)], model=MINI)
    assert post(client, body).json()["usage"]["prompt_tokens"] == text_tokens(body) + 500 * pages
    assert sb.completions[-1].media[0].pages == pages
    # The client's reader may say more (its safe side), never less than what is billed.
    assert (pdf_pages(data) or 0) >= pages


def test_images_and_pdfs_together_and_across_the_conversation(
        sb: Sandbox, client: httpx.Client, png: bytes, pdf3: bytes) -> None:
    """Attachments re-sent in history are billed again, each in its message's place."""
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "First"}, file_part(pdf3)]},
        {"role": "assistant", "content": "Read it."},
        {"role": "user", "content": [image_part(png), {"type": "text", "text": "and this?"}]},
    ]
    body = {"model": HAIKU, "messages": messages}
    usage = post(client, body).json()["usage"]
    assert usage["prompt_tokens"] == text_tokens(body) + 3 * 400 + 410
    assert usage["cost"] == usd(bill(HAIKU, text_tokens(body) + 1610, fee=Decimal("0.006")))
    media = sb.completions[-1].media
    assert [(m.kind, m.message, m.part, m.engine) for m in media] == [
        ("file", 0, 1, "mistral-ocr"), ("image", 2, 0, None)]


def test_remote_urls_are_accepted_and_recorded_as_remote(sb: Sandbox, client: httpx.Client) -> None:
    """The sandbox has no internet: a URL's size is unknown, so it bills the largest image / one page."""
    body = body_with([{"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
                      {"type": "file", "file": {"filename": "a.pdf", "file_data": "https://example.com/a.pdf"}}],
                     model=HAIKU)
    usage = post(client, body).json()["usage"]
    assert usage["prompt_tokens"] == text_tokens(body) + 1600 + 400
    image, doc = sb.completions[-1].media
    assert (image.url, image.mime, image.width, image.sha256) == ("https://example.com/cat.png", None, None, None)
    assert (doc.url, doc.pages, doc.engine) == ("https://example.com/a.pdf", None, "mistral-ocr")


# -- refusals --------------------------------------------------------------------------------------
_PNG_SMALL = image_bytes("PNG", (4, 4))
_JPEG_SMALL = image_bytes("JPEG", (4, 4))
_B64 = base64.b64encode(_PNG_SMALL).decode()
BAD_PARTS = [
    ({"type": "image", "image": "x"}, "messages[0].content[1].type: unknown content part type 'image'"),
    ({"type": "image_url"}, "image_url must be an object"),
    ({"type": "image_url", "image_url": {"detail": "high"}}, "image_url.url: url is required"),
    ({"type": "image_url", "image_url": {"url": _B64}}, "without the 'data:' prefix"),
    ({"type": "image_url", "image_url": {"url": "ftp://example.com/a.png"}}, "without the 'data:' prefix"),
    ({"type": "image_url", "image_url": {"url": "data:image/png," + _B64}}, "not base64-encoded"),
    ({"type": "image_url", "image_url": {"url": "data:image/png;base64,@@not base64@@"}},
     "base64 payload is invalid"),
    ({"type": "image_url", "image_url": {"url": "data:image/png;base64,"}}, "empty base64-encoded bytes"),
    ({"type": "image_url", "image_url": {"url": "data:image/svg+xml;base64,PHN2Zy8+"}},
     "image/svg+xml is not supported; expected image/png, image/jpeg, image/gif, image/webp"),
    ({"type": "image_url", "image_url": {"url": data_url("image/png", b"hello")}},
     "the bytes are not a readable image/png image"),
    ({"type": "image_url", "image_url": {"url": data_url("image/png", _JPEG_SMALL)}},
     "the data URL says image/png but the bytes are image/jpeg"),
    ({"type": "image_url", "image_url": {"url": data_url("image/png", _PNG_SMALL), "detail": "ultra"}},
     "detail must be one of auto, low, high, original"),
    ({"type": "file", "file": {"file_data": data_url("application/pdf", b"%PDF-1.4")}},
     "file.filename: filename is required"),
    ({"type": "file", "file": {"filename": "a.pdf"}}, "file.file_data: file_data is required"),
    ({"type": "file", "file": {"filename": "a.pdf", "file_id": "file-1"}}, "keeps no uploaded files"),
    ({"type": "file", "file": {"filename": "a.txt", "file_data": data_url("text/plain", b"hi")}},
     "text/plain is not supported; expected application/pdf"),
    ({"type": "file", "file": {"filename": "a.pdf", "file_data": data_url("application/pdf", b"hi")}},
     "the bytes are not a PDF"),
    ({"type": "text"}, "a text part needs a string text"),
]


@pytest.mark.parametrize(("part", "message"), BAD_PARTS)
def test_a_malformed_part_is_a_400_that_says_where_and_what(
        sb: Sandbox, client: httpx.Client, part: dict[str, Any], message: str) -> None:
    body = body_with([part, image_part(_PNG_SMALL)])
    r = client.post(URL, json=body)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["message"].startswith("Invalid request parameters: messages[0].content[1]")
    assert message in error["message"]
    assert error["metadata"] == {"error_type": "invalid_request"}
    if spec_available():
        validate(r.json(), "BadRequestResponse")
    assert sb.completions == [] and sb.credits_used == 0
    # The refused request's record still shows the well-formed image it carried.
    assert [(m.mime, m.part) for m in sb.requests[-1].media] == [("image/png", 2)]


@pytest.mark.parametrize(("plugins", "message"), [
    ({"id": "file-parser"}, "plugins: plugins must be an array"),
    (["file-parser"], "plugins[0]: a plugin must be an object with an id"),
    ([{"id": "ocr"}], "plugins[0].id: unknown plugin 'ocr'"),
    ([{"id": "file-parser", "pdf": {"engine": "tesseract"}}],
     "plugins[0].pdf.engine: unknown PDF engine 'tesseract'; expected one of cloudflare-ai, mistral-ocr, native"),
    ([{"id": "file-parser", "pdf": "mistral-ocr"}], "plugins[0].pdf: pdf must be an object"),
    ([{"id": "file-parser", "enabled": "yes"}], "plugins[0].enabled: enabled must be a boolean"),
])
def test_an_invalid_plugin_is_a_400(sb: Sandbox, client: httpx.Client, pdf3: bytes, plugins: Any,
                                    message: str) -> None:
    r = client.post(URL, json=body_with([file_part(pdf3)], plugins=plugins))
    assert r.status_code == 400, r.text
    assert r.json()["error"]["message"].startswith(f"Invalid request parameters: {message}")
    assert sb.completions == []


def test_other_known_plugins_pass_and_text_prompts_are_billed_as_before(sb: Sandbox, client: httpx.Client) -> None:
    body = {"model": MINI, "messages": [{"role": "user", "content": "Hello there"}],
            "plugins": [{"id": "response-healing"}]}
    usage = post(client, body).json()["usage"]
    assert usage["prompt_tokens"] == text_tokens(body) == 3 + math.ceil(len("Hello there") / 4)
    assert usage["cost"] == usd(bill(MINI, text_tokens(body)))
    assert sb.completions[-1].media == []
