"""Sessions to and from SQLite workflow tables: phidata 2.7.10's and agno 1.x's, and our own.

Reading opens the file read-only with `sqlite3` and decodes each row as upstream wrote it: JSON
columns as text (`'null'` text and SQL NULL both mean nothing), `updated_at` NULL on rows never
updated, the state under `session_data["session_state"]` in either cache shape (a list of records,
duplicates kept, or an object keyed by the cache's key). A row that cannot be read is
reported and skipped; the others are imported. Importing is idempotent: a new session gets one
recorded import change (made from {}), an existing one gets an import change only when its state
differs from the row's, and runs (phidata's `memory["runs"]`, agno's, or our `<table>_runs`) are
added once, by run id. Writing such tables is `services.upstream_export`.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone

from sessions_app.models import StateChange, WorkflowRun, WorkflowSession
from sessions_app.registry import workflow_classes
from sessions_app.roles import CAN_CREATE_SESSION, CAN_EDIT_STATE
from sessions_app.services.permissions import Actor, actor_require
from sessions_app.services.state import edit_diff, state_change_write
from sessions_app.state.history import history_record
from sessions_app.state.storage import check_session_id
from sessions_app.state.store import (
    EMPTY_STATE_SIZE,
    STATE_FIELDS,
    check_storable,
    state_load,
    state_replace,
)
from sessions_app.workflow.errors import StateNotSerializableError
from sessions_app.workflow.sqlite_storage import loads
from sessions_app.workflow.state import diff

# Run ids upstream did not give (or gave in a shape we cannot use) are derived, so re-imports match.
RUN_NAMESPACE = uuid.UUID("0f6c43d5-8c0f-4a43-9f6e-6f1d53a3e1a7")


class UpstreamError(ValueError):
    """A table or row that cannot be imported; the message says which and why."""


@dataclass
class UpstreamRow:
    """One session read from an upstream table."""

    session_id: str
    workflow: str
    user_id: str
    name: str
    state: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    runs: list[dict[str, Any]] = field(default_factory=list)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _moment(value: Any) -> datetime | None:
    return datetime.fromtimestamp(value, tz=UTC) if isinstance(value, int | float) and value > 0 else None


def _json(row: dict[str, Any], column: str) -> Any:
    try:
        return loads(row.get(column))
    except ValueError:
        raise UpstreamError(f"row {row.get('session_id')!r}: the {column} column is not valid JSON") from None


def _run_id(raw: Any, session_id: str, index: int) -> uuid.UUID:
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        return uuid.uuid5(RUN_NAMESPACE, f"{session_id}\x00{index}")


def _memory_runs(memory: Any, session_id: str, created: datetime) -> list[dict[str, Any]]:
    """Read phidata's `{"runs": [{"input", "response"}]}` and agno's `{"runs": [response]}`."""
    runs = memory.get("runs") if isinstance(memory, dict) else None
    out = []
    for index, run in enumerate(runs if isinstance(runs, list) else []):
        if not isinstance(run, dict):
            continue
        response = run.get("response") if isinstance(run.get("response"), dict) else run
        given = run.get("input") if isinstance(run.get("input"), dict) else {}
        inputs = given.get("kwargs") if isinstance(given.get("kwargs"), dict) else {}
        content = response.get("content")
        out.append(
            {
                "run_id": _run_id(response.get("run_id"), session_id, index),
                "inputs": inputs,
                "output": content if isinstance(content, str) else "" if content is None else str(content),
                "created_at": _moment(response.get("created_at")) or created,
            }
        )
    return out


def _side_runs(conn: sqlite3.Connection, table: str, session_id: str) -> list[dict[str, Any]]:
    """Read the `<table>_runs` history SqliteWorkflowStorage keeps, if the file has one."""
    runs_table = f"{table}_runs"
    if not conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (runs_table,)
    ).fetchone():
        return []
    sql = f"SELECT run_id, input, status, output, error, cache_hit, started_at, ended_at FROM {_quote(runs_table)} WHERE session_id = ?"
    out = []
    for index, (run_id, inputs, status, output, error, hit, started, ended) in enumerate(
        conn.execute(sql, (session_id,))
    ):
        decoded = loads(inputs) if inputs else {}
        out.append(
            {
                "run_id": _run_id(run_id, session_id, index),
                "inputs": decoded if isinstance(decoded, dict) else {},
                "status": status if status in WorkflowRun.Status.values else WorkflowRun.Status.SUCCEEDED,
                "output": output or "",
                "error": error or "",
                "cache_hit": bool(hit),
                "created_at": _moment(started),
                "started_at": _moment(started),
                "finished_at": _moment(ended),
            }
        )
    return out


def _row(raw: dict[str, Any], workflow: str | None, default_workflow: str) -> UpstreamRow:
    session_id = raw.get("session_id")
    try:
        check_session_id(session_id)
    except ValueError as error:
        raise UpstreamError(f"row {session_id!r}: {error}") from None
    data = _json(raw, "session_data")
    data = data if isinstance(data, dict) else {}
    state = data.get("session_state")
    if state is None:
        state = {}
    if not isinstance(state, dict):
        raise UpstreamError(f"row {session_id!r}: session_state is {type(state).__name__}, not an object")
    try:
        check_storable(state)
    except StateNotSerializableError as error:
        raise UpstreamError(f"row {session_id!r}: {error}") from None
    about = _json(raw, "workflow_data")
    name = about.get("name") if isinstance(about, dict) else None
    created = _moment(raw.get("created_at")) or timezone.now()
    return UpstreamRow(
        session_id=session_id,
        workflow=workflow or (name if isinstance(name, str) and name else default_workflow),
        user_id=raw.get("user_id") or "",
        name=str(data.get("session_name") or "")[: WorkflowSession._meta.get_field("name").max_length],
        state=state,
        created_at=created,
        updated_at=_moment(raw.get("updated_at")) or created,
        runs=_memory_runs(_json(raw, "memory"), session_id, created),
    )


def upstream_rows(
    *, db_file: Path, table: str, workflow: str | None = None
) -> Iterator[UpstreamRow | UpstreamError]:
    """Yield each row of a workflow table as an UpstreamRow, or the UpstreamError that stops it."""
    if not Path(db_file).is_file():
        raise UpstreamError(f"{db_file} does not exist")
    default_workflow = next(iter(workflow_classes()), "")
    with closing(sqlite3.connect(Path(db_file).resolve().as_uri() + "?mode=ro", uri=True)) as conn:
        conn.row_factory = sqlite3.Row
        try:
            found = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (table,)
            ).fetchone()
        except sqlite3.DatabaseError as error:
            raise UpstreamError(f"{db_file} is not a SQLite database ({error})") from None
        if not found:
            raise UpstreamError(f"{db_file} has no table {table!r}")
        for raw in conn.execute(f"SELECT * FROM {_quote(table)} ORDER BY created_at, session_id"):
            try:
                row = _row(dict(raw), workflow, default_workflow)
            except UpstreamError as error:
                yield error
                continue
            row.runs += _side_runs(conn, table, row.session_id)
            yield row


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
