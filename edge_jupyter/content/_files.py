"""PDFs for a prompt: bytes or a file → a file Attachment with its page count.

Sent as they are (a ``file`` content part): the model's provider, or OpenRouter's
``file-parser`` plugin, reads them. The page count comes from the PDF's own page tree
(:func:`~edge_jupyter.content.pdf_pages`); when it cannot be read it stays None and the
engine counts the file on the safe side.
"""

from __future__ import annotations

from ._errors import check_size
from ._prompt import Attachment
from ._settings import Settings
from ._sniff import PDF_TYPE, pdf_pages

DEFAULT_NAME = "document.pdf"


def pdf_file(data: bytes, config: Settings, *, name: str = "") -> Attachment:
    """PDF bytes as a file part; ``name`` is the file's name when they came from one."""
    filename = name or DEFAULT_NAME
    check_size(data, filename, config.max_bytes)
    return Attachment(kind="file", data=data, mime=PDF_TYPE, filename=filename,
                      pages=pdf_pages(data), source=name)
