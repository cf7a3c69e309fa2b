"""What the bytes of an uploaded image or PDF are: image type and pixel size, PDF page count.

The sandbox's own reader, standard library only, written apart from the client's
(``edge_jupyter.content``): tests compare what the client says it sent with what the
sandbox read, so the two must not share code (a shared bug would agree with itself).
It also reads differently where it can: a PDF's page count is followed from the
trailer's ``/Root`` to the catalog's ``/Pages`` object and its ``/Count`` (the last
revision of each object wins, and objects kept in compressed object streams are found
too); only when that chain breaks does it fall back to the largest ``/Count`` of a page
tree, then to counting ``/Type /Page`` dictionaries.
"""

from __future__ import annotations

import re
import zlib

IMAGE_MIMES = ("image/png", "image/jpeg", "image/gif", "image/webp")
PDF_MIME = "application/pdf"


def _be(data: bytes, at: int, n: int) -> int:
    chunk = data[at:at + n]
    if len(chunk) != n:
        raise ValueError("truncated")
    return int.from_bytes(chunk, "big")


def _le(data: bytes, at: int, n: int) -> int:
    chunk = data[at:at + n]
    if len(chunk) != n:
        raise ValueError("truncated")
    return int.from_bytes(chunk, "little")


def _png(data: bytes) -> tuple[int, int] | None:
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        return None
    return _be(data, 16, 4), _be(data, 20, 4)


def _gif(data: bytes) -> tuple[int, int] | None:
    if data[:6] not in (b"GIF87a", b"GIF89a"):
        return None
    return _le(data, 6, 2), _le(data, 8, 2)


#: JPEG frame headers carry the size: SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC).
_FRAMES = {m for m in range(0xC0, 0xD0)} - {0xC4, 0xC8, 0xCC}
#: Markers that stand alone (no length): TEM, RST0..RST7, SOI, EOI.
_STANDALONE = {0x01, 0xD8, 0xD9, *range(0xD0, 0xD8)}


def _jpeg(data: bytes) -> tuple[int, int] | None:
    if data[:2] != b"\xff\xd8":
        return None
    at = 2
    while at < len(data) - 1:
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:  # padding before a marker
            at += 1
        elif marker in _STANDALONE:
            at += 2
        elif marker in _FRAMES:
            # length (2), precision (1), height (2), width (2)
            return _be(data, at + 7, 2), _be(data, at + 5, 2)
        else:
            at += 2 + _be(data, at + 2, 2)
    return None


def _webp(data: bytes) -> tuple[int, int] | None:
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return None
    kind = data[12:16]
    if kind == b"VP8 ":  # key frame: 3-byte tag, start code 9d 01 2a, then 14-bit sizes
        if data[23:26] != b"\x9d\x01\x2a":
            return None
        return _le(data, 26, 2) & 0x3FFF, _le(data, 28, 2) & 0x3FFF
    if kind == b"VP8L":  # signature 0x2f, then width-1 and height-1 in 14 bits each
        if data[20:21] != b"\x2f":
            return None
        bits = _le(data, 21, 4)
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if kind == b"VP8X":  # flags (4), then canvas width-1 and height-1 in 24 bits each
        return _le(data, 24, 3) + 1, _le(data, 27, 3) + 1
    return None


_READERS = (("image/png", _png), ("image/jpeg", _jpeg), ("image/gif", _gif), ("image/webp", _webp))


def read_image(data: bytes) -> tuple[str, int, int] | None:
    """(MIME type, width, height) of PNG/JPEG/GIF/WebP bytes, or None when unreadable."""
    for mime, reader in _READERS:
        try:
            size = reader(data)
        except ValueError:
            return None
        if size is not None:
            width, height = size
            return (mime, width, height) if width > 0 and height > 0 else None
    return None


def is_pdf(data: bytes) -> bool:
    """A PDF starts with ``%PDF-`` (readers tolerate junk in the first kilobyte)."""
    return data.find(b"%PDF-", 0, 1024) >= 0


_OBJ = re.compile(rb"(\d+)\s+(\d+)\s+obj\b(.*?)endobj", re.S)
_ROOT = re.compile(rb"/Root\s+(\d+)\s+\d+\s+R")
_PAGES_REF = re.compile(rb"/Pages\s+(\d+)\s+\d+\s+R")
_COUNT = re.compile(rb"/Count\s+(\d+)")
_PAGE_TREE = re.compile(rb"/Type\s*/Pages(?![A-Za-z])")
_LEAF = re.compile(rb"/Type\s*/Page(?![A-Za-z])")
_STREAM = re.compile(rb"stream\r?\n")


def _inflate(body: bytes) -> bytes | None:
    """The decoded stream of an object body with ``/FlateDecode``, or None."""
    start = _STREAM.search(body)
    if start is None or b"/FlateDecode" not in body[:start.start()]:
        return None
    end = body.rfind(b"endstream")
    try:
        return zlib.decompressobj().decompress(body[start.end():end if end > 0 else None])
    except zlib.error:
        return None


def _objects(data: bytes) -> dict[int, bytes]:
    """Object number -> dictionary text; later revisions win, object streams included."""
    plain: dict[int, bytes] = {}
    packed: dict[int, bytes] = {}
    for match in _OBJ.finditer(data):
        number, body = int(match.group(1)), match.group(3)
        plain[number] = body
        if re.search(rb"/Type\s*/ObjStm\b", body[:512]):
            _unpack(body, packed)
    return {**packed, **plain}


def _unpack(body: bytes, into: dict[int, bytes]) -> None:
    """The objects of an object stream: a header of ``number offset`` pairs, then the objects."""
    first = re.search(rb"/First\s+(\d+)", body)
    count = re.search(rb"/N\s+(\d+)", body)
    text = _inflate(body)
    if text is None or first is None or count is None:
        return
    head = [int(x) for x in text[:int(first.group(1))].split()]
    pairs = list(zip(head[0::2], head[1::2], strict=False))[:int(count.group(1))]
    base = int(first.group(1))
    for i, (number, offset) in enumerate(pairs):
        end = base + pairs[i + 1][1] if i + 1 < len(pairs) else len(text)
        into[number] = text[base + offset:end]


def pdf_page_count(data: bytes) -> int | None:
    """The number of pages of a PDF, or None when it cannot be read from the bytes."""
    if not is_pdf(data):
        return None
    objects = _objects(data)
    roots = _ROOT.findall(data)
    catalog = objects.get(int(roots[-1])) if roots else None
    ref = _PAGES_REF.search(catalog) if catalog is not None else None
    tree = objects.get(int(ref.group(1))) if ref is not None else None
    count = _COUNT.search(tree) if tree is not None else None
    if count is not None:
        return int(count.group(1)) or None
    trees = [int(c) for body in objects.values() if _PAGE_TREE.search(body)
             for c in _COUNT.findall(body)]
    if trees:
        return max(trees) or None
    leaves = sum(1 for body in objects.values() if _LEAF.search(body))
    return leaves or None
