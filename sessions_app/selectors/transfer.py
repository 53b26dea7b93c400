"""Exporting one session as a session file (format in `services.transfer_format`)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.http import Http404
from django.utils import timezone

from sessions_app.limits import max_state_depth
from sessions_app.models import StateChange, WorkflowRun, WorkflowSession
from sessions_app.services.transfer_format import FORMAT, FORMAT_VERSION
from sessions_app.state.codec import json_text
from sessions_app.state.store import state_snapshot
from sessions_app.state.values import json_depth

# Levels a file adds above a value: {"changes": [{"ops": [[kind, path, value]]}]}.
FILE_LEVELS = 5


def _when(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _run(run: WorkflowRun) -> dict[str, Any]:
    return {
        "run_id": str(run.run_id),
        "workflow": run.workflow,
        "inputs": run.inputs,
        "status": run.status,
        "cache_hit": run.cache_hit,
        "created_at": _when(run.created_at),
        "started_at": _when(run.started_at),
        "finished_at": _when(run.finished_at),
        "output": run.output,
        "error": run.error,
        "unsaved_state": run.unsaved_state,
        "state_version": run.state_version,
        "started_by": run.started_by.get_username() if run.started_by else None,
    }


def _change(change: StateChange) -> dict[str, Any]:
    return {
        "version": change.version,
        "source": change.source,
        "ops": change.ops,
        "summary": change.summary,
        "actor": change.actor.get_username() if change.actor else None,
        "run_id": str(change.run.run_id) if change.run else None,
        "created_at": _when(change.created_at),
    }


def _origin(session: WorkflowSession) -> dict[str, Any] | None:
    if not session.forked_from_session_id:
        return None
    return {"session_id": session.forked_from_session_id, "version": session.forked_from_version}


def session_export(*, session: WorkflowSession) -> dict[str, Any]:
    """Return the session's state, runs and change history as a session file's data."""
    found = state_snapshot(session.session_id)
    if found is None:
        raise Http404("The session was deleted.")
    row, state = found
    runs = WorkflowRun.objects.filter(session=row).select_related("started_by").order_by("created_at", "id")
    changes = (
        StateChange.objects.filter(session=row, version__lte=row.version)
        .select_related("actor", "run")
        .order_by("version")
    )
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "exported_at": timezone.now().isoformat(),
        "session": {
            "session_id": row.session_id,
            "workflow": row.workflow,
            "name": row.name,
            "user_id": row.user_id,
            "version": row.version,
            "created_at": _when(row.created_at),
            "updated_at": _when(row.updated_at),
            "forked_from": _origin(row),
        },
        "state": state,
        "runs": [_run(run) for run in runs],
        "changes": [_change(change) for change in changes],
    }


def session_export_bytes(*, session: WorkflowSession) -> bytes:
    """Return the session file as UTF-8 JSON."""
    data = session_export(session=session)
    # The pretty-printer recurses: a file holding values stored before the nesting limit is compact.
    deepest = max_state_depth() + FILE_LEVELS
    if json_depth(data, stop=deepest) > deepest:
        return json_text(data).encode()
    try:
        return json.dumps(data, ensure_ascii=False, indent=1).encode()
    except UnicodeEncodeError:  # a lone surrogate (SQLite stores them) is only writable escaped
        return json.dumps(data, indent=1).encode()


def export_filename(session: WorkflowSession) -> str:
    """Return a safe download name for a session's file."""
    stem = "".join(
        char if char.isascii() and (char.isalnum() or char in "-_") else "_" for char in session.session_id
    )
    return f"session-{stem[:80] or session.pk}.json"
