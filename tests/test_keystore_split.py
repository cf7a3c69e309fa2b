"""The key store's shape: selection apart from the stores (as keyring keeps its backend choice
apart from its backends), its errors under the project's root, its public names in one place."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import edge_jupyter.keystore as keystore
from edge_jupyter.errors import EdgeError

PACKAGE = Path(keystore.__file__).parent
STORES = ("_env", "_file", "_keyring")


def _imported_siblings(module: str) -> set[str]:
    tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            found.add(node.module or "")
            if not node.module:
                found.update(alias.name for alias in node.names)
    return found


@pytest.mark.parametrize("store", STORES)
def test_a_store_never_reaches_for_the_selection_or_another_store(store):
    siblings = _imported_siblings(store)
    assert "_select" not in siblings
    assert not siblings & (set(STORES) - {store}), siblings


def test_the_selection_is_what_the_public_functions_call():
    assert {"_env", "_file", "_keyring"} <= _imported_siblings("_select")


def test_every_public_name_is_importable_from_the_package():
    for name in keystore.__all__:
        assert getattr(keystore, name) is not None, name
    # what README and the other modules import
    from edge_jupyter.keystore import (  # noqa: F401
        KeyringLocked,
        KeyStoreError,
        NoSecureStore,
        ResolvedKey,
        check_store,
        delete_api_key,
        describe_store,
        disconnect_message,
        resolve_api_key,
        resolve_management_key,
        store_api_key,
    )


def test_key_store_errors_are_edge_errors():
    for cls in (keystore.KeyStoreError, keystore.NoSecureStore, keystore.KeyringLocked):
        assert issubclass(cls, EdgeError), cls
    error = keystore.NoSecureStore("No secure key store.", ["a", "b"])
    assert str(error) == "No secure key store. Do one of these, then connect again: (a) a; (b) b."


def test_a_resolved_key_never_shows_the_key(tmp_path, monkeypatch):
    key = "sk-or-v1-" + "5" * 64
    monkeypatch.setenv("EDGE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("OPENROUTER_API_KEY", key)
    resolved = keystore.resolve_api_key()
    assert resolved.key == key and resolved.source == "environment"
    assert key not in repr(resolved) and key not in str(resolved)
