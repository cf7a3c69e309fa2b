"""``edge-jupyter ask`` as a front-end of the call engine: its call is a ledger row, the
budgets hold, a low balance is said, and the exit code says what happened."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

MODEL = "openai/gpt-4o-mini"


def _env(sb, data: Path, key: str | None = None) -> dict[str, str]:
    return {**os.environ, "EDGE_OPENROUTER_URL": sb.url, "OPENROUTER_API_KEY": key or sb.key,
            "EDGE_DATA_DIR": str(data), "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}


def _ask(sb, data: Path, *argv: str, key: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge_jupyter.cli", "ask", *argv],
                          env=_env(sb, data, key), capture_output=True, text=True, timeout=120)


def _rows(data: Path) -> list[tuple[str, str, float | None, str]]:
    with sqlite3.connect(data / "ledger.sqlite3") as db:
        return db.execute("SELECT status, generation_id, cost_usd, chat FROM calls").fetchall()


def test_the_answer_is_a_ledger_row_with_the_billed_cost(sb, tmp_path: Path) -> None:
    done = _ask(sb, tmp_path, "-m", MODEL, "hello")
    assert done.returncode == 0, done.stderr
    sent = sb.completions[-1]
    assert sent.text in done.stdout and "💰" in done.stdout
    assert _rows(tmp_path) == [("ok", sent.id, sent.usage["cost"], "cli")]
    assert sb.key not in done.stdout + done.stderr


def test_a_budget_refuses_before_sending_with_exit_2(sb, tmp_path: Path) -> None:
    before = len(sb.completions)
    done = _ask(sb, tmp_path, "-m", "pricey/opus", "--max-tokens", "4000", "--budget", "0.001", "hello")
    assert done.returncode == 2, done.stderr
    assert "Refused before sending to pricey/opus" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert len(sb.completions) == before


def test_the_saved_budgets_hold_too(sb, tmp_path: Path) -> None:
    import json

    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "preferences.json").write_text(json.dumps({"budgets": {"day": 0.000001}}))
    done = _ask(sb, tmp_path, "-m", MODEL, "--max-tokens", "100", "hello")
    assert done.returncode == 2 and "day budget" in done.stderr, done.stderr


def test_a_low_balance_is_said_on_stderr(sb, tmp_path: Path) -> None:
    capped = sb.issue_key(limit=0.5)  # under the default $1 alert threshold
    done = _ask(sb, tmp_path, "-m", MODEL, "hello", key=capped)
    assert done.returncode == 0, done.stderr
    assert "warning: Low balance" in done.stderr and "warning" not in done.stdout


def test_an_interrupt_mid_stream_records_the_call_and_exits_130(sb, tmp_path: Path) -> None:
    sb.answer_length, sb.tokens_per_second = 2000, 40
    asked = sum(r.path.endswith("/chat/completions") for r in sb.requests)
    proc = subprocess.Popen([sys.executable, "-m", "edge_jupyter.cli", "ask", "-m", MODEL, "story"],
                            env=_env(sb, tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.monotonic() + 60
        while sum(r.path.endswith("/chat/completions") for r in sb.requests) == asked:
            assert time.monotonic() < deadline and proc.poll() is None, "the request never went out"
            time.sleep(0.05)
        time.sleep(0.5)  # streaming now
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        sb.answer_length, sb.tokens_per_second = 24, 0.0
    assert proc.returncode == 130, err
    assert "Interrupted" in err and "Traceback" not in err
    [(status, generation_id, _cost, _chat)] = _rows(tmp_path)
    assert status == "interrupted" and generation_id, "the row keeps its generation id to be priced"


def test_web_search_prints_its_sources_and_their_cost(sb, tmp_path: Path) -> None:
    done = _ask(sb, tmp_path, "-m", "openai/gpt-4o", "--web", "--web-searches", "2",
                "News? [sandbox:searches=2]")
    assert done.returncode == 0, done.stderr
    billed = sb.completions[-1]
    assert billed.web_searches == 2
    for citation in billed.citations:
        assert citation["url_citation"]["url"].split("//")[1].split("/")[0] in done.stdout
    assert "[1] " in done.stdout and "incl. 2 web searches" in done.stdout
    assert sb.requests[-1].json["tools"][0]["parameters"] == {"max_uses": 2, "engine": "exa",
                                                                "max_characters": 2000}
