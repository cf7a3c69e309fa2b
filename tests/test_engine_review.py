"""The call engine after review: a given budget counts only its own calls, ``fresh`` keeps its
new answer, a replay store that cannot be written costs no answer, and the grid shows ends.

In-process against the sandbox (``edge_env``: its own data folder, outside any notebook).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_jupyter import calls
from edge_jupyter.ledger import Ledger

MODEL = "openai/gpt-4o-mini"


def run(**fields) -> calls.Outcome:
    return calls.CallRun(calls.plan(calls.Request(**fields))).execute()


def test_a_budget_counts_only_its_own_calls_not_what_was_spent_before(edge_env, sb) -> None:
    # Outside a notebook every row has notebook='' and cell_id='': a "cell" scope would have
    # counted all of them against each new budget.
    for _ in range(4):
        run(prompt="hello", models=[MODEL], max_tokens=200)
    spent = Ledger.default().spent("all")
    [only] = run(prompt="hello", models=[MODEL], max_tokens=200).records
    worst = only.cost_usd or 0.0
    assert spent > 0
    budget = spent * 0.5  # less than what the earlier calls spent, more than one call's worst case
    outcome = run(prompt="hello", models=[MODEL], max_tokens=20, budget=budget)
    assert outcome.records[0].status == "ok", "refused for what other calls had spent"
    assert worst < budget


def test_calls_planned_together_share_their_budget(edge_env, sb) -> None:
    requests = len(sb.completions)
    # Each call's worst case fits the budget alone; the two together do not.
    with pytest.raises(calls.CallRefused, match="the given budget"):
        run(prompt="hello", models=[MODEL, f"{MODEL} temperature=0.5"], max_tokens=2000,
            budget=0.0015)
    assert len(sb.completions) == requests


def test_fresh_asks_again_and_keeps_the_new_answer(edge_env, sb) -> None:
    first = run(prompt="Name a colour.", models=[MODEL], replay=True).records[0]
    again = run(prompt="Name a colour.", models=[MODEL], replay=True, fresh=True).records[0]
    assert again.status == "ok" and again.generation_id != first.generation_id
    replayed = run(prompt="Name a colour.", models=[MODEL], replay=True).records[0]
    assert replayed.status == "replayed" and replayed.generation_id == again.generation_id


def test_a_replay_store_that_cannot_be_written_costs_no_answer(edge_env, sb) -> None:
    blocked = Path(edge_env["EDGE_DATA_DIR"]) / "replay"
    blocked.parent.mkdir(parents=True, exist_ok=True)
    blocked.write_text("a file where the replay folder should be")
    outcome = run(prompt="hello", models=[MODEL], fresh=True)  # stores, never looks up
    [record] = outcome.records
    assert record.status == "ok" and record.text
    assert any("not kept in the replay store" in note for note in outcome.notes), outcome.notes
    [(status,)] = {(s,) for s in Ledger.default().frame("all")["status"]}
    assert status == "ok"


def test_the_grid_shows_a_model_that_ended_while_another_waits(edge_env, sb) -> None:
    # One model answers at once, the other is slow: the grid must say "done" for the first
    # before the second ends (it used to wait for the next text or for both to end).
    sb.tokens_per_second, sb.answer_length = 5, 4  # a chunk every 0.2 s: idle spells
    seen: list[calls.Event] = []
    plan = calls.plan(calls.Request(prompt="hello",
                                    models=[f"{MODEL} max_tokens=1", "anthropic/claude-3.5-haiku"]))
    calls.CallRun(plan, seen.append).execute()
    ended = [e.index for e in seen if isinstance(e, calls.Ended)]
    assert ended[0] == 0
    first_end = next(i for i, e in enumerate(seen) if isinstance(e, calls.Ended))
    assert any(isinstance(e, calls.Tick) for e in seen[first_end:]), \
        "no idle tick after the first model ended: a throttled view could not redraw"


def test_a_map_budget_counts_only_the_maps_own_rows(edge_env, sb, capsys) -> None:
    import pandas as pd

    import edge_jupyter

    for _ in range(4):  # spent before, outside any notebook (notebook='' and cell_id='')
        run(prompt="hello", models=[MODEL], max_tokens=200)
    spent = Ledger.default().spent("all")
    rows = pd.Series(["a", "b", "c"])
    frame = edge_jupyter.map(rows, "Say {text}", MODEL, max_tokens=5, budget=spent * 0.5,
                             confirm_over=None, progress=False)
    assert list(frame["status"]) == ["ok", "ok", "ok"], capsys.readouterr().out
    # …and the budget still binds the map's own rows: a budget for one row stops the second.
    one = float(frame["cost_usd"].max())
    frame = edge_jupyter.map(pd.Series(["d", "e", "f"]), "Say {text}", MODEL, max_tokens=5,
                             budget=one * 1.5, confirm_over=None, progress=False, concurrency=1)
    assert (frame["status"] == "ok").sum() < 3 and "stopped early" in capsys.readouterr().out


def test_map_gives_the_garbage_collector_its_threshold_back(edge_env, sb) -> None:
    import gc

    import pandas as pd

    import edge_jupyter

    before = gc.get_threshold()
    edge_jupyter.map(pd.Series(["a", "b"]), "Say {text}", MODEL, max_tokens=5, confirm_over=None,
                     progress=False)
    assert gc.get_threshold() == before
