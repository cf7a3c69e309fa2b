"""OpenRouter's Batch API: the sandbox's endpoints, the client, and ``map(..., batch=True)``.

Real sandbox over HTTP on 127.0.0.1; the map runs in this process (small cases) and in a
real kernel that is interrupted and restarted (the 1,000-row case).
"""

from __future__ import annotations

import math
import sys
import time
from decimal import Decimal
from pathlib import Path

import httpx
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

MODEL = "openai/gpt-4o-mini"


def _rows(n: int, tag: str, fail: frozenset[int] = frozenset()) -> list[dict]:
    return [{"custom_id": f"r{i}", "body": {
        "model": MODEL, "max_tokens": 20,
        "messages": [{"role": "user", "content": f"{tag} {i}" + (" [sandbox:fail]" if i in fail else "")}]}}
        for i in range(n)]


def _post(sb, body: dict) -> httpx.Response:
    return httpx.post(sb.url + "/api/beta/batches", json=body, headers={"Authorization": f"Bearer {sb.key}"})


def _get(sb, path: str) -> dict:
    return httpx.get(sb.url + path, headers={"Authorization": f"Bearer {sb.key}"}).json()


def test_the_sandbox_refuses_what_the_batch_api_refuses(sb) -> None:
    rows = _rows(2, "x")
    ordered = {"endpoint": "/v1/chat/completions", "model": MODEL, "requests": rows}
    first = _post(sb, {"requests": rows, "endpoint": "/v1/chat/completions", "model": MODEL})
    assert first.status_code == 400 and "before requests" in first.json()["error"]["message"]
    twice = _post(sb, {**ordered, "requests": [rows[0], rows[0]]})
    assert twice.status_code == 400 and "not unique" in twice.json()["error"]["message"]
    other = {"custom_id": "o", "body": {**rows[0]["body"], "model": "openai/gpt-4o"}}
    assert _post(sb, {**ordered, "requests": [other]}).status_code == 400
    image = {"custom_id": "i", "body": {**rows[0]["body"], "messages": [{"role": "user", "content": [
        {"type": "text", "text": "what is it"},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}]}}
    refused = _post(sb, {**ordered, "requests": [image]})
    assert refused.status_code == 400 and "text only" in refused.json()["error"]["message"]
    assert sb.batches.created == 0 and sb.credits_used == 0


def test_a_batch_goes_through_its_statuses_and_is_billed_at_half_price(sb) -> None:
    # 0.5 s per status: at 0.2 s a loaded machine (load 5 on 2 cores) polled past a status
    sb.batch_seconds_per_status = 0.5
    made = _post(sb, {"endpoint": "/v1/chat/completions", "model": MODEL,
                      "requests": _rows(4, "y", fail=frozenset({1}))})
    assert made.status_code == 202 and made.json()["status"] == "validating"
    batch_id = made.json()["id"]
    seen = []
    while not seen or seen[-1] != "completed":
        status = _get(sb, f"/api/beta/batches/{batch_id}")["status"]
        if not seen or seen[-1] != status:
            seen.append(status)
        time.sleep(0.02)
    order = ["validating", "in_progress", "finalizing", "completed"]
    # in order and never backwards; a status may only be missed when a poll came late
    assert seen == sorted(seen, key=order.index) and seen[-1] == "completed"
    assert "in_progress" in seen or "finalizing" in seen, seen
    done = _get(sb, f"/api/beta/batches/{batch_id}")
    assert done["request_counts"] == {"total": 4, "completed": 3, "failed": 1}
    by_id = {r["custom_id"]: r for r in done["results"]}
    assert "error" in by_id["r1"] and "response" not in by_id["r1"]
    answer = by_id["r0"]["response"]["body"]
    usage = answer["usage"]
    # gpt-4o-mini at $0.15 / $0.60 per million tokens, half of it
    half = (Decimal(usage["prompt_tokens"]) * Decimal("0.00000015")
            + Decimal(usage["completion_tokens"]) * Decimal("0.0000006")) / 2
    assert Decimal(str(usage["cost"])) == half
    generation = _get(sb, f"/api/v1/generation?id={answer['id']}")["data"]
    assert generation["total_cost"] == usage["cost"] and answer["id"].startswith("gen-batch-")
    costs = sum(Decimal(str(r["response"]["body"]["usage"]["cost"])) for r in done["results"] if "response" in r)
    assert Decimal(str(done["usage"]["cost"])) == costs
    assert math.isclose(sb.credits_used, float(costs), abs_tol=1e-12)
    listed = _get(sb, "/api/beta/batches")["data"]
    assert [b["id"] for b in listed] == [batch_id] and listed[0]["results"] is None


def test_cancel_stops_a_held_batch_and_bills_nothing(sb) -> None:
    sb.batch_hold = True
    made = _post(sb, {"endpoint": "/v1/chat/completions", "model": MODEL, "requests": _rows(3, "z")})
    batch_id = made.json()["id"]
    cancelled = httpx.post(f"{sb.url}/api/beta/batches/{batch_id}/cancel",
                           headers={"Authorization": f"Bearer {sb.key}"}).json()
    assert cancelled["status"] == "cancelled" and cancelled["results"] == []
    assert sb.credits_used == 0


def _series(n: int, tag: str) -> pd.Series:
    return pd.Series([f"{tag} {i}" for i in range(n)], index=[f"k{i}" for i in range(n)], name="q")


def test_map_batch_in_process_aligns_rows_prices_them_and_keeps_failures(edge_env, sb, capsys) -> None:
    import edge_jupyter
    from edge_jupyter.ledger import Ledger

    texts = _series(12, "inproc")
    texts["k5"] = "inproc 5 [sandbox:fail]"
    frame = edge_jupyter.map(texts, "Say {text}", MODEL, max_tokens=20, batch=True, confirm_over=None)
    said = capsys.readouterr().out
    assert "through the Batch API: at most" in said and "(without it: at most" in said
    assert list(frame.index) == list(texts.index)
    assert frame.loc["k5", "status"] == "error" and "sandbox:fail" in frame.loc["k5", "error"]
    assert (frame.drop(index="k5")["status"] == "ok").all()
    batch = sb.batches.mine(sb.key)[0]
    assert sb.batches.created == 1
    assert math.isclose(frame["cost_usd"].sum(), float(batch.cost), abs_tol=1e-12)
    rows = Ledger.default().frame("all")
    assert len(rows) == 12 and set(rows["status"]) == {"ok", "error"}
    # the same map again: every answered row replayed for $0, only the failed one sent again
    again = edge_jupyter.map(texts, "Say {text}", MODEL, max_tokens=20, batch=True, confirm_over=None)
    assert (again.drop(index="k5")["status"] == "replayed").all() and sb.batches.created == 2
    assert len(sb.batches.mine(sb.key)[0].requests) == 1


def test_map_batch_refuses_images_naming_the_rows(edge_env, sb, tmp_path) -> None:
    from PIL import Image

    import edge_jupyter
    from edge_jupyter.batch import BatchError

    picture = tmp_path / "a.png"
    Image.new("RGB", (16, 16), "red").save(picture)
    frame = pd.DataFrame({"scan": ["just text", str(picture)]}, index=["t", "img"])
    with pytest.raises(BatchError, match=r"Rows 'img' send an image or a file.*batch=False"):
        edge_jupyter.map(frame, "Read {scan}", MODEL, batch=True, confirm_over=None)
    assert sb.batches.created == 0 and not any("/beta/" in r.path for r in sb.requests)


def test_map_batch_that_does_not_fit_the_budget_sends_nothing(edge_env, sb) -> None:
    import edge_jupyter
    from edge_jupyter.batch_api import BatchApiError
    from edge_jupyter.ledger import Ledger

    with pytest.raises(BatchApiError, match="nothing was sent"):
        edge_jupyter.map(_series(50, "budget"), "Say {text}", MODEL, max_tokens=2000, batch=True,
                         confirm_over=None, budget=0.0005)
    assert sb.batches.created == 0
    rows = Ledger.default().frame("all")
    assert set(rows["status"]) <= {"error"} and rows["cost_usd"].sum() == 0


def _batch_polls(sb) -> int:
    return sum(1 for r in sb.requests if r.method == "GET" and r.path.startswith("/api/beta/batches/"))


def test_a_thousand_row_batch_is_submitted_once_and_resumed_across_a_rerun_and_a_restart(sb, tmp_path) -> None:
    from kernel_harness import Kernel

    env = {"EDGE_OPENROUTER_URL": sb.url, "OPENROUTER_API_KEY": sb.key,
           "EDGE_DATA_DIR": str(tmp_path / "data"), "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
    setup = ("%load_ext edge_jupyter\nimport edge_jupyter, pandas as pd\n"
             "s = pd.Series([f'row {i}' for i in range(1000)], index=[f'k{i}' for i in range(1000)])")
    cell = ("df = edge_jupyter.map(s, 'Answer {text}', 'openai/gpt-4o-mini', max_tokens=16, "
            "batch=True, confirm_over=None)")
    sb.batch_hold = True  # "still processing" for as long as the test needs
    k = Kernel(env)
    try:
        k.ok(setup)
        polls = _batch_polls(sb)
        # the third look has been asked for: the second (in progress: looks are 0.5 s apart) is read
        first = k.run(cell, interrupt_when=lambda: _batch_polls(sb) >= polls + 3, timeout=120)
        assert first.status == "error", first.all_text
        assert sb.batches.created == 1
        batch_id = sb.batches.mine(sb.key)[0].id
        said = first.all_text
        assert f"Stopped waiting: batch {batch_id} is in progress" in said
        assert "keeps running on OpenRouter" in said
        assert f"edge_jupyter.cancel_batch('{batch_id}')" in said and "Run the same map again" in said
        # the rows are in the ledger, pending, holding the batch until it is collected
        assert k.value("edge_jupyter.usage('all')['status'].value_counts().to_dict()") == {"pending": 1000}
        waiting = k.value("edge_jupyter.batches()[['id', 'status', 'kept']].to_dict('records')")
        assert waiting == [{"id": batch_id, "status": "in_progress", "kept": True}]

        # a re-run while the batch is processing: it waits on the same one
        polls = _batch_polls(sb)
        second = k.run(cell, interrupt_when=lambda: _batch_polls(sb) >= polls + 2, timeout=120)
        assert "nothing is sent again" in second.all_text and f"batch {batch_id}" in second.all_text
        assert sb.batches.created == 1

        # a new kernel: the batch is found on disk and collected once it completes
        k.restart()
        k.ok(setup)
        sb.batch_hold = False
        third = k.ok(cell, timeout=120)
        assert "nothing is sent again" in third.all_text and sb.batches.created == 1
        assert k.value("df['status'].value_counts().to_dict()") == {"ok": 1000}
        assert k.value("list(df.index) == list(s.index)") is True
        ledger = k.value("edge_jupyter.usage('all')[['generation_id', 'cost_usd', 'status']]"
                         ".to_dict('records')")
        assert len(ledger) == 1000 and {r["status"] for r in ledger} == {"ok"}
        batch = sb.batches.find(batch_id, sb.key)
        billed = {r["response"]["body"]["id"]: r["response"]["body"]["usage"]["cost"]
                  for r in batch.results or []}
        assert {r["generation_id"]: r["cost_usd"] for r in ledger} == billed  # each row exact
        assert math.isclose(sum(r["cost_usd"] for r in ledger), float(batch.cost), abs_tol=1e-12)
        assert math.isclose(k.value("float(df['cost_usd'].sum())"), float(batch.cost), abs_tol=1e-12)

        # and once more: nothing submitted, every row replayed for $0
        fourth = k.ok(cell)
        assert sb.batches.created == 1 and "$0 spent" in fourth.all_text
        listed = k.value("edge_jupyter.batches()[['id', 'status', 'total', 'kept']].to_dict('records')")
        assert listed == [{"id": batch_id, "status": "completed", "total": 1000, "kept": False}]
    finally:
        sb.batch_hold = False
        k.shutdown()


def test_cancel_batch_settles_the_rows_of_a_waiting_map(edge_env, sb) -> None:
    import threading

    import edge_jupyter
    from edge_jupyter.calls import EdgeInterrupted
    from edge_jupyter.ledger import Ledger

    sb.batch_hold = True
    main = threading.main_thread().ident
    assert main == threading.get_ident()

    def interrupt_once_polled() -> None:
        import _thread

        deadline = time.monotonic() + 30
        while _batch_polls(sb) < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        _thread.interrupt_main()

    threading.Thread(target=interrupt_once_polled, daemon=True).start()
    with pytest.raises(EdgeInterrupted, match="cancel_batch"):
        edge_jupyter.map(_series(5, "cancel"), "Say {text}", MODEL, max_tokens=20, batch=True,
                         confirm_over=None)
    batch_id = sb.batches.mine(sb.key)[0].id
    assert set(Ledger.default().frame("all")["status"]) == {"pending"}
    assert edge_jupyter.cancel_batch(batch_id) == "cancelled"
    rows = Ledger.default().frame("all")
    assert set(rows["status"]) == {"error"} and rows["cost_usd"].sum() == 0
    assert rows["error"].str.contains("cancelled before this row was answered").all()


def test_the_batch_benchmark_runs_at_a_tiny_size() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks import batch_submit

    rows = batch_submit.run(rows=200)
    assert [r.metric.split(" a ")[0] for r in rows] == ["build + submit", "collect"]
    for row in rows:  # figures, never a timing threshold here
        assert math.isfinite(row.value) and row.value > 0 and row.baseline and row.baseline > 0
    assert "one batch submitted: True" in rows[0].note and "rows ok 200 of 200" in rows[1].note


def test_map_batch_reserves_its_rows_at_the_batch_price(edge_env, sb, capsys) -> None:
    import re

    import edge_jupyter

    # 50 rows of up to 2,000 tokens of gpt-4o-mini: about $0.06 at the normal price, half of
    # it through the Batch API; a $0.045 budget holds the batch, not the normal map
    frame = edge_jupyter.map(_series(50, "half"), "Say {text}", MODEL, max_tokens=2000, batch=True,
                             confirm_over=None, budget=0.045)
    said = capsys.readouterr().out
    batch_usd, normal_usd = (float(x) for x in re.search(
        r"at most \$([\d.]+) \(without it: at most \$([\d.]+)\)", said).groups())
    assert batch_usd < 0.045 < normal_usd and batch_usd == pytest.approx(normal_usd / 2, rel=0.01)
    assert sb.batches.created == 1 and set(frame["status"]) == {"ok"}


def test_a_lost_answer_to_the_submission_is_never_paid_twice(edge_env, sb) -> None:
    """OpenRouter takes the batch but its answer is lost (the connection drops): the rows stay
    pending, holding their worst case, and the same map again finds that batch and waits on
    it instead of submitting a second one."""
    import edge_jupyter
    from edge_jupyter.batch import BatchError
    from edge_jupyter.ledger import Ledger

    texts = _series(5, "lost")
    sb.batch_lose_answer = True
    with pytest.raises(BatchError, match="answer to the submission was lost"):
        edge_jupyter.map(texts, "Say {text}", MODEL, max_tokens=20, batch=True, confirm_over=None)
    assert sb.batches.created == 1
    assert set(Ledger.default().frame("all")["status"]) == {"pending"}
    frame = edge_jupyter.map(texts, "Say {text}", MODEL, max_tokens=20, batch=True, confirm_over=None)
    assert sb.batches.created == 1, "the batch was submitted twice"
    assert (frame["status"] == "ok").all()
    rows = Ledger.default().frame("all")
    assert len(rows) == 5 and set(rows["status"]) == {"ok"}
    assert math.isclose(rows["cost_usd"].sum(), float(sb.batches.mine(sb.key)[0].cost), abs_tol=1e-12)


def test_a_damaged_batch_record_submits_nothing_again(edge_env, sb) -> None:
    import edge_jupyter
    from edge_jupyter.batch import BatchError

    texts = _series(3, "damaged")
    texts["k1"] = "damaged 1 [sandbox:fail]"
    edge_jupyter.map(texts, "Say {text}", MODEL, max_tokens=20, batch=True, confirm_over=None)
    records = [p for p in (Path(edge_env["EDGE_DATA_DIR"]) / "batches").glob("*.json")
               if not p.name.endswith(".answers.json")]
    assert len(records) == 1
    created = sb.batches.created
    records[0].write_text("{not json", encoding="utf-8")
    with pytest.raises(BatchError, match="nothing was submitted"):
        edge_jupyter.map(texts, "Say {text}", MODEL, max_tokens=20, batch=True, confirm_over=None)
    assert sb.batches.created == created


def test_a_hostile_batch_object_is_checked_before_it_is_shown_or_recorded() -> None:
    from edge_jupyter.batch_api import batch_cost, describe

    for cost in (float("nan"), float("inf"), -1.0, True, "0.5"):
        assert batch_cost({"usage": {"cost": cost}}) is None
    assert batch_cost({"usage": {"cost": 0.25}}) == 0.25
    shown = describe({"id": "batch_1\x1b]52;c;aGk=\x07", "status": "in_progress\r\x1b[2K",
                      "request_counts": {"total": 3, "completed": -5, "failed": "x"}})
    assert "\x1b" not in shown and "\r" not in shown and "0/3 rows done" in shown
