"""Images for a prompt: matplotlib figures, PIL images and image bytes → an image Attachment.

Encoding choices (each for a reason):

* **Figures** are rendered once, at the figure's own dpi (``EDGE_FIGURE_DPI`` overrides), over
  the whole canvas as ``savefig`` draws it by default — so a 10×8 in figure at matplotlib's
  100 dpi is 1,000×800 px, predictably — and encoded as PNG (lossless: lines and text stay
  sharp; zlib level 1, the fastest, as a figure's flat colours compress well anyway). A
  figure longer than ``EDGE_IMAGE_MAX_SIDE`` is rendered at the lower dpi that fits rather
  than rendered big and shrunk. The PNG carries no metadata (no "Software" line, no
  time), so an unchanged figure gives the same bytes, the same request body and so a $0 replay.
* **PIL images** are encoded as PNG whatever they came from: lossless, every mode maps to it
  (CMYK, YCbCr, float… are converted), and the pixel size is the image's. Simple and exact;
  the size limit catches the rare PNG that is too large.
* **Bytes and files** that already are PNG/JPEG/GIF/WebP are sent as they are — unless longer
  than the limit on a side and Pillow is installed: then they are downscaled (LANCZOS), a JPEG
  stays a JPEG (quality 90, EXIF rotation applied) and anything else becomes PNG.
* A **thumbnail** (160 px on the longest side, PNG; JPEG for JPEG sources) is made when Pillow
  is installed, for the answer's "Sent" strip. Pillow is imported only here, when an image is
  met (matplotlib needs it anyway).
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from ._errors import AttachmentError, check_size
from ._prompt import Attachment
from ._settings import Settings
from ._sniff import ImageHeader, image_header, image_type

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

#: Modes PNG stores as they are; any other mode is converted first.
_PNG_MODES = frozenset({"1", "L", "LA", "I;16", "P", "RGB", "RGBA"})
_EXTENSION = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp"}
_NAME = {"image/png": "PNG", "image/jpeg": "JPEG", "image/gif": "GIF", "image/webp": "WebP"}


def figure_image(figure: Any, config: Settings) -> Attachment:
    """A matplotlib Figure rendered as PNG at its own dpi (or ``EDGE_FIGURE_DPI``)."""
    if _blank(figure):
        raise AttachmentError(
            "The figure is empty: with %matplotlib inline a figure is closed when its cell ends, "
            "so plt.gcf() in a later cell is a new blank one. Keep it in the cell that draws it "
            "(fig = plt.gcf(), or fig, ax = plt.subplots()) and write {fig} (or pass fig).")
    dpi = float(config.figure_dpi or figure.dpi)
    width_in, height_in = (float(x) for x in figure.get_size_inches())
    downscaled_from = None
    full = (int(width_in * dpi), int(height_in * dpi))
    if max(full) > config.max_side:
        downscaled_from = full
        dpi *= config.max_side / max(width_in * dpi, height_in * dpi)
    image = _render(figure, dpi)
    data = _encode(image, "PNG", fast=True)
    header = _header(data, "the figure")
    check_size(data, "The figure", config.max_bytes)
    return Attachment(kind="image", data=data, mime=header.mime, filename="figure.png",
                      width=header.width, height=header.height, source="matplotlib Figure",
                      downscaled_from=downscaled_from,
                      thumbnail=_thumbnail(image, config.thumbnail_side, "PNG"))


def _blank(figure: Any) -> bool:
    """Nothing drawn: the figure's background patch is its only artist. Sending it would pay
    for a white picture (the usual cause: ``plt.gcf()`` after an inline figure was closed)."""
    try:
        return len(figure.get_children()) <= 1
    except Exception:  # not the Figure we know: let the drawing say what is wrong
        return False


def _render(figure: Any, dpi: float) -> PILImage:
    """The figure's pixels, drawn once; opaque figures as RGB (smaller PNG, same picture)."""
    from PIL import Image

    width_in, height_in = (float(x) for x in figure.get_size_inches())
    buffer = io.BytesIO()
    figure.savefig(buffer, format="rgba", dpi=dpi)
    raw = buffer.getvalue()
    # Agg's canvas is int(width × dpi) by int(height × dpi); if the raw size says otherwise (a
    # "tight" savefig.bbox in the user's rcParams), read the size from a PNG of it instead.
    size = (int(width_in * dpi), int(height_in * dpi))
    if size[0] * size[1] * 4 == len(raw):
        image = Image.frombuffer("RGBA", size, raw, "raw", "RGBA", 0, 1)
    else:
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
        image = Image.open(io.BytesIO(buffer.getvalue()))
        image.load()
        image = image.convert("RGBA")
    alpha = image.getchannel("A").getextrema()
    return image.convert("RGB") if alpha == (255, 255) else image


def pil_image(image: PILImage, config: Settings, *, source: str = "PIL Image") -> Attachment:
    """A PIL image encoded as PNG, downscaled to the longest side allowed."""
    from PIL import Image, ImageOps

    if image.getexif().get(0x0112, 1) != 1:  # an EXIF rotation: send the picture upright
        image = ImageOps.exif_transpose(image)
    downscaled_from = None
    if max(image.size) > config.max_side:
        downscaled_from = image.size
        image = image.copy()
        image.thumbnail((config.max_side, config.max_side), Image.Resampling.LANCZOS)
    data = _encode(image, "PNG")
    header = _header(data, source)
    check_size(data, source, config.max_bytes)
    return Attachment(kind="image", data=data, mime=header.mime, filename="image.png",
                      width=header.width, height=header.height, source=source,
                      downscaled_from=downscaled_from,
                      thumbnail=_thumbnail(image, config.thumbnail_side, "PNG"))


def image_bytes(data: bytes, config: Settings, *, name: str = "") -> Attachment:
    """PNG/JPEG/GIF/WebP bytes as they are, or downscaled when too long and Pillow is here.

    ``name`` is the file's name when the bytes came from one (it names the source).
    """
    header = _header(data, name or "These image bytes")
    label = name or f"image.{_EXTENSION[header.mime]}"
    downscaled_from = None
    thumbnail = None
    Image = _pillow()
    if Image is not None:
        picture = _decode(data, header, config.max_side)
        if picture is not None:
            if max(header.width, header.height) > config.max_side:
                downscaled_from = (header.width, header.height)
                picture.thumbnail((config.max_side, config.max_side), Image.Resampling.LANCZOS)
                data = _encode(picture, "JPEG" if header.mime == "image/jpeg" else "PNG")
                header = _header(data, label)
            thumbnail = _thumbnail(picture, config.thumbnail_side,
                                   "JPEG" if header.mime == "image/jpeg" else "PNG")
    check_size(data, label, config.max_bytes)
    return Attachment(kind="image", data=data, mime=header.mime, filename=label,
                      width=header.width, height=header.height, source=name,
                      downscaled_from=downscaled_from, thumbnail=thumbnail)


def _header(data: bytes, name: str) -> ImageHeader:
    header = image_header(data)
    if header is None:
        kind = _NAME.get(image_type(data) or "", "image")
        raise AttachmentError(f"{name} looks like a {kind} but its header cannot be read (the file "
                              "is damaged or cut short): open it in an image viewer and save it again")
    return header


def _pillow() -> Any:
    """PIL.Image, or None when Pillow is not installed (images are then sent as they are)."""
    try:
        from PIL import Image
    except ImportError:
        return None
    return Image


def _decode(data: bytes, header: ImageHeader, max_side: int) -> PILImage | None:
    """The first frame, upright; None when Pillow cannot decode it (it is then sent as it is)."""
    from PIL import Image, ImageOps

    try:
        picture = Image.open(io.BytesIO(data))
        if header.mime == "image/jpeg":  # decode a big JPEG at 1/2, 1/4, 1/8 scale: much faster
            scale = max_side / max(header.width, header.height)
            picture.draft("RGB", (int(header.width * scale) + 1, int(header.height * scale) + 1))
        picture.load()
        return ImageOps.exif_transpose(picture)
    # Pillow's decoders raise many kinds (OSError, ValueError, SyntaxError, DecompressionBombError…)
    except Exception:
        return None


def _encode(image: PILImage, fmt: str, *, fast: bool = False) -> bytes:
    """PNG (or JPEG quality 90) bytes of ``image``, with no metadata: same pixels, same bytes.

    ``fast``: zlib level 1 instead of 6 — for figures (flat colours) ≈ 40 % less encoding
    time for ≈ 20 % more bytes, which cost nothing in tokens.
    """
    if fmt == "JPEG":
        if image.mode not in ("RGB", "L", "CMYK"):
            image = image.convert("RGB")
        out = io.BytesIO()
        image.save(out, format="JPEG", quality=90)
        return out.getvalue()
    if image.mode not in _PNG_MODES:
        alpha = bool({"A", "a"} & set(image.getbands())) or "transparency" in image.info
        try:
            image = image.convert("RGBA" if alpha else "RGB")
        except ValueError as exc:  # a mode Pillow cannot convert directly
            raise AttachmentError(f"A PIL image in mode {image.mode} cannot be sent as PNG: "
                                  "convert it first, e.g. image.convert('RGB')") from exc
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=1 if fast else 6)
    return out.getvalue()


def _thumbnail(image: PILImage, side: int, fmt: str) -> bytes | None:
    """A small copy for the answer's "Sent" strip, or None when it cannot be made."""
    from PIL import Image

    try:
        small = image.copy()
        small.thumbnail((side, side), Image.Resampling.LANCZOS, reducing_gap=2.0)
        return _encode(small, fmt)
    except (OSError, ValueError):
        return None
