"""The pure parts of the server extension: flows, addresses, pages (no server, no tornado)."""

from __future__ import annotations

import pytest
from processes import loaded_by

from edge_jupyter.oauth import flows as flows_mod
from edge_jupyter.oauth import pages
from edge_jupyter.oauth.flows import FlowError, FlowStore
from edge_jupyter.pkce import challenge_for
from edge_jupyter.serverext import urls


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_logic_and_kernel_modules_import_without_tornado_or_ipython():
    assert loaded_by("import edge_jupyter.oauth, edge_jupyter.serverext.urls, "
                     "edge_jupyter.keystore, edge_jupyter.connect",
                     ("tornado", "jupyter_server", "IPython")) == []


def test_a_flow_is_one_time():
    store = FlowStore()
    flow = store.create(limit=5.0)
    assert store.pop(flow.flow_id) == flow
    with pytest.raises(FlowError) as e:
        store.pop(flow.flow_id)
    assert e.value.reason == "used"


def test_a_flow_expires_and_says_so():
    clock = Clock()
    store = FlowStore(ttl=600, clock=clock)
    flow = store.create()
    clock.now += 600.5
    with pytest.raises(FlowError) as e:
        store.pop(flow.flow_id)
    assert e.value.reason == "expired"
    late = store.create()
    clock.now += 601
    assert len(store) == 0  # pruned
    with pytest.raises(FlowError) as e:
        store.pop(late.flow_id)
    assert e.value.reason == "expired"


def test_unknown_flow():
    with pytest.raises(FlowError) as e:
        FlowStore().pop("nope" * 6)
    assert e.value.reason == "unknown"


def test_flow_ids_and_verifiers_are_fresh_and_hidden():
    store = FlowStore()
    a, b = store.create(), store.create()
    assert a.flow_id != b.flow_id and a.verifier != b.verifier
    assert len(a.verifier) == 43 and a.challenge == challenge_for(a.verifier)
    assert a.verifier not in repr(a)
    import re

    assert re.fullmatch(flows_mod.ID_PATTERN, a.flow_id)


def test_flow_store_is_bounded():
    store = FlowStore()
    first = store.create()
    for _ in range(flows_mod.MAX_FLOWS):
        store.create()
    assert len(store) == flows_mod.MAX_FLOWS
    with pytest.raises(FlowError):
        store.pop(first.flow_id)


def test_watch_states():
    clock = Clock()
    store = FlowStore(ttl=10, clock=clock)
    store.create(watch_id="w" * 20)
    assert store.watch("w" * 20).state == "pending"
    store.set_watch("w" * 20, "connected", "ok", stored_in="file")
    assert store.watch("w" * 20).as_json() == {"state": "connected", "message": "ok",
                                               "stored_in": "file"}
    store.set_watch(None, "error", "ignored")
    clock.now += 21
    assert store.watch("w" * 20) is None


@pytest.mark.parametrize(("kwargs", "env", "expected"), [
    ({"base_url": "/"}, {}, "http://127.0.0.1:8888/"),
    ({"base_url": "/user/alice/"}, {}, "http://127.0.0.1:8888/user/alice/"),
    ({"base_url": "/user/alice"}, {}, "http://127.0.0.1:8888/user/alice/"),
    ({"base_url": "/", "request_protocol": "https", "request_host": "lab.example.org"}, {},
     "https://lab.example.org/"),
    ({"base_url": "/user/alice/"},
     {"JUPYTERHUB_PUBLIC_URL": "https://hub.example.org/hub-base/",
      "JUPYTERHUB_SERVICE_PREFIX": "/hub-base/user/alice/"},
     "https://hub.example.org/hub-base/user/alice/"),
    ({"base_url": "/user/alice/"}, {"JUPYTERHUB_SERVICE_PREFIX": "/user/alice/"},
     "http://127.0.0.1:8888/user/alice/"),
    ({"base_url": "/user/alice/", "configured": "https://nb.example.com"}, {},
     "https://nb.example.com/user/alice/"),
    ({"base_url": "/user/alice/", "configured": "https://nb.example.com/x/alice"}, {},
     "https://nb.example.com/x/alice/"),
])
def test_public_base(kwargs, env, expected):
    args = {"request_protocol": "http", "request_host": "127.0.0.1:8888", **kwargs}
    assert urls.public_base(environ=env, **args) == expected


def test_public_url_must_be_absolute():
    with pytest.raises(ValueError, match="absolute URL"):
        urls.public_base(base_url="/", request_protocol="http", request_host="h",
                         configured="nb.example.com/alice", environ={})


def test_authorize_url():
    url = urls.authorize_url("https://openrouter.ai/", "http://localhost:8888/edge/oauth/callback/x",
                             "CHAL", 2.5)
    assert url == ("https://openrouter.ai/auth?callback_url=http%3A%2F%2Flocalhost%3A8888%2Fedge"
                   "%2Foauth%2Fcallback%2Fx&code_challenge=CHAL&code_challenge_method=S256"
                   "&limit=2.5")
    assert "limit" not in urls.authorize_url("https://o", "https://cb", "C")
    assert "limit=0" in urls.authorize_url("https://o", "https://cb", "C", 0.0)


@pytest.mark.parametrize(("raw", "value"), [(None, None), ("", None), ("5", 5.0), ("$2.50", 2.5),
                                            ("0", 0.0)])
def test_parse_limit(raw, value):
    assert urls.parse_limit(raw) == value


@pytest.mark.parametrize("raw", ["lots", "-1", "inf", "nan"])
def test_parse_limit_refuses(raw):
    with pytest.raises(ValueError, match="limit"):
        urls.parse_limit(raw)


@pytest.mark.parametrize(("url", "fine"), [
    ("https://lab.example.org/edge/oauth/callback/x", True),
    ("http://localhost:8888/edge/oauth/callback/x", True),
    ("http://127.0.0.1:8888/edge/oauth/callback/x", True),
    ("http://[::1]:8888/edge/oauth/callback/x", True),
    ("http://10.0.0.5:8888/edge/oauth/callback/x", False),
])
def test_callback_problem_for_the_real_openrouter(url, fine):
    assert (urls.callback_problem(url, "https://openrouter.ai") is None) is fine
    assert urls.callback_problem(url, "http://127.0.0.1:5000") is None


def test_pages_escape_everything():
    html = pages.error("<b>t</b>", "<script>x</script>", ["run `%edge connect` <now>"],
                       reason="r\"", retry_href="/a?b=\"c\"").html()
    assert "<script>x" not in html and "&lt;script&gt;" in html
    assert "<code>%edge connect</code> &lt;now&gt;" in html
    assert 'href="/a?b=&quot;c&quot;"' in html
    ok = pages.success(stored_in="SecretService Keyring", limit="$5").html()
    assert "Connected to OpenRouter" in ok and "$5" in ok
    assert 'name="referrer" content="no-referrer"' in ok and "<link rel=\"icon\" href=\"data:,\">" in ok
