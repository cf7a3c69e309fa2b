"""A broken or hostile OpenRouter (issue 13, findings 4-6): impossible figures, the key echoed
in encoded forms, bodies and lines that would exhaust the machine, a slow ``/key``, and an
interrupt of several models.  Client-level tests first, then real kernels, then a real
jupyter server.  Every attack comes from the sandbox's hostile fault kinds, over HTTP.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from urllib.parse import unquote

import pytest
from kernel_harness import once_streaming

from edge_jupyter.ledger import Ledger
from edge_jupyter.openrouter import MalformedResponse, OpenRouterClient, RetryPolicy, TextDelta
from edge_jupyter.record import CallRecord
from edge_jupyter.sandbox import Fault
from edge_jupyter.scrub import scrub

FAST_RETRY = RetryPolicy(max_retries=2, base_delay=0.01, max_delay=0.05)
BODY = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}
IMPOSSIBLE = [({"cost": float("inf")}, "$inf"), ({"cost": -1}, "-$1"), ({"cost": True}, "true"),
              ({"cost": 1e12}, "$1000000000000"), ({"prompt_tokens": -5}, "prompt_tokens = -5")]
ENCODINGS = ["exact", "url", "upper", "split", "base64"]


def client_for(sb) -> OpenRouterClient:
    return OpenRouterClient(sb.key, origin=sb.url, retry=FAST_RETRY)


def leaks(text: str, key: str) -> list[str]:
    """The forms of ``key`` found in ``text`` (any case, percent-decoded, split, base64)."""
    secret = key.removeprefix("sk-or-v1-")
    # JSON escapes first: in json.dumps output a split key's "\n" is a backslash and an "n"
    text = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)
    text = re.sub(r"\\[nrt]", " ", text)
    flat = re.sub(r"[^0-9a-z]", "", unquote(text).lower())
    found = [form for form, needle in (("plain", secret[:24]), ("plain-end", secret[-24:]))
             if needle in flat]
    raw = base64.b64encode(key.encode()).decode()
    if raw[12:36] in text:
        found.append("base64")
    return found


def true_cost(client: OpenRouterClient, generation_id: str) -> float:
    return client.wait_for_generation(generation_id).total_cost


# -- client level: figures -------------------------------------------------------------------------
@pytest.mark.parametrize(("figures", "shown"), IMPOSSIBLE)
def test_an_impossible_usage_is_unknown_and_said_streamed_and_not(sb, figures, shown):
    client = client_for(sb)
    sb.inject(Fault.usage(**figures))
    stream = client.stream_chat(BODY)
    text = "".join(e.text for e in stream if isinstance(e, TextDelta))
    assert text == sb.completions[-1].text, "the answer itself is complete"
    completion = stream.completion
    assert completion.usage is None  # unknown: never a number the server made up
    assert completion.notes == [f"OpenRouter sent an impossible {'token count' if 'tokens' in shown else 'cost'} "
                                f"({shown}): it was not recorded, and the exact cost is read from "
                                "/generation instead."]
    assert true_cost(client, completion.generation_id) > 0  # /generation has the truth
    sb.inject(Fault.usage(**figures))
    done = client.complete(BODY)
    assert done.usage is None and shown in done.notes[0] and done.text


def test_a_second_usage_that_contradicts_the_first_makes_it_unknown(sb):
    sb.inject(Fault.second_usage(cost=5.0))
    stream = client_for(sb).stream_chat(BODY)
    list(stream)
    assert stream.completion.usage is None
    assert "two usage figures that disagree" in stream.completion.notes[0]


def test_an_impossible_generation_record_never_settles_a_row(sb, tmp_path):
    client = client_for(sb)
    sb.inject(Fault.usage(cost=float("inf"), in_generation=True))
    stream = client.stream_chat(BODY)
    list(stream)
    gen_id = stream.completion.generation_id
    with pytest.raises(MalformedResponse, match=r"impossible total_cost \(\$inf\)"):
        client.wait_for_generation(gen_id)
    # the ledger: the impossible row stays unknown, the rows after it are still settled
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    bad = ledger.begin(CallRecord(model="openai/gpt-4o-mini", generation_id=gen_id))
    ledger.complete(bad, CallRecord(model="openai/gpt-4o-mini", generation_id=gen_id,
                                    status="ok", cost_usd=None))
    good_stream = client.stream_chat(BODY)
    list(good_stream)
    good_id = good_stream.completion.generation_id
    true_cost(client, good_id)
    good = ledger.begin(CallRecord(model="openai/gpt-4o-mini", generation_id=good_id))
    ledger.complete(good, CallRecord(model="openai/gpt-4o-mini", generation_id=good_id,
                                     status="ok", cost_usd=None))
    assert ledger.reconcile(client.generation) == 1
    costs = dict(zip(ledger.frame("all")["generation_id"], ledger.frame("all")["cost_usd"],
                     strict=True))
    assert costs[good_id] == good_stream.completion.usage.cost
    assert costs[gen_id] != costs[gen_id]  # NaN: still unknown, tried again next time


# -- client level: the key -------------------------------------------------------------------------
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_the_key_echoed_in_any_encoding_is_masked_everywhere_the_client_quotes_it(sb, encoding):
    client = client_for(sb)
    sb.inject(Fault.echo_key(where="midstream", encoding=encoding, after_tokens=3))
    stream = client.stream_chat(BODY)
    with pytest.raises(Exception) as err:
        list(stream)
    assert "Invalid credentials" in str(err.value)
    assert leaks(str(err.value) + repr(err.value.args), sb.key) == []
    sb.inject(Fault.echo_key(where="http", encoding=encoding))
    with pytest.raises(Exception) as err:
        list(client.stream_chat(BODY))
    assert err.value.status == 401 and leaks(str(err.value), sb.key) == []
    sb.inject(Fault.echo_key(where="label", encoding=encoding))
    label = client.key_info().label
    assert label.startswith("my key") and leaks(label, sb.key) == []


def test_the_scrubber_masks_any_key_shaped_string_and_leaves_masked_labels():
    other = "sk-or-v1-" + "0e6f44a47a05f1dad2ad7e88c4c1d6b77688157716fb1a5271146f7464951c96"
    assert scrub(f"a key: {other}.") == "a key: sk-or-….", "not the caller's, masked all the same"
    assert scrub(other.upper()) == "sk-or-…"
    assert scrub(other[:30]) == "sk-or-…", "half a key is still a secret"
    assert scrub("label sk-or-v1-au7...890") == "label sk-or-v1-au7...890"
    assert scrub("plain text about sk-or keys and 0123456789abcdef") == \
        "plain text about sk-or keys and 0123456789abcdef"


# -- client level: size and time -------------------------------------------------------------------
BOMB_CHILD = textwrap.dedent("""
    import json, resource, sys
    from edge_jupyter.openrouter import OpenRouterClient, RetryPolicy
    url, key, what = sys.argv[1:4]
    client = OpenRouterClient(key, origin=url, retry=RetryPolicy(max_retries=1, base_delay=0.01))
    body = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        list(client.stream_chat(body)) if what == "chat" else client.models(refresh=True)
        message = "no error"
    except Exception as exc:
        message = f"{type(exc).__name__}: {exc}"
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    print(json.dumps({"grown_kib": grown, "message": message}))
""")


@pytest.mark.parametrize("where", ["http", "models"])
def test_a_gzip_bomb_is_read_only_to_its_cap_and_said_clearly(sb, where):
    # 1 GiB of zeros in ~1 MB of gzip; the old client inflated all of it (7.7 GB measured).
    sb.inject(Fault.gzip_bomb(where=where, times=2))
    run = subprocess.run([sys.executable, "-c", BOMB_CHILD, sb.url, sb.key,
                          "chat" if where == "http" else "models"],
                         capture_output=True, text=True, timeout=300, check=True)
    outcome = json.loads(run.stdout.strip().splitlines()[-1])
    assert outcome["grown_kib"] < 200 * 1024, outcome  # a resource bound, not a timing one
    if where == "http":
        assert "ProviderError" in outcome["message"]
        assert "the error body was larger than 1 MiB, so it was not read" in outcome["message"]
        assert sum(1 for r in sb.requests if r.path.endswith("/chat/completions")) == 2, \
            "a 5xx is still retried"
    else:
        assert outcome["message"].startswith("MalformedResponse: /models answered with more "
                                              "than 32 MiB; it was not read to the end.")


def test_a_16_mb_sse_line_is_skipped_and_said_and_the_answer_arrives(sb):
    sb.inject(Fault.long_line(size=16_000_000, after_tokens=3))
    stream = client_for(sb).stream_chat(BODY)
    text = "".join(e.text for e in stream if isinstance(e, TextDelta))
    assert text == sb.completions[-1].text and stream.completion.usage is not None
    assert stream.completion.notes == [
        "1 malformed chunk from the server was skipped; the answer may miss a few words."]


def test_a_slow_key_lookup_ends_at_its_total_deadline(sb):
    from edge_jupyter import balance

    sb.inject(Fault.slow_key(120))  # a byte every ~0.3 s: no single read ever times out
    result = balance.fetch(client_for(sb), timeout=1.0)
    assert result.key is None
    assert result.problem.startswith("The /key lookup timed out: OpenRouter did not answer "
                                     "within 1 s.")


# -- real kernels ----------------------------------------------------------------------------------
def rows_of(kernel, generation_id: str) -> list[list]:
    return kernel.value(
        f"edge_jupyter.usage('all').query('generation_id == \"{generation_id}\"')"
        "[['status', 'cost_usd', 'prompt_tokens', 'completion_tokens', 'error']]"
        ".astype(str).values.tolist()")


@pytest.mark.parametrize(("figures", "shown"), IMPOSSIBLE[:2] + IMPOSSIBLE[4:])
def test_an_impossible_cost_never_reaches_the_ledger_or_blocks_the_day_budget(
        kernel, sb, figures, shown):
    kernel.ok("%edge budget set 1 --scope day")
    try:
        sb.inject(Fault.usage(**figures))
        run = kernel.ok("%%edge -m openai/gpt-4o-mini --max-tokens 40\nOne")
        text = run.all_text
        assert "Infinity" not in text and "$inf" not in text.replace(f"({shown})", "")
        assert "impossible" in text and "/generation" in text  # said, in one line
        sent = sb.completions[-1]
        real = true_cost(client_for(sb), sent.id)
        status, cost, prompt, completion, _ = rows_of(kernel, sent.id)[0]
        assert status == "ok" and float(cost) == real  # filled from /generation at once
        assert int(prompt) >= 0 and int(completion) >= 0
        # the day budget is not blocked: the next cell is sent and answered
        before = len(sb.completions)
        kernel.ok("%%edge -m openai/gpt-4o-mini --max-tokens 40\nTwo")
        assert len(sb.completions) == before + 1
        spent = kernel.value("float(edge_jupyter.usage('all')['cost_usd'].sum())")
        assert spent < 1
    finally:
        kernel.ok("%edge budget clear")


def test_a_contradicting_second_usage_is_reconciled_in_a_kernel(kernel, sb):
    sb.inject(Fault.second_usage(cost=5.0))
    run = kernel.ok("%%edge -m openai/gpt-4o-mini\nTwice")
    assert "disagree" in run.all_text
    sent = sb.completions[-1]
    assert float(rows_of(kernel, sent.id)[0][1]) == true_cost(client_for(sb), sent.id) != 5.0


def test_the_key_echoed_mid_stream_reaches_no_output_ledger_export_or_frame(kernel, sb, tmp_path):
    outputs = []
    for encoding in ["exact", "url", "upper", "split"]:
        sb.inject(Fault.echo_key(where="midstream", encoding=encoding, after_tokens=3))
        run = kernel.run("%%edge -m openai/gpt-4o-mini\nEcho")
        assert run.status == "error" and "Invalid credentials" in run.all_text
        outputs.append(run.all_text + json.dumps(run.outputs))
    errors = kernel.value("edge_jupyter.usage('all')['error'].astype(str).tolist()")
    assert sum("Invalid credentials" in e for e in errors) >= 4
    frame = kernel.value("edge_jupyter.usage('all').astype(str).to_csv()")
    path = tmp_path / "usage.csv"
    kernel.ok(f"%edge usage --all --export {path}")
    exported = path.read_text()
    ledger = b"".join(p.read_bytes() for p in Path(kernel.value(
        "str(edge_jupyter.storage.data_dir())")).glob("ledger.sqlite3*"))
    for where, text in [("cell output", "\n".join(outputs)), ("ledger error", "\n".join(errors)),
                        ("usage() frame", frame), ("CSV export", exported),
                        ("ledger file", ledger.decode("latin-1"))]:
        assert leaks(text, sb.key) == [], where


def test_edge_balance_masks_a_label_that_echoes_the_key(kernel, sb):
    for encoding in ["exact", "upper", "url"]:
        sb.inject(Fault.echo_key(where="label", encoding=encoding))
        run = kernel.ok("%edge balance")
        assert "my key" in run.all_text and leaks(run.all_text + json.dumps(run.outputs), sb.key) == []


def test_a_slow_key_lookup_does_not_hold_the_cell(kernel, sb):
    kernel.ok("%edge alert 1000")  # an alert makes every cell look the balance up first
    try:
        kernel.ok("import edge_jupyter.balance\nedge_jupyter.balance.clear_cache()")
        sb.inject(Fault.slow_key(120))  # trickles for 2 minutes: per-read timeouts never fire
        run = kernel.run("%%edge -m openai/gpt-4o-mini\nStill answered", timeout=60)
        # The slow /key was asked (its fault is used up) and the cell still answered well
        # inside the trickle's two minutes: the lookup ended at its deadline ("timed out",
        # see test_a_slow_key_lookup_ends_at_its_total_deadline) and the cell went on.
        assert sb.faults.pending() == []
        assert any(r.path.endswith("/key") for r in sb.requests)
        assert run.status == "ok" and kernel.value("_edge.text") == sb.completions[-1].text
    finally:
        kernel.ok("%edge alert 0")


def test_several_models_interrupted_in_a_stall_each_row_is_priced(kernel, sb):
    # Both providers go silent after two tokens: their threads sit in recv().  The interrupt
    # must end both reads (socket shutdown), so the server sees both disconnects and
    # bills only what was sent; each row keeps its generation id and is reconciled.
    sb.inject(Fault.stall(90, after_tokens=2, times=2))
    run = kernel.run("%%edge -m openai/gpt-4o-mini -m anthropic/claude-3.5-haiku\nStall",
                     interrupt_when=once_streaming(sb, requests=2, after=1.0), timeout=60)
    assert "Interrupted" in run.all_text
    sent = sb.wait_for_completions(2, timeout=30)[-2:]  # well inside the 90 s stall
    assert all(c.cancelled for c in sent)
    kernel.ok("%edge usage --reconcile --all")
    client = client_for(sb)
    for completion in sent:
        rows = rows_of(kernel, completion.id)
        assert len(rows) == 1, "the row carries its generation id"
        status, cost = rows[0][:2]
        assert status == "interrupted" and float(cost) == true_cost(client, completion.id)


# -- a real jupyter server --------------------------------------------------------------------------
@pytest.fixture
def jp_server_config(sandbox) -> dict:
    return {"ServerApp": {"jpserver_extensions": {"edge_jupyter": True}},
            "EdgeExtensionApp": {"openrouter_url": sandbox.url}}


@pytest.mark.parametrize("encoding", ["exact", "url", "upper", "split"])
async def test_edge_api_status_masks_a_label_that_echoes_the_key(
        jp_fetch, sb, tmp_path, monkeypatch, encoding):
    monkeypatch.setenv("OPENROUTER_API_KEY", sb.key)
    monkeypatch.setenv("EDGE_OPENROUTER_URL", sb.url)
    monkeypatch.setenv("EDGE_DATA_DIR", str(tmp_path / "edge-data"))
    sb.inject(Fault.echo_key(where="label", encoding=encoding))
    r = await jp_fetch("edge", "api", "status")
    body = r.body.decode()
    status = json.loads(body)
    assert status["connected"] is True and status["key"]["label"].startswith("my key")
    assert leaks(body, sb.key) == []
