"""Notebook values in a prompt: figures, images, PDFs and tables as chat content parts."""

from __future__ import annotations

from ._prompt import Attachment, Piece, Prompt
from ._sniff import IMAGE_TYPES, PDF_TYPE, ImageHeader, image_header, image_type, is_pdf, pdf_pages

__all__ = ["IMAGE_TYPES", "PDF_TYPE", "Attachment", "ImageHeader", "Piece", "Prompt", "image_header",
           "image_type", "is_pdf", "pdf_pages"]
