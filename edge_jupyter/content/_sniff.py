"""What a file's bytes are: the image type and pixel size, or a PDF's page count (pure).

Shared by the client (to check, price and downscale before sending) and the sandbox (to
record exactly what arrived). Read from the headers alone, not with Pillow or a PDF
library: Pillow is optional at run time (``%load_ext`` must not import it, and the
sandbox must work without it), and the header of each of the four image types the chat
API takes is a few fixed fields — PNG's IHDR, GIF's logical screen, JPEG's SOF marker,
WebP's VP8/VP8L/VP8X chunk.
"""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass

#: The image types the chat API takes (``ChatContentImage``); SVG is not one (and could script).
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
PDF_TYPE = "application/pdf"


@dataclass(frozen=True)
class ImageHeader:
    mime: str
    width: int
    height: int


def image_type(data: bytes) -> str | None:
    """The MIME type of PNG/JPEG/GIF/WebP bytes by their signature, else None."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def is_pdf(data: bytes) -> bool:
    # The header may follow a little junk (the PDF spec tolerates up to 1,024 bytes).
    return b"%PDF-" in data[:1024]


#: SVG markup: a byte-order mark, an XML prolog, comments or a doctype may come before ``<svg``
_SVG = re.compile(rb"\A(?:\xef\xbb\xbf)?\s*(?:<\?xml[^>]*>\s*)?(?:(?:<!--.*?-->|<!DOCTYPE[^>]*>)\s*)*"
                  rb"<svg[\s>/]", re.S | re.I)


def is_svg(data: bytes) -> bool:
    """SVG markup (vector text, not one of :data:`IMAGE_TYPES`), judged by its first 4 kB."""
    return _SVG.match(data[:4_096]) is not None


def image_header(data: bytes) -> ImageHeader | None:
    """Type and pixel size of an image, or None when the bytes are not a readable one."""
    mime = image_type(data)
    try:
        size = _SIZE[mime](data) if mime else None
    except (struct.error, IndexError, ValueError):
        size = None
    if mime is None or size is None or size[0] < 1 or size[1] < 1:
        return None
    return ImageHeader(mime, size[0], size[1])


def _png(data: bytes) -> tuple[int, int] | None:
    if data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def _gif(data: bytes) -> tuple[int, int]:
    width, height = struct.unpack("<HH", data[6:10])
    return int(width), int(height)


#: Start-of-frame markers (baseline, progressive, lossless…); not DHT (C4), JPG (C8), DAC (CC).
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _jpeg(data: bytes) -> tuple[int, int] | None:
    at = 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length field
            at += 2
            continue
        (length,) = struct.unpack(">H", data[at + 2:at + 4])
        if marker in _SOF:
            height, width = struct.unpack(">HH", data[at + 5:at + 9])
            return int(width), int(height)
        at += 2 + length
    return None


def _webp(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8 ":  # lossy: 14-bit sizes after the frame tag and start code
        width, height = struct.unpack("<HH", data[26:30])
        return int(width) & 0x3FFF, int(height) & 0x3FFF
    if chunk == b"VP8L":  # lossless: 14 bits each, minus one, after the 0x2F signature
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":  # extended: 24-bit sizes, minus one
        return (int.from_bytes(data[24:27], "little") + 1,
                int.from_bytes(data[27:30], "little") + 1)
    return None


_SIZE = {"image/png": _png, "image/gif": _gif, "image/jpeg": _jpeg, "image/webp": _webp}

_COUNT = re.compile(rb"/Type\s*/Pages\b[^>]*?/Count\s+(\d+)|/Count\s+(\d+)[^>]*?/Type\s*/Pages\b", re.S)
_PAGE = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")
_OBJECT_STREAM = re.compile(rb"/Type\s*/ObjStm\b.*?stream\r?\n", re.S)


def pdf_pages(data: bytes) -> int | None:
    """The page count of a PDF, or None when it cannot be read from the file.

    The page tree's root says it (``/Type /Pages … /Count N``: the largest count is the
    root's); failing that the page objects are counted. PDF 1.5 files may keep those
    dictionaries in compressed object streams, which are inflated and searched too.
    """
    if not is_pdf(data):
        return None
    texts = [data]
    for match in _OBJECT_STREAM.finditer(data):
        end = data.find(b"endstream", match.end())
        if end < 0:
            continue
        try:
            texts.append(zlib.decompress(data[match.end():end]))
        except zlib.error:
            continue  # another filter: the counts in the plain part may still do
    counts = [int(a or b) for text in texts for a, b in _COUNT.findall(text)]
    if counts:
        return max(counts)
    pages = sum(len(_PAGE.findall(text)) for text in texts)
    return pages or None
