"""The ledger's SQLite schema and the SQL for its scopes (text only, no I/O).

One table, ``calls``: the ledger's columns (names kept from
:data:`edge_jupyter.record.LEDGER_COLUMNS`) plus bookkeeping:

* ``id`` -- insertion order; ``seq`` -- a change counter bumped by every insert and update
  (the largest so far plus one, taken inside the write transaction, so it follows commit
  order); the columnar snapshot (``_columns.py``) catches up by reading ``seq > last``.
* ``session_id`` -- the kernel process; ``pid``/``host`` -- who wrote a pending row, so
  that a row left pending by a dead process can be told from one still streaming.
* ``reserved_usd`` -- the worst case held while a call runs (and while its cost is unknown).
* ``updated_at`` -- last change.

Versions (``PRAGMA user_version``).  1: the first table.  2: ``images``, ``files``,
``pages`` (what a call sent besides text), added to an existing ledger in place by
:func:`upgrade_statements` (``ALTER TABLE ADD COLUMN``: every row, its ``id`` and the
ledger's id are kept; old rows read 0).  A new ledger's table has them at the end too,
where ``ALTER TABLE`` puts them, so every ledger has one column order.  Older
edge_jupyter versions keep working on an upgraded file: they name the columns they write,
and the new ones have defaults.  3: ``group_id``, ``step`` (a tool loop's steps) and
``web_searches``, added the same way (old rows read "", 0 and 0).  4: ``service_tier`` (the
tier that served), ``saved_usd``, ``saved_by``, ``saved_exact`` (what a call saved, how, and
whether OpenRouter reported the figure), the same way (old rows read "", NULL, "" and 0).

Times are integer **microseconds since the epoch, UTC**: exact for Python datetimes (which
have microseconds), compared and indexed as plain integers, and turned into
``datetime64[ns, UTC]`` by one vectorised cast, where parsing a million ISO strings takes
most of a second.  The ``calls_iso`` view shows them as ISO-8601 text for people reading
the file with ``sqlite3``.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from edge_jupyter.record import LEDGER_COLUMNS

from ._errors import LedgerError

SCHEMA_VERSION = 4

DDL = (
    """CREATE TABLE IF NOT EXISTS calls (
        id INTEGER PRIMARY KEY,
        seq INTEGER NOT NULL,
        timestamp INTEGER NOT NULL,
        notebook TEXT NOT NULL DEFAULT '',
        cell_id TEXT NOT NULL DEFAULT '',
        execution_count INTEGER,
        chat TEXT NOT NULL DEFAULT '',
        model TEXT NOT NULL DEFAULT '',
        provider TEXT NOT NULL DEFAULT '',
        generation_id TEXT NOT NULL DEFAULT '',
        prompt_tokens INTEGER NOT NULL DEFAULT 0,
        completion_tokens INTEGER NOT NULL DEFAULT 0,
        reasoning_tokens INTEGER NOT NULL DEFAULT 0,
        cached_tokens INTEGER NOT NULL DEFAULT 0,
        cost_usd REAL,
        upstream_cost_usd REAL,
        is_byok INTEGER NOT NULL DEFAULT 0,
        latency_s REAL,
        ttft_s REAL,
        status TEXT NOT NULL DEFAULT 'pending',
        error TEXT NOT NULL DEFAULT '',
        session_id TEXT NOT NULL DEFAULT '',
        reserved_usd REAL NOT NULL DEFAULT 0,
        pid INTEGER,
        host TEXT NOT NULL DEFAULT '',
        updated_at INTEGER NOT NULL,
        images INTEGER NOT NULL DEFAULT 0,
        files INTEGER NOT NULL DEFAULT 0,
        pages INTEGER NOT NULL DEFAULT 0,
        group_id TEXT NOT NULL DEFAULT '',
        step INTEGER NOT NULL DEFAULT 0,
        web_searches INTEGER NOT NULL DEFAULT 0,
        service_tier TEXT NOT NULL DEFAULT '',
        saved_usd REAL,
        saved_by TEXT NOT NULL DEFAULT '',
        saved_exact INTEGER NOT NULL DEFAULT 0
    )""",
    "CREATE UNIQUE INDEX IF NOT EXISTS calls_seq ON calls(seq)",
    "CREATE INDEX IF NOT EXISTS calls_timestamp ON calls(timestamp)",
    "CREATE INDEX IF NOT EXISTS calls_notebook ON calls(notebook, timestamp)",
    "CREATE INDEX IF NOT EXISTS calls_session ON calls(session_id, timestamp)",
    # Small: only rows whose cost is still unknown (running, interrupted, not yet reconciled).
    "CREATE INDEX IF NOT EXISTS calls_open ON calls(timestamp) WHERE cost_usd IS NULL",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "INSERT OR IGNORE INTO meta VALUES ('deletions', '0')",
    # The ledger never deletes; if someone does (sqlite3 CLI, a future prune), the
    # columnar snapshot must know it is stale.  Counting is cheaper than count(*) per read.
    """CREATE TRIGGER IF NOT EXISTS calls_deleted AFTER DELETE ON calls BEGIN
        UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'deletions';
    END""",
    """CREATE VIEW IF NOT EXISTS calls_iso AS SELECT
        strftime('%Y-%m-%dT%H:%M:%f+00:00', timestamp / 1e6, 'unixepoch') AS timestamp_utc, *
        FROM calls""",
)

#: Columns added after version 1, with the version that added them and their declaration
#: (as in the CREATE TABLE above).  :func:`upgrade_statements` adds the ones a file lacks.
ADDED_COLUMNS: tuple[tuple[int, str, str], ...] = (
    (2, "images", "INTEGER NOT NULL DEFAULT 0"),
    (2, "files", "INTEGER NOT NULL DEFAULT 0"),
    (2, "pages", "INTEGER NOT NULL DEFAULT 0"),
    (3, "group_id", "TEXT NOT NULL DEFAULT ''"),
    (3, "step", "INTEGER NOT NULL DEFAULT 0"),
    (3, "web_searches", "INTEGER NOT NULL DEFAULT 0"),
    (4, "service_tier", "TEXT NOT NULL DEFAULT ''"),
    (4, "saved_usd", "REAL"),
    (4, "saved_by", "TEXT NOT NULL DEFAULT ''"),
    (4, "saved_exact", "INTEGER NOT NULL DEFAULT 0"),
)


def upgrade_statements(existing_columns: set[str]) -> list[str]:
    """The ``ALTER TABLE`` statements that bring a ``calls`` table with these columns to
    :data:`SCHEMA_VERSION` (none for a current one).

    Decided by the columns present rather than by ``user_version`` alone, so that running
    it twice, or on a file whose version was never set, adds nothing twice.
    """
    return [f"ALTER TABLE calls ADD COLUMN {name} {declaration}"
            for _, name, declaration in ADDED_COLUMNS if name not in existing_columns]


#: Columns written from a CallRecord, in this order.
WRITE_COLUMNS: tuple[str, ...] = (*LEDGER_COLUMNS, "session_id")

#: What ``frame`` reads: bookkeeping first, then the ledger's columns.  The cheap SQL
#: expressions spare Python a loop per row (NULL tests, booleans, default zeros).
READ_COLUMNS: tuple[str, ...] = ("id", "seq", *LEDGER_COLUMNS, "session_id")
#: The names of what READ_SQL yields (``execution_count`` comes with a NULL flag).
READ_FIELDS: tuple[str, ...] = tuple(
    field for name in READ_COLUMNS
    for field in ((name, "execution_count_na") if name == "execution_count" else (name,))
)
READ_SQL = ", ".join(
    {
        "execution_count": "coalesce(execution_count, 0), execution_count IS NULL",
    }.get(name, name)
    for name in READ_COLUMNS
)

#: What a row counts against a limit: its settled cost -- OpenRouter credits plus, for
#: BYOK calls, what the provider bills directly -- or, while that is unknown (running,
#: interrupted, not reconciled yet), the amount held for it.
SPEND_SQL = ("coalesce(cost_usd + CASE WHEN is_byok THEN coalesce(upstream_cost_usd, 0) ELSE 0 END,"
             " reserved_usd)")

FRAME_SCOPES = ("notebook", "session", "all", "cell", "day", "month")


def to_us(moment: datetime) -> int:
    """Microseconds since the epoch; a naive datetime is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    delta = moment - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(us: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=us)


def period(scope: str, now: datetime) -> tuple[int, int]:
    """The UTC day or month holding ``now``, as ``[start, end)`` in microseconds."""
    now = now.astimezone(timezone.utc) if now.tzinfo else now.replace(tzinfo=timezone.utc)
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if scope == "day":
        end = start + timedelta(days=1)
    elif scope == "month":
        start = start.replace(day=1)
        end = start.replace(year=start.year + 1, month=1) if start.month == 12 \
            else start.replace(month=start.month + 1)
    else:
        raise LedgerError(f"{scope!r} is not a period; use 'day' or 'month'")
    return to_us(start), to_us(end)


def scope_where(scope: str, *, notebook: str = "", session_id: str = "", cell_id: str = "",
                execution_count: int | None = None,
                now: datetime | None = None) -> tuple[str, tuple[object, ...]]:
    """The WHERE clause (and parameters) that selects a scope's rows.

    * "notebook" -- rows of that notebook path ("" = calls made outside a notebook);
    * "session" -- rows of that kernel session;
    * "day" / "month" -- the UTC day / month holding ``now``;
    * "cell" -- with ``execution_count``: that one execution of the cell in that session (a
      ``--budget`` for one cell); without: every run of the cell in that notebook;
    * "call" -- nothing (a limit for one request alone);  "all" -- everything.
    """
    if scope == "all":
        return "1", ()
    if scope in ("call", "calls"):  # "calls": what the caller holds is added (Limit.held_usd)
        return "0", ()
    if scope == "notebook":
        return "notebook = ?", (notebook,)
    if scope == "session":
        return "session_id = ?", (session_id,)
    if scope in ("day", "month"):
        start, end = period(scope, now or datetime.now(timezone.utc))
        return "timestamp >= ? AND timestamp < ?", (start, end)
    if scope == "cell":
        if execution_count is not None:
            return ("session_id = ? AND execution_count = ? AND cell_id = ?",
                    (session_id, execution_count, cell_id))
        return "notebook = ? AND cell_id = ?", (notebook, cell_id)
    raise LedgerError(f"unknown scope {scope!r}; use one of {', '.join((*FRAME_SCOPES, 'call'))}")
