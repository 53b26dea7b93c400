"""Starting runs from the dashboard and executing them in a worker.

`run_start` answers a cached result at once (no worker involved), joins a run that is already
making the same result, or queues a new run for a worker. `run_execute` is the worker's side: it
runs the workflow with `RunStorage` (DjangoWorkflowStorage), appends every event to `RunEvent` rows, keeps a
heartbeat, and makes sure the run ends with a status and, if it failed, a readable error.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.db import DatabaseError, close_old_connections, connection, transaction
from django.db.models import F
from django.utils import timezone

from sessions_app.models import RunEvent, StateEntry, WorkflowRun, WorkflowSession
from sessions_app.registry import UnknownWorkflowError, get_workflow_class
from sessions_app.services.rate_limits import run_rate_check
from sessions_app.services.run_events import COMPLETED_EVENT, RunEventWriter, storable_text
from sessions_app.services.run_failures import run_end_event, run_fail, run_reap_if_stale, runs_reap_stale
from sessions_app.services.run_heartbeat import Heartbeat
from sessions_app.services.run_hooks import CachedAnswer, run_hooks_for
from sessions_app.services.run_inputs import run_inputs_clean, run_kwargs
from sessions_app.services.run_storage import RunStorage
from sessions_app.workflow import RunResponse

__all__ = ["RunEndedElsewhere", "run_execute", "run_reap_if_stale", "run_start", "runs_reap_stale"]

logger = logging.getLogger("wfsite.runs")

Status = WorkflowRun.Status
STOPPED_ERROR = "The worker was stopped before the run ended; state saved up to its last write is kept."
NO_OUTCOME_ERROR = "The run ended without recording its outcome."


@transaction.atomic
def run_start(
    *,
    session: WorkflowSession,
    inputs: dict[str, Any],
    user: AbstractBaseUser | AnonymousUser | None,
    now: datetime | None = None,
) -> WorkflowRun:
    """Answer from the cache, join the run already making this result, or queue a new run.

    Raises ValidationError for bad inputs and RunRateLimitedError when `user` has started as many
    runs as WFSITE_RUN_RATE_LIMIT allows (joining a run in flight is always allowed).
    """
    try:
        workflow_class = get_workflow_class(session.workflow)
    except UnknownWorkflowError as error:
        raise ValidationError({"workflow": [str(error)]}) from None
    hooks = run_hooks_for(workflow_class)
    cleaned = hooks.clean(run_inputs_clean(workflow_class=workflow_class, inputs=inputs))
    # Two starts on one session queue here, so the second sees the first's run or cached post.
    locked = WorkflowSession.objects.select_for_update().get(pk=session.pk)
    now = now or timezone.now()
    started_by = user if user is not None and user.is_authenticated else None
    answer = hooks.cached_answer(locked, cleaned)
    key = hooks.flight_key(cleaned)
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
            started_by=started_by,
            created_at=now,
        )
        transaction.on_commit(lambda: _run_enqueue(run))
    locked.run_count += 1
    locked.last_run_status = run.status
    locked.save(update_fields=["run_count", "last_run_status"])
    session.run_count, session.last_run_status = locked.run_count, locked.last_run_status
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
    if answer.entry_id is not None:
        StateEntry.objects.filter(pk=answer.entry_id).update(hits=F("hits") + 1)
    return run


def _run_in_flight(*, session: WorkflowSession, key: str) -> WorkflowRun | None:
    """Return the active run with this flight key, unless its worker has died."""
    run = WorkflowRun.objects.active().filter(session=session, flight_key=key).order_by("-created_at").first()
    if run is not None and run_reap_if_stale(run=run):
        return None
    return run


def _run_enqueue(run: WorkflowRun) -> None:
    """Hand the run to a worker; a queue that refuses it fails the run now instead of leaving it queued."""
    # Imported here: the task module imports this one.
    from sessions_app.tasks import run_execute_task

    try:
        result = run_execute_task.enqueue(str(run.run_id))
    except Exception as error:
        logger.exception("Could not queue run %s", run.run_id)
        run_fail(run=run, error=f"The run could not be queued: {type(error).__name__}: {error}")
        return
    run.task_id = str(result.id)[:64]
    WorkflowRun.objects.filter(pk=run.pk).update(task_id=run.task_id)


# -- the worker's side ----------------------------------------------------------------------------------


class RunEndedElsewhere(Exception):
    """The run was ended by someone else (the reaper, a cancel) while this worker ran it."""

    def __init__(self, status: str, error: str) -> None:
        super().__init__(error)
        self.status, self.error = status, error


def run_execute(*, run_id: str) -> None:
    """Execute a queued run here; a workflow's error fails the run but never this process."""
    run = _run_claim(run_id)
    if run is None:
        return
    try:
        _run_drive(run)
    except RunEndedElsewhere as error:
        logger.warning("Run %s was ended elsewhere (%s); stopped it", run.run_id, error.status)
        _run_settle(run, error)
    except Exception as error:
        logger.warning("Run %s failed: %s", run.run_id, error, exc_info=True)
        _run_settle(run, error)
    except BaseException as error:
        # The worker is being stopped: say so on the run, then let the stop go on.
        _run_settle(run, error)
        raise
    else:
        _run_settle(run, None)
    finally:
        # Inside a caller's transaction (tests, inline runs) the connection is not ours to drop.
        if not connection.in_atomic_block:
            close_old_connections()


@transaction.atomic
def _run_claim(run_id: str) -> WorkflowRun | None:
    """Mark the run running if it is still queued; return it, or None to skip it."""
    try:
        key = uuid.UUID(str(run_id))
    except ValueError:
        logger.error("Skipping a task for run %r: not a run id", run_id)
        return None
    run = WorkflowRun.objects.select_for_update().select_related("session").filter(run_id=key).first()
    if run is None or run.status != Status.QUEUED:
        logger.info("Skipping run %s: %s", run_id, "it no longer exists" if run is None else run.status)
        return None
    run.mark_running()
    WorkflowSession.objects.filter(pk=run.session_id).update(last_run_status=run.status)
    return run


def _run_drive(run: WorkflowRun) -> None:
    """Build the workflow, run it, and append what it yields, with a heartbeat beside it."""
    workflow_class = get_workflow_class(run.workflow)
    writer = RunEventWriter(run)
    workflow = workflow_class(
        session_id=run.session.session_id,
        storage=RunStorage(workflow=run.workflow, writer=writer),
        user_id=run.session.user_id or None,
    )
    workflow.use_run_id(str(run.run_id))
    with Heartbeat(run, interval=settings.WFSITE_HEARTBEAT_INTERVAL) as heartbeat:
        try:
            result = workflow.run(**run_kwargs(workflow_class=workflow_class, inputs=run.inputs))
            if isinstance(result, RunResponse):
                writer.add(result)
            elif result is not None:
                _run_stream(result, writer, heartbeat)
        finally:
            _flush_quietly(writer)
    if heartbeat.ended_elsewhere is not None:
        raise RunEndedElsewhere(*heartbeat.ended_elsewhere)


def _run_stream(stream: Iterator[Any], writer: RunEventWriter, heartbeat: Heartbeat) -> None:
    try:
        for item in stream:
            if isinstance(item, RunResponse):
                writer.add(item)
            if heartbeat.ended_elsewhere is not None:
                break
    finally:
        # Ending the generator makes the engine save the state the run changed so far.
        close = getattr(stream, "close", None)
        if close is not None:
            close()


def _flush_quietly(writer: RunEventWriter) -> None:
    try:
        writer.flush()
    except DatabaseError:
        logger.exception("Could not write the last events of run %s", writer.run.run_id)


def _readable(error: BaseException) -> str:
    if not isinstance(error, Exception):
        return STOPPED_ERROR
    notes = "".join(f"\n{note}" for note in getattr(error, "__notes__", ()))
    return f"{type(error).__name__}: {error}{notes}"


def _run_settle(run: WorkflowRun, error: BaseException | None) -> None:
    """Make sure the run ended with a status, a readable error if it failed, and a last event saying so."""
    try:
        run.refresh_from_db()
        if not run.is_finished:
            # The engine could not record the outcome, or the workflow was never built.
            run_fail(run=run, error=_readable(error) if error else NO_OUTCOME_ERROR)
            return
        outcome = _outcome_override(run, error)
        if outcome is not None and outcome != (run.status, run.error):
            run.status, run.error = outcome
            run.save(update_fields=["status", "error"])
            WorkflowSession.objects.filter(pk=run.session_id).update(last_run_status=run.status)
        run_end_event(run=run)
    except DatabaseError:
        logger.exception("Could not record how run %s ended; the reaper will fail it", run.run_id)


def _outcome_override(run: WorkflowRun, error: BaseException | None) -> tuple[str, str] | None:
    """Return the status and error to record instead of the engine's, when ours know better."""
    if isinstance(error, RunEndedElsewhere):
        # The engine saw only that we stopped reading; whoever ended the run said why.
        return error.status, error.error
    if error is not None and (run.status != Status.FAILED or not isinstance(error, Exception)):
        # Our side failed after the engine recorded its outcome, or the worker is being stopped.
        return Status.FAILED, _readable(error)
    return None
