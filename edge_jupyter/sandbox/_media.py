"""Images and PDFs in a chat request: checked, measured and priced as the sandbox bills them.

Content parts are the spec's ``ChatContentImage`` (``{"type": "image_url", "image_url":
{"url", "detail"?}}``) and ``ChatContentFile`` (``{"type": "file", "file": {"filename",
"file_data"}}``). A malformed part is a 400 naming where it is
(``messages[0].content[1].image_url.url``), the way OpenAI-style validators word it.
Pixel sizes and page counts come from the sandbox's own reader (``_filetypes``), never
from the client's code.

What the sandbox accepts:

- an image as a base64 ``data:`` URL of PNG, JPEG, GIF or WebP whose bytes are that type
  (the pixel size is read from the header), or as an ``http(s)://`` URL. The sandbox has no
  internet, so a remote URL is accepted and recorded as remote (``url`` set, no size, no hash)
  and billed as the largest image (1,600 tokens, or the per-image price);
- a file as a base64 ``data:application/pdf`` URL of a PDF, or an ``http(s)://`` URL (recorded
  as remote). A PDF whose page count cannot be read (remote ones included) is billed as one page.

Prices (the table the client's estimate must stay above):

- image: the endpoint's ``pricing.image`` USD when it is set, else
  ``min(1600, ceil(width * height / 750))`` prompt tokens;
- PDF page, read natively (the model has ``"file"`` input and no engine other than
  ``native`` is asked for): 500 prompt tokens;
- PDF page through the ``file-parser`` plugin: 400 prompt tokens of parsed text plus the
  engine's price (``mistral-ocr`` $0.002, ``cloudflare-ai`` free). A file sent to a model
  without file input and no plugin is parsed with ``mistral-ocr`` (OpenRouter's documented
  default); ``native`` asked of such a model extracts the text for free.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, Literal

from ._errors import ApiError
from ._filetypes import IMAGE_MIMES, PDF_MIME, is_pdf, pdf_page_count, read_image

#: Part types of the spec's ``ChatContentItems``; audio and video are accepted, not modelled.
PART_TYPES = ("text", "image_url", "file", "input_audio", "video_url", "input_video")
DETAILS = ("auto", "low", "high", "original")
#: Prompt tokens of one image: ``ceil(w*h/750)``, at most this (and this when unseen).
IMAGE_TOKENS_MAX = 1_600
IMAGE_PIXELS_PER_TOKEN = 750
#: Prompt tokens per PDF page read natively / as parsed text.
NATIVE_PAGE_TOKENS = 500
PARSED_PAGE_TOKENS = 400
#: ``file-parser`` engines and their USD per page (OpenRouter docs, multimodal/pdfs).
ENGINE_USD_PER_PAGE: Mapping[str, Decimal] = {
    "cloudflare-ai": Decimal(0), "mistral-ocr": Decimal("0.002"), "native": Decimal(0),
}
#: The engine for a file part to a model without file input when no plugin names one.
DEFAULT_PARSER = "mistral-ocr"
#: Plugin ids of the spec's ``ChatRequest.plugins``; only ``file-parser`` is modelled.
PLUGIN_IDS = ("auto-beta-router", "auto-router", "context-compression", "file-parser", "fusion",
              "moderation", "pareto-router", "response-healing", "web", "web-fetch")

_DATA_URL = re.compile(r"data:([^;,]*)((?:;[^;,]*)*),(.*)", re.S)
_EXAMPLE = "data:image/png;base64,iVBORw0KGgo..."


@dataclass(frozen=True)
class ReceivedMedia:
    """One image or file part as the sandbox received (and billed) it.

    ``size`` and ``sha256`` are of the decoded bytes; ``url`` is set (and size, hash and
    pixel size are not) when the part pointed at a remote URL. ``engine`` is how a file
    was read (``native``, ``mistral-ocr``, ``cloudflare-ai``); ``tokens`` and ``usd`` are
    what the part added to the prompt tokens and to the cost (per-image or engine price).
    """

    kind: Literal["image", "file"]
    mime: str | None
    message: int
    part: int
    width: int | None = None
    height: int | None = None
    pages: int | None = None
    filename: str | None = None
    size: int | None = None
    sha256: str | None = None
    url: str | None = None
    detail: str | None = None
    engine: str | None = None
    tokens: int = 0
    usd: Decimal = Decimal(0)


def _bad(where: str, detail: str) -> ApiError:
    return ApiError(400, f"Invalid request parameters: {where}: {detail}")


def _remote(url: str) -> bool:
    return url.startswith(("https://", "http://")) and len(url) > len("https://")


def _decode(url: str, where: str, kinds: tuple[str, ...], what: str) -> tuple[str, bytes]:
    """(mime, bytes) of a base64 data URL whose type is one of ``kinds``, else a 400."""
    match = _DATA_URL.fullmatch(url)
    if match is None:
        raise _bad(where, f"expected a base64-encoded data URL of {what} (e.g. "
                          f"'data:{kinds[0]};base64,...') or an https:// URL, but got a value "
                          "without the 'data:' prefix")
    mime, params, payload = match.group(1).strip().lower(), match.group(2), match.group(3)
    if mime not in kinds:
        raise _bad(where, f"{mime or 'no MIME type'} is not supported; expected "
                          f"{', '.join(kinds)}")
    if ";base64" not in params.lower():
        raise _bad(where, "the data URL is not base64-encoded (expected ';base64,')")
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise _bad(where, "the data URL's base64 payload is invalid") from None
    if not data:
        raise _bad(where, "got empty base64-encoded bytes")
    return mime, data


def _image(part: Mapping[str, Any], m: int, p: int) -> ReceivedMedia:
    where = f"messages[{m}].content[{p}].image_url"
    spec = part.get("image_url")
    if not isinstance(spec, Mapping):
        raise _bad(where, "image_url must be an object with a url")
    url = spec.get("url")
    if not isinstance(url, str) or not url:
        raise _bad(where + ".url", "url is required (a data: URL or an https:// URL)")
    detail = spec.get("detail")
    if detail is not None and detail not in DETAILS:
        raise _bad(where + ".detail", f"detail must be one of {', '.join(DETAILS)}")
    if _remote(url):
        return ReceivedMedia("image", None, m, p, url=url, detail=detail)
    mime, data = _decode(url, where + ".url", IMAGE_MIMES, "an image")
    head = read_image(data)
    if head is None:
        raise _bad(where + ".url", f"the bytes are not a readable {mime} image")
    if head[0] != mime:
        raise _bad(where + ".url", f"the data URL says {mime} but the bytes are {head[0]}")
    return ReceivedMedia("image", mime, m, p, width=head[1], height=head[2], size=len(data),
                         sha256=hashlib.sha256(data).hexdigest(), detail=detail)


def _file(part: Mapping[str, Any], m: int, p: int) -> ReceivedMedia:
    where = f"messages[{m}].content[{p}].file"
    spec = part.get("file")
    if not isinstance(spec, Mapping):
        raise _bad(where, "file must be an object with filename and file_data")
    filename, data_url = spec.get("filename"), spec.get("file_data")
    if not isinstance(filename, str) or not filename.strip():
        raise _bad(where + ".filename", "filename is required")
    if not isinstance(data_url, str) or not data_url:
        detail = ("the sandbox keeps no uploaded files: send file_data"
                  if spec.get("file_id") is not None else "file_data is required")
        raise _bad(where + ".file_data", detail)
    if _remote(data_url):
        return ReceivedMedia("file", None, m, p, filename=filename, url=data_url)
    mime, data = _decode(data_url, where + ".file_data", (PDF_MIME,), "a PDF")
    if not is_pdf(data):
        raise _bad(where + ".file_data", "the bytes are not a PDF (no %PDF- header)")
    return ReceivedMedia("file", mime, m, p, pages=pdf_page_count(data), filename=filename, size=len(data),
                         sha256=hashlib.sha256(data).hexdigest())


def _part(part: Any, m: int, p: int) -> ReceivedMedia | None:
    where = f"messages[{m}].content[{p}]"
    if not isinstance(part, Mapping):
        raise _bad(where, "a content part must be an object")
    kind = part.get("type")
    if kind not in PART_TYPES:
        raise _bad(where + ".type", f"unknown content part type {kind!r}; expected one of "
                                    f"{', '.join(PART_TYPES)}")
    if kind == "text":
        if not isinstance(part.get("text"), str):
            raise _bad(where + ".text", "a text part needs a string text")
        return None
    if kind == "image_url":
        return _image(part, m, p)
    if kind == "file":
        return _file(part, m, p)
    return None


def read_media(messages: Iterable[Any], *, strict: bool = True) -> list[ReceivedMedia]:
    """Every image and file part of the messages, in order, unpriced.

    ``strict``: a malformed part is a 400 :class:`ApiError`; otherwise it is skipped (how a
    refused request's record still shows what it carried).
    """
    found: list[ReceivedMedia] = []
    for m, msg in enumerate(messages):
        content = msg.get("content") if isinstance(msg, Mapping) else None
        if not isinstance(content, list):
            continue
        for p, part in enumerate(content):
            try:
                item = _part(part, m, p)
            except ApiError:
                if strict:
                    raise
                continue
            if item is not None:
                found.append(item)
    return found


def requested_engine(body: Mapping[str, Any]) -> str | None:
    """The ``file-parser`` plugin's PDF engine, ``""`` for the plugin with no engine, or None.

    Validates ``plugins`` per the spec: an array of objects with a known ``id``; the
    file-parser's ``enabled`` a boolean (false: as if absent), ``pdf.engine`` one of the
    engines (``pdf-text``, deprecated, is ``cloudflare-ai``). Anything else is a 400.
    """
    plugins = body.get("plugins")
    if plugins is None:
        return None
    if not isinstance(plugins, list):
        raise _bad("plugins", "plugins must be an array")
    engine: str | None = None
    for i, plugin in enumerate(plugins):
        where = f"plugins[{i}]"
        if not isinstance(plugin, Mapping) or not isinstance(plugin.get("id"), str):
            raise _bad(where, "a plugin must be an object with an id")
        if plugin["id"] not in PLUGIN_IDS:
            raise _bad(where + ".id", f"unknown plugin {plugin['id']!r}; expected one of "
                                      f"{', '.join(PLUGIN_IDS)}")
        if plugin["id"] != "file-parser":
            continue
        enabled = plugin.get("enabled", True)
        if not isinstance(enabled, bool):
            raise _bad(where + ".enabled", "enabled must be a boolean")
        pdf = plugin.get("pdf")
        if pdf is not None and not isinstance(pdf, Mapping):
            raise _bad(where + ".pdf", "pdf must be an object")
        chosen = (pdf or {}).get("engine")
        if chosen == "pdf-text":
            chosen = "cloudflare-ai"
        if chosen is not None and chosen not in ENGINE_USD_PER_PAGE:
            raise _bad(where + ".pdf.engine", f"unknown PDF engine {chosen!r}; expected one of "
                                              f"{', '.join(ENGINE_USD_PER_PAGE)}")
        if enabled:
            engine = chosen or ""
    return engine


def needs(media: Iterable[ReceivedMedia]) -> frozenset[str]:
    """Input modalities a model must have to take these parts (files can always be parsed)."""
    return frozenset({"image"}) if any(item.kind == "image" for item in media) else frozenset()


def image_tokens(width: int | None, height: int | None) -> int:
    """``min(1600, ceil(w*h/750))``; the maximum when the size is unknown (a remote URL)."""
    if not width or not height:
        return IMAGE_TOKENS_MAX
    return min(IMAGE_TOKENS_MAX, math.ceil(width * height / IMAGE_PIXELS_PER_TOKEN))


def file_engine(input_modalities: Iterable[str], engine: str | None) -> str:
    """How a file is read: the plugin's engine, else natively when the model can, else OCR."""
    if engine:
        return engine
    return "native" if "file" in tuple(input_modalities) else DEFAULT_PARSER


def priced(media: Iterable[ReceivedMedia], input_modalities: Iterable[str], image_price: Decimal,
           engine: str | None) -> list[ReceivedMedia]:
    """The parts with their engine, prompt tokens and USD for the model that serves them."""
    inputs = tuple(input_modalities)
    out: list[ReceivedMedia] = []
    for item in media:
        if item.kind == "image":
            if image_price > 0:
                out.append(replace(item, tokens=0, usd=image_price))
            else:
                out.append(replace(item, tokens=image_tokens(item.width, item.height)))
            continue
        used = file_engine(inputs, engine)
        pages = item.pages or 1
        if used == "native" and "file" in inputs:
            out.append(replace(item, engine=used, tokens=NATIVE_PAGE_TOKENS * pages))
        else:
            out.append(replace(item, engine=used, tokens=PARSED_PAGE_TOKENS * pages,
                               usd=ENGINE_USD_PER_PAGE[used] * pages))
    return out
