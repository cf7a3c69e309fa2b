"""The one error of notebook values that cannot be sent."""

from __future__ import annotations

from ..errors import EdgeError


class AttachmentError(EdgeError):
    """A value that cannot be attached: too large, unreadable, missing, or of no known kind."""


def megabytes(size: int) -> str:
    """``23_400_000`` -> ``"23.4 MB"``, ``40_960`` -> ``"41 kB"`` (decimal, as the limit is given)."""
    if size >= 1_000_000:
        return f"{size / 1_000_000:,.1f} MB"
    return f"{size / 1_000:,.0f} kB" if size >= 1_000 else f"{size:,} bytes"


def check_size(data: bytes, name: str, limit: int) -> None:
    """Refuse an attachment over the limit, naming its size, the limit and what to do."""
    if len(data) > limit:
        raise AttachmentError(
            f"{name} is {megabytes(len(data))} after encoding, over the {megabytes(limit)} limit "
            "of one attachment: send a smaller image or fewer pages, or raise "
            "EDGE_MAX_ATTACHMENT_MB")
