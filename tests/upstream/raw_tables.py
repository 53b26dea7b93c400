"""Workflow files written with raw `sqlite3`, for layouts and damage the upstream packages here cannot make.

- agno 2.x/3.x `SqliteDb`'s sessions table. The DDL (whitespace aside) and the row encoding were
  captured from agno 2.9.0 (the version `bench/` locks) writing a `WorkflowSession` and an
  `AgentSession` with `SqliteDb.upsert_session`: SQLAlchemy's `JSON` columns hold `json.dumps` of a string that is
  itself `json.dumps` of the value (the value is encoded twice), `None` is the text `'null'`,
  times are epoch seconds, and runs are `WorkflowRunOutput.to_dict()`s in the `runs` column.
- Our own run history as files written before it was renamed `<table>_wfsite_runs` kept it, in
  `<table>_runs` (the DDL below is that version's, verbatim).
- A table of another library that happens to be called `<table>_runs`: agno 2.9.0's
  schedule-runs table's columns.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

AGNO2_SESSIONS_DDL = """CREATE TABLE {t} (
\tsession_id VARCHAR NOT NULL,
\tsession_type VARCHAR NOT NULL,
\tagent_id VARCHAR,
\tteam_id VARCHAR,
\tworkflow_id VARCHAR,
\tuser_id VARCHAR,
\tsession_data JSON,
\tagent_data JSON,
\tteam_data JSON,
\tworkflow_data JSON,
\tmetadata JSON,
\truns JSON,
\tsummary JSON,
\tcreated_at BIGINT NOT NULL,
\tupdated_at BIGINT,
\tPRIMARY KEY (session_id)
)"""
AGNO2_INDEXES = (
    "CREATE INDEX idx_{t}_created_at ON {t} (created_at)",
    "CREATE INDEX idx_{t}_session_type ON {t} (session_type)",
)

OLD_RUNS_DDL = """
CREATE TABLE IF NOT EXISTS "{t}_runs" (
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
OLD_RUNS_INDEX = 'CREATE INDEX IF NOT EXISTS "{t}_runs_session" ON "{t}_runs" (session_id, started_at)'

FOREIGN_RUNS_DDL = """CREATE TABLE "{t}_runs" (
\tid VARCHAR NOT NULL, schedule_id VARCHAR NOT NULL, attempt BIGINT NOT NULL, triggered_at BIGINT,
\tcompleted_at BIGINT, status VARCHAR NOT NULL, status_code BIGINT, run_id VARCHAR, session_id VARCHAR,
\terror VARCHAR, input JSON, output JSON, requirements JSON, created_at BIGINT NOT NULL, PRIMARY KEY (id)
)"""


def agno2_json(value: Any) -> str:
    """Return the text agno 2.x's SqliteDb stores for `value` in a JSON column (encoded twice)."""
    return json.dumps(None if value is None else json.dumps(value))


@dataclass
class Agno2Session:
    """One row of agno 2.x's sessions table."""

    session_id: str
    session_type: str = "workflow"
    state: dict[str, Any] | None = None
    session_name: str | None = None
    workflow_name: str | None = None
    user_id: str | None = None
    runs: list[dict[str, Any]] = field(default_factory=list)
    created_at: int = 1_700_000_000
    updated_at: int | None = 1_700_000_100


def agno2_run(
    run_id: str, session_id: str, topic: str, content: str, status: str = "COMPLETED"
) -> dict[str, Any]:
    """Return a run as agno 2.9.0's `WorkflowRunOutput.to_dict()` stores it."""
    return {
        "input": {"topic": topic},
        "content": content,
        "content_type": "str",
        "run_id": run_id,
        "session_id": session_id,
        "created_at": 1_700_000_000,
        "status": status,
    }


def make_agno2_db(db_file: Path, sessions: Iterable[Agno2Session], table: str = "agno_sessions") -> None:
    """Write agno 2.x's sessions table with these rows."""
    with closing(sqlite3.connect(db_file)) as conn, conn:
        conn.execute(AGNO2_SESSIONS_DDL.format(t=table))
        for index in AGNO2_INDEXES:
            conn.execute(index.format(t=table))
        for s in sessions:
            data = {"session_name": s.session_name, "session_state": s.state}
            kind = s.session_type
            conn.execute(
                f"INSERT INTO {table} VALUES (?, ?, ?, NULL, ?, ?, ?, ?, NULL, ?, ?, ?, 'null', ?, ?)",
                (
                    s.session_id,
                    kind,
                    "an-agent" if kind == "agent" else None,
                    "a-workflow" if kind == "workflow" else None,
                    s.user_id,
                    agno2_json({k: v for k, v in data.items() if v is not None}),
                    agno2_json(None) if kind == "agent" else None,
                    agno2_json({"workflow_id": "a-workflow", "name": s.workflow_name})
                    if kind == "workflow"
                    else None,
                    agno2_json({}),
                    agno2_json(s.runs) if s.runs else "null",
                    s.created_at,
                    s.updated_at,
                ),
            )


def make_raw_table(db_file: Path, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Write a table with exactly these columns (any may be missing) and rows, values as given."""
    with closing(sqlite3.connect(db_file)) as conn, conn:
        conn.execute(f'CREATE TABLE "{table}" ({", ".join(columns)})')
        marks = ", ".join("?" * len(columns))
        conn.executemany(f'INSERT INTO "{table}" VALUES ({marks})', rows)


def add_old_runs_table(db_file: Path, table: str, runs: Iterable[Sequence[Any]]) -> None:
    """Add our run history as files written before the renaming hold it: `<table>_runs`, 13 columns."""
    with closing(sqlite3.connect(db_file)) as conn, conn:
        conn.execute(OLD_RUNS_DDL.format(t=table))
        conn.execute(OLD_RUNS_INDEX.format(t=table))
        conn.executemany(f'INSERT INTO "{table}_runs" VALUES ({", ".join("?" * 13)})', runs)


def add_foreign_runs_table(db_file: Path, table: str) -> None:
    """Add another library's table named `<table>_runs`, with a row in it."""
    with closing(sqlite3.connect(db_file)) as conn, conn:
        conn.execute(FOREIGN_RUNS_DDL.format(t=table))
        conn.execute(
            f'INSERT INTO "{table}_runs" (id, schedule_id, attempt, status, run_id, session_id, created_at) '
            "VALUES ('x', 'sched', 1, 'COMPLETED', 'r', 's', 1700000000)"
        )


def tables(db_file: Path) -> dict[str, list[str]]:
    """Return each table's columns."""
    with closing(sqlite3.connect(db_file)) as conn:
        names = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {name: [row[1] for row in conn.execute(f'PRAGMA table_info("{name}")')] for name in names}


def indexes(db_file: Path) -> set[str]:
    """Return the file's index names."""
    with closing(sqlite3.connect(db_file)) as conn:
        return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
