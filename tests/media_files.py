"""Real images and PDFs for the tests of notebook values in prompts, and readers of what the
sandbox received. Shared by the media tests (imported like ``kernel_harness``)."""

from __future__ import annotations

import base64
import io
from typing import Any


def pdf_bytes(pages: int) -> bytes:
    """A real PDF of ``pages`` pages ("page 1", "page 2"…), made with matplotlib. No creation
    date: the same pages are the same bytes (replay tests make one twice)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    out = io.BytesIO()
    with PdfPages(out, metadata={"CreationDate": None}) as book:
        for n in range(pages):
            fig = plt.figure(figsize=(2, 2))
            fig.text(0.5, 0.5, f"page {n + 1}")
            book.savefig(fig)
            plt.close(fig)
    return out.getvalue()


def asked(sb: Any) -> list[Any]:
    """The chat requests the sandbox received."""
    return [q for q in sb.requests if q.path.endswith("/chat/completions")]


def data_of(url: str) -> tuple[str, bytes]:
    """A base64 data URL's MIME type and bytes."""
    head, _, payload = url.partition(",")
    assert head.startswith("data:") and head.endswith(";base64"), head
    return head[5:-7], base64.b64decode(payload)
