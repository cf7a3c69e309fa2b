"""Which piece of a prompt a notebook value becomes: text, an image, or a file.

=======================================  ==================================================
value                                    piece
=======================================  ==================================================
``str``, :class:`Attachment`             itself (with ``paths=True`` a one-line ``str`` with
                                         an image/PDF suffix is read as that file; a
                                         missing one is an error)
an object with ``_repr_llm_()``          the text it returns (jupyter/enhancement-proposals#128)
matplotlib ``Figure``                    an image: PNG at the figure's dpi
PIL ``Image``, ``IPython.display.Image`` an image: PNG / the embedded bytes
bytes of PNG, JPEG, GIF, WebP or PDF     an image / a file (other bytes: an error)
``pathlib.Path`` to such a file          the same, by content not suffix; a Path to any other
                                         file is its text as before; a missing one with an
                                         image/PDF suffix is an error
``IPython.display.SVG``, SVG bytes, a   an error: the chat API takes no SVG (its name or
``.svg`` path or SVG file                markup would be sent as junk text)
pandas ``DataFrame`` / ``Series``        capped CSV text (``full=True``: all of it)
anything else                            ``str(value)``, as before
=======================================  ==================================================

The types are recognised through ``sys.modules``: a value can only be a matplotlib Figure
if matplotlib is imported already, so a plain prompt (and ``%load_ext``) imports none of
matplotlib, Pillow, pandas or IPython.display.
"""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path, PurePath
from typing import Any

from ._errors import AttachmentError, megabytes
from ._files import pdf_file
from ._images import figure_image, image_bytes, pil_image
from ._prompt import Attachment, Piece
from ._settings import Settings, settings
from ._sniff import image_type, is_pdf, is_svg
from ._tables import table_text

#: Suffixes that mean "an image or a PDF" for a path that does not exist, or a ``str`` path.
SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".pdf")
_KINDS = "an image (PNG, JPEG, GIF, WebP) or a PDF"
#: SVG (IPython.display.SVG, SVG bytes, a .svg file) is not sent as its markup or its name
SVG_REFUSED = ("SVG images are not sent (the chat API takes PNG, JPEG, GIF and WebP): save the "
               "figure as PNG (fig.savefig('p.png')) or pass the matplotlib Figure itself.")


def to_piece(value: object, *, full: bool = False, paths: bool = False) -> Piece:
    """The prompt piece ``value`` becomes (see the table above); raises :class:`AttachmentError`.

    ``full`` sends a DataFrame or Series whole; ``paths`` reads a one-line ``str`` ending in an
    image/PDF suffix as that file, and a missing one is an error (``map``'s column of image
    paths).
    """
    if isinstance(value, Attachment):
        return value
    if isinstance(value, str):
        return _path(_expand(value), value, settings()) if paths and _names_file(value) else value
    llm = getattr(type(value), "_repr_llm_", None)
    if callable(llm):
        return _repr_llm(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _bytes(bytes(value), settings())
    if isinstance(value, PurePath):
        return _path(_expand(value), str(value), settings())
    if _is(value, "matplotlib.figure", "Figure"):
        return figure_image(value, settings())
    if _is(value, "PIL.Image", "Image"):
        return pil_image(value, settings())  # type: ignore[arg-type]
    if _is(value, "IPython.core.display", "Image"):
        return _ipython_image(value, settings())
    if _is(value, "IPython.core.display", "SVG"):
        raise AttachmentError(SVG_REFUSED)
    if _is(value, "pandas", "DataFrame") or _is(value, "pandas", "Series"):
        return table_text(value, settings(), full=full)
    return str(value)


def attach(value: object) -> Attachment:
    """What ``-a/--attach PATH`` sends: an image or PDF (a path, or a value that is one)."""
    if isinstance(value, (str, PurePath)):
        path = Path(value).expanduser()
        if not path.is_file():
            where = "" if path.is_absolute() else f" (relative paths start at {os.getcwd()})"
            what = "is a folder, not a file" if path.is_dir() else "does not exist"
            raise AttachmentError(f"Cannot attach {value}: it {what}{where}; check the path")
        value = path
    piece = to_piece(value)
    if not isinstance(piece, Attachment):
        raise AttachmentError(f"Cannot attach {_label(value)}: it is not {_KINDS}; put text "
                              "in the prompt itself, or {…} a value into it")
    return piece


def _is(value: object, module: str, name: str) -> bool:
    """``isinstance(value, module.name)`` without importing ``module``."""
    cls = getattr(sys.modules.get(module), name, None)
    return isinstance(cls, type) and isinstance(value, cls)


def _repr_llm(value: object) -> str:
    name = type(value).__name__
    try:
        text = value._repr_llm_()  # type: ignore[attr-defined]
    except Exception as exc:  # the object's own code: say whose it is, keep the cause
        raise AttachmentError(f"{name}._repr_llm_() raised {type(exc).__name__}: {exc} — fix "
                              f"it, or put str(...) of the value in the prompt") from exc
    if not isinstance(text, str):
        raise AttachmentError(f"{name}._repr_llm_() returned {type(text).__name__}, not text: it "
                              "must return a str")
    return text


def _bytes(data: bytes, config: Settings, name: str = "") -> Attachment:
    if is_svg(data):
        raise AttachmentError(f"{name}: {SVG_REFUSED}" if name else SVG_REFUSED)
    if image_type(data):
        return image_bytes(data, config, name=name)
    if is_pdf(data):
        return pdf_file(data, config, name=name)
    what = f"{name} is" if name else f"These {len(data):,} bytes are"
    raise AttachmentError(f"{what} neither an image (PNG, JPEG, GIF, WebP) nor a PDF: decode "
                          "text with .decode() first, or convert the file to PNG or PDF")


def _names_file(text: str) -> bool:
    """A short one-line string with an image/PDF suffix: a path, whether or not it exists.

    A missing one is then the same error as a missing ``Path`` (sending "scans/b.png" as text
    would bill a call that cannot answer the question).
    """
    return len(text) <= 4_096 and "\n" not in text and text.lower().endswith((*SUFFIXES, ".svg"))


def _expand(value: str | PurePath) -> Path:
    """``~/scans/a.png`` as the full path; ``~nobody/…`` (no such user) stays as written."""
    try:
        return Path(value).expanduser()
    except RuntimeError:  # then it does not exist, which _path says
        return Path(value)


def _path(path: Path, text: str, config: Settings) -> Piece:
    """An image or PDF file as an attachment; any other file (or a folder) as its name."""
    try:
        exists = path.exists()
    except OSError as exc:  # a name the OS cannot take (too long, …)
        raise AttachmentError(f"Cannot read {text}: {exc.strerror or exc}; check the path") from None
    if path.suffix.lower() == ".svg" and not path.is_dir():  # whether or not it exists
        raise AttachmentError(f"{text}: {SVG_REFUSED}")
    if not exists:
        if path.suffix.lower() in SUFFIXES:
            where = "" if path.is_absolute() else f" (relative paths start at {os.getcwd()})"
            raise AttachmentError(f"No such file: {text}{where}; check the path")
        return text
    if not path.is_file():
        return text
    try:
        with path.open("rb") as handle:
            head = handle.read(4_096)
            if is_svg(head):  # an SVG by another name ("plot.xml")
                raise AttachmentError(f"{text}: {SVG_REFUSED}")
            if not (image_type(head) or is_pdf(head)):
                return text
            size = os.fstat(handle.fileno()).st_size
            # a PDF is sent as it is, so a too-large one is refused before it is read
            if is_pdf(head) and size > config.max_bytes:
                raise AttachmentError(
                    f"{path.name} is {megabytes(size)}, over the {megabytes(config.max_bytes)} "
                    "limit of one attachment: send fewer pages, or raise EDGE_MAX_ATTACHMENT_MB")
            data = head + handle.read()
    except OSError as exc:
        raise AttachmentError(f"Cannot read {text}: {exc.strerror or exc}; check its "
                              "permissions") from exc
    return _bytes(data, config, name=path.name)


def _ipython_image(value: Any, config: Settings) -> Attachment:
    data = value.data
    if not isinstance(data, (bytes, bytearray)):
        raise AttachmentError("This IPython.display.Image holds no image bytes (it only links "
                              "to a URL): pass the file's Path or its bytes instead")
    name = Path(value.filename).name if getattr(value, "filename", None) else ""
    data = bytes(data)
    if not image_type(data):
        raise AttachmentError(f"This IPython.display.Image ({value.format or 'no format'}) is "
                              "not a PNG, JPEG, GIF or WebP image: convert it to PNG first")
    attachment = image_bytes(data, config, name=name)
    if not name:  # say where it came from in the status line and the thumbnails
        attachment = replace(attachment, source="IPython Image")
    return attachment


def _label(value: object) -> str:
    if isinstance(value, PurePath):
        return str(value)
    return f"this {type(value).__name__}"
