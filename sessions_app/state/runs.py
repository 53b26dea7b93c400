"""The engine's run records (RunRecord) as the dashboard's WorkflowRun rows, and back."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime
from typing import Any

from sessions_app.limits import max_state_depth
from sessions_app.models import WorkflowRun, WorkflowSession, field_max_length
from sessions_app.state.cache_stats import HitCredit, cache_stats_hit
from sessions_app.workflow.storage import RunRecord


def _moment(timestamp: float | None) -> datetime | None:
    return None if not timestamp else datetime.fromtimestamp(timestamp, tz=UTC)


def _seconds(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()


def _text(value: str | None) -> str:
    # Run texts are for reading: make them storable everywhere (PostgreSQL refuses NUL).
    return (value or "").replace("\x00", "\ufffd").encode("utf-8", "replace").decode()


def _readable(value: Any, level: int = 1) -> Any:
    """Return run inputs as JSON any database stores: other values as their repr, NUL replaced.

    Containers deeper than WFSITE_MAX_STATE_DEPTH are kept as a note, not recursed into.
    """
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, dict | list | tuple) and level > max_state_depth():
        return f"(nested deeper than {max_state_depth()} levels; not kept)"
    if isinstance(value, dict):
        return {_text(str(key)): _readable(item, level + 1) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_readable(item, level + 1) for item in value]
    if value is None or isinstance(value, bool | int) or (isinstance(value, float) and math.isfinite(value)):
        return value
    return repr(value)


def _run_uuid(run_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(run_id))
    except ValueError:
        raise ValueError(f"run_id must be a UUID (the engine makes uuid4s), not {run_id!r}") from None


def _run_fields(run: RunRecord) -> dict[str, Any]:
    usage = run.usage or {}
    return {
        "prompt_tokens": usage.get("prompt_tokens"),
        "completion_tokens": usage.get("completion_tokens"),
        "tokens_estimated": bool(usage.get("estimated")),
        "status": run.status,
        "cache_hit": run.cache_hit,
        "output": _text(run.output),
        "error": _text(run.error),
        "unsaved_state": _text(run.unsaved_state),
        "state_version": run.state_version,
        "finished_at": _moment(run.ended_at),
    }


def run_save(session: WorkflowSession, run: RunRecord, workflow: str) -> WorkflowRun:
    """Write a run's outcome to its WorkflowRun row, creating it for runs started outside the dashboard.

    Updates the session's `run_count` and `last_run_status` in memory; the caller saves the session.
    """
    fields = _run_fields(run)
    row = WorkflowRun.objects.filter(run_id=_run_uuid(run.run_id)).first()
    if row is None:
        row = WorkflowRun.objects.create(
            run_id=_run_uuid(run.run_id),
            session=session,
            workflow=workflow,
            inputs=_readable(run.input),
            started_at=_moment(run.started_at),
            **fields,
        )
    else:
        for name, value in fields.items():
            setattr(row, name, value)
        row.started_at = row.started_at or _moment(run.started_at)
        row.save(update_fields=[*fields, "started_at"])
    session.run_count = WorkflowRun.objects.filter(session=session).count()
    session.last_run_status = run.status
    return row


CREDIT_FIELDS = ["cache_key", "saved_seconds", "saved_tokens", "saved_tokens_estimated"]


def run_credit_hits(row: WorkflowRun, hits: list[list[str]]) -> None:
    """Count the run's cache hits on their entries, and record on the run what the first one saved."""
    for state_key, key in hits:
        credit = cache_stats_hit(session_pk=row.session_id, cache=state_key, key=key)
        if credit is not None and not row.cache_key:
            run_credit(row, cache=state_key, key=key, credit=credit)
            row.save(update_fields=CREDIT_FIELDS)


def run_credit(row: WorkflowRun, *, cache: str, key: str, credit: HitCredit | None) -> None:
    """Note on a cache-hit run which entry answered it and what producing that entry had cost."""
    row.cache_key = f"{cache}:{key}"[: field_max_length(WorkflowRun, "cache_key")]
    if credit is not None:
        row.saved_seconds, row.saved_tokens = credit.seconds, credit.tokens
        row.saved_tokens_estimated = credit.estimated


def run_record(row: WorkflowRun, session_id: str) -> RunRecord:
    """Return the engine's record of a WorkflowRun row."""
    return RunRecord(
        run_id=str(row.run_id),
        session_id=session_id,
        workflow_id=row.workflow or None,
        input=row.inputs,
        status=row.status,
        output=row.output or None,
        error=row.error or None,
        cache_hit=row.cache_hit,
        started_at=_seconds(row.started_at or row.created_at) or 0.0,
        ended_at=_seconds(row.finished_at),
        events=getattr(row, "event_count", 0),
        state_version=row.state_version,
        unsaved_state=row.unsaved_state or None,
    )
