"""Structured answers in a real kernel against the sandbox: ``%%edge --schema NAME`` with a
pydantic model and a dataclass of the notebook gives a validated ``_edge.value``; an answer
that is not valid JSON ends the cell with one line and keeps the raw text shown."""

from __future__ import annotations

from typing import Any

import pytest
from media_files import asked

MINI = "openai/gpt-4o-mini"


@pytest.fixture(scope="module")
def nb(kernel: Any) -> Any:
    kernel.ok("import dataclasses, pydantic\n"
              "class Person(pydantic.BaseModel):\n    name: str\n    age: int\n"
              "@dataclasses.dataclass\nclass City:\n    name: str\n    people: int\n")
    return kernel


def test_a_pydantic_schema_gives_a_validated_instance_in_edge_value(nb: Any, sandbox: Any) -> None:
    sandbox.reset()
    nb.ok("""payload = '{"name": "Ada", "age": 36}'""")
    nb.ok(f"%%edge -m {MINI} --schema Person\n[sandbox:echo]{{payload}}")
    assert nb.value("type(_edge.value).__name__") == "Person"
    assert nb.value("_edge.value.age") == 36 and nb.value("_edge.status") == "ok"
    fmt = asked(sandbox)[-1].json["response_format"]
    assert fmt["json_schema"]["name"] == "Person" and fmt["json_schema"]["strict"] is True


def test_a_dataclass_schema_with_heal_asks_for_the_healing_plugin(nb: Any, sandbox: Any) -> None:
    sandbox.reset()
    nb.ok("""payload = '{"name": "Oslo", "people": 7}'""")
    nb.ok(f"%%edge -m {MINI} --schema City --heal\n[sandbox:echo]{{payload}}")
    assert nb.value("_edge.value == City('Oslo', 7)") is True
    assert asked(sandbox)[-1].json["plugins"] == [{"id": "response-healing"}]


def test_invalid_json_is_one_line_and_the_raw_answer_stays_shown(nb: Any, sandbox: Any) -> None:
    sandbox.reset()
    nb.ok("""payload = '{"name": "Ada", oops'""")
    run = nb.run(f"%%edge -m {MINI} --schema Person\n[sandbox:echo]{{payload}}")
    assert run.status == "error"
    line = run.error_text
    assert "not valid JSON for the schema Person" in line and "\n" not in line.strip()
    assert "Traceback" not in line
    assert any('{"name": "Ada", oops' in t for t in run.texts())  # the raw text is shown
    assert nb.value("(_edge.status, _edge.value, _edge.text)") == ["ok", None, '{"name": "Ada", oops']


def test_a_missing_or_wrong_schema_name_is_one_line_and_nothing_is_sent(nb: Any, sandbox: Any) -> None:
    sandbox.reset()
    run = nb.run(f"%%edge -m {MINI} --schema Nope\nhello")
    assert run.status == "error" and "--schema Nope: no such name in the notebook" in run.error_text
    nb.ok("answer = 42")
    run = nb.run(f"%%edge -m {MINI} --schema answer\nhello")
    assert "--schema answer: 'answer' is of type int, not a schema" in run.error_text
    run = nb.run(f"%%edge -m {MINI} --heal\nhello")
    assert "--heal only works with --schema NAME" in run.error_text
    assert asked(sandbox) == []
