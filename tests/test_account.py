"""The account's keys through the client and ``edge_jupyter.account`` (issue 18), against the
real sandbox over HTTP: /keys with a management key, the connected key found by its label
(never by hashing it), a limit changed and confirmed, a key revoked and then refused."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import httpx
import pytest
from sandbox_fixtures import auth

from edge_jupyter import account
from edge_jupyter.openrouter import (
    ApiKey,
    AuthenticationError,
    CreatedKey,
    NotFound,
    OpenRouterClient,
    PermissionDenied,
)
from edge_jupyter.sandbox import Sandbox


def client(sb: Sandbox, key: str | None) -> OpenRouterClient:
    return OpenRouterClient(key, origin=sb.url)


@pytest.fixture
def manager(sb: Sandbox) -> OpenRouterClient:
    return client(sb, sb.management_key)


def make_key(manager: OpenRouterClient, name: str = "notebook", **kwargs: object) -> CreatedKey:
    settings = {"limit": 5.0, "limit_reset": "daily", **kwargs}
    return manager.create_key(name, **settings)  # type: ignore[arg-type]


def test_keys_round_trip_create_list_get_update_delete(sb, manager) -> None:
    created = make_key(manager, "round trip", include_byok_in_limit=True)
    assert created.key.startswith("sk-or-v1-") and created.key not in repr(created)
    assert created.info.name == "round trip" and created.info.limit == 5.0
    assert created.info.limit_reset == "daily" and created.info.include_byok_in_limit is True
    assert [k.hash for k in manager.list_keys() if k.name == "round trip"] == [created.info.hash]
    assert manager.get_key(created.info.hash).label == created.info.label
    changed = manager.update_key(created.info.hash, limit=None, limit_reset="monthly", name="renamed")
    assert (changed.limit, changed.limit_reset, changed.name) == (None, "monthly", "renamed")
    disabled = manager.update_key(created.info.hash, disabled=True)
    assert disabled.disabled is True
    assert created.info.hash not in {k.hash for k in manager.list_keys()}
    assert created.info.hash in {k.hash for k in manager.list_keys(include_disabled=True)}
    manager.delete_key(created.info.hash)
    with pytest.raises(NotFound):
        manager.get_key(created.info.hash)
    with pytest.raises(AuthenticationError):
        client(sb, created.key).key_info()


def test_an_ordinary_key_is_refused_every_management_route(sb) -> None:
    ordinary = client(sb, sb.key)
    for call in (ordinary.list_keys, ordinary.activity, lambda: ordinary.create_key(
            "x", limit=1, limit_reset=None), lambda: ordinary.get_key("0" * 64)):
        with pytest.raises(PermissionDenied, match="Only management keys"):
            call()


def list_offsets(sb: Sandbox, manager: OpenRouterClient,
                 page_size: int | None = None) -> tuple[list[str], list[int]]:
    """The hashes ``list_keys`` gives (OpenRouter's page, or ``page_size``), and the
    ``offset`` of each GET /keys it sent."""
    before = len(sb.requests)
    keys = manager.list_keys() if page_size is None else manager.list_keys(page_size=page_size)
    listed = [k.hash for k in keys]
    return listed, [int(r.query["offset"]) for r in sb.requests[before:] if r.path.endswith("/keys")]


def test_list_keys_follows_every_page_and_lists_each_key_once(sb, manager) -> None:
    made = {make_key(manager, f"paged {n}").info.hash for n in range(5)}
    sb.keys_page_size = 2
    listed, offsets = list_offsets(sb, manager, page_size=2)
    assert made <= set(listed) and len(listed) == len(set(listed))
    if len(listed) % 2:  # the last page is short: it is the last, nothing more is asked
        assert offsets == [*range(0, len(listed), 2)]
    else:  # the last page is full: one more, empty, ends it
        assert offsets == [*range(0, len(listed), 2), len(listed)]
    make_key(manager, "one more")  # the other parity
    relisted, offsets = list_offsets(sb, manager, page_size=2)
    assert len(relisted) == len(listed) + 1
    expected = [*range(0, len(relisted), 2)]
    assert offsets == (expected if len(relisted) % 2 else [*expected, len(relisted)])


def test_a_page_shorter_than_openrouter_s_100_is_the_last_one_asked(sb, manager) -> None:
    made = make_key(manager, "alone").info.hash
    listed, offsets = list_offsets(sb, manager)
    assert made in listed and len(listed) < 100
    assert offsets == [0], "one GET /keys for an account of fewer than 100 keys"


def test_a_hash_is_one_path_segment_whatever_it_holds(sb, manager) -> None:
    with pytest.raises(NotFound):
        manager.get_key("../credits")  # not GET /credits
    assert sb.requests[-1].path.endswith("/keys/..%2Fcredits")


def test_key_fields_are_read_tolerantly_and_unsafe_hashes_dropped() -> None:
    odd = ApiKey.from_json({"data": {"hash": "../x", "name": 5, "limit": "inf", "usage": "nan",
                                     "limit_reset": "hourly", "disabled": "yes",
                                     "byok_usage_daily": 1.5}})
    assert (odd.hash, odd.name, odd.limit, odd.usage, odd.limit_reset, odd.disabled) == \
        ("", "", None, 0.0, None, False)
    assert odd.byok_usage_daily == 1.5
    assert ApiKey.from_json("nonsense") == ApiKey(hash="")


def test_what_the_server_writes_in_a_key_is_scrubbed(sb, manager) -> None:
    secret = "sk-or-v1-" + "ab" * 32
    evil = make_key(manager, f"evil\x1b]52;c;aGk=\x07 {secret}")
    listed = next(k for k in manager.list_keys() if k.hash == evil.info.hash)
    assert "\x1b" not in listed.name and "\x07" not in listed.name
    assert secret not in listed.name and listed.name.startswith("evil")


def test_the_connected_key_is_found_by_its_label_not_by_hashing_it(sb, manager) -> None:
    for n in range(3):
        make_key(manager, f"other {n}")
    mine = make_key(manager, "mine")
    assert mine.info.hash != hashlib.sha256(mine.key.encode()).hexdigest()
    found = account.find_connected_key(manager, client(sb, mine.key))
    assert (found.hash, found.name) == (mine.info.hash, "mine")


def test_a_management_key_that_does_not_list_the_key_says_where_to_go(sb, manager) -> None:
    # management keys are not listed by /keys: as "the connected key" it is found nowhere
    with pytest.raises(account.AccountError, match="not among the keys") as missing:
        account.find_connected_key(manager, manager)
    assert "https://openrouter.ai/settings/keys" in str(missing.value)


@pytest.fixture
def twins() -> Iterator[tuple[Sandbox, str, str]]:
    """A sandbox of its own with two keys whose masked labels are the same."""
    with Sandbox() as own:
        a = own.accounts.add_key("sk-or-v1-abc" + "0" * 58 + "xyz")
        b = own.accounts.add_key("sk-or-v1-abc" + "1" * 58 + "xyz")
        yield own, a, b


def test_keys_with_the_same_label_are_told_apart_by_their_spend_or_refused(twins) -> None:
    own, a, b = twins
    manager = client(own, own.management_key)
    labels = {k.label for k in manager.list_keys()}
    assert "sk-or-v1-abc...xyz" in labels
    with pytest.raises(account.AccountError, match="2 keys of the account look like the "
                                                   r"connected one \(sk-or-v1-abc\.\.\.xyz"):
        account.find_connected_key(manager, client(own, a))
    r = httpx.post(own.api_url + "/chat/completions", headers=auth(b), timeout=30,
                   json={"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 200
    found = account.find_connected_key(manager, client(own, b))
    assert found.usage > 0 and found.label == "sk-or-v1-abc...xyz"
    untouched = account.find_connected_key(manager, client(own, a))
    assert untouched.usage == 0 and untouched.hash != found.hash


def test_a_label_is_checked_against_the_key_itself() -> None:
    key = OpenRouterClient("sk-or-v1-abc" + "0" * 58 + "xyz", origin="http://127.0.0.1:9")
    assert key.matches_label("sk-or-v1-abc...xyz")
    assert not key.matches_label("sk-or-v1-abd...xyz") and not key.matches_label("sk-or-v1-abc")
    assert not key.matches_label("...") and not OpenRouterClient(None).matches_label("a...b")


def test_set_limit_patches_the_key_and_confirms_with_a_fresh_get_key(sb, manager) -> None:
    mine = make_key(manager, "capped")
    me = client(sb, mine.key)
    change = account.set_limit(manager, me, limit=2.5, limit_reset="weekly",
                               include_byok_in_limit=True)
    assert (change.confirmed.limit, change.confirmed.limit_reset,
            change.confirmed.include_byok_in_limit) == (2.5, "weekly", True)
    assert sb.requests[-1].path.endswith("/key"), "confirmed by the key itself, last"
    assert any(r.method == "PATCH" for r in sb.requests)
    again = account.set_limit(manager, me, limit=None, limit_reset=None)
    assert (again.confirmed.limit, again.confirmed.limit_reset) == (None, None)
    assert again.confirmed.include_byok_in_limit is True, "a field not given stays as it was"
    with pytest.raises(account.AccountError, match="Nothing to change"):
        account.set_limit(manager, me)


def test_a_confirmation_that_differs_from_the_request_is_named() -> None:
    from edge_jupyter.account import _mismatches
    from edge_jupyter.openrouter import KeyInfo

    info = KeyInfo(limit=3.0, limit_reset="daily", include_byok_in_limit=False)
    assert _mismatches({"limit": 3.0, "limit_reset": "daily"}, info) == []
    assert _mismatches({"limit": 2.5, "limit_reset": None, "include_byok_in_limit": True}, info) == [
        "limit $3 (asked $2.5)", "reset daily (asked never)",
        "BYOK not included in the limit (asked included)"]
    assert _mismatches({"limit": None}, info) == ["limit $3 (asked none)"]


def test_a_stored_ordinary_key_as_management_key_is_one_clear_line(sb) -> None:
    with pytest.raises(account.AccountError) as refused:
        account.set_limit(client(sb, sb.key), client(sb, sb.key), limit=1)
    text = str(refused.value)
    assert "refused the stored management key" in text and "ordinary key" in text
    assert "%edge balance --management-key" in text and "provisioning-keys" in text
    assert sb.key not in text


def test_revoke_deletes_the_key_and_checks_that_it_now_gets_401(sb, manager) -> None:
    mine = make_key(manager, "to revoke")
    me = client(sb, mine.key)
    revoked = account.revoke(manager, me)
    assert revoked.hash == mine.info.hash
    assert httpx.get(sb.api_url + "/key", headers=auth(mine.key)).status_code == 401
    assert mine.info.hash not in {k.hash for k in manager.list_keys(include_disabled=True)}


def test_balance_reads_the_credits_with_the_management_key_it_finds_in_account(sb, edge_env,
                                                                               monkeypatch) -> None:
    from edge_jupyter import balance

    monkeypatch.setenv("OPENROUTER_MANAGEMENT_KEY", sb.management_key)
    assert account.management_client(sb.url) is not None
    assert balance.fetch(client(sb, sb.key)).credits is not None
    monkeypatch.delenv("OPENROUTER_MANAGEMENT_KEY")
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    monkeypatch.setenv("EDGE_KEY_STORE", "file")
    assert account.management_client(sb.url) is None
    with pytest.raises(account.AccountError, match="needs an OpenRouter management key"):
        account.require_manager(sb.url, "Changing the key's limit")


def test_impossible_key_figures_from_a_server_never_reach_a_table() -> None:
    """A negative spend cannot be true, and an overspent key has nothing left, not a negative
    amount: figures a server sends are checked before they are shown or reconciled."""
    from edge_jupyter.openrouter import ActivityRow, KeyInfo

    hostile = {"limit": -5, "limit_remaining": -2.5, "usage": -1, "usage_daily": float("inf"),
               "byok_usage": "-3", "byok_usage_monthly": float("nan")}
    for parsed in (ApiKey.from_json({"data": {**hostile, "hash": "a" * 64}}),
                   KeyInfo.from_json({"data": hostile})):
        assert (parsed.limit, parsed.limit_remaining) == (0.0, 0.0)
        assert parsed.usage == parsed.usage_daily == parsed.byok_usage == 0.0
        assert parsed.byok_usage_monthly == 0.0
    row = ActivityRow.from_json({"date": "2026-11-30", "model": "m", "usage": -4,
                                 "byok_usage_inference": float("inf"), "requests": -2})
    assert row is not None and (row.usage, row.byok_usage_inference, row.requests) == (0.0, 0.0, 0)
