"""How notebook values are encoded for a prompt: sizes, resolution, caps (read from the environment).

Read when asked for, never at import, so a notebook can change ``os.environ`` and the next
prompt sees it (as :mod:`edge_jupyter.settings` does for the rest).

``EDGE_IMAGE_MAX_SIDE`` (pixels, default 2,048)
    An image longer than this on a side is downscaled to it (with Pillow, or for a figure
    by rendering it at a lower dpi). 2,048 is the largest side the vision models of
    OpenAI, Anthropic and Google read at full detail; beyond it they downscale themselves,
    so the extra megabytes would buy nothing.
``EDGE_FIGURE_DPI`` (default: the figure's own dpi)
    The resolution a matplotlib figure is rendered at. Unset, a figure is sent at the size it
    has (matplotlib's default 100 dpi makes a 10×8 in figure 1,000×800 px).
``EDGE_MAX_ATTACHMENT_MB`` (megabytes of 1,000,000 bytes, default 20)
    The largest one attachment may be after encoding; a larger one is refused with a
    sentence saying what to do.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..user_numbers import Rule

MB = 1_000_000

_SIDE = Rule("number of pixels", low=16, high=100_000, whole=True)
_DPI = Rule("number of dots per inch", low=1, high=2_400)
_MEGABYTES = Rule("number of megabytes", low=0, high=10_000, above_low=True)


@dataclass(frozen=True)
class Settings:
    """What :func:`~edge_jupyter.content.to_piece` does with a value it encodes."""

    max_side: int = 2_048
    figure_dpi: float | None = None  # None: the figure's own dpi
    max_bytes: int = 20 * MB
    thumbnail_side: int = 160  # the answer's "Sent" strip: small enough to keep notebooks light
    table_rows: int = 10  # a capped table keeps this many rows at each end…
    table_columns: int = 10  # …and this many columns at each end…
    cell_chars: int = 200  # …and cuts a longer cell to this many characters


def settings() -> Settings:
    """The settings as the environment says now; a malformed variable is a clear error."""
    side = _read("EDGE_IMAGE_MAX_SIDE", _SIDE)
    dpi = _read("EDGE_FIGURE_DPI", _DPI)
    megabytes = _read("EDGE_MAX_ATTACHMENT_MB", _MEGABYTES)
    default = Settings()
    return Settings(
        max_side=int(side) if side is not None else default.max_side,
        figure_dpi=float(dpi) if dpi is not None else None,
        max_bytes=int(megabytes * MB) if megabytes is not None else default.max_bytes,
    )


def _read(name: str, rule: Rule) -> float | int | None:
    raw = os.environ.get(name, "").strip()
    return rule.read(raw, name) if raw else None
