"""The SQLite table layout: upstream's columns, our version column, trigger, indexes and run history.

Everything we add to a file is named `<table>_wfsite_...`, so it cannot collide with what another
library keeps beside its table (agno's own `..._runs` tables, say). Files written before this
naming have the run history in `<table>_runs`; it is recognised by its exact columns and renamed
in place the first time the file is opened.
"""

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


RUN_COLUMNS = frozenset(
    {
        "run_id",
        "session_id",
        "workflow_id",
        "status",
        "input",
        "output",
        "error",
        "cache_hit",
        "started_at",
        "ended_at",
        "events",
        "state_version",
        "unsaved_state",
    }
)


def _quote(name: str) -> str:
    return f'"{name}"'


def runs_table(table: str) -> str:
    """Return the name of the run history table kept beside `table`."""
    return f"{table}_wfsite_runs"


def old_runs_table(table: str) -> str:
    """Return where files written before the `_wfsite_` naming keep the run history."""
    return f"{table}_runs"


def table_columns(conn: sqlite3.Connection, table: str) -> frozenset[str]:
    """Return a table's columns (none when it does not exist)."""
    return frozenset(row[1] for row in conn.execute(f"PRAGMA table_info({_quote(table)})"))


def is_old_runs_table(conn: sqlite3.Connection, table: str) -> bool:
    """Whether `<table>_runs` is our run history from before the renaming, not another library's table."""
    return table_columns(conn, old_runs_table(table)) == RUN_COLUMNS


def _adopt_old_runs(conn: sqlite3.Connection, table: str) -> None:
    """Move an old-named run history to its new name, in place (rows, then the index, are kept)."""
    if not is_old_runs_table(conn, table):
        return
    old, new = _quote(old_runs_table(table)), _quote(runs_table(table))
    conn.execute(f"DROP INDEX IF EXISTS {_quote(f'{table}_runs_session')}")
    if table_columns(conn, runs_table(table)):
        columns = ", ".join(sorted(RUN_COLUMNS))
        conn.execute(f"INSERT OR IGNORE INTO {new} ({columns}) SELECT {columns} FROM {old}")
        conn.execute(f"DROP TABLE {old}")
    else:
        conn.execute(f"ALTER TABLE {old} RENAME TO {new}")


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
    _adopt_old_runs(conn, table)
    runs = _quote(runs_table(table))
    conn.execute(_CREATE_RUNS.format(runs=runs))
    conn.execute(
        f"CREATE INDEX IF NOT EXISTS {_quote(f'{runs_table(table)}_session')} ON {runs} (session_id, started_at)"
    )
    return frozenset(columns)
