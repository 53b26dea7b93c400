"""How runs end badly: a readable error on the run, a last `RunFailed` event, and dead workers reaped.

A worker that dies (killed, out of memory, machine lost) cannot say so; its run stops sending
heartbeats. `runs_reap_stale` fails such runs (and the task queue's row for them), and `manage.py reap_runs --loop` calls it every
few seconds, so a run whose worker died is failed within WFSITE_HEARTBEAT_TIMEOUT plus that loop.
Each change here is a conditional UPDATE, so a worker finishing at the same moment wins or loses
cleanly instead of both writing.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from sessions_app.models import RunEvent, WorkflowRun, WorkflowSession
from sessions_app.ops.logs import run_transition_log
from sessions_app.services.run_events import END_EVENTS, RUN_FAILED, run_event_append, storable_text

logger = logging.getLogger("wfsite.runs")

ACTIVE = (WorkflowRun.Status.QUEUED, WorkflowRun.Status.RUNNING)
STALE_ERROR = (
    "The worker running this run stopped responding (no heartbeat for {seconds} s); "
    "state saved up to its last write is kept."
)


@transaction.atomic
def run_fail(
    *,
    run: WorkflowRun,
    error: str,
    statuses: Iterable[str] = ACTIVE,
    heartbeat_before: datetime | None = None,
    now: datetime | None = None,
) -> bool:
    """Fail the run with `error` if it is still in one of `statuses`; say whether it was failed."""
    now = now or timezone.now()
    rows = WorkflowRun.objects.filter(pk=run.pk, status__in=list(statuses))
    if heartbeat_before is not None:
        rows = rows.filter(heartbeat_at__lt=heartbeat_before)
    if not rows.update(status=WorkflowRun.Status.FAILED, error=error, finished_at=now):
        return False
    previous = run.status
    run.status, run.error, run.finished_at = WorkflowRun.Status.FAILED, error, now
    run_transition_log(run, previous, note=error)
    run_event_append(run=run, event=RUN_FAILED, content=error)
    WorkflowSession.objects.filter(pk=run.session_id).update(last_run_status=run.status)
    return True


def run_end_event(*, run: WorkflowRun) -> None:
    """Append RunFailed or RunCancelled with the run's error, unless its last event already says that."""
    event = END_EVENTS.get(run.status)
    if event is None:
        return
    content = storable_text(run.error or f"The run was {run.status}.")
    last = RunEvent.objects.filter(run=run).order_by("-seq").values_list("event", "content").first()
    if last != (event, content):
        run_event_append(run=run, event=event, content=content)


def _stale_error(run: WorkflowRun, now: datetime) -> str:
    silent = now - (run.heartbeat_at or run.started_at or now)
    return STALE_ERROR.format(seconds=round(silent.total_seconds()))


class WorkerLostError(Exception):
    """The worker running a task stopped sending heartbeats; its queue row is failed with this."""


def _task_row_fail(*, run: WorkflowRun, error: str, now: datetime) -> None:
    """Fail the run's django-tasks-db row too: its worker died, so nothing else ever will.

    A row another backend queued (RQ) has no such row; one that finished meanwhile is left alone.
    """
    try:
        task_id = uuid.UUID(run.task_id)
    except ValueError:
        return
    DBTaskResult.objects.filter(id=task_id, status=TaskResultStatus.RUNNING).update(
        status=TaskResultStatus.FAILED,
        finished_at=now,
        return_value=None,
        exception_class_path=f"{WorkerLostError.__module__}.{WorkerLostError.__qualname__}",
        traceback=f"{WorkerLostError.__module__}.{WorkerLostError.__qualname__}: {error}\n",
    )


@transaction.atomic
def _reap(*, run: WorkflowRun, now: datetime) -> bool:
    cutoff = now - timedelta(seconds=settings.WFSITE_HEARTBEAT_TIMEOUT)
    error = _stale_error(run, now)
    # heartbeat_before: a worker that beat again since the caller looked keeps its run.
    failed = run_fail(
        run=run, error=error, statuses=[WorkflowRun.Status.RUNNING], heartbeat_before=cutoff, now=now
    )
    if failed:
        _task_row_fail(run=run, error=error, now=now)
    return failed


def runs_reap_stale(*, now: datetime | None = None) -> int:
    """Fail every running run whose worker stopped sending heartbeats, and its queue row; return how many."""
    now = now or timezone.now()
    reaped = 0
    for run in WorkflowRun.objects.stale(now=now).order_by("heartbeat_at"):
        if _reap(run=run, now=now):
            logger.warning("Failed run %s: %s", run.run_id, run.error)
            reaped += 1
    return reaped


def run_reap_if_stale(*, run: WorkflowRun, now: datetime | None = None) -> bool:
    """Fail this run if its worker stopped sending heartbeats; costs no query while it is healthy."""
    if run.status != WorkflowRun.Status.RUNNING or run.heartbeat_at is None:
        return False
    now = now or timezone.now()
    if run.heartbeat_at >= now - timedelta(seconds=settings.WFSITE_HEARTBEAT_TIMEOUT):
        return False
    return _reap(run=run, now=now)
