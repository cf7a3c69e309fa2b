"""Notebook objects in ``%%edge`` cells, in a real kernel against the sandbox: a figure drawn
in a cell, a PDF made here, a 10,000-row DataFrame, ``-a/--attach``, ``--pdf-engine``, the
modality refusal, the ledger's counts, replay of an unchanged figure, the status line and the
thumbnails in the cell's output (read from the kernel's messages)."""

from __future__ import annotations

from typing import Any

import pytest
from media_files import asked, data_of

from edge_jupyter.content import image_header, pdf_pages

MODEL = "openai/gpt-4o-mini"  # text, image, file
NO_FILES = "anthropic/claude-3.5-haiku"  # text, image: PDFs go through the file-parser plugin
TEXT_ONLY = "meta-llama/llama-3.1-8b-instruct"


@pytest.fixture(scope="module")
def nb(kernel):
    """The module's kernel with matplotlib inline (as a notebook draws) and a figure."""
    kernel.ok("%matplotlib inline\nimport matplotlib.pyplot as plt\nimport pandas as pd\n"
              "from pathlib import Path\n"
              "fig, ax = plt.subplots(figsize=(4, 3))\nax.plot([1, 3, 2])\n"
              "expected = [round(v * fig.dpi) for v in fig.get_size_inches()]")
    return kernel






def user_content(body: dict[str, Any]) -> Any:
    return body["messages"][-1]["content"]


def ledger_last(kernel, n: int = 1) -> list[list[Any]]:
    return kernel.value(f"edge_jupyter.usage('all')[['images', 'files', 'pages', 'status']]"
                        f".tail({n}).values.tolist()")


def displays(run, mime: str = "text/plain") -> list[str]:
    """Every display_data / update sent while the cell ran (also the ones cleared later)."""
    return [m["content"]["data"].get(mime, "") for m in run.messages
            if m["msg_type"] in ("display_data", "update_display_data")]


def write_pdf(kernel, name: str, pages: int) -> str:
    kernel.ok(
        "import tempfile, os\n"
        "from matplotlib.backends.backend_pdf import PdfPages\n"
        f"_pdf = os.path.join(tempfile.mkdtemp(), {name!r})\n"
        "with PdfPages(_pdf) as _pages:\n"
        f"    for _n in range({pages}):\n"
        "        _f = plt.figure(figsize=(2, 2)); _f.text(0.5, 0.5, f'page {_n + 1}')\n"
        "        _pages.savefig(_f); plt.close(_f)\n")
    return kernel.value("_pdf")


def test_a_figure_drawn_in_a_cell_arrives_as_a_png_of_its_pixel_size(nb, sb):
    run = nb.ok(f"%%edge -m {MODEL}\nWhat is wrong with this plot? {{fig}} Be brief.")
    content = user_content(asked(sb)[-1].json)
    assert [p["type"] for p in content] == ["text", "image_url", "text"]
    assert content[0]["text"] == "What is wrong with this plot? "
    assert content[2]["text"] == " Be brief."
    mime, data = data_of(content[1]["image_url"]["url"])
    header = image_header(data)
    assert mime == "image/png" and header is not None and header.mime == "image/png"
    assert [header.width, header.height] == nb.value("expected")
    # the status line said what went, before the first token
    status = displays(run)[0]
    assert f"{MODEL} · ⏳ sending 1 image" in status and "waiting for first token" in status
    assert "at most $" in status
    # what the model saw stays in the output (a saved notebook shows it), collapsible
    sent = next(o for o in run.outputs if "sent: " in o.get("data", {}).get("text/plain", ""))
    assert "<details" in sent["data"]["text/html"] and "<img" in sent["data"]["text/html"]
    assert "<script" not in sent["data"]["text/html"]
    assert ledger_last(nb) == [[1, 0, 0, "ok"]]
    assert nb.value("[len(_edge.attachments), _edge.images]") == [1, 1]


def test_a_pdf_arrives_as_a_file_part_with_its_page_count(nb, sb):
    path = write_pdf(nb, "paper.pdf", 3)
    nb.ok(f"%%edge -m {MODEL}\nSummarise {{Path({path!r})}}")
    part = user_content(asked(sb)[-1].json)[1]
    assert part["type"] == "file" and part["file"]["filename"] == "paper.pdf"
    mime, data = data_of(part["file"]["file_data"])
    assert mime == "application/pdf" and pdf_pages(data) == 3
    assert "plugins" not in asked(sb)[-1].json, "the model reads files itself"
    assert ledger_last(nb) == [[0, 1, 3, "ok"]]


def test_attach_flag_adds_files_after_the_text_and_pdf_engine_picks_the_parser(nb, sb, tmp_path):
    from PIL import Image

    image = tmp_path / "photo.png"
    Image.new("RGB", (30, 20), "red").save(image)
    pdf = write_pdf(nb, "two.pdf", 2)
    nb.ok(f"%%edge -m {NO_FILES} -a {image} --attach {pdf} --pdf-engine mistral-ocr\nCompare them")
    body = asked(sb)[-1].json
    assert [p["type"] for p in user_content(body)] == ["text", "image_url", "file"]
    assert body["plugins"] == [{"id": "file-parser", "pdf": {"engine": "mistral-ocr"}}]
    nb.ok(f"%%edge -m {NO_FILES} -a {pdf}\nSummarise")
    assert asked(sb)[-1].json["plugins"] == [{"id": "file-parser", "pdf": {"engine": "cloudflare-ai"}}]
    assert ledger_last(nb, 2) == [[1, 1, 2, "ok"], [0, 1, 2, "ok"]]


def test_a_bad_attachment_or_engine_is_one_clear_line_and_sends_nothing(nb, sb, tmp_path):
    before = len(asked(sb))
    run = nb.run(f"%%edge -m {MODEL} -a {tmp_path / 'gone.png'}\nLook")
    assert run.status == "error" and "gone.png" in run.error_text
    assert "Traceback" not in run.error_text
    run = nb.run(f"%%edge -m {MODEL}\nRead {{Path('no/such/scan.png')}}")
    assert run.status == "error"
    assert "{Path('no/such/scan.png')}: No such file: no/such/scan.png" in run.error_text
    run = nb.run(f"%%edge -m {MODEL} --pdf-engine magic\nLook")
    assert "invalid choice: 'magic'" in run.error_text and "--help" in run.error_text
    assert len(asked(sb)) == before


def test_a_large_dataframe_is_capped_and_full_sends_it_whole(nb, sb):
    nb.ok("df = pd.DataFrame({'x': range(10_000), 'label': [f'v{i}' for i in range(10_000)]})")
    nb.ok(f"%%edge -m {MODEL} --max-tokens 5\nHere are the data: {{df}}")
    capped = user_content(asked(sb)[-1].json)
    assert isinstance(capped, str), "a table is text"
    assert "10000" in capped.replace(",", "") and "rows omitted" in capped
    assert "v0" in capped and "v9999" in capped and "v5000" not in capped
    assert len(capped) < 20_000
    nb.ok(f"%%edge -m {MODEL} --max-tokens 5\nAll of it: {{df:full}}")
    whole = user_content(asked(sb)[-1].json)
    assert "rows omitted" not in whole
    assert all(f"v{i}" in whole for i in range(0, 10_000, 997))
    run = nb.run(f"%%edge -m {MODEL}\nAll of it: {{df!full}}")
    assert run.status == "error" and "write {df:full}" in run.error_text


def test_an_image_to_a_text_only_model_is_refused_with_no_request_made(nb, sb):
    before, rows = len(asked(sb)), nb.value("len(edge_jupyter.usage('all'))")
    run = nb.run(f"%%edge -m {TEXT_ONLY}\nDescribe {{fig}}")
    assert run.status == "error"
    refusal = next(t for t in run.texts() if "does not take images" in t)  # where the answer would be
    assert refusal.startswith(f"edge: {TEXT_ONLY} does not take images (its inputs: text)")
    assert "openai/gpt-4o-mini" in refusal and "pick one with -m" in refusal
    assert "Traceback" not in run.all_text
    assert len(asked(sb)) == before
    assert nb.value("len(edge_jupyter.usage('all'))") == rows


def test_an_unchanged_figure_replays_for_nothing_and_a_changed_one_is_asked_again(nb, sb):
    nb.ok("fig2, ax2 = plt.subplots(figsize=(2, 2)); ax2.plot([0, 1])")
    cell = f"%%edge -m {MODEL} --replay --max-tokens 8\nExplain {{fig2}}"
    nb.ok(cell)
    before = len(asked(sb))
    run = nb.ok(cell)
    assert len(asked(sb)) == before, "the same figure: answered from the replay store"
    assert nb.value("[_edge.status, _edge.cost_usd]") == ["replayed", 0.0]
    assert any("sent: " in t for t in run.texts()), "the replayed answer shows what was sent"
    nb.ok("ax2.plot([1, 0])")  # the figure changed: its PNG, so the request, differ
    nb.ok(cell)
    assert len(asked(sb)) == before + 1
    assert nb.value("_edge.status") == "ok"


def test_several_models_each_show_what_is_sent_and_the_thumbnails_once(nb, sb):
    run = nb.ok(f"%%edge -m {MODEL} -m google/gemini-2.0-flash-001 --max-tokens 5\nCompare {{fig}}")
    grid = next(t for t in displays(run) if "google/gemini-2.0-flash-001:" in t)
    assert grid.count("sending 1 image") == 2
    sent = [t for t in run.texts() if t.startswith("sent: ")]
    assert len(sent) == 1
    assert ledger_last(nb, 2) == [[1, 0, 0, "ok"], [1, 0, 0, "ok"]]


def test_the_api_in_a_kernel_shows_the_thumbnails_of_its_result(nb, sb):
    run = nb.ok(f"edge_jupyter.ask(['Describe', fig], model='{MODEL}', max_tokens=5)")
    html = "".join(run.texts("text/html"))
    assert "<details" in html and "<img" in html


def test_a_blank_current_figure_after_its_cell_ended_is_refused_saying_what_to_write(nb, sb):
    """With %matplotlib inline a figure closes when its cell ends: plt.gcf() is then blank."""
    nb.ok("plt.plot([1, 2, 3])")
    before = len(asked(sb))
    run = nb.run(f"%%edge -m {MODEL}\nWhat does it show? {{plt.gcf()}}")
    assert run.status == "error"
    assert "{plt.gcf()}: The figure is empty" in run.error_text and "write {fig}" in run.error_text
    assert len(asked(sb)) == before
    nb.ok("plt.close('all')")


def test_history_lists_what_each_turn_attached(nb, sb):
    pdf = write_pdf(nb, "notes.pdf", 2)
    nb.ok(f"%%edge -m {MODEL} --chat seen -a {pdf}\nLook at this plot: {{fig}}", cell_id="seen-1")
    run = nb.ok("%edge history seen")
    text = run.output_with("text/plain")["data"]["text/plain"]
    width, height = nb.value("expected")
    assert f"(attached: matplotlib Figure {width}×{height}, notes.pdf (2 pages))" in text
