"""The answer's "Sent" strip: small thumbnails of what a call sent, as inert HTML (pure).

A collapsible ``<details>`` ("Sent: 2 images · 1 PDF (12 pages)") so a saved notebook shows what the
model saw without taking room. Built for output that may be read in an untrusted notebook:
only ``<details>``, ``<summary>``, ``<div>``, ``<img>`` and ``<span>`` with inline styles, no
script and no event handler; every text and attribute escaped; an ``<img>`` only for a
thumbnail whose bytes really are PNG/JPEG/GIF/WebP (checked by signature, so its data URL
can never carry another type such as SVG). Without a thumbnail (no Pillow) an image shows
its name and size as text; a PDF is a labelled box with its page count.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from html import escape

from ..record import sent_summary
from ._errors import megabytes
from ._prompt import Attachment
from ._sniff import IMAGE_TYPES, PDF_TYPE, image_type

_BOX = ("display:inline-flex;flex-direction:column;align-items:center;justify-content:center;"
        "margin:2px 6px 2px 0;max-width:172px;font-size:11px;vertical-align:top")
_FILE = ("width:120px;height:120px;border:1px solid #bbb;border-radius:4px;display:flex;"
         "flex-direction:column;align-items:center;justify-content:center;text-align:center;"
         "overflow:hidden;padding:4px;box-sizing:border-box")


def thumbnails_html(attachments: Iterable[Attachment]) -> str:
    """The strip for ``attachments``; ``""`` when there are none."""
    items = list(attachments)
    if not items:
        return ""
    body = "".join(_item(a) for a in items)
    return (f'<details class="edge-sent"><summary>Sent: {escape(_sent(items))}</summary>'
            f'<div style="margin-top:4px">{body}</div></details>')


def _sent(items: list[Attachment]) -> str:
    """``2 images · 1 PDF (12 pages)``: the ledger's and receipts' wording (pages when known)."""
    files = [a for a in items if a.kind == "file"]
    known = all(a.pages is not None for a in files)  # else "(3 pages)" would undercount
    return sent_summary(sum(a.kind == "image" for a in items), len(files),
                        sum(a.pages or 0 for a in files) if known else 0)


def _item(attachment: Attachment) -> str:
    label = escape(attachment.describe(), quote=True)
    size = escape(megabytes(len(attachment.data)) if len(attachment.data) >= 100_000
                  else f"{len(attachment.data) / 1000:,.1f} kB")
    if attachment.kind == "image":
        mime = image_type(attachment.thumbnail) if attachment.thumbnail else None
        if attachment.thumbnail and mime in IMAGE_TYPES:
            url = f"data:{mime};base64,{base64.b64encode(attachment.thumbnail).decode('ascii')}"
            return (f'<div style="{_BOX}"><img src="{escape(url, quote=True)}" alt="{label}" '
                    f'title="{label}" style="max-width:160px;max-height:160px;'
                    f'border:1px solid #ddd"><span>{label}</span></div>')
        return f'<div style="{_BOX}"><div style="{_FILE}"><b>image</b><span>{label}</span><span>{size}</span></div></div>'
    kind = "PDF" if attachment.mime == PDF_TYPE else "file"
    return (f'<div style="{_BOX}"><div style="{_FILE}"><b>{kind}</b><span>{label}</span>'
            f"<span>{size}</span></div></div>")
