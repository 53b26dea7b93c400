"""Starting and controlling runs: an answer from the cache, a run to join or queue; cancel; run again.

`run_start` answers a cached result at once (no worker involved), joins a run that is already
making the same result, or queues a new run for a worker (`services.run_worker` is its side).
`run_cancel` ends a queued run at once and asks a running one's worker to stop it
(`services.run_stop`); `run_again` starts a finished run's inputs again through `run_start`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from sessions_app.models import RunEvent, WorkflowRun, WorkflowSession
from sessions_app.ops.logs import run_transition_log
from sessions_app.registry import UnknownWorkflowError, get_workflow_class, result_cache_flag
from sessions_app.roles import CAN_DELETE_RUN, CAN_EDIT_STATE, CAN_RUN
from sessions_app.selectors.caches import cache_flight_key
from sessions_app.services.permissions import Actor, actor_require
from sessions_app.services.rate_limits import run_rate_check
from sessions_app.services.run_cache import CachedAnswer, run_cached_answer, run_inputs_check
from sessions_app.services.run_events import COMPLETED_EVENT, RUN_CANCELLED, run_event_append, storable_text
from sessions_app.services.run_failures import run_fail, run_reap_if_stale, runs_reap_stale
from sessions_app.services.run_inputs import run_inputs_clean
from sessions_app.services.run_stop import cancel_text
from sessions_app.state.cache_stats import cache_stats_hit, cache_stats_start
from sessions_app.state.runs import CREDIT_FIELDS, run_credit
from sessions_app.tasks import run_execute_task
from sessions_app.workflow import Workflow

__all__ = [
    "RunConflictError",
    "run_again",
    "run_cancel",
    "run_cancel_allowed",
    "run_delete",
    "run_reap_if_stale",
    "run_start",
    "runs_reap_stale",
]

logger = logging.getLogger("wfsite.runs")

Status = WorkflowRun.Status


class RunConflictError(Exception):
    """The run is not in a state that allows this: cancelling a finished run, repeating an unfinished one."""

    def __init__(self, message: str, *, status: str) -> None:
        super().__init__(message)
        self.status = status


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

    The cached answer is looked up before the write transaction, because on SQLite that
    transaction holds the whole database's write lock: a cache hit, which only adds to the run
    history, then holds it for its few writes, and POSTs from several web processes stop queueing
    behind each other's reads. Each part is atomic on its own; a miss looks again under the
    session's lock, so it still joins or starts exactly one run.
    """
    actor_require(user, CAN_RUN)
    try:
        workflow_class = get_workflow_class(session.workflow)
    except UnknownWorkflowError as error:
        raise ValidationError({"workflow": [str(error)]}) from None
    cleaned = run_inputs_check(
        workflow_class=workflow_class, inputs=run_inputs_clean(workflow_class=workflow_class, inputs=inputs)
    )
    now = now or timezone.now()
    started_by = user if user is not None and user.is_authenticated else None
    start = _Start(workflow_class, cleaned, started_by, accept_stale, now)
    # The caller's session (just read, for a page) is current enough for a hit; a miss reads it again.
    answer = run_cached_answer(
        session=session, workflow_class=workflow_class, inputs=cleaned, accept_stale=accept_stale
    )
    run = _run_answer(session, start, answer) if answer is not None else _run_queue_or_join(session, start)
    session.refresh_from_db(fields=["run_count", "last_run_status"])
    run_transition_log(run, "", note="answered from the cache" if run.cache_hit else "")
    return run


@dataclass(frozen=True)
class _Start:
    """What one request to start a run asks for."""

    workflow_class: type[Workflow]
    inputs: dict[str, Any]
    user: Any
    accept_stale: bool
    now: datetime

    @property
    def flight_key(self) -> str:
        return cache_flight_key(workflow_class=self.workflow_class, inputs=self.inputs)


@transaction.atomic
def _run_answer(session: WorkflowSession, start: _Start, answer: CachedAnswer) -> WorkflowRun:
    """Record a run answered from the cache: the rate check and the writes, nothing else."""
    run_rate_check(user=start.user, now=start.now)
    run = _run_from_cache(
        session=session,
        inputs=start.inputs,
        key=start.flight_key,
        answer=answer,
        user=start.user,
        now=start.now,
    )
    # Last, so that on PostgreSQL the session's row is locked only until the commit right after.
    WorkflowSession.objects.filter(pk=session.pk).update(
        run_count=F("run_count") + 1, last_run_status=run.status
    )
    return run


@transaction.atomic
def _run_queue_or_join(session: WorkflowSession, start: _Start) -> WorkflowRun:
    """Under the session's lock: answer from the cache after all, join the run in flight, or queue one."""
    # Two starts on one session queue here, so the second sees the first's run or cached result.
    locked = WorkflowSession.objects.select_for_update().get(pk=session.pk)
    answer = run_cached_answer(
        session=locked,
        workflow_class=start.workflow_class,
        inputs=start.inputs,
        accept_stale=start.accept_stale,
    )
    key = start.flight_key
    if answer is None and key and (joined := _run_in_flight(session=locked, key=key)) is not None:
        return joined
    run_rate_check(user=start.user, now=start.now)
    if answer is not None:
        run = _run_from_cache(
            session=locked, inputs=start.inputs, key=key, answer=answer, user=start.user, now=start.now
        )
    else:
        run = WorkflowRun.objects.create(
            session=locked,
            workflow=locked.workflow,
            inputs=start.inputs,
            flight_key=key,
            accept_stale=start.accept_stale,
            started_by=start.user,
            created_at=start.now,
        )
        transaction.on_commit(lambda: _run_enqueue(run))
    locked.run_count += 1
    locked.last_run_status = run.status
    locked.save(update_fields=["run_count", "last_run_status"])
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


def run_cancel_allowed(*, run: WorkflowRun, actor: Actor) -> bool:
    """Return whether `actor` may cancel the run: the runner who started it, or an editor."""
    if actor is None or actor.has_perm(CAN_EDIT_STATE):  # type: ignore[union-attr]  # auth.User has it
        return True
    return bool(actor.is_authenticated and run.started_by_id == actor.pk and actor.has_perm(CAN_RUN))  # type: ignore[attr-defined]  # auth.User has it


def run_cancel(*, run: WorkflowRun, actor: Actor) -> WorkflowRun:
    """Cancel a queued run now (no worker will start it), or ask a running run's worker to stop it.

    A running run ends `cancelled` when its worker next looks (`services.run_stop`): between two
    events, after closing the workflow, which saves the state it made so far. Asking twice is
    harmless. Raises PermissionDenied, or RunConflictError when the run has already ended.
    """
    if not run_cancel_allowed(run=run, actor=actor):
        raise PermissionDenied(
            f"{actor} may not cancel this run: only the runner who started it, or an editor, may."
        )
    # A run whose worker died is failed first: no worker would ever notice the cancel.
    run_reap_if_stale(run=run)
    by = actor if actor is not None and actor.is_authenticated else None
    now = timezone.now()
    run.cancelled_by = by  # type: ignore[assignment]  # an authenticated actor is an auth.User
    with transaction.atomic():
        # Conditional updates: a worker claiming the run, or ending it, at the same moment wins or loses cleanly.
        queued = WorkflowRun.objects.filter(pk=run.pk, status=Status.QUEUED)
        if queued.update(
            status=Status.CANCELLED,
            error=cancel_text(run),
            finished_at=now,
            cancel_requested_at=now,
            cancelled_by=by,
        ):
            run_event_append(run=run, event=RUN_CANCELLED, content=cancel_text(run))
            WorkflowSession.objects.filter(pk=run.session_id).update(last_run_status=Status.CANCELLED)
            run.refresh_from_db()
            run_transition_log(run, Status.QUEUED, note=run.error)
            return run
        running = WorkflowRun.objects.filter(pk=run.pk, status=Status.RUNNING, cancel_requested_at=None)
        running.update(cancel_requested_at=now, cancelled_by=by)
    run.refresh_from_db()
    if run.is_finished:
        raise RunConflictError(
            f"The run has already ended ({run.status}), so there is nothing to cancel.", status=run.status
        )
    return run


def run_again(
    *, run: WorkflowRun, actor: Actor, regenerate: bool = False, now: datetime | None = None
) -> WorkflowRun:
    """Start a finished run's inputs again through `run_start` (its rate limit and single-flight).

    `regenerate` turns the workflow's result cache off for the new run, so it makes the result
    anew and its result replaces the cached entry. Raises RunConflictError while the run is
    queued or running, ValidationError when there is no cache to regenerate.
    """
    actor_require(actor, CAN_RUN)
    if not run.is_finished:
        raise RunConflictError(
            f"The run is still {run.status}; run it again once it has ended.", status=run.status
        )
    inputs = dict(run.inputs) if isinstance(run.inputs, dict) else {}
    if regenerate:
        flag = result_cache_flag(run.workflow)
        if not flag:
            raise ValidationError(
                f"{run.workflow} has no cache a run can turn off, so there is nothing to regenerate."
            )
        inputs[flag] = False
    session = WorkflowSession.objects.get(pk=run.session_id)
    return run_start(session=session, inputs=inputs, user=actor, accept_stale=run.accept_stale, now=now)
