"""A run in the worker: claim it, run the workflow, append its events, and settle how it ended.

`run_execute` runs the workflow with `RunStorage` (DjangoWorkflowStorage), appends every event to
`RunEvent` rows, keeps a heartbeat, and makes sure the run ends with a status and, if it failed,
a readable error. A workflow's error fails the run, never the worker process.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection, transaction

from sessions_app.models import WorkflowRun, WorkflowSession
from sessions_app.ops.logs import run_logging, run_transition_log
from sessions_app.registry import get_workflow_class
from sessions_app.services.run_events import RunEventWriter
from sessions_app.services.run_failures import run_end_event, run_fail
from sessions_app.services.run_heartbeat import Heartbeat
from sessions_app.services.run_inputs import run_kwargs
from sessions_app.services.run_stop import RunStop
from sessions_app.services.run_storage import RunStorage
from sessions_app.workflow import RunResponse

__all__ = ["NO_OUTCOME_ERROR", "STOPPED_ERROR", "RunEndedElsewhere", "run_execute"]

logger = logging.getLogger("wfsite.runs")

Status = WorkflowRun.Status
STOPPED_ERROR = "The worker was stopped before the run ended; state saved up to its last write is kept."
NO_OUTCOME_ERROR = "The run ended without recording its outcome."


class RunEndedElsewhere(Exception):
    """The run was ended by someone else (the reaper) or cancelled while this worker ran it."""

    def __init__(self, status: str, error: str) -> None:
        super().__init__(error)
        self.status, self.error = status, error


def run_execute(*, run_id: str) -> None:
    """Execute a queued run here; a workflow's error fails the run but never this process."""
    with run_logging(run_id):
        _run_execute(run_id)


def _run_execute(run_id: str) -> None:
    run = _run_claim(run_id)
    if run is None:
        return
    run_transition_log(run, Status.QUEUED)
    try:
        _run_drive(run)
    except RunEndedElsewhere as error:
        logger.warning("Stopped run %s: it was %s elsewhere (%s)", run.run_id, error.status, error.error)
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
        stop = RunStop(run, heartbeat)
        try:
            result = workflow.run(**run_kwargs(workflow_class=workflow_class, inputs=run.inputs))
            if isinstance(result, RunResponse):
                writer.add(result)
            elif result is not None:
                _run_stream(result, writer, stop)
        finally:
            _flush_quietly(writer)
    if stop.ended is not None:
        raise RunEndedElsewhere(*stop.ended)


def _run_stream(stream: Iterator[Any], writer: RunEventWriter, stop: RunStop) -> None:
    try:
        for item in stream:
            if isinstance(item, RunResponse):
                writer.add(item)
            if stop.should_stop():
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
        run_transition_log(run, Status.RUNNING, note=run.error)
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
