"""Notebook objects in prompts from the Python API and ``map``, in this process, against the
sandbox: ``ask([...])`` with images, ``map`` over a column of image paths and of PDFs, the
modality refusal before anything is sent, the ledger's counts, ``edge-jupyter ask --attach``.

Images are made with Pillow, PDFs with matplotlib's PDF backend: real files of known pixel
size and page count, decoded again from what the sandbox received.
"""

from __future__ import annotations

from typing import Any

import pytest
from media_files import asked, data_of, pdf_bytes
from sandbox_fixtures import spec_available

import edge_jupyter as edge
from edge_jupyter import calls
from edge_jupyter.content import image_header, pdf_pages

VISION = "google/gemini-2.0-flash-001"  # text, image, file
MINI = "openai/gpt-4o-mini"  # text, image, file
NO_FILES = "anthropic/claude-3.5-haiku"  # text, image: PDFs go through the file-parser plugin
TEXT_ONLY = "meta-llama/llama-3.1-8b-instruct"






def parts_of(body: dict[str, Any]) -> list[dict[str, Any]]:
    content = body["messages"][-1]["content"]
    assert isinstance(content, list), content
    return content


def image_sizes(body: dict[str, Any]) -> list[tuple[str, int, int]]:
    out = []
    for part in parts_of(body):
        if part["type"] == "image_url":
            mime, data = data_of(part["image_url"]["url"])
            header = image_header(data)
            assert header is not None and header.mime == mime
            out.append((mime, header.width, header.height))
    return out


def png(width: int, height: int, colour: str = "red") -> Any:
    from PIL import Image

    return Image.new("RGB", (width, height), colour)




def test_ask_with_a_list_sends_the_text_and_images_in_order(edge_env, sb):
    r = edge.ask(["Which of these two looks healthier?", png(64, 48), png(32, 20, "green")],
                 model=VISION, max_tokens=20)
    body = asked(sb)[-1].json
    parts = parts_of(body)
    assert [p["type"] for p in parts] == ["text", "image_url", "image_url"]
    assert parts[0]["text"] == "Which of these two looks healthier?"
    assert image_sizes(body) == [("image/png", 64, 48), ("image/png", 32, 20)]
    assert r.status == "ok" and (r.images, r.files, r.pages) == (2, 0, 0)
    row = edge.usage("all").iloc[-1]
    assert (row["images"], row["files"], row["pages"]) == (2, 0, 0)
    assert [a.width for a in r.attachments] == [64, 32]


def test_a_list_prompt_with_only_text_is_sent_as_a_plain_string(edge_env, sb):
    edge.ask(["Say", " hello"], model=MINI, max_tokens=10)
    assert asked(sb)[-1].json["messages"][-1]["content"] == "Say hello"


def test_texts_that_meet_without_a_space_are_put_on_lines_of_their_own(edge_env, sb):
    import pandas as pd

    edge.ask(["Data:", pd.DataFrame({"a": [1]}), "Sum it."], model=MINI, max_tokens=10)
    sent = asked(sb)[-1].json["messages"][-1]["content"]
    assert sent.startswith("Data:\nDataFrame: 1 row × 1 column\n") and sent.endswith("```\nSum it.")


def test_a_chat_takes_a_list_too(edge_env, sb):
    chat = edge.Chat(VISION, max_tokens=10)
    chat.ask(["What colour is this?", png(16, 16, "blue")])
    chat.ask("And is it dark?")
    assert chat.results[0].images == 1
    assert image_sizes(asked(sb)[-2].json) == [("image/png", 16, 16)]


@pytest.mark.parametrize("prompt, named", [({"text": "hi"}, "dict"), (42, "int"), (None, "NoneType")])
def test_a_prompt_that_is_neither_a_string_nor_a_list_is_refused_naming_its_type(
        edge_env, sb, prompt, named):
    before = len(asked(sb))
    with pytest.raises(edge.ApiUsageError, match=f"not {named}") as caught:
        edge.ask(prompt, model=MINI)
    assert "list of strings and objects" in str(caught.value)
    assert len(asked(sb)) == before


def test_an_empty_list_is_refused(edge_env, sb):
    with pytest.raises(edge.ApiUsageError, match="prompt is empty"):
        edge.ask(["  "], model=MINI)


def test_an_image_to_a_text_only_model_is_refused_before_anything_is_written_or_sent(edge_env, sb):
    before, rows = len(asked(sb)), len(edge.usage("all"))
    with pytest.raises(calls.CallRefused) as caught:
        edge.ask(["Describe", png(8, 8)], model=TEXT_ONLY)
    message = str(caught.value)
    assert f"{TEXT_ONLY} does not take images" in message and "-m" in message
    assert len(asked(sb)) == before
    assert len(edge.usage("all")) == rows


def test_a_missing_file_in_the_list_names_the_item(edge_env, sb, tmp_path):
    from edge_jupyter.content import AttachmentError

    with pytest.raises(AttachmentError, match=r"prompt\[1\]"):
        edge.ask(["Read", tmp_path / "nowhere.png"], model=MINI)


# -- map ----------------------------------------------------------------------------------------

def test_map_over_a_column_of_image_paths_sends_one_image_per_row(edge_env, sb, tmp_path):
    import pandas as pd

    paths = []
    for n in range(3):
        path = tmp_path / f"scan{n}.png"
        png(40 + n, 30).save(path)
        paths.append(str(path))
    df = pd.DataFrame({"scan": paths, "who": ["ann", "bob", "cy"]}, index=["a", "b", "c"])
    before = len(asked(sb))
    out = edge.map(df, "Transcribe the handwriting of {who} in {scan}", MINI, max_tokens=10,
                   progress=False, confirm_over=None)
    sent = asked(sb)[before:]
    assert len(sent) == 3
    widths = sorted(image_sizes(q.json)[0][1] for q in sent)
    assert widths == [40, 41, 42]
    for q in sent:
        parts = parts_of(q.json)
        assert parts[0]["type"] == "text" and parts[0]["text"].startswith("Transcribe the handwriting of ")
        assert parts[1]["type"] == "image_url"
    assert list(out.index) == ["a", "b", "c"] and set(out["status"]) == {"ok"}
    rows = edge.usage("all").tail(3)
    assert list(rows["images"]) == [1, 1, 1] and list(rows["chat"]) == ["map"] * 3
    # the same images again: every row reused from the replay store, nothing sent
    again = edge.map(df, "Transcribe the handwriting of {who} in {scan}", MINI, max_tokens=10,
                     progress=False, confirm_over=None)
    assert len(asked(sb)) == before + 3 and set(again["status"]) == {"replayed"}
    png(40, 30, "blue").save(paths[0])  # a changed image is a new call
    edge.map(df, "Transcribe the handwriting of {who} in {scan}", MINI, max_tokens=10,
             progress=False, confirm_over=None)
    assert len(asked(sb)) == before + 4


def test_map_of_an_image_column_to_a_text_only_model_is_refused_before_any_row_is_sent(
        edge_env, sb, tmp_path):
    import pandas as pd

    path = tmp_path / "one.png"
    png(10, 10).save(path)
    before, rows = len(asked(sb)), len(edge.usage("all"))
    with pytest.raises(edge_jupyter_error()) as caught:
        edge.map(pd.Series([str(path), str(path)], name="text"), "Read {text}", TEXT_ONLY,
                 progress=False, confirm_over=None)
    assert f"{TEXT_ONLY} does not take images" in str(caught.value)
    assert len(asked(sb)) == before and len(edge.usage("all")) == rows


def test_map_stops_before_sending_when_a_row_names_a_missing_image(edge_env, sb, tmp_path):
    """A typo in one path must not send (and bill) that row as the bare path text."""
    import pandas as pd

    real = tmp_path / "a.png"
    png(12, 12).save(real)
    df = pd.DataFrame({"scan": [str(real), str(tmp_path / "scans" / "b.png")]})
    before, rows = len(asked(sb)), len(edge.usage("all"))
    with pytest.raises(edge_jupyter_error(), match=r"Row 1: \{scan\}: No such file: .*scans/b\.png"):
        edge.map(df, "Transcribe {scan}", MINI, progress=False, confirm_over=None)
    assert len(asked(sb)) == before and len(edge.usage("all")) == rows


def edge_jupyter_error() -> type[Exception]:
    from edge_jupyter.errors import EdgeError

    return EdgeError


def test_map_over_pdfs_to_a_model_without_file_input_uses_the_free_parser(edge_env, sb, tmp_path):
    import pandas as pd

    for n in (1, 2):
        (tmp_path / f"doc{n}.pdf").write_bytes(pdf_bytes(n))
    df = pd.DataFrame({"doc": [tmp_path / "doc1.pdf", tmp_path / "doc2.pdf"]})
    before = len(asked(sb))
    edge.map(df, "Summarise {doc}", NO_FILES, max_tokens=10, progress=False, confirm_over=None)
    sent = asked(sb)[before:]
    pages = []
    for q in sent:
        assert q.json["plugins"] == [{"id": "file-parser", "pdf": {"engine": "cloudflare-ai"}}]
        file_part = parts_of(q.json)[1]
        assert file_part["type"] == "file"
        mime, data = data_of(file_part["file"]["file_data"])
        assert mime == "application/pdf"
        pages.append(pdf_pages(data))
    assert sorted(pages) == [1, 2]
    rows = edge.usage("all").tail(2)
    assert sorted(rows["pages"]) == [1, 2] and list(rows["files"]) == [1, 1]


def test_map_refuses_native_reading_for_a_model_without_file_input_before_any_row(edge_env, sb):
    import pandas as pd

    before, rows = len(asked(sb)), len(edge.usage("all"))
    with pytest.raises(calls.CallRefused, match=f"^{NO_FILES} cannot read PDFs natively"):
        edge.map(pd.Series([pdf_bytes(1), pdf_bytes(2)], name="text"), "Read {text}", NO_FILES,
                 pdf_engine="native", progress=False, confirm_over=None)
    assert len(asked(sb)) == before and len(edge.usage("all")) == rows


def test_map_rows_record_the_pages_that_were_read_not_a_guess(edge_env, sb):
    import pandas as pd

    unreadable = b"%PDF-1.4\n" + b"x" * 45_000  # no page tree: 5 pages guessed from its size
    edge.map(pd.Series([unreadable, pdf_bytes(3)], name="text"), "Read {text}", MINI, max_tokens=5,
             progress=False, confirm_over=None)
    rows = edge.usage("all").tail(2)
    assert sorted(rows["pages"]) == [0, 3] and list(rows["files"]) == [1, 1]


def test_map_of_text_rows_sends_the_same_bodies_as_before(edge_env, sb):
    import pandas as pd

    before = len(asked(sb))
    edge.map(pd.Series(["x", "y"], name="text"), "Say {text!r} and {index:>3}", MINI,
             max_tokens=5, progress=False, confirm_over=None)
    contents = sorted(q.json["messages"][-1]["content"] for q in asked(sb)[before:])
    assert contents == ["Say 'x' and   0", "Say 'y' and   1"]


def test_map_template_full_spec_is_refused_with_the_colon_form(edge_env, sb):
    import pandas as pd

    with pytest.raises(edge_jupyter_error(), match=r"write \{df:full\}"):
        edge.map(pd.Series(["x"], name="text"), "Say {text!full}", MINI, progress=False)


# -- edge-jupyter ask --attach --------------------------------------------------------------------

def test_cli_ask_attaches_an_image(edge_env, sb, tmp_path, capsys):
    from edge_jupyter.cli import main

    path = tmp_path / "photo.png"
    png(20, 10).save(path)
    assert main(["ask", "-m", MINI, "--max-tokens", "5", "--attach", str(path), "What", "is", "it?"]) == 0
    assert "sending 1 image · ~" in capsys.readouterr().err
    body = asked(sb)[-1].json
    assert parts_of(body)[0] == {"type": "text", "text": "What is it?"}
    assert image_sizes(body) == [("image/png", 20, 10)]


def test_cli_ask_with_a_missing_attachment_exits_2_sending_nothing(edge_env, sb, tmp_path, capsys):
    from edge_jupyter.cli import main

    before = len(asked(sb))
    assert main(["ask", "-m", MINI, "-a", str(tmp_path / "gone.png"), "What?"]) == 2
    assert "gone.png" in capsys.readouterr().err
    assert len(asked(sb)) == before


def test_a_figure_in_the_list_arrives_at_its_own_pixel_size(edge_env, sb, tmp_path):
    """A matplotlib figure in the list arrives at its own pixel size (inches × dpi)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3, 2), dpi=50)
    ax.plot([1, 3, 2])
    edge.ask(["Plot:", fig], model=MINI, max_tokens=5)
    plt.close(fig)
    assert image_sizes(asked(sb)[-1].json) == [("image/png", 150, 100)]


def test_ask_pdf_engine_names_the_parser_and_a_wrong_one_is_refused(edge_env, sb):
    edge.ask(["Summarise", pdf_bytes(2)], model=NO_FILES, max_tokens=5, pdf_engine="mistral-ocr")
    body = asked(sb)[-1].json
    assert body["plugins"] == [{"id": "file-parser", "pdf": {"engine": "mistral-ocr"}}]
    assert pdf_pages(data_of(parts_of(body)[1]["file"]["file_data"])[1]) == 2
    before = len(asked(sb))
    with pytest.raises(edge.ApiUsageError, match="pdf_engine must be one of cloudflare-ai"):
        edge.ask("Hi", model=MINI, pdf_engine="ocr")
    assert len(asked(sb)) == before


@pytest.mark.skipif(not spec_available(), reason="no OpenAPI spec")
def test_the_bodies_sent_with_images_pdfs_and_the_plugin_are_valid_chat_requests(edge_env, sb):
    """What the client builds (content parts, data URLs, the file-parser plugin), checked
    against OpenRouter's published schema, not against the sandbox that reads it."""
    import pandas as pd
    from sandbox_fixtures import validate

    edge.ask(["Compare", png(20, 10), "with the report", pdf_bytes(2), pd.DataFrame({"a": [1]})],
             model=NO_FILES, max_tokens=10)
    body = asked(sb)[-1].json
    assert body["plugins"] == [{"id": "file-parser", "pdf": {"engine": "cloudflare-ai"}}]
    assert [p["type"] for p in parts_of(body)] == ["text", "image_url", "text", "file", "text"]
    validate(body, "ChatRequest")
    edge.map(pd.DataFrame({"doc": [pdf_bytes(1)]}), "Summarise {doc}", MINI, max_tokens=10,
             pdf_engine="mistral-ocr", progress=False, confirm_over=None)
    validate(asked(sb)[-1].json, "ChatRequest")
