"""``edge_jupyter.map`` on group commits: durable, within budgets, resumable (issue 14 §3).

Real kernels against the real sandbox over HTTP; the ledger read back from its file.
The speed itself is measured by ``benchmarks/map_speed.py``, never asserted here.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import pytest

from edge_jupyter.ledger import BudgetExceeded, FinishedCall, Ledger, Limit, StartingCall
from edge_jupyter.record import CallRecord

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _env(sb, data: Path) -> dict[str, str]:
    return {"EDGE_OPENROUTER_URL": sb.url, "OPENROUTER_API_KEY": sb.key, "EDGE_DATA_DIR": str(data),
            "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}


def _tagged(sb, tag: str) -> list:
    return [c for c in sb.completions if tag in str(c.messages[-1].get("content", ""))]


def _send(kernel, code: str) -> str:
    """Start a cell without waiting for it (the harness's ``run`` waits)."""
    return kernel.kc.execute(code, store_history=True)


def _settled(sb, tag: str, seconds: float = 10.0) -> list:
    """The tagged completions once the sandbox has recorded every stream that ended."""
    deadline = time.monotonic() + seconds
    count = -1
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = _tagged(sb, tag)
        if len(now) == count:
            return now
        count = len(now)
    return _tagged(sb, tag)


def _wait_idle(kernel, msg_id: str, timeout: float = 120) -> str:
    """The text of a cell started with :func:`_send`, once it is done."""
    texts = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            m = kernel.kc.get_iopub_msg(timeout=1)
        except Exception:
            continue
        if m["parent_header"].get("msg_id") != msg_id:
            continue
        if m["msg_type"] == "stream":
            texts.append(m["content"]["text"])
        elif m["msg_type"] == "error":
            texts.append("\n".join(m["content"]["traceback"]))
        elif m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
            return "".join(texts)
    raise TimeoutError(f"cell {msg_id} did not finish")


def test_a_killed_kernel_leaves_a_ledger_row_for_every_billed_call(sb, tmp_path) -> None:
    from kernel_harness import Kernel

    sb.answer_length = 10
    sb.tokens_per_second = 100  # ~0.1 s a row, 8 at a time: 300 rows would take ~4 s
    kernel = Kernel(_env(sb, tmp_path))
    try:
        kernel.ok("%load_ext edge_jupyter\nimport edge_jupyter, pandas as pd\n"
                  "s = pd.Series([f'killed {i}' for i in range(300)])")
        _send(kernel, "edge_jupyter.map(s, 'Summarise {text}', 'openai/gpt-4o-mini', max_tokens=20, "
                      "concurrency=8, confirm_over=None)")
        deadline = time.monotonic() + 60
        while len(_tagged(sb, "killed")) < 40 and time.monotonic() < deadline:
            time.sleep(0.05)
        kernel.km.signal_kernel(signal.SIGKILL)  # no finally, no atexit: the process is gone
    finally:
        kernel.shutdown()
    billed = _settled(sb, "killed")
    assert 40 <= len(billed) < 300, "the kernel was killed in the middle of the map"
    book = Ledger(tmp_path / "ledger.sqlite3")
    try:
        rows = book.frame("all")
    finally:
        book.close()
    known = set(rows["generation_id"])
    unmatched = [c.id for c in billed if c.id not in known]
    # A call whose generation id was not written yet is still a row: pending, to reconcile.
    no_id = rows[(rows["generation_id"] == "") & (rows["status"] == "pending")]
    assert len(unmatched) <= len(no_id), (len(unmatched), len(no_id))
    assert len(rows) >= len(billed)
    assert set(rows["status"]) <= {"ok", "pending"}
    done = rows[rows["status"] == "ok"]
    costs = {c.id: c.usage["cost"] for c in billed}
    assert all(costs[g] == pytest.approx(cost) for g, cost in zip(done["generation_id"],
                                                                   done["cost_usd"], strict=True))


def test_two_kernels_mapping_under_one_day_budget_never_overspend_together(sb, tmp_path) -> None:
    from kernel_harness import Kernel

    sb.answer_length = 100  # each answer costs nearly its worst case: the budget binds
    sb.tokens_per_second = 400
    budget = 0.02
    kernels = [Kernel(_env(sb, tmp_path)) for _ in range(2)]
    try:
        for k, kernel in enumerate(kernels):
            kernel.ok(f"%load_ext edge_jupyter\nimport edge_jupyter, pandas as pd\n"
                      f"s = pd.Series([f'budget{k} {{i}}' for i in range(40)])")
        kernels[0].ok(f"%edge budget set {budget} --scope day")
        started = [_send(kernel, "out = edge_jupyter.map(s, 'Say {text}', 'openai/gpt-4o', "
                                 "max_tokens=100, concurrency=4, confirm_over=None)")
                   for kernel in kernels]
        texts = [_wait_idle(kernel, msg_id) for kernel, msg_id in zip(kernels, started, strict=True)]
        # rows sent: ok, or cut short by the stream guard at the limit (stopped_budget)
        sent = [kernel.value("int((out.status != 'not_run').sum())") for kernel in kernels]
        answered = [kernel.value("int((out.status == 'ok').sum())") for kernel in kernels]
    finally:
        for kernel in kernels:
            kernel.shutdown()
    billed = _settled(sb, "budget")
    spent = sum(c.usage["cost"] for c in billed)
    assert spent <= budget, f"${spent} spent under a ${budget} day budget"
    assert all("stopped early" in text and "day" in text for text in texts), texts
    assert all(n > 0 for n in answered) and sum(sent) == len(billed) < 80
    assert spent > budget / 2, "the rows that fitted were sent"


def test_an_interrupt_completes_every_row_and_the_rerun_pays_for_the_rest(sb, tmp_path) -> None:
    from kernel_harness import Kernel

    sb.answer_length = 10
    sb.tokens_per_second = 100
    kernel = Kernel(_env(sb, tmp_path))
    try:
        kernel.ok("%load_ext edge_jupyter\nimport edge_jupyter, pandas as pd\n"
                  "s = pd.Series([f'halt {i}' for i in range(160)])")
        run = kernel.run("edge_jupyter.map(s, 'Summarise {text}', 'openai/gpt-4o-mini', "
                         "max_tokens=20, concurrency=8, confirm_over=None)", interrupt_after=1.5,
                         timeout=60)
        assert run.status == "error" and "run the same map again" in run.all_text
        answered = int(run.all_text.split("Interrupted: ")[1].split(" of ")[0])
        assert 0 < answered < 160
        statuses = kernel.value("edge_jupyter.usage('all')['status'].value_counts().to_dict()")
        # nothing left pending: every row was completed before the interrupt was raised
        assert set(statuses) <= {"ok", "interrupted"} and statuses["ok"] == answered
        billed = len(_settled(sb, "halt"))
        sb.tokens_per_second = 0
        run = kernel.ok("df = edge_jupyter.map(s, 'Summarise {text}', 'openai/gpt-4o-mini', "
                        "max_tokens=20, concurrency=8, confirm_over=None)")
        assert f"({answered} already answered, reused for $0)" in run.all_text
        assert len(_settled(sb, "halt")) - billed == 160 - answered
        assert kernel.value("df['status'].value_counts().to_dict()") == {
            "replayed": answered, "ok": 160 - answered}
    finally:
        kernel.shutdown()


def test_write_many_reserves_in_order_and_another_ledger_sees_it(tmp_path) -> None:
    """One transaction completes and begins; the first row that does not fit stops the group."""
    path = tmp_path / "ledger.sqlite3"
    one, other = Ledger(path), Ledger(path)  # two connections, as two kernels have
    try:
        limits = [Limit("all", 1.0)]

        def record() -> CallRecord:
            return CallRecord(model="m", notebook="n.ipynb", session_id="s")

        begun, refused = one.write_many([], [StartingCall(record(), 0.3) for _ in range(4)], limits)
        assert [b.left_usd for b in begun] == pytest.approx([1.0, 0.7, 0.4])
        assert isinstance(refused, BudgetExceeded) and refused.worst_case_usd == 0.3
        with pytest.raises(BudgetExceeded):  # the other "kernel" sees the 0.9 held
            other.reserve(record(), 0.2, limits)
        finished = record()
        finished.status, finished.cost_usd = "ok", 0.05
        again, refused = one.write_many([FinishedCall(begun[0].row_id, finished)],
                                        [StartingCall(record(), 0.3)], limits,
                                        generation_ids=[(begun[1].row_id, "gen-1")])
        assert refused is None and again[0].left_usd == pytest.approx(1.0 - 0.05 - 0.6)
        rows = other.frame("all")
        assert list(rows["status"]) == ["ok", "pending", "pending", "pending"]
        assert list(rows["generation_id"])[1] == "gen-1"
        assert other.spent("all") == pytest.approx(0.05 + 0.9)
    finally:
        one.close()
        other.close()


def test_the_map_benchmark_gives_sane_figures_at_a_tiny_size() -> None:
    from benchmarks import map_speed

    rows = map_speed.run(sizes=(60, 240), concurrency=8)
    assert [r.ok for r in rows][:2] != [None, None] and rows[2].ok is None
    assert all(r.value == r.value for r in rows)  # no NaN
    assert "ROWS MISSING" not in rows[2].note and "ledger rows" in rows[2].note
