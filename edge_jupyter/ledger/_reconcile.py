"""Reconciliation: settling from ``/generation`` the rows whose cost is still unknown.

A call that ended without an inline cost (interrupted, stopped, failed) holds its
reservation or estimate until OpenRouter's generation record gives the exact figures;
a ``pending`` row whose process is gone (:func:`is_stale`) was abandoned and becomes
``interrupted``.  :class:`LedgerReconciliation` finds and settles such rows; the
helpers above it only decide when a pending row is abandoned.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from edge_jupyter.record import CallRecord

from ._db import Database
from ._rows import NEXT_SEQ, from_row, now_us
from ._schema import WRITE_COLUMNS

if TYPE_CHECKING:
    from edge_jupyter.openrouter import Generation

#: A pending row whose writer cannot be checked (another host, Windows without psutil)
#: is taken as abandoned after this long; no stream runs that long.
PENDING_STALE_AFTER = timedelta(hours=1)

HOST = socket.gethostname()


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` on this host still runs (True when it cannot be told)."""
    if os.name == "nt":  # os.kill(pid, 0) would send CTRL_C_EVENT on Windows
        try:
            import psutil
        except ImportError:
            return True
        return bool(psutil.pid_exists(pid))
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists, under another user
        return True
    try:  # a zombie answers signals but will never finish its row
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def is_stale(pid: int | None, host: str, updated_at_us: int, now_us: int) -> bool:
    """Whether a pending row was left behind by a process that is gone."""
    if host == HOST and pid:
        return pid != os.getpid() and not pid_alive(pid)
    return now_us - updated_at_us > PENDING_STALE_AFTER / timedelta(microseconds=1)


class LedgerReconciliation(Database):
    """Finding the rows left to settle and settling them (see the module's docstring)."""

    def to_reconcile(self, max_age_days: float = 7) -> list[tuple[int, CallRecord]]:
        """Rows whose cost is still unknown and that ``reconcile`` can settle.

        Ended calls (interrupted, stopped, failed, or without an inline cost) that have a
        generation id, and pending rows whose process is gone.  Rows older than
        ``max_age_days`` are left alone.  Least recently touched first: a row that could
        not be settled goes behind the others (:meth:`_tried`).
        """
        now = now_us()
        oldest = now - int(max_age_days * 86_400e6)
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT id, {', '.join(WRITE_COLUMNS)}, pid, host, updated_at FROM calls "
                "WHERE cost_usd IS NULL AND timestamp >= ? AND status != 'replayed' "
                "AND (generation_id != '' OR status = 'pending') ORDER BY updated_at, id",
                (oldest,)).fetchall()
        found = []
        for row in rows:
            record = from_row(row[1:-3])
            pid, host, updated_at = row[-3:]
            if record.status != "pending" or is_stale(pid, host, updated_at, now_us=now):
                found.append((row[0], record))
        return found

    def reconcile(self, fetch: Callable[[str], Generation], *, max_age_days: float = 7,
                  limit: int | None = None) -> int:
        """Settle the rows of :meth:`to_reconcile` with ``fetch(generation_id)``.

        ``fetch`` is ``OpenRouterClient.generation``.  A record not ready yet (NotFound) is
        tried again next time; any other OpenRouter error (offline, bad key) ends the pass.
        A pending row of a dead process becomes ``interrupted``.  Returns the rows changed.
        """
        from edge_jupyter.openrouter import MalformedResponse, NotFound, OpenRouterError

        fixed = 0
        for row_id, record in self.to_reconcile(max_age_days)[:limit]:
            if not record.generation_id:  # died before the first chunk: nothing to fetch
                self._interrupt(row_id, release=True)
                fixed += 1
                continue
            try:
                generation = fetch(record.generation_id)
            except NotFound:
                if record.status == "pending":
                    self._interrupt(row_id, release=False)
                    fixed += 1
                else:
                    self._tried(row_id)
                continue
            except MalformedResponse:  # an impossible record (e.g. cost inf) never settles a
                self._tried(row_id)    # row; it is tried again later, after the others
                continue
            except OpenRouterError:
                break
            fixed += self._settle(row_id, generation)
        return fixed

    def _tried(self, row_id: int) -> None:
        """Move a row that could not be settled behind the others (:meth:`to_reconcile`
        reads the least recently touched first), so rows a hostile or lagging server never
        settles cannot fill every pass's ``limit`` and starve the rest.  Only ``updated_at``
        changes: nothing anyone reads (so no ``seq``); a pending row of another host is
        then taken as stale that much later, which is what a retry back-off wants too."""
        with self._write() as conn:
            conn.execute("UPDATE calls SET updated_at = ? WHERE id = ? AND cost_usd IS NULL",
                         (now_us(), row_id))

    def _interrupt(self, row_id: int, *, release: bool) -> None:
        with self._write() as conn:
            conn.execute(
                f"UPDATE calls SET status = 'interrupted', seq = {NEXT_SEQ}, updated_at = ?, "
                "reserved_usd = CASE WHEN ? THEN 0 ELSE reserved_usd END "
                "WHERE id = ? AND status = 'pending'", (now_us(), release, row_id))

    def _settle(self, row_id: int, g: Generation) -> int:
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE calls SET cost_usd = ?5, upstream_cost_usd = ?6, is_byok = ?7, "
                "provider = CASE WHEN ?8 != '' THEN ?8 ELSE provider END, "
                # The generation's native token counts are the billing basis: they win
                # wherever OpenRouter reports them.
                "prompt_tokens = CASE WHEN ?1 > 0 THEN ?1 ELSE prompt_tokens END, "
                "completion_tokens = CASE WHEN ?2 > 0 THEN ?2 ELSE completion_tokens END, "
                "reasoning_tokens = CASE WHEN ?3 > 0 THEN ?3 ELSE reasoning_tokens END, "
                "cached_tokens = CASE WHEN ?4 > 0 THEN ?4 ELSE cached_tokens END, "
                "status = CASE WHEN status = 'pending' THEN 'interrupted' ELSE status END, "
                f"reserved_usd = 0, seq = {NEXT_SEQ}, updated_at = ?9 "
                "WHERE id = ?10 AND cost_usd IS NULL",
                (g.prompt_tokens, g.completion_tokens, g.reasoning_tokens, g.cached_tokens,
                 g.total_cost, g.upstream_cost, int(g.is_byok), g.provider or "", now_us(),
                 row_id))
            return cursor.rowcount
