"""A tool loop's cost line, web searches on it, citations under an answer, and receipts per step.

Pure rendering checked structurally (an HTML parser: ``test_untrusted_text.assert_inert``),
then the citations in headless Chromium (nothing a hostile title or URL carries runs or
becomes a link), then ``%edge receipt --by call`` in a real kernel.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from panel_fixtures import in_browser, needs_chromium
from test_untrusted_text import OSC52, assert_inert, assert_no_controls

from edge_jupyter import receipts
from edge_jupyter.answer_format import (
    citations_html,
    citations_text,
    cost_line_html,
    cost_line_text,
    receipt_metadata,
)
from edge_jupyter.money import exact_usd
from edge_jupyter.record import CallRecord

WHEN = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)


@dataclass
class LoopRecord(CallRecord):
    """A tool loop's summary as the engine builds it: ``steps`` holds each step's record."""

    steps: tuple[CallRecord, ...] = ()


def step(n: int, **changes: Any) -> CallRecord:
    values: dict[str, Any] = dict(
        model="openai/gpt-4o", provider="OpenAI", generation_id=f"gen-step-{n}", timestamp=WHEN,
        prompt_tokens=200 * n, completion_tokens=15, cost_usd=n * 0.0001, status="ok",
        group_id="loop-7f3a", step=n)
    values.update(changes)
    return CallRecord(**values)


def loop_of(*steps: CallRecord, **changes: Any) -> LoopRecord:
    values: dict[str, Any] = dict(
        model="openai/gpt-4o", provider="OpenAI", generation_id=steps[-1].generation_id,
        timestamp=WHEN, prompt_tokens=sum(s.prompt_tokens for s in steps),
        completion_tokens=sum(s.completion_tokens for s in steps),
        cost_usd=sum(s.cost_usd or 0.0 for s in steps), status="ok",
        web_searches=sum(s.web_searches for s in steps), steps=steps)
    values.update(changes)
    return LoopRecord(**values)


# -- the cost line ------------------------------------------------------------------------------

def test_a_loops_cost_line_says_its_steps_and_its_total() -> None:
    loop = loop_of(step(1), step(2), step(3))
    line = cost_line_text(loop)
    assert line == (f"💰 {exact_usd(loop.cost_usd)} · 1,200 prompt + 45 completion tokens · "
                    "openai/gpt-4o via OpenAI · 3 steps")
    assert exact_usd(loop.cost_usd) == "$0.0006"  # the sum of the step rows, one formatter
    assert "· 3 steps" in cost_line_html(loop)


def test_one_step_or_no_steps_says_nothing_about_steps() -> None:
    plain = step(1, group_id="", step=0)
    assert cost_line_text(plain) == ("💰 $0.0001 · 200 prompt + 15 completion tokens · "
                                     "openai/gpt-4o via OpenAI")
    single = loop_of(step(1))
    assert cost_line_text(single) == cost_line_text(plain)  # one step: a plain call's line
    assert "steps" not in cost_line_html(single)


@pytest.mark.parametrize(("searches", "wording"), [(1, "incl. 1 web search ·"),
                                                   (2, "incl. 2 web searches ·"),
                                                   (1200, "incl. 1,200 web searches ·")])
def test_web_searches_are_named_beside_the_cost(searches: int, wording: str) -> None:
    record = step(1, group_id="", step=0, web_searches=searches, cost_usd=0.0123)
    assert cost_line_text(record).startswith(f"💰 $0.0123 {wording} ")
    assert f"$0.0123 {wording}" in cost_line_html(record)
    assert "web search" not in cost_line_text(step(1))  # a call that did not search: as before


def test_a_byok_search_is_in_the_openrouter_fee_and_a_loop_says_both() -> None:
    byok = step(1, group_id="", step=0, web_searches=1, is_byok=True, cost_usd=0.007,
                upstream_cost_usd=0.002)
    assert cost_line_text(byok).startswith(
        "💰 $0.007 OpenRouter fee (BYOK) incl. 1 web search · $0.002 billed by the provider ·")
    loop = loop_of(step(1, web_searches=2), step(2))
    line = cost_line_text(loop)
    assert line.startswith("💰 $0.0003 incl. 2 web searches · ") and line.endswith("· 2 steps")


# -- citations ------------------------------------------------------------------------------------

PAYLOAD = "document.title='pwned'"
HOSTILE_CITATIONS = [
    SimpleNamespace(url="https://example.org/sandbox/fine-1", title="A fine page"),
    SimpleNamespace(url="https://example.org/t", title=f"<script>{PAYLOAD}</script>"),
    SimpleNamespace(url="https://example.org/i", title=f'<img src=x onerror="{PAYLOAD}">'),
    SimpleNamespace(url=f"javascript:{PAYLOAD}", title="click me"),
    SimpleNamespace(url="JaVaScRiPt:alert(1)", title="mixed case"),
    SimpleNamespace(url="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
                    title="data"),
    SimpleNamespace(url=f'https://example.org/"onmouseover="{PAYLOAD}', title='quote " \' break'),
    SimpleNamespace(url=f"\x01javascript:{PAYLOAD}", title="control before the scheme"),
    SimpleNamespace(url=" https://example.org/space", title="leading space"),
    SimpleNamespace(url="//evil.example/x", title="scheme-relative"),
    SimpleNamespace(url="https:javascript:alert(1)", title="no host"),
    SimpleNamespace(url="vbscript:msgbox(1)", title=""),
    SimpleNamespace(url=None, title=42),
    {"url": "https://example.com/dict", "title": OSC52 + "From a dict\x1b[31m"},
    SimpleNamespace(url="https://example.net/long", title="x" * 10_000),
]
#: The citations that may be links: http(s), a host, nothing before the scheme.
LINKS = {0: "example.org", 1: "example.org", 2: "example.org", 6: "example.org",
         13: "example.com", 14: "example.net"}


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[dict[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.links.append(dict(attrs))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_citations_html_links_only_web_addresses_and_escapes_everything() -> None:
    out = citations_html(HOSTILE_CITATIONS)
    assert_inert(out, chrome=True)  # no script, no on*, every href http(s)
    parser = _Links()
    parser.feed(out)
    assert len(parser.links) == len(LINKS)
    for link in parser.links:
        assert link["rel"] == "noopener noreferrer" and link["target"] == "_blank"
        assert (link["href"] or "").startswith("https://example.")
    assert parser.links[3]["href"] == f'https://example.org/"onmouseover="{PAYLOAD}'  # one value
    text = "".join(parser.text)
    assert f"<script>{PAYLOAD}</script>" in text  # shown as text, not dropped
    assert f"[4] click me — javascript:{PAYLOAD}" in text  # a non-link: its address as text
    assert "[10] scheme-relative — //evil.example/x" in text
    assert_no_controls(text)
    assert "x" * 200 not in text and "x" * 199 + "…" in text  # a hostile title is capped
    assert citations_html([]) == ""


def test_citations_text_is_numbered_title_and_host() -> None:
    lines = citations_text(HOSTILE_CITATIONS).split("\n")
    assert len(lines) == len(HOSTILE_CITATIONS)
    assert lines[0] == "[1] A fine page — example.org"
    assert lines[3] == f"[4] click me — javascript:{PAYLOAD}"
    assert lines[11] == "[12] vbscript:msgbox(1)"  # no title: the address alone
    assert lines[12] == "[13]"  # neither: only its number, nothing made up
    assert lines[13].startswith("[14] ") and lines[13].endswith("From a dict[31m — example.com")
    for line in lines:
        assert_no_controls(line)
    assert citations_text([]) == ""


@needs_chromium
def test_citations_in_a_browser_run_nothing_and_link_only_the_web() -> None:
    fragment = citations_html(HOSTILE_CITATIONS)

    def script(page: Any) -> dict[str, Any]:
        page.set_content(f"<html><head><title>clean</title></head><body>{fragment}</body></html>")
        for number in range(len(HOSTILE_CITATIONS)):  # hover every entry (onmouseover)
            page.hover(f".edge-citations > div:nth-child({number + 1})")
        return page.evaluate("""() => ({
            title: document.title,
            scripts: document.scripts.length,
            images: document.images.length,
            links: [...document.links].map(a => [a.protocol, a.host, a.rel, a.target]),
            handlers: [...document.querySelectorAll('*')].flatMap(
                e => [...e.attributes].map(a => a.name)).filter(n => n.startsWith('on')),
        })""")

    seen = in_browser(script, width=900, height=600)
    assert seen["title"] == "clean" and seen["scripts"] == 0 and seen["images"] == 0
    assert seen["handlers"] == []
    assert sorted(host for _, host, _, _ in seen["links"]) == sorted(LINKS.values())
    for protocol, _, rel, target in seen["links"]:
        assert protocol == "https:" and rel == "noopener noreferrer" and target == "_blank"


# -- receipts --------------------------------------------------------------------------------------

def notebook_with(*outputs_metadata: dict[str, Any]) -> dict[str, Any]:
    cells = [{"cell_type": "code", "id": f"cell-{i}", "metadata": {}, "execution_count": i,
              "source": "%%edge --tools get_weather\nWeather in Paris?",
              "outputs": [{"output_type": "display_data", "data": {"text/plain": "answer"},
                           "metadata": meta}]}
             for i, meta in enumerate(outputs_metadata, 1)]
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells}


def test_a_loops_receipt_is_one_per_step_with_its_group_and_searches(tmp_path: Path) -> None:
    loop = loop_of(step(1, web_searches=2), step(2), step(3))
    meta = receipt_metadata(loop)["edge_jupyter"]
    entries = meta["receipts"]
    assert [(e["group_id"], e["step"], e["generation_id"]) for e in entries] == [
        ("loop-7f3a", 1, "gen-step-1"), ("loop-7f3a", 2, "gen-step-2"),
        ("loop-7f3a", 3, "gen-step-3")]
    assert entries[0]["web_searches"] == 2 and "web_searches" not in entries[1]
    plain = receipt_metadata(step(1, group_id="", step=0))["edge_jupyter"]
    assert not {"group_id", "step", "web_searches", "receipts"} & set(plain)  # as it always was

    path = tmp_path / "loop.ipynb"
    path.write_text(json.dumps(notebook_with(receipt_metadata(loop),
                                             receipt_metadata(step(9, group_id="", step=0)))))
    found = receipts.collect(receipts.read_notebook(path))
    assert [(r.cell, r.group_id, r.step, r.web_searches) for r in found] == [
        (1, "loop-7f3a", 1, 2), (1, "loop-7f3a", 2, 0), (1, "loop-7f3a", 3, 0), (2, "", 0, 0)]
    by_cell = receipts.totals(found, "cell")
    assert by_cell["calls"].tolist() == [3, 1, 4]
    assert by_cell["cost_usd"].tolist()[0] == pytest.approx(loop.cost_usd)  # = the cost line
    assert by_cell["web_searches"].tolist() == [2, 0, 2]

    table = receipts.totals(found, "call")
    assert list(table.columns) == ["cell", "model", "group_id", "step", "generation_id",
                                   "prompt_tokens", "completion_tokens", "cost_usd",
                                   "web_searches"]
    assert table["step"].tolist() == [1, 2, 3, 0, 0] and table["cell"].tolist()[-1] == "Total"
    assert table["cost_usd"].tolist()[-1] == pytest.approx((loop.cost_usd or 0.0) + 0.0009)

    plain_only = receipts.totals(found[3:], "model")  # no searches: no column for them
    assert list(plain_only.columns) == ["model", "calls", "prompt_tokens", "completion_tokens",
                                        "cost_usd"]
    assert list(receipts.totals(found[3:], "call").columns) == [
        "cell", "model", "generation_id", "prompt_tokens", "completion_tokens", "cost_usd"]


def test_a_damaged_step_in_a_receipt_is_named(tmp_path: Path) -> None:
    notebook = notebook_with(receipt_metadata(loop_of(step(1), step(2))))
    notebook["cells"][0]["outputs"][0]["metadata"]["edge_jupyter"]["receipts"][1]["step"] = "two"
    path = tmp_path / "bad.ipynb"
    path.write_text(json.dumps(notebook), encoding="utf-8")
    with pytest.raises(receipts.ReceiptError) as refused:
        receipts.read_notebook(path)
    assert str(refused.value) == ("bad.ipynb: cell 1 has a damaged receipt (step is 'two', "
                                  "not a number of steps); re-run the cell, or clear its output, "
                                  "to replace it.")


def test_receipt_magic_by_call_lists_each_step(kernel: Any, tmp_path: Path) -> None:
    loop = loop_of(step(1, web_searches=1), step(2))
    path = tmp_path / "loop.ipynb"
    path.write_text(json.dumps(notebook_with(receipt_metadata(loop))))
    table = kernel.value(f"get_ipython().run_line_magic('edge', r'receipt {path} --by call')"
                         ".astype(str).to_dict(orient='list')")
    assert table["group_id"] == ["loop-7f3a", "loop-7f3a", ""]
    assert table["step"] == ["1", "2", "0"] and table["web_searches"] == ["1", "0", "1"]
    assert table["cell"][-1] == "Total"


# -- with the sandbox's web search ------------------------------------------------------------------

def test_a_real_web_search_answer_renders_its_citations_and_searches(sb: Any) -> None:
    """The client's ``Citation`` objects and ``Usage.web_searches`` from the sandbox's billed
    search: the citations become links to the sandbox's pages, the cost line names the
    searches, and its figure is the cost the server billed (searches included)."""
    from edge_jupyter.openrouter import OpenRouterClient

    client = OpenRouterClient(sb.key, origin=sb.url)
    stream = client.stream_chat({
        "model": "openai/gpt-4o", "tools": [{"type": "openrouter:web_search"}],
        "messages": [{"role": "user", "content": "[sandbox:searches=2] What is new?"}]})
    for _event in stream:
        pass
    completion = stream.completion
    usage = completion.usage
    assert usage is not None and usage.cost is not None
    assert usage.web_searches == 2 and len(completion.annotations) >= 2
    out = citations_html(completion.annotations)
    assert_inert(out, chrome=True)
    parser = _Links()
    parser.feed(out)
    assert [link["href"] for link in parser.links] == [c.url for c in completion.annotations]
    assert citations_text(completion.annotations).split("\n")[0] == (
        f"[1] {completion.annotations[0].title} — example.org")

    record = CallRecord(model="openai/gpt-4o", cost_usd=usage.cost, status="ok",
                        prompt_tokens=usage.prompt_tokens,
                        completion_tokens=usage.completion_tokens,
                        web_searches=usage.web_searches)
    assert cost_line_text(record).startswith(
        f"💰 {exact_usd(usage.cost)} incl. 2 web searches · ")
    assert sb.completions[-1].web_searches == 2
    assert usage.cost == pytest.approx(sb.completions[-1].usage["cost"])
    assert usage.cost >= 2 * 0.01  # gpt-4o's pricing.web_search, twice, is in it
