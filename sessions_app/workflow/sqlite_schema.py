"""The SQLite table layout: upstream's columns, our version column, trigger, indexes and run history."""

from __future__ import annotations

import sqlite3

JSON_COLUMNS = frozenset({"memory", "workflow_data", "user_data", "session_data", "extra_data"})

# The union of phidata 2.7.10's and agno 1.x's workflow tables, so both libraries can read a
# table we create: each selects only the columns it knows.
_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS {t} (
    session_id VARCHAR NOT NULL PRIMARY KEY,
    workflow_id VARCHAR,
    user_id VARCHAR,
    memory JSON,
    workflow_data JSON,
    user_data JSON,
    session_data JSON,
    extra_data JSON,
    created_at INTEGER,
    updated_at INTEGER,
    wfsite_version INTEGER NOT NULL DEFAULT 0
)
"""

# Writers that do not know wfsite_version (phidata, agno, a hand-run UPDATE) still move it on, so
# a run that loaded the row before their write merges instead of overwriting. Our own writes
# set the column themselves, which makes the WHEN clause false.
_CREATE_TRIGGER = """
CREATE TRIGGER IF NOT EXISTS {trigger} AFTER UPDATE ON {t} FOR EACH ROW
WHEN NEW.wfsite_version IS OLD.wfsite_version
BEGIN
    UPDATE {t} SET wfsite_version = coalesce(OLD.wfsite_version, 0) + 1 WHERE session_id = NEW.session_id;
END
"""

_CREATE_RUNS = """
CREATE TABLE IF NOT EXISTS {runs} (
    run_id VARCHAR NOT NULL PRIMARY KEY,
    session_id VARCHAR NOT NULL,
    workflow_id VARCHAR,
    status VARCHAR NOT NULL,
    input JSON,
    output TEXT,
    error TEXT,
    cache_hit INTEGER NOT NULL DEFAULT 0,
    started_at REAL,
    ended_at REAL,
    events INTEGER,
    state_version INTEGER,
    unsaved_state TEXT
)
"""


def _quote(name: str) -> str:
    return f'"{name}"'


def ensure_schema(conn: sqlite3.Connection, table: str) -> frozenset[str]:
    """Create the table or upgrade an upstream one in place; return the table's columns."""
    t = _quote(table)
    conn.execute(_CREATE_TABLE.format(t=t))
    columns = {row[1] for row in conn.execute(f"PRAGMA table_info({t})")}
    if "wfsite_version" not in columns:
        conn.execute(f"ALTER TABLE {t} ADD COLUMN wfsite_version INTEGER NOT NULL DEFAULT 0")
        columns.add("wfsite_version")
    conn.execute(_CREATE_TRIGGER.format(t=t, trigger=_quote(f"{table}_wfsite_version")))
    conn.execute(
        f"CREATE INDEX IF NOT EXISTS {_quote(f'{table}_wfsite_last_update')} "
        f"ON {t} (coalesce(updated_at, created_at))"
    )
    runs = _quote(f"{table}_runs")
    conn.execute(_CREATE_RUNS.format(runs=runs))
    conn.execute(
        f"CREATE INDEX IF NOT EXISTS {_quote(f'{table}_runs_session')} ON {runs} (session_id, started_at)"
    )
    return frozenset(columns)
