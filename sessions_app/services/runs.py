"""Starting runs from the dashboard: an answer from the cache, a run to join, or a run queued for a worker.

`run_start` answers a cached result at once (no worker involved), joins a run that is already
making the same result, or queues a new run for a worker (`services.run_worker` is its side).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from sessions_app.models import RunEvent, WorkflowRun, WorkflowSession
from sessions_app.ops.logs import run_transition_log
from sessions_app.registry import UnknownWorkflowError, get_workflow_class
from sessions_app.roles import CAN_DELETE_RUN, CAN_RUN
from sessions_app.selectors.caches import cache_flight_key
from sessions_app.services.permissions import Actor, actor_require
from sessions_app.services.rate_limits import run_rate_check
from sessions_app.services.run_cache import CachedAnswer, run_cached_answer, run_inputs_check
from sessions_app.services.run_events import COMPLETED_EVENT, storable_text
from sessions_app.services.run_failures import run_fail, run_reap_if_stale, runs_reap_stale
from sessions_app.services.run_inputs import run_inputs_clean
from sessions_app.state.cache_stats import cache_stats_hit, cache_stats_start
from sessions_app.state.runs import CREDIT_FIELDS, run_credit
from sessions_app.tasks import run_execute_task

__all__ = ["run_delete", "run_reap_if_stale", "run_start", "runs_reap_stale"]

logger = logging.getLogger("wfsite.runs")

Status = WorkflowRun.Status


@transaction.atomic
def run_start(
    *,
    session: WorkflowSession,
    inputs: dict[str, Any],
    user: AbstractBaseUser | AnonymousUser | None,
    accept_stale: bool = False,
    now: datetime | None = None,
) -> WorkflowRun:
    """Answer from the cache, join the run already making this result, or queue a new run.

    `accept_stale` lets an entry older than its cache's ttl answer the run.

    Raises PermissionDenied unless `user` has the runner role (None is the system), ValidationError
    for bad inputs and RunRateLimitedError when `user` has started as many runs as
    WFSITE_RUN_RATE_LIMIT allows (joining a run in flight is always allowed).
    """
    actor_require(user, CAN_RUN)
    try:
        workflow_class = get_workflow_class(session.workflow)
    except UnknownWorkflowError as error:
        raise ValidationError({"workflow": [str(error)]}) from None
    cleaned = run_inputs_check(
        workflow_class=workflow_class, inputs=run_inputs_clean(workflow_class=workflow_class, inputs=inputs)
    )
    # Two starts on one session queue here, so the second sees the first's run or cached result.
    locked = WorkflowSession.objects.select_for_update().get(pk=session.pk)
    now = now or timezone.now()
    started_by = user if user is not None and user.is_authenticated else None
    answer = run_cached_answer(
        session=locked, workflow_class=workflow_class, inputs=cleaned, accept_stale=accept_stale
    )
    key = cache_flight_key(workflow_class=workflow_class, inputs=cleaned)
    if answer is None and key and (joined := _run_in_flight(session=locked, key=key)) is not None:
        return joined
    run_rate_check(user=started_by, now=now)
    if answer is not None:
        run = _run_from_cache(
            session=locked, inputs=cleaned, key=key, answer=answer, user=started_by, now=now
        )
    else:
        run = WorkflowRun.objects.create(
            session=locked,
            workflow=locked.workflow,
            inputs=cleaned,
            flight_key=key,
            accept_stale=accept_stale,
            started_by=started_by,
            created_at=now,
        )
        transaction.on_commit(lambda: _run_enqueue(run))
    locked.run_count += 1
    locked.last_run_status = run.status
    locked.save(update_fields=["run_count", "last_run_status"])
    session.run_count, session.last_run_status = locked.run_count, locked.last_run_status
    run_transition_log(run, "", note="answered from the cache" if run.cache_hit else "")
    return run


def _run_from_cache(
    *,
    session: WorkflowSession,
    inputs: dict[str, Any],
    key: str,
    answer: CachedAnswer,
    user: Any,
    now: datetime,
) -> WorkflowRun:
    output = storable_text(answer.output)
    run = WorkflowRun.objects.create(
        session=session,
        workflow=session.workflow,
        inputs=inputs,
        flight_key=key,
        status=Status.SUCCEEDED,
        cache_hit=True,
        output=output,
        started_at=now,
        finished_at=now,
        state_version=session.version,
        started_by=user,
        created_at=now,
    )
    RunEvent.objects.create(run=run, seq=1, event=COMPLETED_EVENT, content=output)
    entry = answer.entry
    credit = cache_stats_hit(session_pk=session.pk, cache=entry.cache.state_key, key=entry.key)
    if credit is None:
        # An entry written before its stats were kept: start them now, with this hit.
        cache_stats_start(session=session, entry=entry, hits=1)
    run_credit(run, cache=entry.cache.state_key, key=entry.key, credit=credit)
    run.save(update_fields=CREDIT_FIELDS)
    return run


def _run_in_flight(*, session: WorkflowSession, key: str) -> WorkflowRun | None:
    """Return the active run with this flight key, unless its worker has died."""
    run = WorkflowRun.objects.active().filter(session=session, flight_key=key).order_by("-created_at").first()
    if run is not None and run_reap_if_stale(run=run):
        return None
    return run


def _run_enqueue(run: WorkflowRun) -> None:
    """Hand the run to a worker; a queue that refuses it fails the run now instead of leaving it queued."""
    try:
        result = run_execute_task.enqueue(str(run.run_id))
    except Exception as error:
        logger.exception("Could not queue run %s", run.run_id)
        run_fail(run=run, error=f"The run could not be queued: {type(error).__name__}: {error}")
        return
    run.task_id = str(result.id)[:64]
    WorkflowRun.objects.filter(pk=run.pk).update(task_id=run.task_id)


@transaction.atomic
def run_delete(*, run: WorkflowRun, actor: Actor) -> None:
    """Delete a run and its events; its session's run count and last status follow."""
    actor_require(actor, CAN_DELETE_RUN)
    session = WorkflowSession.objects.select_for_update(no_key=True).get(pk=run.session_id)
    run.delete()
    last = (
        WorkflowRun.objects.filter(session=session).order_by("-created_at").values_list("status", flat=True)
    )
    session.run_count = WorkflowRun.objects.filter(session=session).count()
    session.last_run_status = last.first() or ""
    session.save(update_fields=["run_count", "last_run_status"])
