"""The tool loop and web search from the Python API, in this process, against the sandbox:
``ask(tools=...)``, ``Chat(tools=...)`` across turns, a schema answer after tool steps, a
reasoning model's ``reasoning_details`` sent back unmodified between steps, the request
bodies validated against OpenRouter's published schema, and arguments refused up front."""

from __future__ import annotations

import dataclasses
import json

import pytest
from media_files import asked
from sandbox_fixtures import spec_available, validate

import edge_jupyter as edge
from edge_jupyter.api import ApiUsageError
from edge_jupyter.errors import EdgeError
from edge_jupyter.money import total_usd

MINI = "openai/gpt-4o-mini"
R1 = "deepseek/deepseek-r1"


def lookup(city: str) -> dict[str, object]:
    """The weather in a city.

    Args:
        city: the city's name
    """
    return {"city": city, "celsius": 18}


@dataclasses.dataclass
class Weather:
    city: str
    celsius: int


def test_ask_with_tools_runs_the_loop_and_sums_its_steps(edge_env, sb) -> None:
    sb.script_tools([[("lookup", {"city": "Paris"})]])
    result = edge.ask("Weather in Paris?", MINI, tools=[lookup])
    assert len(result.steps) == 2
    assert result.cost_usd == total_usd([c.cost for c in sb.completions[-2:]])
    assert result.tool_calls[0].arguments == {"city": "Paris"}
    assert json.loads(result.tool_calls[0].content) == {"city": "Paris", "celsius": 18}
    first = asked(sb)[-2].json
    assert first["tools"][0]["function"]["name"] == "lookup"
    assert first["tools"][0]["function"]["parameters"]["properties"]["city"]["type"] == "string"
    if spec_available():
        for request in asked(sb)[-2:]:
            validate(request.json, "ChatRequest")


def test_a_schema_answer_after_tool_steps_is_validated(edge_env, sb) -> None:
    sb.script_tools([[("lookup", {"city": "Oslo"})]])
    result = edge.ask("Weather in Oslo? [sandbox:echo]" + json.dumps({"city": "Oslo", "celsius": 18}),
                      MINI, tools=[lookup], schema=Weather)
    assert result.value == Weather("Oslo", 18)
    assert len(result.steps) == 2


def test_a_chat_with_tools_keeps_its_turns(edge_env, sb) -> None:
    chat = edge.Chat(MINI, tools=[lookup])
    sb.script_tools([[("lookup", {"city": "Rome"})]])
    first = chat.ask("Weather in Rome?")
    sb.script_tools([[("lookup", {"city": "Bern"})]])
    second = chat.ask("And Bern?")
    sent = asked(sb)[-2].json["messages"]  # the second turn's first step
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert sent[1]["content"] == first.text
    assert second.tool_calls[0].arguments == {"city": "Bern"}
    assert chat.cost_usd == total_usd([first.cost_usd, second.cost_usd])


def test_reasoning_details_go_back_unmodified_between_steps(edge_env, sb) -> None:
    sb.script_tools([[("lookup", {"city": "Lima"})]])
    checked = len(sb.reasoning_details_checked)
    edge.ask("Weather in Lima?", R1, tools=[lookup])
    step_two = asked(sb)[-1].json["messages"]
    assistant = next(m for m in step_two if m["role"] == "assistant")
    assert assistant["reasoning_details"]
    assert sb.reasoning_details_checked[checked:] == [True]


def test_bad_tool_arguments_are_refused_before_anything_is_sent(edge_env, sb) -> None:
    before = len(asked(sb))
    with pytest.raises(ApiUsageError, match="tools must be a list of functions"):
        edge.ask("x", MINI, tools=["lookup"])
    with pytest.raises(ApiUsageError, match="max_steps"):
        edge.ask("x", MINI, tools=[lookup], max_steps=0)
    with pytest.raises(EdgeError, match="one model at a time"):
        edge.ask("x", models=[MINI, "openai/gpt-4o"], tools=[lookup])
    assert len(asked(sb)) == before


def test_web_search_from_ask(edge_env, sb) -> None:
    result = edge.ask("News? [sandbox:searches=1]", "openai/gpt-4o", web=True, web_engine="exa")
    body = asked(sb)[-1].json
    assert body["tools"] == [{"type": "openrouter:web_search",
                              "parameters": {"max_uses": 3, "engine": "exa",
                                             "max_characters": 2000}}]
    assert result.web_searches == 1 and result.citations
    assert all(c.url.startswith("https://") for c in result.citations)
    assert result.cost_usd == sb.completions[-1].cost
    if spec_available():
        validate(body, "ChatRequest")


def test_map_with_web_search_counts_each_rows_searches(edge_env, sb, capsys) -> None:
    import pandas as pd

    df = pd.DataFrame({"topic": ["pandas", "numpy"]})
    before = len(sb.completions)
    out = edge.map(df, "News about {topic}? [sandbox:searches=2]", "openai/gpt-4o", max_tokens=20,
                   web=True, web_searches=2, confirm_over=None, progress=False)
    billed = sb.completions[before:]
    assert list(out["web_searches"]) == [2, 2] and str(out["web_searches"].dtype) == "Int64"
    assert total_usd(list(out["cost_usd"])) == total_usd([c.cost for c in billed])
    assert all(r.json["tools"][0]["parameters"]["max_uses"] == 2 for r in asked(sb)[-2:])
    # the quote counts 2 searches a row at gpt-4o's $0.01: at least $0.04 for the two rows,
    # where their tokens alone (20 completion tokens at most) come to a tenth of a cent
    quoted = capsys.readouterr().out.split("at most $")[1].split()[0].rstrip(".")
    assert float(quoted) >= 0.04


def test_map_with_web_search_is_refused_by_a_budget_its_searches_would_cross(edge_env, sb) -> None:
    import pandas as pd

    before = len(asked(sb))
    out = edge.map(pd.DataFrame({"topic": ["a"]}), "News about {topic}?", "openai/gpt-4o",
                   web=True, max_tokens=20, budget=0.02, confirm_over=None, progress=False)
    assert list(out["status"]) == ["not_run"] and "0.02" in out["error"][0]
    assert len(asked(sb)) == before
    with pytest.raises(EdgeError, match="only work with web=True"):
        edge.map(pd.DataFrame({"topic": ["a"]}), "{topic}", "openai/gpt-4o", web_searches=1)
