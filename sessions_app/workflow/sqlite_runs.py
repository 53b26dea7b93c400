"""The run history of SqliteWorkflowStorage, in the `<table>_runs` side table."""

from __future__ import annotations

import json
import sqlite3

from sessions_app.workflow.sqlite_connections import SqliteConnections
from sessions_app.workflow.storage import RunRecord

# What the dashboard's storage keeps about a run's cache use; this side table has no columns for it.
_NOT_STORED = frozenset({"cache_hits", "usage"})


class SqliteRunHistory(SqliteConnections):
    """Record runs and read them back."""

    def record_run(self, run: RunRecord) -> None:
        """Record a run that did not commit state (its write failed)."""
        self._transaction(lambda conn: self._insert_run(conn, run))

    def _insert_run(self, conn: sqlite3.Connection, run: RunRecord) -> None:
        conn.execute(
            self._q(
                "INSERT OR REPLACE INTO {runs} (run_id, session_id, workflow_id, status, input, output, error, "
                "cache_hit, started_at, ended_at, events, state_version, unsaved_state) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ),
            (
                run.run_id,
                run.session_id,
                run.workflow_id,
                run.status,
                json.dumps(run.input, default=repr),
                run.output,
                run.error,
                int(run.cache_hit),
                run.started_at,
                run.ended_at,
                run.events,
                run.state_version,
                run.unsaved_state,
            ),
        )

    def get_runs(self, session_id: str) -> list[RunRecord]:
        """Return a session's runs, oldest first."""
        fields = [name for name in RunRecord.__dataclass_fields__ if name not in _NOT_STORED]
        sql = self._q(
            f"SELECT {', '.join(fields)} FROM {{runs}} WHERE session_id = ? ORDER BY started_at, rowid"
        )
        runs = []
        for row in self._conn().execute(sql, (session_id,)):
            values = dict(zip(fields, row, strict=True))
            values["input"] = json.loads(values["input"] or "{}")
            values["cache_hit"] = bool(values["cache_hit"])
            runs.append(RunRecord(**values))
        return runs
