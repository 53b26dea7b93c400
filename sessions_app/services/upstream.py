"""Importing sessions from SQLite workflow tables (read by `services.upstream_read`): phidata
2.7.10's, agno 1.x's, agno 2.x/3.x `SqliteDb` sessions tables, and our own.

Importing is idempotent: a new session gets one recorded import change (made from {}), an existing
one gets an import change only when its state differs from the row's, and runs (phidata's
`memory["runs"]`, agno's, or our side table) are added once, by run id. A row that cannot be read,
or whose session cannot be written (too large, say), is reported in one line; the other rows are
imported. Writing such tables is `services.upstream_export`.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction

from sessions_app.models import StateChange, WorkflowRun, WorkflowSession
from sessions_app.roles import CAN_CREATE_SESSION, CAN_EDIT_STATE
from sessions_app.services.permissions import Actor, actor_require
from sessions_app.services.state import edit_diff, state_change_write
from sessions_app.services.upstream_read import UpstreamError, UpstreamRow, upstream_rows
from sessions_app.state.history import history_record
from sessions_app.state.store import EMPTY_STATE_SIZE, STATE_FIELDS, state_load, state_replace
from sessions_app.workflow.errors import WorkflowError
from sessions_app.workflow.state import diff

__all__ = ["UpstreamError", "UpstreamRow", "row_import", "session_import_upstream", "upstream_rows"]


def _add_runs(session: WorkflowSession, runs: list[dict[str, Any]]) -> int:
    ids = {run["run_id"] for run in runs}
    known = set(WorkflowRun.objects.filter(run_id__in=ids).values_list("run_id", flat=True))
    new = {}
    for run in runs:
        if run["run_id"] not in known and run["run_id"] not in new:
            fields = {"status": WorkflowRun.Status.SUCCEEDED, **run}
            fields["created_at"] = fields.get("created_at") or session.created_at
            new[run["run_id"]] = WorkflowRun(session=session, workflow=session.workflow, **fields)
    WorkflowRun.objects.bulk_create(new.values())
    if new:
        session.run_count = WorkflowRun.objects.filter(session=session).count()
        last = WorkflowRun.objects.filter(session=session).order_by("-created_at", "-id").first()
        session.last_run_status = last.status if last else ""
        session.save(update_fields=["run_count", "last_run_status"])
    return len(new)


def row_import(*, row: UpstreamRow, source: str, actor: Actor = None) -> str:
    """Import one row; return what happened, or raise UpstreamError saying why it was not imported."""
    try:
        return session_import_upstream(row=row, source=source, actor=actor)
    except (ValidationError, WorkflowError, ValueError) as error:
        reason = " ".join(error.messages) if isinstance(error, ValidationError) else str(error)
    except DatabaseError as error:
        reason = f"the database refused it ({type(error).__name__}: {error})"
    raise UpstreamError(f"row {row.session_id!r}: {reason}")


@transaction.atomic
def session_import_upstream(*, row: UpstreamRow, source: str, actor: Actor) -> str:
    """Import one upstream row; return "created", "updated" or "unchanged" (runs added aside)."""
    actor_require(actor, CAN_EDIT_STATE)
    session = WorkflowSession.objects.select_for_update(no_key=True).filter(session_id=row.session_id).first()
    summary = f"Imported from {source}"[:500]
    if session is None:
        actor_require(actor, CAN_CREATE_SESSION)
        session = WorkflowSession.objects.create(
            session_id=row.session_id,
            workflow=row.workflow,
            user_id=row.user_id,
            name=row.name,
            created_at=row.created_at,
            state_size=EMPTY_STATE_SIZE,
        )
        state_replace(session, row.state, save=False)
        session.updated_at = row.updated_at
        ops = diff({}, row.state)
        session.version = 1 if ops else 0
        session.save(update_fields=[*STATE_FIELDS, "version"])
        if ops:
            history_record(
                session=session, ops=ops, source=StateChange.Source.IMPORT, actor=actor, summary=summary
            )
        _add_runs(session, row.runs)
        return "created"
    latest = state_load(session)
    change = state_change_write(
        session=session,
        locked=session,
        latest=latest,
        ops=edit_diff(latest, row.state),
        source=StateChange.Source.IMPORT,
        actor=actor,
        summary=summary,
    )
    added = _add_runs(session, row.runs)
    return "updated" if change is not None or added else "unchanged"
