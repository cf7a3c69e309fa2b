"""Which piece a value becomes: PDFs, ``_repr_llm_``, plain values, ``attach`` and the
"Sent" thumbnails (issue 15). PDFs are real ones, written with matplotlib's PdfPages."""

from __future__ import annotations

import io
import re
from html.parser import HTMLParser
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.backends.backend_pdf import PdfPages
from PIL import Image

from edge_jupyter.content import (
    Attachment,
    AttachmentError,
    Prompt,
    attach,
    thumbnails_html,
    to_piece,
)


@pytest.fixture(autouse=True)
def _default_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("EDGE_IMAGE_MAX_SIDE", "EDGE_FIGURE_DPI", "EDGE_MAX_ATTACHMENT_MB"):
        monkeypatch.delenv(name, raising=False)


def _pdf(pages: int) -> bytes:
    out = io.BytesIO()
    with PdfPages(out) as pdf:
        for n in range(pages):
            fig, ax = plt.subplots(figsize=(4, 3))
            ax.set_title(f"page {n + 1}")
            pdf.savefig(fig)
            plt.close(fig)
    return out.getvalue()


def _png(size: tuple[int, int] = (80, 60)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (30, 60, 90)).save(out, format="PNG")
    return out.getvalue()


def test_a_pdf_path_is_a_file_part_with_its_pages(tmp_path: Path) -> None:
    path = tmp_path / "report.pdf"
    path.write_bytes(_pdf(3))
    piece = to_piece(path)
    assert isinstance(piece, Attachment)
    assert (piece.kind, piece.mime, piece.filename, piece.pages) == ("file", "application/pdf",
                                                                     "report.pdf", 3)
    part = piece.part()
    assert part["type"] == "file" and part["file"]["filename"] == "report.pdf"
    assert part["file"]["file_data"].startswith("data:application/pdf;base64,")
    assert piece.describe() == "report.pdf (3 pages)"


def test_pdf_bytes_are_named_document_pdf() -> None:
    piece = to_piece(_pdf(1))
    assert isinstance(piece, Attachment)
    assert (piece.filename, piece.pages) == ("document.pdf", 1)
    assert piece.describe() == "document.pdf (1 page)"


def test_a_pdf_over_the_limit_is_refused_before_it_is_read(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "big.pdf"
    path.write_bytes(_pdf(2) + b"%" * 30_000)
    monkeypatch.setenv("EDGE_MAX_ATTACHMENT_MB", "0.02")
    with pytest.raises(AttachmentError, match=r"^big\.pdf is \d\d kB, over the 20 kB limit of one "
                                              r"attachment: send fewer pages, or raise "
                                              r"EDGE_MAX_ATTACHMENT_MB$"):
        to_piece(path)


def test_an_object_with_repr_llm_is_sent_as_what_it_returns() -> None:
    class Model:
        def _repr_llm_(self) -> str:
            return "a model with 3 layers"

        def __str__(self) -> str:
            return "not this"

    assert to_piece(Model()) == "a model with 3 layers"


def test_a_failing_or_wrong_repr_llm_is_a_clear_error() -> None:
    class Broken:
        def _repr_llm_(self) -> str:
            raise RuntimeError("no weights loaded")

    class Wrong:
        def _repr_llm_(self) -> object:
            return 42

    with pytest.raises(AttachmentError, match=r"^Broken\._repr_llm_\(\) raised RuntimeError: no "
                                              r"weights loaded — fix it"):
        to_piece(Broken())
    with pytest.raises(AttachmentError, match=r"^Wrong\._repr_llm_\(\) returned int, not text"):
        to_piece(Wrong())


def test_everything_else_is_its_str_as_before() -> None:
    assert to_piece("plain") == "plain"
    assert to_piece(42) == "42"
    assert to_piece([1, "a"]) == "[1, 'a']"
    attachment = Attachment(kind="image", data=_png(), mime="image/png", filename="x.png")
    assert to_piece(attachment) is attachment


def test_pieces_make_a_prompt_with_parts_in_order(tmp_path: Path) -> None:
    pieces = ["Look at ", to_piece(_png()), " and ", to_piece(_pdf(2)), "."]
    prompt = Prompt.of(pieces)
    content = prompt.content()
    assert isinstance(content, list)
    assert [part["type"] for part in content] == ["text", "image_url", "text", "file", "text"]
    assert (prompt.images, prompt.files, prompt.pages) == (1, 1, 2)


def test_attach_takes_images_and_pdfs_and_refuses_the_rest(tmp_path: Path) -> None:
    image = tmp_path / "a.png"
    image.write_bytes(_png())
    paper = tmp_path / "p.pdf"
    paper.write_bytes(_pdf(2))
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    assert attach(str(image)).kind == "image"
    assert attach(paper).pages == 2
    assert attach(_png()).kind == "image"
    with pytest.raises(AttachmentError, match=r"^Cannot attach .*notes\.txt: it is not an image "
                                              r"\(PNG, JPEG, GIF, WebP\) or a PDF"):
        attach(text)
    with pytest.raises(AttachmentError, match=r"^Cannot attach .*missing\.png: it does not exist; "
                                              r"check the path$"):
        attach(str(tmp_path / "missing.png"))
    with pytest.raises(AttachmentError, match="it is a folder, not a file"):
        attach(tmp_path)
    with pytest.raises(AttachmentError, match=r"^Cannot attach this int: it is not an image"):
        attach(3)
    with pytest.raises(AttachmentError, match="relative paths start at"):
        attach("surely-not-here.pdf")


def test_a_missing_str_image_path_is_an_error_not_text(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """map's column of paths: a missing scan is never sent (and billed) as its name."""
    monkeypatch.chdir(tmp_path)
    for name in ("scans/b.png", "B.JPG", "x.jpeg", "y.gif", "z.webp", "paper.pdf"):
        with pytest.raises(AttachmentError, match=rf"^No such file: {name} \(relative paths "
                                                  rf"start at {tmp_path}\); check the path$"):
            to_piece(name, paths=True)
    with pytest.raises(AttachmentError, match=r"^No such file: /nowhere/a\.png; check the path$"):
        to_piece("/nowhere/a.png", paths=True)  # absolute: no "relative paths" clause
    (tmp_path / "shots.png").mkdir()
    assert to_piece("shots.png", paths=True) == "shots.png"  # a folder is not a file to send
    assert to_piece("a caption.txt", paths=True) == "a caption.txt"  # other suffixes: text
    assert to_piece("two\nlines.png", paths=True) == "two\nlines.png"  # not a path
    assert to_piece("scans/b.png") == "scans/b.png"  # without paths=True, text as before
    with pytest.raises(AttachmentError, match=r"^Cannot read x+\.png: File name too long"):
        to_piece("x" * 300 + ".png", paths=True)


_SVG_REFUSED = ("SVG images are not sent (the chat API takes PNG, JPEG, GIF and WebP): save the "
                "figure as PNG (fig.savefig('p.png')) or pass the matplotlib Figure itself.")
_SVG = (b'<?xml version="1.0" encoding="utf-8" standalone="no"?>\n'
        b'<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN"\n'
        b' "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">\n'
        b'<!-- Created with matplotlib -->\n<svg xmlns="http://www.w3.org/2000/svg" width="10" '
        b'height="10"><rect width="10" height="10"/></svg>\n')


def test_svg_is_refused_saying_to_send_png_whatever_form_it_comes_in(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not "<IPython.core.display.SVG object>", the markup, or the file's name as text."""
    from IPython.display import SVG

    monkeypatch.chdir(tmp_path)
    figure = io.BytesIO()
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1])
    fig.savefig(figure, format="svg")  # what matplotlib writes: prolog, doctype, comment
    plt.close(fig)
    (tmp_path / "p.svg").write_bytes(figure.getvalue())
    (tmp_path / "drawing.xml").write_bytes(_SVG)  # SVG by content, whatever the name
    for value in (SVG(data=_SVG.decode()), SVG(data=figure.getvalue()), _SVG, figure.getvalue(),
                  b'\xef\xbb\xbf  <svg>', memoryview(b"<svg/>"), bytearray(b"<svg\n>")):
        with pytest.raises(AttachmentError, match=rf"^{re.escape(_SVG_REFUSED)}$"):
            to_piece(value)
    for value, text in [(Path("p.svg"), "p.svg"), (Path("drawing.xml"), "drawing.xml"),
                        (Path("gone.SVG"), "gone.SVG")]:
        with pytest.raises(AttachmentError, match=rf"^{re.escape(f'{text}: {_SVG_REFUSED}')}$"):
            to_piece(value)
    with pytest.raises(AttachmentError, match=rf"^p\.svg: {re.escape(_SVG_REFUSED)}$"):
        to_piece("p.svg", paths=True)  # map's column of paths
    with pytest.raises(AttachmentError, match=rf"^p\.svg: {re.escape(_SVG_REFUSED)}$"):
        attach("p.svg")
    with pytest.raises(AttachmentError, match=rf"^{re.escape(_SVG_REFUSED)}$"):
        attach(SVG(data=_SVG))
    assert to_piece("p.svg") == "p.svg"  # a plain str in a cell stays text
    assert to_piece("<svg> is a tag") == "<svg> is a tag"  # markup in text is text
    with pytest.raises(AttachmentError, match="neither an image"):  # not SVG: the old message
        to_piece(b"<?xml version='1.0'?><html/>")


class _Tags(HTMLParser):
    """Every tag and attribute of a piece of HTML, and its text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(html: str) -> _Tags:
    parser = _Tags()
    parser.feed(html)
    return parser


def test_thumbnails_are_inert_escaped_html(tmp_path: Path) -> None:
    hostile = tmp_path / '<img src=x onerror="alert(1)">.png'
    hostile.write_bytes(_png())
    paper = tmp_path / "paper.pdf"
    paper.write_bytes(_pdf(12))
    items = [to_piece(hostile), to_piece(Image.new("RGB", (300, 200))), to_piece(paper)]
    assert all(isinstance(item, Attachment) for item in items)
    html = thumbnails_html(item for item in items if isinstance(item, Attachment))
    parsed = _parse(html)
    assert parsed.tags[0][0] == "details" and parsed.tags[1][0] == "summary"
    assert "Sent: 2 images · 1 PDF" in "".join(parsed.text)
    assert {tag for tag, _ in parsed.tags} <= {"details", "summary", "div", "img", "span", "b"}
    assert not any(name.startswith("on") for _, attrs in parsed.tags for name in attrs)
    assert "<script" not in html.lower()
    images = [attrs for tag, attrs in parsed.tags if tag == "img"]
    assert len(images) == 2
    assert all((attrs["src"] or "").startswith("data:image/png;base64,") for attrs in images)
    assert images[0]["alt"] == '<img src=x onerror="alert(1)">.png 80×60'  # as text, escaped
    assert "paper.pdf (12 pages)" in "".join(parsed.text)


def test_only_raster_thumbnails_become_images_and_none_shows_name_and_size() -> None:
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'
    sneaky = Attachment(kind="image", data=_png(), mime="image/png", filename="s.png",
                        width=80, height=60, thumbnail=svg)
    bare = Attachment(kind="image", data=_png(), mime="image/png", filename="b.png",
                      width=80, height=60)
    html = thumbnails_html([sneaky, bare])
    parsed = _parse(html)
    assert not [tag for tag, _ in parsed.tags if tag == "img"]
    assert "svg" not in html and "onload" not in html
    text = " ".join(parsed.text)
    assert "s.png 80×60" in text and "b.png 80×60" in text and "kB" in text


def test_no_attachments_no_html_and_counts_read_well() -> None:
    assert thumbnails_html([]) == ""
    one = Attachment(kind="file", data=b"%PDF-1.4", mime="application/pdf", filename="a.pdf")
    counted = Attachment(kind="file", data=b"%PDF-1.4", mime="application/pdf", filename="b.pdf",
                         pages=12)
    image = Attachment(kind="image", data=_png(), mime="image/png", filename="x.png")

    def summary(items: list[Attachment]) -> str:
        return _parse(thumbnails_html(items)).text[0]  # the <summary>'s text

    # the ledger's and receipts' wording (edge_jupyter.record.sent_summary), pages when known
    assert summary([one]) == "Sent: 1 PDF"
    assert summary([image, image, counted]) == "Sent: 2 images · 1 PDF (12 pages)"
    assert summary([counted, counted]) == "Sent: 2 PDFs (24 pages)"
    assert summary([one, counted]) == "Sent: 2 PDFs"  # one count unknown: no undercount
