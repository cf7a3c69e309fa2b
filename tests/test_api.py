"""The Python API (``edge.ask``, ``edge.aask``, ``edge.Chat``) in this process, against the sandbox.

No kernel here (``tests/test_api_kernel.py`` has the real kernels): what a script or a
terminal gets — answers, exact costs, ledger rows, budgets, replay, conversations, the
argument checks, threads, the event loop and cancellation.
"""

from __future__ import annotations

import asyncio
import threading
import warnings

import pytest
from processes import loaded_by

import edge_jupyter as edge
from edge_jupyter import calls, receipts
from edge_jupyter.errors import EdgeError
from edge_jupyter.money import total_usd
from edge_jupyter.sandbox import Fault
from edge_jupyter.untrusted_text import markdown_to_safe_html

MODEL = "openai/gpt-4o-mini"
OTHER = "google/gemini-2.0-flash-001"


def rows(scope: str = "all"):
    return edge.usage(scope)


def asked(sb) -> list:
    """The chat requests the sandbox received (a previous test's background balance refresh
    or reconciliation may still land; those are not sending anything)."""
    return [q for q in sb.requests if q.path.endswith("/chat/completions")]


def test_importing_the_package_stays_cheap_and_the_api_loads_on_first_use():
    assert loaded_by("import edge_jupyter", ("httpx", "pandas", "edge_jupyter.api")) == []
    assert loaded_by("import edge_jupyter\nedge_jupyter.ask", ("edge_jupyter.api",)) == [
        "edge_jupyter.api"]


def test_ask_returns_the_answer_its_exact_cost_and_writes_a_ledger_row(edge_env, sb, capsys):
    r = edge.ask("Say hello", model=MODEL, max_tokens=50, system="Be brief.", temperature=0.2)
    sent = sb.completions[-1]
    assert isinstance(r, calls.EdgeResult)
    assert (r.text, r.status, r.generation_id) == (sent.text, "ok", sent.id)
    assert r.cost_usd == sent.usage["cost"]
    assert r.prompt_tokens == sent.usage["prompt_tokens"]
    body = [q for q in sb.requests if q.path.endswith("/chat/completions")][-1].json
    assert body["max_tokens"] == 50 and body["temperature"] == 0.2
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    frame = rows()
    assert len(frame) == 1
    row = frame.iloc[0]
    assert (row["generation_id"], row["status"], row["cost_usd"]) == (sent.id, "ok", sent.usage["cost"])
    assert capsys.readouterr().out == "", "outside a notebook nothing is printed unless asked"


def test_a_prompt_is_plain_text_without_interpolation(edge_env, sb):
    edge.ask("Fill {this} and {{that}}", model=MODEL)
    assert sb.completions[-1].messages[-1]["content"] == "Fill {this} and {{that}}"


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"max_tokens": 0}, "max_tokens must be a whole number of tokens from 1 to 100,000,000, not 0."),
    ({"max_tokens": 5.0}, "max_tokens must be"),
    ({"temperature": 3}, "temperature must be a finite number from 0 to 2, not 3."),
    ({"temperature": True}, "temperature must be"),
    ({"budget": float("nan")}, "budget must be a finite amount of USD ≥ 0"),
    ({"budget": -1}, "budget must be"),
    ({"format": "html"}, "format must be one of markdown, text, code, json, not 'html'."),
    ({"sort": "cheap"}, "sort must be one of price, throughput, latency, exacto, not 'cheap'."),
    ({"data_collection": "maybe"}, "data_collection must be one of allow, deny"),
    ({"provider": "azur"}, "provider: Unknown provider 'azur'. Did you mean azure?"),
    ({"ignore": ["openai", 3]}, "ignore must be provider slugs"),
    ({"max_price": "x/2"}, "max_price: prompt price must be"),
    ({"fallbacks": ["not a model"]}, "fallbacks: 'not a model' is not a model id"),
    ({"replay": "yes"}, "replay must be True or False, not 'yes'."),
    ({"zdr": 1}, "zdr must be True or False"),
    ({"models": MODEL}, "models must be a list of model ids"),
    ({"models": []}, "models is empty"),
    ({"model": MODEL, "models": [OTHER]}, "Give model= or models=, not both"),
    ({"system": 3}, "system must be a string, not int."),
])
def test_a_bad_argument_is_one_clear_error_naming_it_and_nothing_is_sent(edge_env, sb, kwargs, expected):
    kwargs = {"model": MODEL, **kwargs} if "models" not in kwargs else kwargs
    with pytest.raises(edge.ApiUsageError) as info:
        edge.ask("Hi", **kwargs)
    message = str(info.value)
    assert expected in message and "\n" not in message
    assert isinstance(info.value, EdgeError) and isinstance(info.value, ValueError)
    assert asked(sb) == [] and len(rows()) == 0


@pytest.mark.parametrize(("prompt", "expected"), [
    (b"Hi", "prompt must be a string, not bytes"),
    ("   ", "prompt is empty: nothing was sent"),
])
def test_a_bad_prompt_is_refused_before_anything_is_sent(edge_env, sb, prompt, expected):
    with pytest.raises(edge.ApiUsageError, match=expected):
        edge.ask(prompt, model=MODEL)
    with pytest.raises(edge.ApiUsageError, match=expected):
        asyncio.run(edge.aask(prompt, model=MODEL))
    assert asked(sb) == []


def test_a_budget_refuses_an_ask_before_sending_with_the_magics_message(edge_env, sb):
    with pytest.raises(calls.CallRefused, match=r"^Refused before sending to openai/gpt-4o-mini") as info:
        edge.ask("Write a long essay", model=MODEL, budget=0.000001)
    assert "budget" in str(info.value) and "\n" not in str(info.value)
    assert sb.completions == []
    assert "pending" not in rows()["status"].tolist(), "no reservation is left behind"


def test_not_connected_is_the_magics_message(edge_env, sb, monkeypatch):
    monkeypatch.delenv("OPENROUTER_API_KEY")
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    with pytest.raises(calls.NotConnected, match=r"Not connected to OpenRouter.*%edge connect"):
        edge.ask("Hi", model=MODEL)
    assert asked(sb) == []


def test_several_models_give_results_with_a_comparison_and_one_receipt_each(edge_env, sb):
    both = edge.ask("Define entropy.", models=[MODEL, OTHER])
    assert isinstance(both, calls.EdgeResults) and [r.model for r in both] == [MODEL, OTHER]
    sent = {c.model: c for c in sb.completions}
    table = both.comparison
    assert list(table.index) == [MODEL, OTHER]
    assert table.loc[OTHER, "cost_usd"] == sent[OTHER].usage["cost"]
    assert both.cost_usd == total_usd([sent[MODEL].usage["cost"], sent[OTHER].usage["cost"]])
    data, metadata = both._repr_mimebundle_()
    for r in both:
        assert markdown_to_safe_html(r.text) in data["text/html"]
    assert "Σ 2 models" in data["text/html"]
    notebook = {"cells": [{"cell_type": "code", "id": "c1",
                           "outputs": [{"output_type": "execute_result", "data": data,
                                        "metadata": metadata}]}]}
    found = receipts.collect(notebook)
    assert [x.generation_id for x in found] == [sent[MODEL].id, sent[OTHER].id]


def test_every_model_failing_raises_answer_failed_with_the_results(edge_env, sb):
    sb.inject(Fault.http(400, message="This model is not available here"))
    with pytest.raises(edge.AnswerFailed, match=r"openai/gpt-4o-mini: .*not available") as info:
        edge.ask("Hi", model=MODEL)
    assert info.value.results.status == "error"
    assert rows()["status"].tolist() == ["error"]


def test_replay_answers_an_identical_ask_for_nothing_and_fresh_asks_again(edge_env, sb):
    first = edge.ask("Replay me", model=MODEL, replay=True)
    again = edge.ask("Replay me", model=MODEL, replay=True)
    assert len(sb.completions) == 1
    assert again.status == "replayed" and again.text == first.text and again.saved_usd == first.cost_usd
    fresh = edge.ask("Replay me", model=MODEL, replay=True, fresh=True)
    assert len(sb.completions) == 2 and fresh.status == "ok"
    assert rows()["status"].tolist() == ["ok", "replayed", "ok"]


def test_formats_give_the_value_as_the_cell_does(edge_env, sb):
    r = edge.ask("Some code", model=MODEL, format="code")
    assert r.value == r.text.strip("\n") or r.value in r.text
    assert r.format == "code"
    data, _ = r._repr_mimebundle_()
    assert "<pre><code" in data["text/html"]


def test_stream_true_outside_a_notebook_prints_the_text_once(edge_env, sb, capsys):
    r = edge.ask("Stream it", model=MODEL, stream=True)
    out = capsys.readouterr().out
    assert out == r.text + ("" if r.text.endswith("\n") else "\n")


def test_a_low_balance_is_a_warning_and_shown_with_the_answer(edge_env, sb, monkeypatch):
    monkeypatch.setenv("OPENROUTER_API_KEY", sb.issue_key(limit=0.5))
    with pytest.warns(edge.LowBalanceWarning, match="Low balance"):
        r = edge.ask("Hi", model=MODEL)
    assert r.warnings and "Low balance" in r._repr_mimebundle_()[0]["text/html"]


def test_a_chat_without_a_name_lives_in_memory_and_continues_its_thread(edge_env, sb, tmp_path):
    chat = edge.Chat(MODEL, system="You review code.")
    a = chat.ask("Here is my function")
    b = chat.ask("Make it faster.")
    second = sb.completions[-1].messages
    assert second == [{"role": "system", "content": "You review code."},
                      {"role": "user", "content": "Here is my function"},
                      {"role": "assistant", "content": a.text},
                      {"role": "user", "content": "Make it faster."}]
    assert [t.prompt for t in chat.history] == ["Here is my function", "Make it faster."]
    assert chat.history[1].answers == {MODEL: b.text}
    assert chat.cost_usd == total_usd([c.usage["cost"] for c in sb.completions])
    assert chat.name is None
    chats = tmp_path / "edge-data" / "chats"
    assert not chats.exists() or list(chats.iterdir()) == []


def test_a_named_chat_is_saved_and_another_object_continues_it(edge_env, sb):
    first = edge.Chat(MODEL, name="review").ask("First question")
    again = edge.Chat(MODEL, name="review")
    assert [t.prompt for t in again.history] == ["First question"]
    again.ask("Second question")
    assert sb.completions[-1].messages[:2] == [{"role": "user", "content": "First question"},
                                               {"role": "assistant", "content": first.text}]
    assert rows()["chat"].tolist() == ["review", "review"]
    with pytest.raises(EdgeError, match="not allowed"):
        edge.Chat(MODEL, name="../escape")


def test_a_chat_refuses_bad_defaults_when_it_is_made(edge_env, sb):
    with pytest.raises(edge.ApiUsageError, match="max_tokens must be"):
        edge.Chat(MODEL, max_tokens=0)
    with pytest.raises(edge.ApiUsageError, match="Unknown argument 'temprature'"):
        edge.Chat(MODEL).ask("Hi", temprature=1)
    assert asked(sb) == []


def test_asks_from_several_threads_each_get_their_own_answer_and_row(edge_env, sb):
    results: dict[int, calls.EdgeResult] = {}

    def one(i: int) -> None:
        results[i] = edge.ask(f"Question {i}", model=MODEL)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    by_prompt = {c.messages[-1]["content"]: c for c in sb.completions}
    assert {i: r.generation_id for i, r in results.items()} == {
        i: by_prompt[f"Question {i}"].id for i in range(4)}
    assert sorted(rows()["generation_id"]) == sorted(c.id for c in sb.completions)


def test_aask_with_gather_answers_each_prompt(edge_env, sb):
    questions = ["one?", "two?", "three?"]

    async def main() -> list:
        return await asyncio.gather(*(edge.aask(q, model=MODEL) for q in questions))

    results = asyncio.run(main())
    by_prompt = {c.messages[-1]["content"]: c for c in sb.completions}
    assert [r.text for r in results] == [by_prompt[q].text for q in questions]
    assert len(rows()) == 3


def test_aask_never_blocks_the_event_loop(edge_env, sb):
    sb.tokens_per_second = 20
    ticks = 0

    async def main() -> None:
        nonlocal ticks
        done = False

        async def ticker() -> None:
            nonlocal ticks
            while not done:
                ticks += 1
                await asyncio.sleep(0.01)

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        await edge.aask("Slowly", model=MODEL)
        at_return = ticks
        done = True
        await task
        ticks = at_return

    asyncio.run(main())
    # 24 tokens at 20/s stream for about a second: a blocked loop would have ticked once.
    assert ticks > 10


def test_set_concurrency_bounds_the_calls_running_at_once(edge_env, sb):
    sb.tokens_per_second = 40
    running = 0
    most = 0
    lock = threading.Lock()
    original = calls.CallRun.execute

    def counting(self):
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        try:
            return original(self)
        finally:
            with lock:
                running -= 1

    async def main() -> list:
        return await asyncio.gather(*(edge.aask(f"q{i}", model=MODEL) for i in range(4)))

    calls.CallRun.execute = counting  # counts the engine's runs; the calls are real
    try:
        edge.set_concurrency(2)
        assert edge.concurrency() == 2
        assert len(asyncio.run(main())) == 4
    finally:
        calls.CallRun.execute = original
        edge.set_concurrency(8)
    assert most == 2
    with pytest.raises(edge.ApiUsageError, match="concurrency must be a whole number from 1 to 64"):
        edge.set_concurrency(0)


def test_cancelling_aask_stops_the_call_and_completes_its_row(edge_env, sb):
    sb.tokens_per_second = 20
    sb.answer_length = 2000

    async def main() -> None:
        task = asyncio.create_task(edge.aask("A long story", model=MODEL))
        while not sb.requests or not any(r.path.endswith("/chat/completions") for r in sb.requests):
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    frame = rows()
    assert frame["status"].tolist() == ["interrupted"], "nothing left pending"
    sb.wait_for_completions(1)
    assert sb.completions[-1].cancelled, "closing the stream cancels the generation"


def test_the_display_bundle_renders_a_hostile_answer_safely():
    hostile = 'Hi <img src=x onerror="alert(1)"> <script>steal()</script> \x1b]52;c;Zm9v\x07done'
    r = calls.EdgeResult(model=MODEL, text=hostile, status="ok", cost_usd=0.0001)
    data, metadata = r._repr_mimebundle_()
    assert data["text/html"].startswith(markdown_to_safe_html(hostile))
    assert "<img" not in data["text/html"] and "<script>" not in data["text/html"]
    assert "\x1b" not in data["text/plain"] and "\x07" not in data["text/plain"]
    assert set(data) == {"text/html", "text/plain"}, "never text/markdown (raw HTML would run)"
    assert metadata["edge_jupyter"]["cost_usd"] == 0.0001
    for fmt in ("text", "code", "json"):
        r.apply_format(fmt)
        html = r._repr_mimebundle_()[0]["text/html"]
        assert "<script>" not in html and "<img" not in html


def test_chat_aask_continues_the_thread_without_blocking(edge_env, sb):
    chat = edge.Chat(MODEL)

    async def main() -> tuple:
        first = await chat.aask("First")
        second = await chat.aask("Second")
        return first, second

    first, second = asyncio.run(main())
    assert sb.completions[-1].messages == [{"role": "user", "content": "First"},
                                           {"role": "assistant", "content": first.text},
                                           {"role": "user", "content": "Second"}]
    assert chat.cost_usd == total_usd([first.cost_usd, second.cost_usd])


def test_fresh_stores_its_new_answer_and_the_next_replay_gives_that_one(edge_env, sb):
    first = edge.ask("Store me", model=MODEL, replay=True)
    sb.answer_length = 40  # not part of the request: the same replay key, a different answer
    fresh = edge.ask("Store me", model=MODEL, replay=True, fresh=True)
    assert fresh.status == "ok" and fresh.text != first.text and len(asked(sb)) == 2
    again = edge.ask("Store me", model=MODEL, replay=True)
    assert len(asked(sb)) == 2, "replayed: nothing sent"
    assert (again.status, again.text, again.saved_usd) == ("replayed", fresh.text, fresh.cost_usd)


def test_stream_true_in_terminal_ipython_shows_the_answer_once_then_its_cost_line(sb, edge_env):
    from test_terminal import run_ipython

    sb.answer_length = 120
    out = run_ipython("import edge_jupyter as edge\n"
                      f"edge.ask('Say hi', model='{MODEL}', stream=True)", edge_env)
    answer = sb.completions[-1].text
    assert out.count(answer) == 1, out
    assert "💰" in out.split(answer, 1)[1], "the REPL shows the result's cost line"


def test_stream_true_with_several_models_in_terminal_ipython_shows_each_answer_once(sb, edge_env):
    from test_terminal import run_ipython

    out = run_ipython("import edge_jupyter as edge\n"
                      f"edge.ask('Two views', models=['{MODEL}', '{OTHER}'], stream=True)",
                      edge_env)
    texts = [c.text for c in sb.completions[-2:]]
    for text in texts:  # the sandbox may give both models the same text
        assert out.count(text) == texts.count(text), out
    assert out.count("Σ 2 models") == 1, out


def test_a_low_balance_warning_points_at_the_callers_line(edge_env, sb, monkeypatch):
    monkeypatch.setenv("OPENROUTER_API_KEY", sb.issue_key(limit=0.5))
    chat = edge.Chat(MODEL)

    async def in_a_loop() -> None:
        await edge.aask("Hi", model=MODEL)
        await chat.aask("Hi again")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        edge.ask("Hi", model=MODEL)
        chat.ask("Hi")
        asyncio.run(in_a_loop())
    low = [w for w in caught if issubclass(w.category, edge.LowBalanceWarning)]
    assert len(low) == 4, [str(w.message) for w in caught]
    assert [w.filename for w in low] == [__file__] * 4, [(w.filename, w.lineno) for w in low]


def test_a_chat_keeps_an_interrupted_answer_and_counts_its_cost(edge_env, sb):
    sb.generation_ready_after = 0.0  # the interrupted call's exact price is known at once
    chat = edge.Chat(MODEL)
    first = chat.ask("Short one")
    sb.tokens_per_second = 20
    sb.answer_length = 2000

    async def main() -> None:
        task = asyncio.create_task(chat.aask("A long story"))
        while len(asked(sb)) < 2:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert [r.status for r in chat.results] == ["ok", "interrupted"]
    cut = chat.results[1]
    assert cut.text and cut.cost_usd, "what was streamed was billed"
    assert chat.cost_usd == total_usd([first.cost_usd, cut.cost_usd])
    frame = rows()
    assert frame["status"].tolist() == ["ok", "interrupted"]
    assert float(frame["cost_usd"].iloc[1]) == cut.cost_usd


def test_a_cancel_after_the_answer_is_complete_keeps_it_paid_and_in_the_chat(edge_env, sb):
    chat = edge.Chat(MODEL)
    original = calls.CallRun.execute
    loop_and_task: list = []
    delivered = threading.Event()

    def cancel_once_finished(run):  # the cancel lands after the engine finished the call
        outcome = original(run)
        loop, task = loop_and_task
        loop.call_soon_threadsafe(lambda: (task.cancel(), delivered.set()))
        assert delivered.wait(10)
        return outcome

    async def main() -> None:
        task = asyncio.create_task(chat.aask("Finish first"))
        loop_and_task[:] = [asyncio.get_running_loop(), task]
        with pytest.raises(asyncio.CancelledError):  # asyncio's contract: it propagates
            await task

    calls.CallRun.execute = cancel_once_finished
    try:
        asyncio.run(main())
    finally:
        calls.CallRun.execute = original
    sent = sb.completions[-1]
    assert [(r.status, r.text, r.cost_usd) for r in chat.results] == [
        ("ok", sent.text, sent.usage["cost"])]
    assert [(t.prompt, t.answer_for(MODEL)) for t in chat.history] == [
        ("Finish first", sent.text)], "the turn was saved"
    assert chat.cost_usd == sent.usage["cost"]
    frame = rows()
    assert frame["status"].tolist() == ["ok"] and float(frame["cost_usd"].iloc[0]) == sent.usage["cost"]


def test_a_chat_keeps_an_answer_stopped_at_the_budget_and_counts_its_cost(edge_env, sb):
    sb.answer_length = 3000
    sb.tokens_per_second = 200
    sb.inject(Fault.overrun())  # a provider that ignores max_tokens: the guard cuts it off
    chat = edge.Chat(MODEL)
    cut = chat.ask("Tell me all", max_tokens=50, budget=0.0002)
    sent = sb.completions[-1]
    assert cut.status == "stopped_budget" and cut.text and sent.cancelled
    assert chat.results == [cut] and chat.cost_usd == sent.usage["cost"] > 0
