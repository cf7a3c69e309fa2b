"""Spending limits: the arithmetic, the atomic reservation across kernels, the stream guard.

The end-to-end tests stream from a real sandbox server and settle costs from its
``/generation`` records; nothing is mocked.
"""

from __future__ import annotations

import math
import multiprocessing
import random
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_ledger_workers import reserve_until_refused

from edge_jupyter.ledger import (
    BudgetExceeded,
    Ledger,
    Limit,
    StreamGuard,
    completion_ceiling,
    count_images,
    estimate_prompt_tokens,
    worst_case_cost,
)
from edge_jupyter.ledger.budgets import IMAGE_TOKENS, estimate_text_tokens
from edge_jupyter.openrouter import OpenRouterClient, Pricing, ReasoningDelta, TextDelta
from edge_jupyter.record import CallRecord
from edge_jupyter.sandbox import count_prompt_tokens

PRICES = Pricing(prompt=1.5e-07, completion=6e-07)  # openai/gpt-4o-mini


@pytest.fixture
def ledger(tmp_path: Path):
    with Ledger(tmp_path / "ledger.sqlite3") as ledger:
        yield ledger


# -- estimates and arithmetic --------------------------------------------------------------------

def test_prompt_estimates_err_on_the_high_side() -> None:
    english = "The quick brown fox jumps over the lazy dog. " * 20  # ~200 real tokens
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": english}]
    estimate = estimate_prompt_tokens(messages)
    assert estimate >= len(english) / 3 + 16
    assert estimate > count_prompt_tokens(messages)  # the sandbox bills ~4 characters a token
    # Characters outside ASCII take more tokens each: CJK is counted at over one per character.
    assert estimate_text_tokens("漢字" * 50) > 100 and estimate_text_tokens("é") > estimate_text_tokens("e")
    assert estimate_prompt_tokens([]) == 8 and estimate_prompt_tokens([{"role": "user"}]) == 16
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    with_image = [{"role": "user", "content": [{"type": "text", "text": "What is this?"}, image]}]
    assert estimate_prompt_tokens(with_image) >= IMAGE_TOKENS + 16 and count_images(with_image) == 1
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    assert estimate_prompt_tokens(messages, tools=tools) > estimate


def test_worst_case_cost_is_prompt_plus_the_whole_completion_allowance() -> None:
    assert worst_case_cost(1000, 500, PRICES) == pytest.approx(1000 * 1.5e-07 + 500 * 6e-07)
    priced = Pricing(prompt=1e-06, completion=2e-06, request=0.001, image=0.01, reasoning=5e-06)
    assert worst_case_cost(10, 100, priced, images=2) == pytest.approx(1e-05 + 0.0005 + 0.001 + 0.02)
    assert worst_case_cost(10**6, 10**6, Pricing()) == 0.0  # free models


def test_completion_ceiling_uses_max_tokens_or_the_models_limits() -> None:
    assert completion_ceiling(256, context_length=128_000, max_completion_tokens=16_384) == 256
    assert completion_ceiling(50_000, max_completion_tokens=16_384) == 16_384
    assert completion_ceiling(None, prompt_tokens=1000, context_length=128_000,
                              max_completion_tokens=16_384) == 16_384
    assert completion_ceiling(None, prompt_tokens=1000, context_length=8_000) == 7_000
    assert completion_ceiling(None) == 128_000


def test_limit_checks_its_scope_and_amount() -> None:
    assert Limit("day", 2.0).limit_usd == 2.0
    with pytest.raises(ValueError, match="scope"):
        Limit("week", 1.0)
    for bad in (-1.0, math.nan):
        with pytest.raises(ValueError, match="positive"):
            Limit("day", bad)


def test_budget_exceeded_gives_the_numbers_and_the_ways_out() -> None:
    error = BudgetExceeded(scope="day", limit_usd=1.0, spent_usd=0.9712, worst_case_usd=0.0456)
    text = str(error)
    for part in ("$0.0456", "$0.0288", "$1.00", "$0.9712", "day", "--max-tokens", "cheaper model",
                 "%edge budget set USD --scope day"):
        assert part in text, part
    assert error.remaining_usd == pytest.approx(0.0288)
    assert "--budget" in str(BudgetExceeded(scope="cell", limit_usd=0.01, spent_usd=0,
                                            worst_case_usd=0.02))


# -- the stream guard -----------------------------------------------------------------------------

def test_stream_guard_stops_on_the_chunk_that_crosses() -> None:
    guard = StreamGuard(remaining_usd=100 * 6e-07 + 10 * 1.5e-07, pricing=PRICES, prompt_tokens=10)
    assert all(guard.add(10) for _ in range(10))  # exactly at the limit is still allowed
    assert guard.cost_usd == pytest.approx(guard.remaining_usd)
    assert not guard.add(1) and guard.stopped and not guard.add(0)
    assert not StreamGuard(1e-9, PRICES, prompt_tokens=1000).add(0)  # the prompt alone is over


@pytest.mark.parametrize("seed", range(20))
def test_stream_guard_never_overshoots_by_more_than_one_chunk(seed: int) -> None:
    rng = random.Random(seed)
    pricing = Pricing(prompt=rng.uniform(1e-8, 1e-5), completion=rng.uniform(1e-8, 1e-4),
                      request=rng.choice([0.0, 1e-4]))
    remaining = rng.uniform(1e-4, 1e-2)
    guard = StreamGuard(remaining, pricing, prompt_tokens=rng.randint(0, 50))
    last_chunk = 0
    while True:
        last_chunk = rng.randint(0, 40)
        if not guard.add(last_chunk):
            break
    assert guard.cost_usd > remaining
    assert guard.cost_usd - remaining <= last_chunk * pricing.completion + 1e-15


def test_stream_guard_counts_text_by_its_estimated_tokens() -> None:
    guard = StreamGuard(1.0, PRICES, prompt_tokens=0)
    for _ in range(300):
        guard.add_text("word")  # fractional tokens add up: no rounding up per chunk
    assert guard.completion_tokens == pytest.approx(400)


# -- reservations ----------------------------------------------------------------------------------

def test_reserve_refuses_with_the_numbers_and_writes_nothing(ledger: Ledger) -> None:
    spent = CallRecord(model="m", session_id="s", status="ok", cost_usd=0.9)
    ledger.complete(ledger.begin(spent), spent)
    limits = [Limit("session", 5.0), Limit("day", 1.0)]
    row = ledger.reserve(CallRecord(model="m", session_id="s"), 0.06, limits)
    with pytest.raises(BudgetExceeded) as refused:
        ledger.reserve(CallRecord(model="m", session_id="s"), 0.05, limits)
    error = refused.value
    assert (error.scope, error.limit_usd, error.worst_case_usd) == ("day", 1.0, 0.05)
    assert error.spent_usd == pytest.approx(0.96)  # settled + the other call's reservation
    assert len(ledger.frame("all")) == 2
    assert ledger.remaining(limits, CallRecord(model="m", session_id="s"),
                            exclude_id=row) == pytest.approx(0.1)
    assert ledger.remaining([], CallRecord(model="m")) == math.inf


def test_reserve_scopes_follow_the_record(ledger: Ledger) -> None:
    first = CallRecord(model="a", notebook="x.ipynb", cell_id="c", execution_count=3, session_id="s")
    ledger.reserve(first, 0.6, [Limit("cell", 1.0)])
    same_cell = CallRecord(model="b", notebook="x.ipynb", cell_id="c", execution_count=3,
                           session_id="s")
    with pytest.raises(BudgetExceeded, match="this cell's budget"):
        ledger.reserve(same_cell, 0.6, [Limit("cell", 1.0)])
    rerun = CallRecord(model="b", notebook="x.ipynb", cell_id="c", execution_count=4, session_id="s")
    ledger.reserve(rerun, 0.6, [Limit("cell", 1.0), Limit("call", 0.6)])
    with pytest.raises(BudgetExceeded, match="this call's budget"):
        ledger.reserve(rerun, 0.7, [Limit("call", 0.6)])
    other_nb = CallRecord(model="c", notebook="y.ipynb", session_id="s")
    ledger.reserve(other_nb, 0.5, [Limit("notebook", 0.5)])
    with pytest.raises(BudgetExceeded):
        ledger.reserve(CallRecord(model="c", notebook="y.ipynb"), 0.01, [Limit("notebook", 0.5)])
    ledger.reserve(CallRecord(model="c", notebook="y.ipynb"), 0.01, [Limit("notebook", 0.5)],
                   notebook="z.ipynb")


def test_reservations_hold_a_limit_across_four_processes(tmp_path: Path) -> None:
    path = str(tmp_path / "ledger.sqlite3")
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Event(), ctx.Queue()
    workers = [ctx.Process(target=reserve_until_refused, args=(path, w, 10, start, results))
               for w in range(4)]
    for process in workers:
        process.start()
    start.set()
    won = [results.get(timeout=60) for _ in workers]
    for process in workers:
        process.join(60)
        assert process.exitcode == 0
    ledger = Ledger(path)
    # 14 x $0.07 = $0.98 fits in $1.00 and a 15th would not: exactly 14 of the 40 attempts win.
    assert sum(won) == 14 == len(ledger.frame("all"))
    assert ledger.spent("all") == pytest.approx(0.98) and ledger.spent("all") <= 1.0


RESERVE_IN_ANOTHER_KERNEL = """
import sys
from edge_jupyter.ledger import BudgetExceeded, Ledger, Limit
from edge_jupyter.record import CallRecord
try:
    Ledger(sys.argv[1]).reserve(CallRecord(model="m"), 0.07, [Limit("all", 1.0)])
except BudgetExceeded as exc:
    print("refused", exc.spent_usd)
else:
    print("reserved")
"""


def test_reserve_checks_and_inserts_under_one_lock(ledger: Ledger) -> None:
    """Another kernel's reserve waits for a running write, then sees what it wrote."""
    ledger.spent("all")  # creates the database
    writer = sqlite3.connect(ledger.path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO calls (seq, timestamp, model, status, reserved_usd, updated_at) "
                   "VALUES (1, 0, 'm', 'pending', 0.95, 0)")
    child = subprocess.Popen([sys.executable, "-c", RESERVE_IN_ANOTHER_KERNEL, str(ledger.path)],
                             stdout=subprocess.PIPE, text=True)
    time.sleep(1.0)
    assert child.poll() is None  # waiting for the lock, not failing and not reading stale totals
    writer.execute("COMMIT")
    out, _ = child.communicate(timeout=60)
    assert out.split() == ["refused", "0.95"]
    writer.close()


# -- end to end against the sandbox ------------------------------------------------------------------

def _call(client: OpenRouterClient, ledger: Ledger, limits: list[Limit], *, claimed_max: int,
          content: str) -> tuple[CallRecord, float]:
    """What the magic does: estimate, reserve, stream under a guard, complete.

    Returns the record and the estimated cost of the largest chunk seen.
    """
    messages = [{"role": "user", "content": content}]
    prompt = estimate_prompt_tokens(messages)
    record = CallRecord(model="openai/gpt-4o-mini", session_id="e2e")
    row = ledger.reserve(record, worst_case_cost(prompt, claimed_max, PRICES), limits)
    guard = StreamGuard(ledger.remaining(limits, record, exclude_id=row), PRICES, prompt)
    # No max_tokens is sent: as if the provider ignored it (reasoning models may).
    stream = client.stream_chat({"model": record.model, "messages": messages})
    largest = 0.0
    with stream:
        for event in stream:
            if isinstance(event, (TextDelta, ReasoningDelta)):
                largest = max(largest, estimate_text_tokens(event.text) * PRICES.completion)
                if not guard.add_text(event.text):
                    record.status = "stopped_budget"
                    stream.close()
                    break
    completion = stream.completion
    record.generation_id = completion.generation_id or ""
    record.text = completion.text
    if record.status != "stopped_budget":
        record.status = "ok"
        record.cost_usd = completion.usage.cost if completion.usage else None
    ledger.complete(row, record, estimated_usd=guard.cost_usd)
    return record, largest


def test_a_guarded_stream_stops_at_the_limit_and_settles_the_exact_cost(ledger: Ledger, sb) -> None:
    sb.tokens_per_second = 400.0
    sb.answer_length = 3000
    sb.generation_ready_after = 0.1
    client = OpenRouterClient(sb.key, origin=sb.url)
    limits = [Limit("session", 0.0004)]
    first, one_chunk = _call(client, ledger, limits, claimed_max=16, content="Tell me everything.")
    assert first.status == "stopped_budget" and first.text  # partial text kept
    assert 0 < one_chunk < 0.0004 / 50
    # Until reconciled, the row holds the guard's estimate: over by less than one chunk.
    assert first.cost_usd is None
    assert 0.0004 < ledger.spent("session", session_id="e2e") <= 0.0004 + one_chunk
    deadline = time.monotonic() + 10
    while ledger.reconcile(client.generation) == 0:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    [billed] = sb.completions
    assert billed.cancelled and billed.text.startswith(first.text)
    exact = ledger.spent("session", session_id="e2e")
    assert exact == billed.cost
    assert exact <= 0.0004 + one_chunk
    # The limit is now (nearly) used up: the next call is refused before it is sent.
    with pytest.raises(BudgetExceeded) as refused:
        _call(client, ledger, limits, claimed_max=1000, content="And more.")
    assert refused.value.spent_usd == pytest.approx(exact)
    assert len(sb.completions) == 1
