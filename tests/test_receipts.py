"""Receipts in executed notebooks, their totals, Run All estimates, advice and model filters."""

from __future__ import annotations

import json
import os

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

from edge_jupyter import receipts
from edge_jupyter.ledger import Ledger


@pytest.fixture
def executed(edge_env, sb, tmp_path, monkeypatch):
    """A notebook of %%edge cells run by nbclient in a real kernel against the sandbox."""
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    nb = new_notebook(cells=[
        new_code_cell("%load_ext edge_jupyter"),
        new_code_cell("%%edge -m openai/gpt-4o-mini\nFirst question"),
        new_code_cell("%%edge -m anthropic/claude-3.5-haiku -m google/gemini-2.0-flash-001\nSecond"),
        new_code_cell("%%edge -m openai/gpt-4o-mini --max-tokens 5\nThird"),
    ])
    NotebookClient(nb, timeout=60, kernel_name="python3").execute()
    path = tmp_path / "bill.ipynb"
    nbformat.write(nb, path)
    return path


def test_every_answer_carries_an_exact_receipt_equal_to_the_ledger(executed, sb, edge_env):
    notebook = receipts.read_notebook(executed)
    found = receipts.collect(notebook)
    sent = {c.id: c for c in sb.completions}
    assert len(found) == 4
    for r in found:
        assert r.cost_usd == sent[r.generation_id].usage["cost"]
        assert r.completion_tokens == sent[r.generation_id].usage["completion_tokens"]
        assert r.provider == sent[r.generation_id].provider and r.status == "ok"
    ledger = Ledger(os.path.join(edge_env["EDGE_DATA_DIR"], "ledger.sqlite3")).frame("all")
    assert sorted(ledger["generation_id"]) == sorted(r.generation_id for r in found)
    by_model = receipts.totals(found, "model")
    assert by_model.iloc[-1]["cost_usd"] == pytest.approx(float(ledger["cost_usd"].sum()), rel=1e-12)
    by_cell = receipts.totals(found, "cell")
    assert list(by_cell["cell"]) == ["2", "3", "4", "Total"]
    assert sb.key not in executed.read_text()


def test_receipt_magic_and_run_all_estimate(executed, kernel, sb):
    nb = json.loads(executed.read_text())
    nb["cells"].append(new_code_cell("%%edge -m openai/gpt-4o --max-tokens 100\nNever run"))
    executed.write_text(json.dumps(nb))
    table = kernel.value(f"get_ipython().run_line_magic('edge', r'receipt {executed}')"
                         ".astype(str).to_dict(orient='list')")
    assert table["model"][-1] == "Total" and table["calls"][-1] == "4"
    run = kernel.ok(f"_est = get_ipython().run_line_magic('edge', r'receipt {executed} --estimate')")
    assert "Run All would cost about" in run.all_text
    est = kernel.value("_est.to_dict(orient='list')")
    never = [i for i, basis in enumerate(est["basis"]) if basis.startswith("never run")]
    assert len(never) == 1 and est["model"][never[0]] == "openai/gpt-4o"
    # 100 completion tokens at $10/M plus the prompt: just over a tenth of a cent
    assert 0.001 < est["estimate_usd"][never[0]] < 0.0012
    recorded = [e for e, b in zip(est["estimate_usd"], est["basis"], strict=True) if b.startswith("recorded")]
    sent = [c.usage["cost"] for c in sb.completions[-4:]]
    assert sum(recorded) == pytest.approx(sum(sent), rel=1e-9), "same prices today: same cost"


def test_receipt_without_a_notebook_says_what_to_pass(kernel):
    run = kernel.run("%edge receipt")
    assert run.status == "error" and "pass its PATH" in run.all_text


def test_advise_prices_the_same_calls_on_other_models(kernel, sb):
    kernel.ok("%edge fav add anthropic/claude-3.5-haiku")
    kernel.ok("%%edge -m openai/gpt-4o-mini\nAdvise me")
    table = kernel.value("get_ipython().run_line_magic('edge', 'advise').to_dict(orient='list')")
    assert "anthropic/claude-3.5-haiku" in table["model"] and "openai/gpt-4o-mini" in table["model"]
    assert table["would_cost_usd"] == sorted(table["would_cost_usd"])
    haiku = table["model"].index("anthropic/claude-3.5-haiku")
    mini = table["model"].index("openai/gpt-4o-mini")
    assert table["would_cost_usd"][haiku] > table["would_cost_usd"][mini]
    assert table["favourite"][haiku] is True


def test_models_filters(kernel):
    reasoning = kernel.value("list(get_ipython().run_line_magic('edge', 'models --supports reasoning')['id'])")
    assert reasoning == ["deepseek/deepseek-r1"]
    vision = kernel.value("list(get_ipython().run_line_magic('edge', 'models --supports vision')['id'])")
    assert "openai/gpt-4o" in vision and "deepseek/deepseek-r1" not in vision
    cheap = kernel.value("get_ipython().run_line_magic('edge', 'models --max-price 0.5 --min-context 200000')"
                         ".to_dict(orient='list')")
    assert cheap["id"] == ["google/gemini-2.0-flash-001"]


# -- a malformed notebook is one line naming the file and the problem ---------------------------


def _receipt_output(**meta) -> dict:
    return {"output_type": "display_data", "data": {"text/plain": "answer"},
            "metadata": {"edge_jupyter": {"model": "openai/gpt-4o-mini", "prompt_tokens": 3,
                                          "completion_tokens": 4, "cost_usd": 0.0001, **meta}}}


def _nb(*outputs: dict, nbformat_version: int = 4) -> str:
    return json.dumps({"nbformat": nbformat_version, "nbformat_minor": 5, "metadata": {},
                       "cells": [{"cell_type": "code", "id": "c1", "source": "%%edge\nHi",
                                  "metadata": {}, "execution_count": 1, "outputs": list(outputs)}]})


MALFORMED = {
    "not-json.ipynb": ("{ this is not", "is not a notebook: it is not valid JSON (line 1"),
    "a-list.ipynb": ("[1, 2]", "is not a notebook: it has no nbformat version"),
    "old.ipynb": (json.dumps({"nbformat": 3, "nbformat_minor": 0, "worksheets": [], "metadata": {}}),
                  "is an nbformat 3 notebook: open and save it in Jupyter to upgrade it"),
    "future.ipynb": (_nb(nbformat_version=5), "is an nbformat 5 notebook; this edge_jupyter reads"),
    "cells.ipynb": (json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": "x"}),
                    "its cells are not a list of cells"),
    "tokens.ipynb": (_nb(_receipt_output(prompt_tokens="many")),
                     "cell 1 has a damaged receipt (prompt_tokens is 'many', not a number of tokens)"),
    "cost.ipynb": (_nb(_receipt_output(cost_usd=-5)),
                   "cell 1 has a damaged receipt (cost_usd is -5, not an amount of USD)"),
    "shape.ipynb": (_nb({**_receipt_output(), "metadata": {"edge_jupyter": [1]}}),
                    "cell 1 has a damaged receipt (it is list, not an object)"),
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_a_malformed_notebook_is_refused_naming_the_file(tmp_path, name):
    text, problem = MALFORMED[name]
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(receipts.ReceiptError) as refused:
        receipts.read_notebook(path)
    message = str(refused.value)
    assert message.startswith(name) and problem in message and "\n" not in message


def test_a_well_formed_receipt_still_reads(tmp_path):
    path = tmp_path / "fine.ipynb"
    path.write_text(_nb(_receipt_output(), {"output_type": "stream", "name": "stdout", "text": "x"}))
    found = receipts.collect(receipts.read_notebook(path))
    assert [(r.prompt_tokens, r.completion_tokens, r.cost_usd) for r in found] == [(3, 4, 0.0001)]


def test_a_generation_shown_twice_is_billed_once(tmp_path):
    # `_edge` (or `-o VAR`) displayed in a later cell carries the same receipt again.
    path = tmp_path / "twice.ipynb"
    path.write_text(_nb(_receipt_output(generation_id="gen-1"), _receipt_output(generation_id="gen-1"),
                        _receipt_output(generation_id="gen-2")))
    found = receipts.collect(receipts.read_notebook(path))
    assert [r.generation_id for r in found] == ["gen-1", "gen-2"]


def test_receipt_magic_on_a_malformed_notebook_is_one_line(kernel, tmp_path):
    for name in ("not-json.ipynb", "a-list.ipynb", "tokens.ipynb"):
        text, problem = MALFORMED[name]
        path = tmp_path / name
        path.write_text(text)
        run = kernel.run(f"%edge receipt {path}")
        assert run.status == "error"
        assert "Traceback (most recent call last)" not in run.error_text
        assert name in run.error_text and problem in run.error_text
