"""``%edge limit`` and ``%edge disconnect --revoke`` (issue 18) in a real kernel against the real
sandbox: the change confirmed by a fresh GET /key, refusals that say what to do, the key
deleted on OpenRouter (then 401) and locally — and the key in no output."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sandbox_fixtures import auth

from edge_jupyter import connect, keystore
from edge_jupyter.keystore import API_KEY_USERNAME, MANAGEMENT_KEY_USERNAME, FileKeyStore
from edge_jupyter.magics import EdgeCellError

KEYS_PAGE = "https://openrouter.ai/settings/keys"


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("limit-data")


@pytest.fixture(scope="module")
def kernel(sandbox, data) -> Iterator[Any]:
    """A kernel whose keys come from the file store only (nothing in its environment)."""
    from kernel_harness import Kernel

    k = Kernel({"EDGE_OPENROUTER_URL": sandbox.url, "EDGE_DATA_DIR": str(data),
                "EDGE_KEY_STORE": "file", "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"})
    k.ok("import os\nfor _n in ('OPENROUTER_API_KEY', 'OPENROUTER_MANAGEMENT_KEY', "
         "'EDGE_KEY_PROVISIONED'):\n    os.environ.pop(_n, None)\n%load_ext edge_jupyter")
    yield k
    k.shutdown()


def store(data: Path) -> FileKeyStore:
    return FileKeyStore(data / keystore.FILE_NAME)


def new_key(sb, name: str, limit: float | None = 5.0, reset: str | None = "daily") -> str:
    r = httpx.post(sb.api_url + "/keys", headers=auth(sb.management_key),
                   json={"name": name, "limit": limit, "limit_reset": reset})
    assert r.status_code == 201, r.text
    return r.json()["key"]


def key_info(sb, key: str) -> httpx.Response:
    return httpx.get(sb.api_url + "/key", headers=auth(key))


def outputs(run: Any) -> str:
    """Everything the cell showed (every output and the error), not the code it ran."""
    return "\n".join(str(m["content"]) for m in run.messages
                     if m["msg_type"] in ("stream", "display_data", "update_display_data",
                                          "execute_result", "error"))


@pytest.fixture
def connected(sb, data) -> Iterator[str]:
    """A fresh key (limit $5, daily) stored as the kernel's key, and the management key stored."""
    key = new_key(sb, "my notebook")
    store(data).set(API_KEY_USERNAME, key)
    store(data).set(MANAGEMENT_KEY_USERNAME, sb.management_key)
    yield key
    for name in (API_KEY_USERNAME, MANAGEMENT_KEY_USERNAME):
        store(data).delete(name)


def test_limit_shows_changes_and_confirms_with_a_fresh_get_key(kernel, sb, connected) -> None:
    shown = kernel.ok("%edge limit")
    text = outputs(shown)
    assert "OpenRouter key limit" in text and "$5.00" in text and "daily (00:00 UTC)" in text
    assert "my notebook" in text, "with a management key the key's name is shown"
    changed = kernel.ok("%edge limit 2.5 --reset weekly --include-byok")
    text = outputs(changed)
    assert "confirmed by OpenRouter" in text and "$2.50" in text and "weekly (00:00 UTC)" in text
    info = key_info(sb, connected).json()["data"]
    assert (info["limit"], info["limit_reset"], info["include_byok_in_limit"]) == (2.5, "weekly", True)
    patches = [r for r in sb.requests if r.method == "PATCH"]
    assert len(patches) == 1 and patches[0].json == {"limit": 2.5, "limit_reset": "weekly",
                                                     "include_byok_in_limit": True}
    assert sb.requests[-1].path.endswith("/key"), "the last word is the key's own GET /key"
    kernel.ok("%edge limit none --reset never --no-include-byok")
    info = key_info(sb, connected).json()["data"]
    assert (info["limit"], info["limit_reset"], info["include_byok_in_limit"]) == (None, None, False)
    again = outputs(kernel.ok("%edge limit"))
    assert "no limit" in again and "never" in again
    for run in (shown, changed):
        assert connected not in outputs(run) and sb.management_key not in outputs(run)


def test_limit_spent_and_left_after_a_call(kernel, sb, connected) -> None:
    kernel.ok("%%edge -m openai/gpt-4o-mini\nHi")
    spent = sb.completions[-1].usage["cost"]
    text = outputs(kernel.ok("%edge limit"))
    from edge_jupyter.money import short_left_usd, short_usd

    assert f"left: {short_left_usd(5.0 - spent, 5.0)}" in text
    assert f"today {short_usd(spent)}" in text


def test_a_change_without_a_management_key_is_refused_with_the_how_to(kernel, sb, connected,
                                                                     data) -> None:
    store(data).delete(MANAGEMENT_KEY_USERNAME)
    before = len(sb.requests)
    run = kernel.run("%edge limit 3")
    assert run.status == "error"
    error = run.error_text
    assert "Changing the key's limit needs an OpenRouter management key, and none is stored" in error
    assert "`%edge balance --management-key`" in error
    assert "https://openrouter.ai/settings/provisioning-keys" in error and KEYS_PAGE in error
    assert "unchanged" in outputs(run) and "$5.00" in outputs(run), "what the key itself can tell"
    assert [r.path for r in sb.requests[before:]] == ["/api/v1/key"], "only GET /key was asked"
    assert key_info(sb, connected).json()["data"]["limit"] == 5.0
    shown = outputs(kernel.ok("%edge limit"))
    assert "To change it from here, a management key is needed" in shown
    assert "--management-key" in shown
    assert connected not in outputs(run) + shown


def test_an_ordinary_key_stored_as_the_management_key_gets_a_clear_line(kernel, sb, connected,
                                                                       data) -> None:
    store(data).set(MANAGEMENT_KEY_USERNAME, sb.key)
    run = kernel.run("%edge limit 3")
    assert run.status == "error"
    line = run.error_text
    assert "refused the stored management key (Only management keys can perform this " \
           "operation): it is an ordinary key, not a management key" in line
    assert "%edge balance --management-key" in line
    assert sb.key not in outputs(run) and connected not in outputs(run)
    assert key_info(sb, connected).json()["data"]["limit"] == 5.0


def test_a_bad_amount_is_refused_before_anything_is_asked(kernel, sb, connected) -> None:
    before = len(sb.requests)
    run = kernel.run("%edge limit lots")
    assert run.status == "error" and "The limit must be a finite amount of USD" in run.error_text
    assert len(sb.requests) == before


def test_a_limit_of_minus_zero_is_a_limit_of_zero(kernel, sb, connected) -> None:
    """``-0`` reads as 0: sent as 0 (not -0.0) and shown as $0, never "-$0"."""
    import math

    text = outputs(kernel.ok("%edge limit -0"))
    (patch,) = [r for r in sb.requests if r.method == "PATCH"]
    assert patch.json == {"limit": 0} and math.copysign(1.0, patch.json["limit"]) == 1.0
    assert math.copysign(1.0, key_info(sb, connected).json()["data"]["limit"]) == 1.0
    assert "confirmed by OpenRouter" in text and "-$0" not in text


def test_disconnect_revoke_deletes_the_key_on_openrouter_and_here(kernel, sb, connected,
                                                                  data) -> None:
    run = kernel.ok("%edge disconnect --revoke")
    text = outputs(run)
    label = f"{connected[:12]}...{connected[-3:]}"
    assert f"Revoked on OpenRouter: the stored key {label} (named 'my notebook') was deleted and now " \
           "gets 401 there." in text
    assert "Disconnected: the stored OpenRouter key was removed." in text
    assert "still exists" not in text and connected not in text
    assert key_info(sb, connected).status_code == 401
    assert store(data).get(API_KEY_USERNAME) is None
    assert any(r.method == "DELETE" for r in sb.requests)
    assert kernel.value("__import__('edge_jupyter').keystore.resolve_api_key().source") == "none"


# -- --revoke when it cannot: the local copy goes, the line says the key STILL WORKS -----------


@pytest.fixture
def file_store(sb, tmp_path, monkeypatch) -> Path:
    for name in ("OPENROUTER_API_KEY", "OPENROUTER_MANAGEMENT_KEY", "EDGE_KEY_PROVISIONED"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("EDGE_OPENROUTER_URL", sb.url)
    monkeypatch.setenv("EDGE_DATA_DIR", str(tmp_path / "edge-data"))
    monkeypatch.setenv("EDGE_KEY_STORE", "file")
    return tmp_path / "edge-data"


def test_revoke_without_a_management_key_says_the_key_still_works_and_where(sb, file_store,
                                                                            capsys) -> None:
    key = new_key(sb, "no manager")
    keystore.store_api_key(key)
    with pytest.raises(EdgeCellError) as still:
        connect.run_disconnect(["--revoke"])
    label = f"{key[:12]}...{key[-3:]}"
    line = str(still.value)
    assert line.startswith(f"The stored key {label} STILL WORKS on OpenRouter: revoking it from here "
                           "needs a management key, and none is stored; ")
    assert line.endswith(f"delete it at {KEYS_PAGE}, where its label is {label}.")
    out = capsys.readouterr().out
    assert out.startswith("Disconnected: the stored OpenRouter key was removed.")
    assert "still exists" not in out, "said once, in the error"
    assert keystore.resolve_api_key().source == "none"
    assert key_info(sb, key).status_code == 200
    assert key not in line + out


def test_revoke_refused_by_openrouter_still_removes_the_local_copy(sb, file_store, capsys,
                                                                  monkeypatch) -> None:
    key = new_key(sb, "refused")
    keystore.store_api_key(key)
    monkeypatch.setenv("OPENROUTER_MANAGEMENT_KEY", sb.key)  # an ordinary key
    with pytest.raises(EdgeCellError, match=r"STILL WORKS on OpenRouter .*ordinary key") as still:
        connect.run_disconnect(["--revoke"])
    assert KEYS_PAGE in str(still.value) and sb.key not in str(still.value)
    assert keystore.resolve_api_key().source == "none"
    assert key_info(sb, key).status_code == 200
    assert "Disconnected" in capsys.readouterr().out


def test_a_key_provisioned_by_jupyterhub_is_not_revoked_from_the_notebook(sb, file_store, capsys,
                                                                        monkeypatch) -> None:
    key = new_key(sb, "edge-jupyter:hub:ada")
    monkeypatch.setenv("OPENROUTER_API_KEY", key)
    monkeypatch.setenv("EDGE_KEY_PROVISIONED", "jupyterhub")
    monkeypatch.setenv("OPENROUTER_MANAGEMENT_KEY", sb.management_key)
    with pytest.raises(EdgeCellError, match=r"provisioned by JupyterHub.*ask the hub's admin"):
        connect.run_disconnect(["--revoke"])
    assert "usage ledger are kept" in capsys.readouterr().out
    assert key_info(sb, key).status_code == 200


def test_revoke_of_an_environment_key_deletes_it_and_says_calls_fail_until_it_is_unset(
        sb, file_store, capsys, monkeypatch) -> None:
    key = new_key(sb, "from the environment")
    monkeypatch.setenv("OPENROUTER_API_KEY", key)
    monkeypatch.setenv("OPENROUTER_MANAGEMENT_KEY", sb.management_key)
    connect.run_disconnect(["--revoke"])
    out = capsys.readouterr().out
    label = f"{key[:12]}...{key[-3:]}"
    assert out.startswith(f"Revoked on OpenRouter: the key {label} in OPENROUTER_API_KEY "
                          "(named 'from the environment') was deleted")
    assert "OPENROUTER_API_KEY is still set in this environment to the revoked key, so every " \
           "call fails (401) until you unset it where Jupyter starts." in out
    assert "calls still use it" not in out
    assert key_info(sb, key).status_code == 401 and key not in out


def test_revoke_with_a_stored_key_and_an_environment_key_revokes_the_stored_one(
        sb, file_store, capsys, monkeypatch) -> None:
    """The key revoked is the key removed: the stored one; OPENROUTER_API_KEY's stays live."""
    in_env = new_key(sb, "in the environment")
    stored = new_key(sb, "connected here")
    keystore.store_api_key(stored)
    monkeypatch.setenv("OPENROUTER_API_KEY", in_env)
    monkeypatch.setenv("OPENROUTER_MANAGEMENT_KEY", sb.management_key)
    connect.run_disconnect(["--revoke"])
    out = capsys.readouterr().out
    assert key_info(sb, stored).status_code == 401, "the key disconnected is the one revoked"
    assert key_info(sb, in_env).status_code == 200, "the environment's key was not touched"
    label = f"{stored[:12]}...{stored[-3:]}"
    assert out.startswith(f"Revoked on OpenRouter: the stored key {label} (named 'connected "
                          "here') was deleted and now gets 401 there. Disconnected: the stored "
                          "OpenRouter key was removed.")
    assert "OPENROUTER_API_KEY is still set in this environment, so calls still use it" in out
    assert keystore.stored_api_key().key is None
    assert keystore.resolve_api_key().source == "environment"
    assert stored not in out and in_env not in out


def test_revoke_of_a_stored_key_that_is_also_the_environment_s_says_calls_fail(
        sb, file_store, capsys, monkeypatch) -> None:
    key = new_key(sb, "both places")
    keystore.store_api_key(key)
    monkeypatch.setenv("OPENROUTER_API_KEY", key)
    monkeypatch.setenv("OPENROUTER_MANAGEMENT_KEY", sb.management_key)
    connect.run_disconnect(["--revoke"])
    out = capsys.readouterr().out
    assert key_info(sb, key).status_code == 401
    assert "to the revoked key, so every call fails (401)" in out and "calls still use it" not in out


def test_revoke_with_nothing_connected_says_so(sb, file_store, capsys) -> None:
    connect.run_disconnect(["--revoke"])
    out = capsys.readouterr().out
    assert out.startswith("No OpenRouter key is connected, so none was revoked.")
