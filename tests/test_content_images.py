"""Images in a prompt: figures, PIL images, IPython images, bytes and paths (issue 15).

Real matplotlib figures (Agg), real PIL images and real files; the pixel sizes are read back
from the encoded bytes with ``image_header``.
"""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from IPython.display import Image as IPythonImage
from matplotlib.figure import Figure
from PIL import Image

from edge_jupyter.content import (
    Attachment,
    AttachmentError,
    Settings,
    image_header,
    settings,
    to_piece,
)
from edge_jupyter.user_numbers import NumberError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _default_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("EDGE_IMAGE_MAX_SIDE", "EDGE_FIGURE_DPI", "EDGE_MAX_ATTACHMENT_MB"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def figure() -> Iterator[Figure]:
    fig, ax = plt.subplots(figsize=(10, 8), dpi=100)
    ax.plot([0, 1, 2], [2, 0, 1])
    ax.set_title("a figure")
    yield fig
    plt.close(fig)


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return out.getvalue()


def _size(data: bytes) -> tuple[str, int, int]:
    header = image_header(data)
    assert header is not None
    return header.mime, header.width, header.height


def test_a_figure_is_a_png_at_its_own_dpi(figure: Figure) -> None:
    piece = to_piece(figure)
    assert isinstance(piece, Attachment)
    assert piece.kind == "image" and piece.source == "matplotlib Figure"
    assert _size(piece.data) == ("image/png", 1000, 800)
    assert (piece.width, piece.height, piece.downscaled_from) == (1000, 800, None)
    assert piece.part()["image_url"]["url"].startswith("data:image/png;base64,")
    assert piece.thumbnail is not None
    mime, width, height = _size(piece.thumbnail)
    assert mime == "image/png" and max(width, height) == 160 and width > height


def test_an_unchanged_figure_gives_the_same_bytes_and_a_changed_one_does_not(figure: Figure) -> None:
    first, again = to_piece(figure), to_piece(figure)
    assert isinstance(first, Attachment) and isinstance(again, Attachment)
    assert first.data == again.data and first.sha256 == again.sha256
    figure.axes[0].plot([0, 2], [0, 2])
    changed = to_piece(figure)
    assert isinstance(changed, Attachment) and changed.sha256 != first.sha256


def test_edge_figure_dpi_sets_the_resolution(figure: Figure, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGE_FIGURE_DPI", "50")
    piece = to_piece(figure)
    assert isinstance(piece, Attachment)
    assert _size(piece.data) == ("image/png", 500, 400)
    assert figure.dpi == 100  # the user's figure is left as it was


def test_a_figure_longer_than_the_limit_is_rendered_smaller(figure: Figure, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGE_IMAGE_MAX_SIDE", "500")
    piece = to_piece(figure)
    assert isinstance(piece, Attachment)
    assert _size(piece.data) == ("image/png", 500, 400)
    assert piece.downscaled_from == (1000, 800)
    assert piece.describe() == "matplotlib Figure 500×400 (downscaled from 1000×800)"


def test_a_tight_savefig_setting_still_gives_a_readable_png(figure: Figure) -> None:
    with matplotlib.rc_context({"savefig.bbox": "tight"}):
        piece = to_piece(figure)
    assert isinstance(piece, Attachment)
    mime, width, height = _size(piece.data)
    assert mime == "image/png" and 0 < width <= 1000 and 0 < height <= 800
    assert (piece.width, piece.height) == (width, height)


def test_a_pil_image_is_a_png_downscaled_to_2048(monkeypatch: pytest.MonkeyPatch) -> None:
    piece = to_piece(Image.new("RGB", (3000, 1500), (200, 30, 30)))
    assert isinstance(piece, Attachment)
    assert _size(piece.data) == ("image/png", 2048, 1024)
    assert piece.downscaled_from == (3000, 1500) and piece.source == "PIL Image"
    small = to_piece(Image.new("RGBA", (64, 32), (0, 0, 0, 0)))
    assert isinstance(small, Attachment)
    assert _size(small.data) == ("image/png", 64, 32) and small.downscaled_from is None
    assert Image.open(io.BytesIO(small.data)).mode == "RGBA"  # transparency kept


def test_pil_modes_png_cannot_hold_are_converted() -> None:
    piece = to_piece(Image.new("CMYK", (40, 30), (0, 0, 0, 0)))
    assert isinstance(piece, Attachment)
    assert _size(piece.data) == ("image/png", 40, 30)
    assert Image.open(io.BytesIO(piece.data)).mode == "RGB"


def test_image_bytes_within_the_limit_are_sent_as_they_are() -> None:
    data = _png(Image.new("RGB", (300, 200), (0, 90, 200)))
    piece = to_piece(data)
    assert isinstance(piece, Attachment)
    assert piece.data == data and (piece.width, piece.height) == (300, 200)
    assert piece.filename == "image.png" and piece.describe() == "image.png 300×200"
    assert to_piece(bytearray(data)) == piece and to_piece(memoryview(data)) == piece


def test_a_large_jpeg_is_downscaled_and_stays_a_jpeg() -> None:
    data = _jpeg(Image.new("RGB", (4000, 3000), (10, 120, 40)))
    piece = to_piece(data)
    assert isinstance(piece, Attachment)
    assert _size(piece.data) == ("image/jpeg", 2048, 1536)
    assert piece.downscaled_from == (4000, 3000)
    assert piece.thumbnail is not None and _size(piece.thumbnail) == ("image/jpeg", 160, 120)


def test_a_path_to_an_image_is_read_by_its_content(tmp_path: Path) -> None:
    path = tmp_path / "scan.dat"  # the suffix says nothing: the bytes decide
    path.write_bytes(_png(Image.new("L", (120, 90), 128)))
    piece = to_piece(path)
    assert isinstance(piece, Attachment)
    assert piece.filename == "scan.dat" and piece.source == "scan.dat"
    assert (piece.width, piece.height) == (120, 90)


def test_a_path_to_another_file_is_its_text_and_a_missing_image_path_is_an_error(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    assert to_piece(notes) == str(notes)
    assert to_piece(tmp_path / "absent.txt") == str(tmp_path / "absent.txt")
    with pytest.raises(AttachmentError, match=r"No such file: .*absent\.png; check the path"):
        to_piece(tmp_path / "absent.png")


def test_a_str_path_is_a_file_only_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "photo.PNG"
    path.write_bytes(_png(Image.new("RGB", (20, 10))))
    assert to_piece(str(path)) == str(path)
    piece = to_piece(str(path), paths=True)
    assert isinstance(piece, Attachment) and piece.filename == "photo.PNG"
    assert to_piece(str(tmp_path / "gone.png")) == str(tmp_path / "gone.png")  # text, as asked
    with pytest.raises(AttachmentError, match=r"No such file: .*gone\.png; check the path"):
        to_piece(str(tmp_path / "gone.png"), paths=True)  # tests/test_content_convert.py: more


def test_an_ipython_image_sends_its_bytes(tmp_path: Path) -> None:
    data = _png(Image.new("RGB", (50, 40)))
    piece = to_piece(IPythonImage(data=data))
    assert isinstance(piece, Attachment)
    assert piece.data == data and piece.source == "IPython Image"
    path = tmp_path / "chart.png"
    path.write_bytes(data)
    named = to_piece(IPythonImage(filename=str(path)))
    assert isinstance(named, Attachment) and named.source == "chart.png"
    with pytest.raises(AttachmentError, match="only links to a URL"):
        to_piece(IPythonImage(url="https://example.invalid/x.png", embed=False))


def test_too_large_is_refused_with_the_size_the_limit_and_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGE_MAX_ATTACHMENT_MB", "0.01")
    noise = Image.effect_noise((200, 200), 64)  # noise does not compress: ≈ 40 kB as PNG
    with pytest.raises(AttachmentError, match=r"^PIL Image is \d\d kB after encoding, over the 10 kB "
                                              r"limit of one attachment: send a smaller image or "
                                              r"fewer pages, or raise EDGE_MAX_ATTACHMENT_MB$"):
        to_piece(noise)
    monkeypatch.setenv("EDGE_MAX_ATTACHMENT_MB", "20")
    assert isinstance(to_piece(noise), Attachment)


def test_a_damaged_image_and_unknown_bytes_are_clear_errors() -> None:
    with pytest.raises(AttachmentError, match="looks like a PNG but its header cannot be read"):
        to_piece(b"\x89PNG\r\n\x1a\n" + b"\x00" * 30)
    with pytest.raises(AttachmentError, match=r"^These 5 bytes are neither an image \(PNG, JPEG, "
                                              r"GIF, WebP\) nor a PDF: decode text"):
        to_piece(b"hello")


def test_settings_come_from_the_environment_and_bad_values_say_which(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings() == Settings()
    monkeypatch.setenv("EDGE_IMAGE_MAX_SIDE", "1024")
    monkeypatch.setenv("EDGE_FIGURE_DPI", "72")
    monkeypatch.setenv("EDGE_MAX_ATTACHMENT_MB", "5")
    assert settings() == Settings(max_side=1024, figure_dpi=72.0, max_bytes=5_000_000)
    monkeypatch.setenv("EDGE_IMAGE_MAX_SIDE", "big")
    with pytest.raises(NumberError, match="EDGE_IMAGE_MAX_SIDE must be a whole number of pixels"):
        settings()


def test_nothing_heavy_is_imported_for_plain_values() -> None:
    code = ("import edge_jupyter.content as c, sys, pathlib; c.to_piece('x'); c.to_piece(3); "
            "c.to_piece(pathlib.Path('nothing.txt')); c.thumbnails_html([]); "
            "heavy = [m for m in ('PIL', 'matplotlib', 'pandas', 'IPython', 'numpy') "
            "if m in sys.modules]; assert not heavy, heavy")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr


def test_a_mode_pillow_cannot_convert_is_a_clear_error() -> None:
    with pytest.raises(AttachmentError, match=r"^A PIL image in mode La cannot be sent as PNG: "
                                              r"convert it first, e\.g\. image\.convert\('RGB'\)$"):
        to_piece(Image.new("La", (8, 8)))


def test_a_blank_figure_is_refused_in_every_front_end_the_same_way() -> None:
    """plt.gcf() after an inline figure was closed is a new, empty one: paying to send a white
    picture is never what was meant (the magic prefixes the expression, ask the item)."""
    with pytest.raises(AttachmentError, match=r"^The figure is empty: .*fig, ax = plt\.subplots\(\)"):
        to_piece(Figure())
    drawn = Figure()
    drawn.add_subplot().plot([1, 2])
    assert isinstance(to_piece(drawn), Attachment)
