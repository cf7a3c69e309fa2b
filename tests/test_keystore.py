"""The key store: the same contract for the real OS keyring and the opt-in file store,
plus every way there can be no (usable) store.

The keyring tests use the real Secret Service that ``scripts/test.sh`` starts
(gnome-keyring under ``dbus-run-session``) and the real service name; each one
removes what it stored.  Scenarios that need a *different* keyring configuration
(plain-text backend, locked keyring, a backend that raises) run in a subprocess,
because keyring's backend choice is process-global.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from connect_fixtures import cleanup_keyring, has_secret_service

from edge_jupyter import keystore
from edge_jupyter.keystore import (
    KeyringLocked,
    KeyStoreError,
    NoSecureStore,
    ResolvedKey,
    delete_api_key,
    delete_management_key,
    resolve_api_key,
    resolve_management_key,
    store_api_key,
    store_management_key,
)

KEY = "sk-or-v1-" + "3" * 64
OTHER = "sk-or-v1-" + "7" * 64
NEEDS_DBUS = pytest.mark.skipif(not has_secret_service(),
                                reason="needs a D-Bus session with an unlocked Secret Service "
                                       "(run through scripts/test.sh)")


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch) -> Path:
    for name in ("OPENROUTER_API_KEY", "OPENROUTER_MANAGEMENT_KEY", "EDGE_KEY_STORE"):
        monkeypatch.delenv(name, raising=False)
    data = tmp_path / "edge-data"
    monkeypatch.setenv("EDGE_DATA_DIR", str(data))
    return data


@pytest.fixture(params=["file", pytest.param("keyring", marks=NEEDS_DBUS)])
def store(request, monkeypatch) -> str:
    """Each contract test runs against both stores."""
    if request.param == "file":
        monkeypatch.setenv("EDGE_KEY_STORE", "file")
    else:
        cleanup_keyring()
        request.addfinalizer(cleanup_keyring)
    return request.param


@pytest.fixture
def no_keyring():
    """keyring's null backend for this test (restored afterwards: keyring is process-global)."""
    import keyring
    from keyring.backends import null

    saved = keyring.get_keyring()
    keyring.set_keyring(null.Keyring())
    yield
    keyring.set_keyring(saved)


# -- the contract, for both stores ---------------------------------------------------------------


def test_round_trip(store):
    assert resolve_api_key().source == "none"
    assert store_api_key(KEY) == store
    resolved = resolve_api_key()
    assert resolved.key == KEY and resolved.source == store and resolved.connected
    assert resolved.backend
    assert delete_api_key() is True
    assert resolve_api_key() == ResolvedKey(None, "none", resolved.backend)
    assert delete_api_key() is False


def test_storing_again_replaces_the_key(store):
    store_api_key(KEY)
    store_api_key(OTHER)
    assert resolve_api_key().key == OTHER
    delete_api_key()


def test_management_key_is_a_separate_entry(store):
    store_api_key(KEY)
    store_management_key(OTHER)
    assert resolve_api_key().key == KEY
    assert resolve_management_key().key == OTHER
    assert delete_management_key() is True
    assert resolve_api_key().key == KEY and resolve_management_key().source == "none"
    delete_api_key()


def test_environment_wins_and_is_never_touched(store, monkeypatch):
    store_api_key(KEY)
    monkeypatch.setenv("OPENROUTER_API_KEY", OTHER)
    resolved = resolve_api_key()
    assert (resolved.key, resolved.source, resolved.backend) == (OTHER, "environment",
                                                                  "OPENROUTER_API_KEY")
    assert delete_api_key() is True
    assert os.environ["OPENROUTER_API_KEY"] == OTHER
    assert resolve_api_key().source == "environment"


def test_repr_and_str_never_show_the_key(store):
    store_api_key(KEY)
    resolved = resolve_api_key()
    assert KEY not in repr(resolved) and KEY not in str(resolved)
    delete_api_key()


@NEEDS_DBUS
def test_keyring_entry_is_under_the_edge_jupyter_service():
    import keyring

    cleanup_keyring()
    try:
        store_api_key(KEY)
        assert keyring.get_password("edge_jupyter", keystore.API_KEY_USERNAME) == KEY
        assert keystore.describe_store().backend == "SecretService Keyring"
        assert keystore.check_store().secure
    finally:
        cleanup_keyring()


@NEEDS_DBUS
def test_keyring_disconnect_also_removes_an_old_file_copy(isolated, monkeypatch):
    monkeypatch.setenv("EDGE_KEY_STORE", "file")
    store_api_key(KEY)
    monkeypatch.delenv("EDGE_KEY_STORE")
    assert resolve_api_key().source == "none"  # the keyring is the store now
    assert delete_api_key() is True
    assert not (isolated / "keys.json").exists()


# -- the file store ------------------------------------------------------------------------------


def test_file_store_is_private_and_where_the_docs_say(isolated, monkeypatch):
    monkeypatch.setenv("EDGE_KEY_STORE", "file")
    old = os.umask(0)
    try:
        assert store_api_key(KEY) == "file"
    finally:
        os.umask(old)
    path = isolated / "keys.json"
    assert path.stat().st_mode & 0o777 == 0o600
    assert json.loads(path.read_text()) == {keystore.API_KEY_USERNAME: KEY}
    assert [p.name for p in isolated.iterdir()] == ["keys.json"], "no temporary files left"
    info = keystore.describe_store()
    assert info.kind == "file" and str(path) in info.backend
    delete_api_key()
    assert not path.exists()


def test_file_store_tightens_a_loose_file(isolated, monkeypatch):
    monkeypatch.setenv("EDGE_KEY_STORE", "file")
    isolated.mkdir(parents=True)
    path = isolated / "keys.json"
    path.write_text("{}")
    path.chmod(0o644)
    store_api_key(KEY)
    assert path.stat().st_mode & 0o777 == 0o600


def test_damaged_file_is_reported_not_raised(isolated, monkeypatch):
    monkeypatch.setenv("EDGE_KEY_STORE", "file")
    isolated.mkdir(parents=True)
    (isolated / "keys.json").write_text("{not json")
    resolved = resolve_api_key()
    assert resolved.source == "none" and "cannot be read" in resolved.problem
    with pytest.raises(KeyStoreError, match="Delete it"):
        store_api_key(KEY)


def test_unknown_store_setting(monkeypatch):
    monkeypatch.setenv("EDGE_KEY_STORE", "vault")
    assert "EDGE_KEY_STORE must be" in resolve_api_key().problem
    with pytest.raises(KeyStoreError, match="EDGE_KEY_STORE must be"):
        store_api_key(KEY)


def test_file_mode_never_touches_the_keyring(monkeypatch, no_keyring):
    monkeypatch.setenv("EDGE_KEY_STORE", "file")
    assert store_api_key(KEY) == "file"
    assert resolve_api_key().source == "file"
    assert delete_api_key() is True


# -- no secure store ------------------------------------------------------------------------------


def test_no_keyring_stores_nothing_and_says_what_to_do(isolated, no_keyring):
    resolved = resolve_api_key()
    assert resolved.source == "none" and not resolved.connected
    assert "No secure key store" in resolved.problem
    with pytest.raises(NoSecureStore) as e:
        store_api_key(KEY)
    message = str(e.value)
    for hint in ("OPENROUTER_API_KEY", "Secret Service", "EDGE_KEY_STORE=file", "mode 600",
                 str(isolated)):
        assert hint in message
    assert KEY not in message
    assert len(e.value.steps) == 3
    assert not isolated.exists() or not any(isolated.iterdir())
    with pytest.raises(NoSecureStore):
        keystore.check_store()
    assert keystore.describe_store().secure is False
    assert delete_api_key() is False


def test_fail_backend_counts_as_no_store():
    import keyring
    from keyring.backends import fail

    saved = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        assert "no OS keyring" in resolve_api_key().problem
        with pytest.raises(NoSecureStore):
            store_api_key(KEY)
    finally:
        keyring.set_keyring(saved)


def _own_session_env(extra: dict[str, str]) -> dict[str, str]:
    """The environment for a nested ``dbus-run-session``: nothing of the outer session
    (an inherited GNOME_KEYRING_CONTROL makes the inner daemon hang)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DBUS_", "GNOME_KEYRING", "SSH_AUTH_SOCK"))}
    return {**env, **extra}


def _run(script: str, env: dict[str, str] | None = None,
         wrap: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    code = textwrap.dedent(script)
    full_env = _own_session_env(env or {}) if wrap else {**os.environ, **(env or {})}
    return subprocess.run([*(wrap or []), sys.executable, "-c", code], capture_output=True,
                          text=True, timeout=20, env=full_env)


def test_plaintext_and_misbehaving_backends_in_a_subprocess(isolated):
    """Backends are registered by defining them, so these live in their own process."""
    done = _run(f"""
        import keyring, keyring.backend, keyring.errors
        from edge_jupyter import keystore
        KEY = {KEY!r}

        class Plain(keyring.backend.KeyringBackend):   # like keyrings.alt's PlaintextKeyring
            priority = 0.5
            def get_password(self, s, u): return None
            def set_password(self, s, u, p): raise AssertionError("must not be called")
            def delete_password(self, s, u): pass

        keyring.set_keyring(Plain())
        try:
            keystore.store_api_key(KEY)
        except keystore.NoSecureStore as e:
            assert "not a secure store" in str(e), str(e)
            print("plain: refused")

        class Leaky(keyring.backend.KeyringBackend):
            priority = 5
            def get_password(self, s, u): return None
            def set_password(self, s, u, p): raise keyring.errors.PasswordSetError("cannot store " + p)
            def delete_password(self, s, u): pass

        keyring.set_keyring(Leaky())
        try:
            keystore.store_api_key(KEY)
        except keystore.KeyStoreError as e:
            assert KEY not in str(e) and e.__cause__ is None and e.__context__ is not None
            print("leaky: scrubbed")

        class Locked(keyring.backend.KeyringBackend):
            priority = 5
            def get_password(self, s, u): raise keyring.errors.KeyringLocked("locked")
            def set_password(self, s, u, p): raise keyring.errors.KeyringLocked("locked")
            def delete_password(self, s, u): raise keyring.errors.KeyringLocked("locked")

        keyring.set_keyring(Locked())
        r = keystore.resolve_api_key()
        assert r.source == "none" and "is locked" in r.problem, r
        for fn in (lambda: keystore.store_api_key(KEY), keystore.delete_api_key,
                   keystore.check_store):
            try:
                fn()
            except keystore.KeyringLocked as e:
                assert "unlock it" in str(e)
            else:
                raise AssertionError("expected KeyringLocked")
        print("locked: reported")
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:3] == ["plain: refused", "leaky: scrubbed", "locked: reported"]


def test_null_backend_from_the_environment_in_a_subprocess(isolated):
    """What a server or kernel started with PYTHON_KEYRING_BACKEND=…null.Keyring sees."""
    done = _run("""
        from edge_jupyter import keystore
        try:
            keystore.store_api_key("sk-or-v1-x")
        except keystore.NoSecureStore as e:
            print("refused:", e.summary)
    """, env={"PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("refused: No secure key store is available")


@NEEDS_DBUS
def test_chainer_with_a_plaintext_fallback_uses_the_secret_service(isolated):
    """With keyrings.alt next to a Secret Service, keyring picks its chainer; we must not
    let it fall back to plain text, so the secure backend is used directly."""
    done = _run(f"""
        import keyring, keyring.backend
        from keyring.backends.chainer import ChainerBackend

        class Plain(keyring.backend.KeyringBackend):
            priority = 0.5
            def get_password(self, s, u): return None
            def set_password(self, s, u, p): raise AssertionError("plain text used")
            def delete_password(self, s, u): pass

        from edge_jupyter import keystore
        assert isinstance(keyring.get_keyring(), ChainerBackend), keyring.get_keyring()
        assert keystore.store_api_key({KEY!r}) == "keyring"
        r = keystore.resolve_api_key()
        assert r.key == {KEY!r} and r.backend == "SecretService Keyring", r
        assert keystore.delete_api_key()
        print("ok")
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


@pytest.mark.skipif(not (shutil.which("dbus-run-session") and shutil.which("gnome-keyring-daemon")),
                    reason="needs dbus-run-session and gnome-keyring (installed by scripts/test.sh)")
def test_real_locked_and_unset_keyrings(tmp_path):
    """A real gnome-keyring: never created (no desktop to prompt), then created but locked."""
    env = {"XDG_DATA_HOME": str(tmp_path / "xdg"), "EDGE_DATA_DIR": str(tmp_path / "data")}
    probe = """
        from edge_jupyter import keystore
        r = keystore.resolve_api_key()
        print("resolve:", r.source, "|", r.problem.split(".")[0])
        try:
            keystore.store_api_key("sk-or-v1-probe")
        except keystore.KeyStoreError as e:
            print("store:", type(e).__name__, "|", e.summary)
    """
    fresh = _run(probe, env, wrap=["dbus-run-session", "--"])
    assert fresh.returncode == 0, fresh.stderr
    assert "resolve: none | Your OS keyring (SecretService Keyring) has no usable keyring" in fresh.stdout
    assert "store: KeyStoreError | " in fresh.stdout and "no desktop session" in fresh.stdout

    create = subprocess.run(
        ["dbus-run-session", "--", "sh", "-c",
         'printf pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null && '
         f'{sys.executable} -c "import keyring; keyring.set_password(\'edge-probe\', \'u\', \'v\')"'],
        capture_output=True, text=True, timeout=20, env=_own_session_env(env))
    assert create.returncode == 0, create.stderr

    locked = _run(probe, env, wrap=["dbus-run-session", "--"])
    assert locked.returncode == 0, locked.stderr
    assert "resolve: none | Your OS keyring (SecretService Keyring) is locked" in locked.stdout
    assert "store: KeyringLocked | Your OS keyring (SecretService Keyring) is locked" in locked.stdout


def test_errors_form_one_tree():
    assert issubclass(NoSecureStore, KeyStoreError) and issubclass(KeyringLocked, KeyStoreError)
    err = KeyStoreError("It broke.", ["do a", "do b"])
    assert str(err) == "It broke. Do one of these, then connect again: (a) do a; (b) do b."
    assert str(KeyStoreError("It broke.", ["Fix it."])) == "It broke. Fix it."
