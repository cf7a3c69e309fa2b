"""OpenRouter's Batch API for ``map(..., batch=True)``: submit once, wait, collect; list; cancel.

A batch is paid once, so its id is kept under ``EDGE_DATA_DIR/batches/<hash>.json``, the hash
of the rows' replay keys with the model, the origin and the key's fingerprint: the same map
run again (later, in another cell, after a kernel restart) finds the file and waits on the
same batch instead of submitting it again.  The file also holds what collecting needs
without the map (the ledger row of each request, its replay key, the cell it was sent from),
so :func:`cancel_batch` can settle the rows too.

Money: before anything is sent the rows are ledger rows (``pending``) holding their worst
case at the batch price (:func:`batch_price`), through the map's own group commit
(:class:`edge_jupyter.calls.CallBatch`); if the budgets cannot hold every row nothing is
sent.  When the batch is done each row is completed with its exact cost (the result's
``usage.cost``, else ``/generation``), in one transaction, and the answers are kept beside
the record (``<hash>.answers.json``), so a third run reuses them for $0.

Waiting polls ``GET /api/beta/batches/{id}`` with backoff (:data:`POLL_FIRST` seconds, × 1.5,
at most :data:`POLL_MAX`), a progress line following the statuses.  An interrupt stops
waiting only: the batch keeps running on OpenRouter and the message says how to resume or
cancel.  Shapes: ``/work/shared/openrouter-beyond-chat.md`` §5 (documented, not in the spec:
every field is read defensively here).
"""

from __future__ import annotations

import dataclasses
import hashlib
import html
import json
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import storage
from .batch import BatchError
from .errors import EdgeError
from .money import exact_usd
from .record import CallRecord
from .untrusted_text import strip_controls
from .user_numbers import finite

if TYPE_CHECKING:
    import pandas as pd

    from .openrouter import OpenRouterClient, Pricing
    from .routing import WorstPrice

#: What a batch row pays of the per-token price (OpenRouter: "typically 50 %").
BATCH_SHARE = 0.5
#: Prices that the batch discount applies to (web search is at the standard price).
_PER_TOKEN = ("prompt", "completion", "reasoning", "cache_read", "cache_write", "cache_write_1h")
#: The first wait between two looks at a batch, the growth and the longest wait (seconds).
POLL_FIRST = 0.5
POLL_GROWTH = 1.5
POLL_MAX = 10.0
#: Statuses after which a batch changes no more.
FINAL = frozenset({"completed", "failed", "expired", "cancelled"})
_WORDS = {"validating": "validating", "in_progress": "in progress", "finalizing": "finalizing",
          "completed": "completed", "failed": "failed", "expired": "expired",
          "cancelling": "cancelling", "cancelled": "cancelled"}


class BatchApiError(BatchError):
    """A Batch API batch that cannot be submitted, read or cancelled (the message says why)."""


# -- prices ---------------------------------------------------------------------------------

def batch_pricing(pricing: Pricing) -> Pricing:
    """``pricing`` with its per-token prices at :data:`BATCH_SHARE` (per request, image and
    web search prices unchanged).

    A price sheet with a ``discount`` that :meth:`Pricing.at` applies after the tiers gets the
    batch share folded into it, so a tier above ``min_prompt_tokens`` is halved too.
    """
    discount = getattr(pricing, "discount", None)
    if isinstance(discount, float) and hasattr(pricing, "at"):
        return dataclasses.replace(pricing, discount=1.0 - (1.0 - discount) * BATCH_SHARE)
    changes = {name: getattr(pricing, name) * BATCH_SHARE for name in _PER_TOKEN
               if isinstance(getattr(pricing, name, None), float)}
    return dataclasses.replace(pricing, **changes)


def batch_price(price: WorstPrice) -> WorstPrice:
    """The dearest route's prices at the batch price (unknown stays unknown)."""
    if price.pricing is None:
        return price
    return dataclasses.replace(price, pricing=batch_pricing(price.pricing))


# -- the kept batches -----------------------------------------------------------------------

def _folder() -> Path:
    return storage.data_dir() / "batches"


def batch_key(client: OpenRouterClient, model: str, keys: Sequence[str]) -> str:
    """The file name of a batch of these rows (their replay keys: hashes of their bodies)."""
    digest = hashlib.sha256()
    for part in (client.origin, client.key_fingerprint, model, *keys):
        digest.update(part.encode())
        digest.update(b"\n")
    return digest.hexdigest()[:32]


def _check_entry(data: Any) -> str | None:
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        return "not a batch record"
    if not data["id"] and not data.get("unconfirmed"):
        return "it names no batch"
    if not isinstance(data.get("rows"), list) or not isinstance(data.get("keys"), list):
        return "its rows are missing"
    return None


def _load(path: Path) -> dict[str, Any] | None:
    try:
        return storage.load_json(path, None, _check_entry)
    except storage.DamagedFile as exc:  # not ours to repair: keep it, send nothing again
        kept = storage.keep_damaged_copy(path)
        # Submitting afresh could pay for a batch that is still running: the person decides.
        raise BatchApiError(
            f"{exc.path} was damaged ({exc.problem}); a copy is kept as {kept}. It may name a "
            "batch still running on OpenRouter, so nothing was submitted: `edge_jupyter."
            "batches()` lists the batches there (cancel_batch(id) any you do not want); then "
            f"delete {exc.path} and run the map again to submit afresh.") from None


def kept_batches() -> list[dict[str, Any]]:
    """Every batch record under ``EDGE_DATA_DIR/batches`` (unreadable ones skipped)."""
    folder = _folder()
    found = []
    for path in sorted(folder.glob("*.json")) if folder.exists() else []:
        if path.name.endswith(".answers.json"):
            continue
        try:
            entry = storage.load_json(path, None, _check_entry)
        except storage.DataError:
            continue
        if entry is not None:
            found.append({**entry, "file": path.name})
    return found


# -- submit ---------------------------------------------------------------------------------

@dataclasses.dataclass
class Submitted:
    """A batch this map waits on: its record file, its content, whether it was new."""

    path: Path
    entry: dict[str, Any]
    new: bool


def submit_or_resume(client: OpenRouterClient, model: str, bodies: Sequence[dict[str, Any]],
                     keys: Sequence[str], records: Sequence[CallRecord],
                     reserve: Callable[[list[tuple[CallRecord, dict[str, Any]]]], list[int]]
                     ) -> Submitted:
    """The batch of ``bodies``: the kept one if its rows are not collected yet, else a new one.

    ``reserve(starting)`` begins the ledger rows (pending, worst case at the batch price) and
    returns their ids, or raises when the budgets cannot hold them all (nothing is sent). The
    look-up and the submit happen under the record's lock, so two kernels running the same
    map at once submit one batch.
    """
    path = _folder() / f"{batch_key(client, model, keys)}.json"
    with storage.locked(path):
        entry = _load(path)
        if entry is not None and entry.get("unconfirmed"):
            entry = _adopt(client, path, entry, records)
        if entry is not None and not entry.get("collected"):
            return Submitted(path, entry, new=False)
        if entry is not None and kept_answers(path, len(keys)) is not None:
            # Another kernel collected this very batch since this map looked for its answers:
            # collected again (the same rows, the same figures), never submitted twice.
            return Submitted(path, entry, new=False)
        rows = reserve([(r, b) for r, b in zip(records, bodies, strict=True)])
        requests = [{"custom_id": f"row-{k}", "body": body} for k, body in enumerate(bodies)]
        first = records[0] if records else CallRecord(model=model)
        entry = {"id": "", "model": model, "origin": client.origin,
                 "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                 "status": "validating", "collected": False, "rows": rows, "keys": list(keys),
                 "notebook": first.notebook, "cell_id": first.cell_id,
                 "execution_count": first.execution_count, "session_id": first.session_id}
        try:
            made = client.create_batch(model, requests)
        except BaseException as exc:
            if _refused(exc):  # OpenRouter said no: nothing was accepted, the reservations go
                _settle_unsent(rows, records, f"The batch was not submitted ({exc}).")
                raise BatchApiError(f"OpenRouter's Batch API did not take the batch: {exc} "
                                    "Nothing was sent; run the map again to retry.") from None
            # The answer was lost (a timeout, a dropped connection, a 5xx, an interrupt): the
            # batch may be running and billed. Its rows stay pending, holding their worst case,
            # and the record says so: the next run looks for the batch before sending anything.
            storage.write_json_atomic(path, {**entry, "unconfirmed": True})
            message = (f"The Batch API's answer to the submission was lost ({exc}): the batch may "
                       "be running on OpenRouter, and its rows stay pending, holding their worst "
                       "case. Run the same map again: it looks for the batch before sending "
                       "anything (`edge_jupyter.batches()` lists them).")
            if isinstance(exc, KeyboardInterrupt):
                from .calls import EdgeInterrupted

                raise EdgeInterrupted(message) from None
            raise BatchApiError(message) from None
        batch_id = _text(made.get("id"))
        if not isinstance(batch_id, str) or not batch_id:
            _settle_unsent(rows, records, "The Batch API answered without a batch id.")
            raise BatchApiError("OpenRouter's Batch API answered without a batch id: nothing is "
                                "known to be running; run the map again to retry.")
        entry = {**entry, "id": batch_id, "status": str(made.get("status") or "validating")}
        storage.write_json_atomic(path, entry)
        return Submitted(path, entry, new=True)


def _refused(exc: BaseException) -> bool:
    """Did OpenRouter answer the submission with a refusal (a 4xx)? Only then is it sure that
    no batch was made."""
    from .openrouter import APIStatusError

    return isinstance(exc, APIStatusError) and 400 <= exc.status < 500


def _adopt(client: OpenRouterClient, path: Path, entry: dict[str, Any],
           records: Sequence[CallRecord]) -> dict[str, Any] | None:
    """A submission whose answer was lost: the batch of this model and row count on
    OpenRouter that no other record names becomes this record's (None: there is none, the
    rows held for it are released and the map submits afresh)."""
    known = {e["id"] for e in kept_batches() if e.get("id")}
    found = [b for b in client.list_batches()
             if b.get("model") == entry["model"] and b.get("id") not in known
             and (b.get("request_counts") or {}).get("total") == len(entry["rows"])]
    if not found:
        _settle_unsent(entry["rows"], records, "The earlier submission never reached OpenRouter.")
        storage.remove_file(path, "remove the unconfirmed batch record")
        return None
    if len(found) > 1:
        ids = ", ".join(str(b.get("id")) for b in found)
        raise BatchApiError(f"An earlier submission of this map lost its answer, and OpenRouter "
                            f"has {len(found)} batches that could be it ({ids}): cancel the ones "
                            "you do not want with edge_jupyter.cancel_batch(id), then run again.")
    adopted = {**entry, "id": _text(found[0]["id"]), "status": _text(found[0].get("status")),
               "unconfirmed": False}
    storage.write_json_atomic(path, adopted)
    return adopted


def _settle_unsent(rows: Sequence[int], records: Sequence[CallRecord], why: str) -> None:
    """Complete begun rows of a batch that was never accepted: nothing billed, nothing held."""
    from .ledger import FinishedCall, Ledger

    finished = []
    for row_id, record in zip(rows, records, strict=False):
        done = dataclasses.replace(record, status="error", error=why, cost_usd=0.0)
        finished.append(FinishedCall(row_id, done))
    if finished:
        Ledger.default().write_many(finished, [])


# -- wait -----------------------------------------------------------------------------------

class _Line:
    """The progress line: one HTML display updated per look (or a printed line per status)."""

    def __init__(self, enabled: bool) -> None:
        self.handle = None
        self.enabled = enabled
        self._said = ""
        if enabled:
            try:
                from IPython import get_ipython
                from IPython.display import display

                if get_ipython() is not None:
                    self.handle = display({"text/plain": "edge map: batch submitted"}, raw=True,
                                          display_id=True)
            except ImportError:
                pass

    def show(self, text: str) -> None:
        if not self.enabled:
            return
        if self.handle is None:
            status = text.split(" · ")[1] if " · " in text else text
            if status != self._said:  # a terminal: one line per status, not per look
                self._said = status
                print(f"edge map: {text}", flush=True)
            return
        self.handle.update({"text/plain": text,
                            "text/html": f'<div class="edge-progress" style="font-size:0.85em">'
                                         f"{html.escape(text)}</div>"}, raw=True)


def describe(batch: dict[str, Any]) -> str:
    """``batch_… · in progress · 400/1,000 rows done · 2 failed``."""
    counts = _obj(batch.get("request_counts"))
    total, done, failed = (_int(counts.get(k)) for k in ("total", "completed", "failed"))
    status = _text(batch.get("status")) or "unknown"
    text = f"batch {_text(batch.get('id'))} · {_WORDS.get(status, status)} · {done:,}/{total:,} rows done"
    return text + (f" · {failed:,} failed" if failed else "")


def _text(value: Any, cap: int = 200) -> str:
    """A name the server sent (a batch id, a status), fit for a terminal and a record: a string,
    control characters gone, capped; "" for anything else."""
    return strip_controls(value)[:cap] if isinstance(value, str) else ""


def batch_cost(batch: dict[str, Any]) -> float | None:
    """The batch-level ``usage.cost`` OpenRouter charged: a finite figure of at least 0, else
    None (never shown, recorded or summed otherwise)."""
    return finite(_obj(batch.get("usage")).get("cost"), low=0)


def _obj(value: Any) -> dict[str, Any]:
    """A JSON object from the server, or an empty one for anything else."""
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def wait(client: OpenRouterClient, batch_id: str, line: _Line, seen: dict[str, str] | None = None,
         sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """Look at the batch until it is final (backoff between looks); its last object.
    ``seen["status"]`` is the status of the latest look (for an interrupt's message)."""
    delay = POLL_FIRST
    while True:
        batch = client.get_batch(batch_id)
        status = str(batch.get("status") or "")
        if seen is not None:
            seen["status"] = status
        if status in FINAL:
            line.show(describe(batch))
            return batch
        line.show(f"{describe(batch)} · next look in {delay:.0f} s" if delay >= 1
                  else describe(batch))
        sleep(delay)
        delay = min(POLL_MAX, delay * POLL_GROWTH)


def interrupted_message(batch_id: str, status: str) -> str:
    return (f"Stopped waiting: batch {batch_id} is {_WORDS.get(status, status or 'running')} and "
            "keeps running on OpenRouter. Run the same map again to wait for it and collect its "
            "answers (it is not sent again), or cancel it with "
            f"edge_jupyter.cancel_batch({batch_id!r}).")


# -- collect --------------------------------------------------------------------------------

#: What a kept answer holds (the replay store's fields, read back by :func:`replay.apply`).
ANSWER_FIELDS = ("text", "provider", "generation_id", "prompt_tokens", "completion_tokens",
                 "reasoning_tokens", "cached_tokens", "cost_usd", "upstream_cost_usd", "is_byok",
                 "finish_reason")


class _Names:
    """The server's short names (provider) scrubbed once each, not once per row."""

    def __init__(self, client: OpenRouterClient) -> None:
        self.client = client
        self.seen: dict[str, str] = {}

    def __call__(self, value: Any) -> str:
        if not isinstance(value, str):
            return ""
        clean = self.seen.get(value)
        if clean is None:
            clean = self.seen[value] = self.client.scrub(value)
        return clean


def _record_of(client: OpenRouterClient, names: _Names, base: dict[str, Any],
               result: dict[str, Any] | None, batch_status: str) -> CallRecord:
    """One row's final record from its result (``response`` or ``error``), or its absence."""
    from .openrouter import Usage

    record = CallRecord(**base)
    if result is None:
        record.status, record.cost_usd = "error", 0.0
        record.error = (f"The batch ended {_WORDS.get(batch_status, batch_status)} before this "
                        "row was answered: nothing was billed for it; run the map again to send it.")
        return record
    error = result.get("error")
    response = result.get("response") if isinstance(result.get("response"), dict) else None
    body = response.get("body") if response is not None else None
    if error is not None or not isinstance(body, dict):
        err = error if isinstance(error, dict) else {}
        why = client.scrub(str(err.get("message") or "no answer"))
        code = client.scrub(str(err.get("code") or (response or {}).get("status_code") or ""))
        record.status, record.cost_usd = "error", 0.0
        record.error = f"The Batch API failed this row ({code}: {why})." if code else \
            f"The Batch API failed this row ({why})."
        return record
    choices = body.get("choices") if isinstance(body.get("choices"), list) else []
    choice = choices[0] if choices and isinstance(choices[0], dict) else {}
    message = _obj(choice.get("message"))
    content = message.get("content")
    record.text = content if isinstance(content, str) else ""
    reasoning = message.get("reasoning")
    record.reasoning = client.scrub(reasoning) if isinstance(reasoning, str) and reasoning else ""
    finish = choice.get("finish_reason")
    record.finish_reason = names(finish) or None
    gen_id = body.get("id")  # an id, as the client takes a completion's (not scrubbed: unique per row)
    record.generation_id = gen_id if isinstance(gen_id, str) else ""
    record.provider = names(body.get("provider"))
    record.status = "ok"
    usage = None
    if isinstance(body.get("usage"), dict):
        try:
            usage = Usage.from_json(body["usage"])
        except ValueError:  # an impossible figure: read /generation instead
            usage = None
    if usage is not None:
        record.prompt_tokens, record.completion_tokens = usage.prompt_tokens, usage.completion_tokens
        record.reasoning_tokens, record.cached_tokens = usage.reasoning_tokens, usage.cached_tokens
        record.cost_usd, record.is_byok = usage.cost, usage.is_byok
        record.upstream_cost_usd = usage.upstream_cost
    if record.cost_usd is None and record.generation_id:  # the exact figure, from /generation
        try:
            gen = client.wait_for_generation(record.generation_id, timeout=5.0)
        except EdgeError:
            pass  # left unknown: the ledger's reconciliation prices it from the generation id
        else:
            record.cost_usd, record.is_byok = gen.total_cost, gen.is_byok
            record.prompt_tokens = record.prompt_tokens or gen.prompt_tokens
            record.completion_tokens = record.completion_tokens or gen.completion_tokens
    from .calls import note_batch_saving

    note_batch_saving(record, BATCH_SHARE)  # its normal price minus this (computed)
    return record


def _answers_path(path: Path) -> Path:
    return path.with_name(path.name.replace(".json", ".answers.json"))


def kept_answers(path: Path, rows: int) -> list[dict[str, Any] | None] | None:
    """The answers kept with a collected batch (one per row, None for a failed one), or None
    when there are none to read (the map then asks again)."""
    try:
        data = storage.load_json(_answers_path(path), None)
    except storage.DataError:
        return None
    if not isinstance(data, list) or len(data) != rows:
        return None
    return [a if isinstance(a, dict) and isinstance(a.get("text"), str) else None for a in data]


def collect(client: OpenRouterClient, submitted: Submitted, batch: dict[str, Any]) -> list[CallRecord]:
    """Every row's final record (in the order submitted): the ledger rows completed in one
    transaction, the answers kept beside the batch's record (``<hash>.answers.json``: the
    same map run again replays them for $0), then the record marked collected.

    The answers are kept with the batch, one file, rather than one replay file per row
    (10,000 file creations took seconds of a collect): a kernel killed before the record
    is marked collects the same batch again next time (ledger rows are completed by id,
    so nothing is counted twice).
    """
    from .ledger import FinishedCall, Ledger

    entry = submitted.entry
    status = str(batch.get("status") or "")
    results: dict[str, dict[str, Any]] = {}
    for item in batch.get("results") or []:
        if isinstance(item, dict) and isinstance(item.get("custom_id"), str):
            results[item["custom_id"]] = item
    base = {"model": entry["model"], "notebook": entry.get("notebook") or "",
            "cell_id": entry.get("cell_id") or "", "execution_count": entry.get("execution_count"),
            "session_id": entry.get("session_id") or "", "chat": "map"}
    names = _Names(client)
    records = [_record_of(client, names, base, results.get(f"row-{k}"), status)
               for k in range(len(entry["rows"]))]
    Ledger.default().write_many(
        [FinishedCall(row_id, record) for row_id, record in zip(entry["rows"], records, strict=True)], [])
    answers = [{name: getattr(r, name) for name in ANSWER_FIELDS} if r.status == "ok" else None
               for r in records]
    storage.write_bytes_atomic(_answers_path(submitted.path),
                               json.dumps(answers, separators=(",", ":")).encode("ascii"))
    cost = sum(r.cost_usd or 0.0 for r in records)
    def done(current: Any) -> Any:
        if not isinstance(current, dict) or current.get("id") != entry["id"]:
            return current
        return {**current, "collected": True, "status": status, "cost_usd": cost,
                "batch_cost_usd": batch_cost(batch)}

    storage.update_json(submitted.path, done, None)
    return records


# -- map(..., batch=True) -------------------------------------------------------------------

def run_map(client: OpenRouterClient, model: str, bodies: Sequence[dict[str, Any]],
            keys: Sequence[str], results: list[CallRecord | None],
            new_record: Callable[[int], CallRecord], pending: Sequence[int],
            budget: float | None, progress: bool) -> float:
    """The ``pending`` rows of a map through one batch (submitted, or the kept one resumed):
    their records into ``results``; returns what they cost."""
    from .calls import CallBatch, EdgeInterrupted

    sent = [bodies[i] for i in pending]
    records = [new_record(i) for i in pending]

    def reserve(starting: list[tuple[CallRecord, dict[str, Any]]]) -> list[int]:
        money = CallBatch.open(client, model, sent[0], budget)
        money.price = batch_price(money.price) if money.price is not None else None
        checks, refused = money.write([], starting)
        rows = [c.row_id for c in checks]
        if refused is not None:  # all or nothing: a batch is one submission
            _settle_unsent(rows, [r for r, _ in starting], "Not sent: the batch did not fit the budget.")
            raise BatchApiError(f"{str(refused).rstrip('.')}. The batch's rows, at the batch price, "
                                "do not all fit: nothing was sent.")
        return rows

    submitted = submit_or_resume(client, model, sent, [keys[i] for i in pending], records, reserve)
    entry = submitted.entry
    if submitted.new:
        print(f"edge map: submitted batch {entry['id']} ({len(sent):,} rows) to OpenRouter's "
              "Batch API; waiting for it (an interrupt stops waiting, the batch keeps running).")
    else:
        print(f"edge map: batch {entry['id']} (submitted {entry.get('created', '')}) already holds "
              "these rows: waiting for it, nothing is sent again.")
    line = _Line(progress)
    seen = {"status": str(entry.get("status") or "")}
    try:
        batch = wait(client, entry["id"], line, seen)
    except KeyboardInterrupt:
        raise EdgeInterrupted(interrupted_message(entry["id"], seen["status"])) from None
    try:
        done = collect(client, submitted, batch)
    except KeyboardInterrupt:  # the ledger's transaction is whole or not at all
        raise EdgeInterrupted(f"Stopped while collecting batch {entry['id']}: run the same map "
                              "again to collect it (nothing is sent again).") from None
    for i, record in zip(pending, done, strict=True):
        results[i] = record
    spent = sum(r.cost_usd or 0.0 for r in done)
    charged = batch_cost(batch)
    if charged is not None:
        print(f"edge map: batch {entry['id']} {describe(batch).split(' · ')[1]}: OpenRouter charged "
              f"{exact_usd(charged)} for it.")
    return spent


def with_kept_answers(client: OpenRouterClient, model: str, keys: Sequence[str],
                      answered: list[dict[str, Any] | None]) -> list[dict[str, Any] | None]:
    """``answered`` (the replay store's entries per row) with the answers of a collected
    batch of exactly the other rows filled in: reused for $0 (and quoted so), as replayed ones."""
    pending = [i for i, entry in enumerate(answered) if entry is None]
    if not pending:
        return answered
    path = _folder() / f"{batch_key(client, model, [keys[i] for i in pending])}.json"
    entry = _load(path)
    if entry is None or not entry.get("collected"):
        return answered
    kept = kept_answers(path, len(pending))
    if kept is None:
        return answered
    filled = list(answered)
    for i, answer in zip(pending, kept, strict=True):
        filled[i] = answer
    return filled


# -- the public names: batches(), cancel_batch() --------------------------------------------

def _client() -> OpenRouterClient:
    from .calls import connected_client

    return connected_client()


def batches() -> pd.DataFrame:
    """This key's Batch API batches, newest first: ``id, status, total, completed, failed,
    cost_usd, created, model`` and ``kept`` (whether a map here waits on it)."""
    import pandas as pd

    client = _client()
    try:
        listed = client.list_batches()
    except EdgeError as exc:
        raise BatchApiError(f"The batches could not be listed ({exc}).") from None
    kept = {e["id"] for e in kept_batches() if not e.get("collected")}
    rows = []
    for b in listed:
        counts = _obj(b.get("request_counts"))
        cost = batch_cost(b)
        created = b.get("created_at")
        rows.append({
            "id": client.scrub(str(b.get("id", ""))),
            "status": client.scrub(str(b.get("status", ""))),
            "total": _int(counts.get("total")), "completed": _int(counts.get("completed")),
            "failed": _int(counts.get("failed")),
            "cost_usd": float("nan") if cost is None else cost,
            "created": pd.Timestamp(created, unit="s", tz="UTC") if isinstance(created, int) else pd.NaT,
            "model": client.scrub(str(b.get("model", ""))),
            "kept": b.get("id") in kept,
        })
    columns = ["id", "status", "total", "completed", "failed", "cost_usd", "created", "model", "kept"]
    return pd.DataFrame(rows, columns=columns)


def cancel_batch(batch_id: str) -> str:
    """Cancel a batch on OpenRouter; returns its status. A map that waits on it then
    settles its rows (answered ones keep their cost, the others cost nothing)."""
    client = _client()
    try:
        batch = client.cancel_batch(str(batch_id))
    except EdgeError as exc:
        raise BatchApiError(f"Batch {batch_id} could not be cancelled ({exc}).") from None
    status = str(batch.get("status") or "")
    for entry in kept_batches():
        if entry["id"] == batch_id and not entry.get("collected") and status in FINAL:
            path = _folder() / entry.pop("file")
            with storage.locked(path):
                collect(client, Submitted(path, entry, new=False), client.get_batch(batch_id))
    return status
