"""Reads of runs and their events, for the run page, its event stream and the session's history."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from sessions_app.models import RunEvent, WorkflowRun, WorkflowSession


def _events_after(run: WorkflowRun, after_seq: int, limit: int) -> QuerySet[RunEvent]:
    return RunEvent.objects.filter(run=run, seq__gt=after_seq).order_by("seq")[:limit]


def events_since(*, run: WorkflowRun, after_seq: int, limit: int = 500) -> list[RunEvent]:
    """Return the run's events after `after_seq` (0 for all), oldest first, at most `limit`."""
    return list(_events_after(run, after_seq, limit))


async def aevents_since(*, run: WorkflowRun, after_seq: int, limit: int = 500) -> list[RunEvent]:
    """Return the run's events after `after_seq`, oldest first, at most `limit` (async)."""
    return [event async for event in _events_after(run, after_seq, limit)]


def _run_id(run_id: uuid.UUID | str) -> uuid.UUID | None:
    try:
        return run_id if isinstance(run_id, uuid.UUID) else uuid.UUID(str(run_id))
    except ValueError:
        return None


def run_get(*, run_id: uuid.UUID | str) -> WorkflowRun | None:
    """Return the run with this id, with its session, starter and canceller, or None (also for a malformed id)."""
    key = _run_id(run_id)
    if key is None:
        return None
    return (
        WorkflowRun.objects.select_related("session", "started_by", "cancelled_by").filter(run_id=key).first()
    )


async def arun_get(*, run_id: uuid.UUID | str) -> WorkflowRun | None:
    """Return the run with this id, with its session and starter, or None (async)."""
    key = _run_id(run_id)
    if key is None:
        return None
    return await WorkflowRun.objects.select_related("session", "started_by").filter(run_id=key).afirst()


def session_runs(*, session: WorkflowSession, limit: int = 50) -> list[WorkflowRun]:
    """Return the session's latest runs, newest first, for its history table."""
    runs = WorkflowRun.objects.filter(session=session).select_related("started_by")
    return list(runs.order_by("-created_at", "-id")[:limit])
