"""How runs end badly: a readable error on the run, a last `RunFailed` event, and dead workers reaped.

A worker that dies (killed, out of memory, machine lost) cannot say so; its run stops sending
heartbeats. `runs_reap_stale` fails such runs, and `manage.py reap_runs --loop` calls it every
few seconds, so a run whose worker died is failed within WFSITE_HEARTBEAT_TIMEOUT plus that loop.
Each change here is a conditional UPDATE, so a worker finishing at the same moment wins or loses
cleanly instead of both writing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

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


def runs_reap_stale(*, now: datetime | None = None) -> int:
    """Fail every running run whose worker stopped sending heartbeats; return how many."""
    now = now or timezone.now()
    reaped = 0
    for run in WorkflowRun.objects.stale(now=now).order_by("heartbeat_at"):
        cutoff = now - timedelta(seconds=settings.WFSITE_HEARTBEAT_TIMEOUT)
        # heartbeat_before: a worker that beat again since the query keeps its run.
        if run_fail(
            run=run,
            error=_stale_error(run, now),
            statuses=[WorkflowRun.Status.RUNNING],
            heartbeat_before=cutoff,
            now=now,
        ):
            logger.warning("Failed run %s: %s", run.run_id, run.error)
            reaped += 1
    return reaped


def run_reap_if_stale(*, run: WorkflowRun, now: datetime | None = None) -> bool:
    """Fail this run if its worker stopped sending heartbeats; costs no query while it is healthy."""
    if run.status != WorkflowRun.Status.RUNNING or run.heartbeat_at is None:
        return False
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.WFSITE_HEARTBEAT_TIMEOUT)
    if run.heartbeat_at >= cutoff:
        return False
    return run_fail(
        run=run,
        error=_stale_error(run, now),
        statuses=[WorkflowRun.Status.RUNNING],
        heartbeat_before=cutoff,
        now=now,
    )
