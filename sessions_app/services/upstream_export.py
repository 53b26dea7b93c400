"""Writing sessions to a SQLite workflow table that phidata 2.7.10 reads (`manage.py export_sessions`).

It goes through `SqliteWorkflowStorage`, which lays rows out as phidata and agno do (the state
under `session_data["session_state"]`, the session name beside it, `workflow_data["name"]`), and
keeps runs in its `<table>_wfsite_runs` side table. Rows are upserted, so exporting again updates them.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sessions_app.models import WorkflowRun, WorkflowSession
from sessions_app.state.store import state_load_many
from sessions_app.workflow.sqlite_storage import SqliteWorkflowStorage
from sessions_app.workflow.storage import RunRecord
from sessions_app.workflow.storage import WorkflowSession as SessionRecord


def _record(session: WorkflowSession, state: dict[str, Any]) -> SessionRecord:
    return SessionRecord(
        session_id=session.session_id,
        workflow_id=session.workflow or None,
        user_id=session.user_id or None,
        workflow_data={"name": session.workflow} if session.workflow else None,
        session_data={"session_name": session.name or None, "session_state": state},
        created_at=int(session.created_at.timestamp()),
        updated_at=int(session.updated_at.timestamp()),
    )


def _run_record(run: WorkflowRun, session_id: str) -> RunRecord:
    started = run.started_at or run.created_at
    return RunRecord(
        run_id=str(run.run_id),
        session_id=session_id,
        workflow_id=run.workflow or None,
        input=run.inputs,
        status=run.status,
        output=run.output or None,
        error=run.error or None,
        cache_hit=run.cache_hit,
        started_at=started.timestamp(),
        ended_at=run.finished_at.timestamp() if run.finished_at else None,
        state_version=run.state_version,
    )


def sessions_export_sqlite(
    *, sessions: Iterable[WorkflowSession], db_file: Path, table: str, batch: int = 200
) -> int:
    """Write sessions (state and runs) to a SQLite workflow table phidata reads; return how many."""
    storage = SqliteWorkflowStorage(table_name=table, db_file=db_file)
    count = 0
    chunk: list[WorkflowSession] = []
    for session in [*sessions, None]:
        if session is not None:
            chunk.append(session)
        if chunk and (session is None or len(chunk) == batch):
            states = state_load_many(chunk)
            for row in chunk:
                storage.upsert(_record(row, states[row.pk]))
                for run in WorkflowRun.objects.filter(session=row).order_by("created_at", "id"):
                    storage.record_run(_run_record(run, row.session_id))
            count += len(chunk)
            chunk = []
    return count
