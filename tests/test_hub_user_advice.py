"""What a user is told to do depends on whose key it is: credits are topped up, a key's limit is
raised (by the user with `%edge limit`, or on a JupyterHub by its admin), and a management key
from the environment is fixed where Jupyter starts, not by storing another one.

All against the real sandbox over HTTP; the hub's mark (``EDGE_KEY_PROVISIONED``) is the
environment variable ``edge_jupyter.hub`` puts into a user's server.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from sandbox_fixtures import chat_body

from edge_jupyter import balance, preferences
from edge_jupyter.calls import low_balance_warnings
from edge_jupyter.openrouter import InsufficientCredits, OpenRouterClient


@pytest.fixture
def capped(sb, tmp_path, monkeypatch):
    """A key with $0.001 left of its limit, and an alert threshold above that."""
    monkeypatch.setenv("EDGE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("OPENROUTER_MANAGEMENT_KEY", raising=False)
    preferences.update(alert_threshold_usd=1.0)
    balance.clear_cache()
    yield OpenRouterClient(sb.issue_key(limit=0.001), origin=sb.url)
    balance.clear_cache()


def test_a_low_key_limit_says_raise_it_and_on_a_hub_ask_the_admin(capped, monkeypatch) -> None:
    (mine,) = low_balance_warnings(capped)
    assert "key limit" in mine and "`%edge limit USD`" in mine and "Top up" not in mine
    balance.clear_cache()
    monkeypatch.setenv("EDGE_KEY_PROVISIONED", "jupyterhub")
    (hubs,) = low_balance_warnings(capped)
    assert "JupyterHub's admin" in hubs and "edge-jupyter hub set-limit" in hubs
    assert "Top up" not in hubs and "%edge limit" not in hubs


def test_a_refused_reservation_on_a_hub_points_at_the_admin(capped, monkeypatch) -> None:
    body = chat_body("a long one", max_tokens=100_000)
    with pytest.raises(InsufficientCredits) as mine:
        capped.complete({**body, "model": "openai/gpt-4o"})
    assert "Top up" in mine.value.hint and "%edge limit USD" in mine.value.hint
    monkeypatch.setenv("EDGE_KEY_PROVISIONED", "jupyterhub")
    with pytest.raises(InsufficientCredits) as hubs:
        capped.complete({**body, "model": "openai/gpt-4o"})
    assert "JupyterHub's admin" in hubs.value.hint and "Top up" not in hubs.value.hint


def test_the_sandbox_prints_its_management_key_under_the_name_the_notebook_reads() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "edge_jupyter.cli", "sandbox", "--port", "0"],
                            stdout=subprocess.PIPE, text=True)
    try:
        lines = []
        while not any(line.startswith("OPENROUTER_MANAGEMENT_KEY=") for line in lines):
            line = proc.stdout.readline()
            assert line, "".join(lines)
            lines.append(line)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    values = dict(line.strip().split("=", 1) for line in lines if "=" in line and " " not in line)
    assert values["OPENROUTER_MANAGEMENT_KEY"] == values["EDGE_PROVISIONING_KEY"]


def test_limit_on_a_hub_key_says_the_admin_sets_it(sb, tmp_path, monkeypatch, capsys) -> None:
    from edge_jupyter.magics.commands import COMMANDS

    monkeypatch.setenv("EDGE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("EDGE_KEY_STORE", "file")
    monkeypatch.setenv("EDGE_OPENROUTER_URL", sb.url)
    monkeypatch.delenv("OPENROUTER_MANAGEMENT_KEY", raising=False)
    monkeypatch.setenv("OPENROUTER_API_KEY", sb.issue_key(limit=2.0))
    monkeypatch.setenv("EDGE_KEY_PROVISIONED", "jupyterhub")
    COMMANDS["limit"][0](None, [])
    out = capsys.readouterr().out
    assert "set by your JupyterHub's admin" in out and "edge-jupyter hub set-limit" in out
    assert "management key is needed" not in out and "settings/keys" not in out
