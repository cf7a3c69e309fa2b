"""A prompt as the notebook gave it: text and attachments (images, files) in order (pure).

:class:`Prompt` is what every front-end hands the call engine. Its wire form,
:meth:`Prompt.content`, is the plain string it always was when nothing is attached (so a
text prompt's request body, and its replay key, are unchanged), else the content-part array
of the chat API (schemas ``ChatContentText``, ``ChatContentImage``, ``ChatContentFile``).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class Attachment:
    """One image or file as it is sent: the bytes after encoding and downscaling."""

    kind: Literal["image", "file"]
    data: bytes = field(repr=False)
    mime: str  # image/png, image/jpeg, image/gif, image/webp, application/pdf
    filename: str  # "figure.png", "paper.pdf": a file part needs one; images name the source
    width: int | None = None  # images: pixel size as sent
    height: int | None = None
    pages: int | None = None  # PDFs: the page count, when it can be read
    #: where it came from, for the status line and thumbnails ("matplotlib Figure", "scan.png")
    source: str = ""
    #: the pixel size before downscaling, when it was downscaled
    downscaled_from: tuple[int, int] | None = None
    #: a small PNG/JPEG for the answer's output, or None (no Pillow to make one)
    thumbnail: bytes | None = field(default=None, repr=False)
    sha256: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.sha256:
            object.__setattr__(self, "sha256", hashlib.sha256(self.data).hexdigest())

    def data_url(self) -> str:
        return f"data:{self.mime};base64,{base64.b64encode(self.data).decode('ascii')}"

    def part(self) -> dict[str, Any]:
        """The content part of the chat API."""
        if self.kind == "image":
            return {"type": "image_url", "image_url": {"url": self.data_url()}}
        return {"type": "file", "file": {"filename": self.filename, "file_data": self.data_url()}}

    def describe(self) -> str:
        """E.g. "scan.png 1024×768 (downscaled from 4000×3000)", "paper.pdf (12 pages)"."""
        name = self.source or self.filename
        if self.kind == "image":
            text = f"{name} {self.width}×{self.height}" if self.width and self.height else name
            if self.downscaled_from:
                text += f" (downscaled from {self.downscaled_from[0]}×{self.downscaled_from[1]})"
            return text
        pages = f" ({self.pages} page{'s' if self.pages != 1 else ''})" if self.pages else ""
        return f"{name}{pages}"


Piece = str | Attachment


@dataclass(frozen=True)
class Prompt:
    """Text and attachments in the order the user wrote them."""

    pieces: tuple[Piece, ...] = ()

    @classmethod
    def of(cls, pieces: Iterable[Piece]) -> Prompt:
        """Adjacent text pieces joined, empty ones dropped."""
        out: list[Piece] = []
        for piece in pieces:
            if isinstance(piece, str):
                if not piece:
                    continue
                if out and isinstance(out[-1], str):
                    out[-1] += piece
                    continue
            out.append(piece)
        return cls(tuple(out))

    @classmethod
    def coerce(cls, prompt: str | Prompt) -> Prompt:
        return prompt if isinstance(prompt, Prompt) else cls.of([prompt])

    def strip(self) -> Prompt:
        """Whitespace trimmed at both ends of the text (as a cell's prompt always was)."""
        pieces = list(self.pieces)
        if pieces and isinstance(pieces[0], str):
            pieces[0] = pieces[0].lstrip()
        if pieces and isinstance(pieces[-1], str):
            pieces[-1] = pieces[-1].rstrip()
        return Prompt.of(pieces)

    def plus(self, attachments: Iterable[Attachment]) -> Prompt:
        """This prompt with ``attachments`` after its text (``--attach``)."""
        return Prompt.of([*self.pieces, *attachments])

    @property
    def text(self) -> str:
        """The text alone (the ledger, a conversation's history in older versions)."""
        return "".join(p for p in self.pieces if isinstance(p, str))

    @property
    def attachments(self) -> tuple[Attachment, ...]:
        return tuple(p for p in self.pieces if isinstance(p, Attachment))

    @property
    def images(self) -> int:
        return sum(1 for a in self.attachments if a.kind == "image")

    @property
    def files(self) -> int:
        return sum(1 for a in self.attachments if a.kind == "file")

    @property
    def pages(self) -> int:
        """Pages of the files whose count is known."""
        return sum(a.pages or 0 for a in self.attachments if a.kind == "file")

    def is_empty(self) -> bool:
        return not self.attachments and not self.text.strip()

    def content(self) -> str | list[dict[str, Any]]:
        """The user message's ``content``: a string when nothing is attached."""
        if not self.attachments:
            return self.text
        return [{"type": "text", "text": p} if isinstance(p, str) else p.part() for p in self.pieces]

    def __str__(self) -> str:
        return self.text
