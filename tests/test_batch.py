"""``edge_jupyter.map`` in a real kernel: quote, alignment, rate limits, interrupt and resume."""

from __future__ import annotations

from edge_jupyter.sandbox import Fault, answer_tokens


def chat_calls(sb) -> int:
    return sum(1 for r in sb.requests if r.path.endswith("/chat/completions"))


SETUP = """
import pandas as pd, random
rng = random.Random(7)
keys = [f"row-{i:03d}" for i in range(200)]
rng.shuffle(keys)
texts = pd.Series([f"item {k}" for k in keys], index=keys, name="text")
"""


def expected_answer(index: str, length: int) -> str:
    messages = [{"role": "user", "content": f"Summarise item {index}"}]
    return "".join(answer_tokens("openai/gpt-4o-mini", messages, length))


def test_a_batch_survives_rate_limits_and_stays_aligned(kernel, sb):
    sb.answer_length = 12
    kernel.ok(SETUP)
    sb.inject(Fault.http(429, retry_after=0.05, times=3))
    before = chat_calls(sb)
    run = kernel.ok("df = edge_jupyter.map(texts, 'Summarise {text}', 'openai/gpt-4o-mini', "
                    "max_tokens=20, concurrency=8, confirm_over=None)")
    assert "200 calls: at most $" in run.all_text
    assert chat_calls(sb) == before + 200 + 3
    result = kernel.value("df.reset_index().astype({'cost_usd': float}).to_dict(orient='list')")
    assert result["index"] == kernel.value("list(texts.index)"), "same index, same order"
    assert set(result["status"]) == {"ok"}
    for index, answer in list(zip(result["index"], result["answer"], strict=True))[::17]:
        assert answer == expected_answer(index, 12)
    costs = {c.id: c.usage["cost"] for c in sb.completions[-200:]}
    assert sum(result["cost_usd"]) == sum(costs.values()) or \
        abs(sum(result["cost_usd"]) - sum(costs.values())) < 1e-12


def test_an_interrupted_batch_resumes_paying_only_for_the_rest(kernel, sb):
    sb.answer_length = 10
    sb.tokens_per_second = 100  # ~0.1 s a row, 4 at a time: 200 rows take ~5 s
    kernel.ok(SETUP.replace("item {k}", "resume {k}"))
    before = chat_calls(sb)
    run = kernel.run("df = edge_jupyter.map(texts, 'Summarise {text}', 'openai/gpt-4o-mini', "
                     "max_tokens=20, concurrency=4, confirm_over=None)", interrupt_after=2.5, timeout=60)
    assert run.status == "error" and "run the same map again" in run.all_text
    answered = int(run.all_text.split("Interrupted: ")[1].split(" of ")[0])
    assert 10 < answered < 200
    first_calls = chat_calls(sb) - before
    sb.tokens_per_second = 0
    run = kernel.ok("df = edge_jupyter.map(texts, 'Summarise {text}', 'openai/gpt-4o-mini', "
                    "max_tokens=20, concurrency=8, confirm_over=None)")
    assert f"({answered} already answered, reused for $0)" in run.all_text
    assert chat_calls(sb) - before - first_calls == 200 - answered
    statuses = kernel.value("df['status'].value_counts().to_dict()")
    assert statuses == {"replayed": answered, "ok": 200 - answered}
    assert kernel.value("float(df.loc[df.status == 'replayed', 'cost_usd'].sum())") == 0.0


def test_a_batch_over_the_threshold_asks_first_and_sends_nothing_unasked(kernel, sb):
    kernel.ok("import pandas as pd; few = pd.Series(['a', 'b', 'c'])")
    before = chat_calls(sb)
    run = kernel.run("edge_jupyter.map(few, 'Say {text}', 'openai/gpt-4o', max_tokens=4000, "
                     "confirm_over=0.0001)")
    assert run.status == "error"
    assert "confirm_over" in run.all_text and "at most $" in run.all_text
    assert chat_calls(sb) == before


def test_a_bad_template_is_a_clear_error(kernel, sb):
    kernel.ok("import pandas as pd; frame = pd.DataFrame({'city': ['Oslo'], 'year': [2020]})")
    run = kernel.run("edge_jupyter.map(frame, 'Tell me about {town}', confirm_over=None)")
    assert run.status == "error" and "town" in run.all_text and "city" in run.all_text
    kernel.ok("out = edge_jupyter.map(frame, 'Tell me about {city} in {year}', 'openai/gpt-4o-mini', "
              "max_tokens=10, confirm_over=None)")
    assert sb.completions[-1].messages[-1]["content"] == "Tell me about Oslo in 2020"
