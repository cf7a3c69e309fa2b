"""Notebook values in a prompt: figures, images, PDFs and tables as chat content parts."""

from __future__ import annotations

from ._convert import attach, to_piece
from ._errors import AttachmentError
from ._prompt import Attachment, Piece, Prompt
from ._settings import Settings, settings
from ._sniff import IMAGE_TYPES, PDF_TYPE, ImageHeader, image_header, image_type, is_pdf, pdf_pages
from ._store import (
    AttachmentGone,
    attachment_path,
    attachments_lock,
    collect_attachments,
    read_attachment,
    store_attachment,
    stored_attachments,
)
from ._tables import FULL_SPEC, full_syntax_hint
from ._thumbs import thumbnails_html

__all__ = ["FULL_SPEC", "IMAGE_TYPES", "PDF_TYPE", "Attachment", "AttachmentError",
           "AttachmentGone", "ImageHeader", "Piece", "Prompt", "Settings", "attach",
           "attachment_path", "attachments_lock", "collect_attachments", "full_syntax_hint",
           "image_header", "image_type", "is_pdf", "pdf_pages", "read_attachment", "settings",
           "store_attachment", "stored_attachments", "thumbnails_html", "to_piece"]
