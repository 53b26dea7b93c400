"""Tracking one run for the session's history: status, timings, output, cache hit, error."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from sessions_app.workflow.events import RunEvent, RunResponse
from sessions_app.workflow.state import diff
from sessions_app.workflow.storage import RunRecord

if TYPE_CHECKING:
    from sessions_app.workflow.base import Workflow


def unsaved_text(state: Any) -> str:
    """Return the state as JSON text a person can read, even when parts of it are not JSON."""
    try:
        return json.dumps(state, default=repr, ensure_ascii=False, indent=2)
    except (TypeError, ValueError) as error:
        return f"<state could not be rendered: {error}>\n{state!r}"


class RunTracker:
    """Build a run's RunRecord as the run goes."""

    def __init__(self, record: RunRecord) -> None:
        self.record = record
        self.last_event: str | None = None

    @classmethod
    def start(cls, workflow: Workflow) -> RunTracker:
        """Open a record for the workflow's current run."""
        return cls(
            RunRecord(
                run_id=workflow.run_id or "",
                session_id=workflow.session_id,
                workflow_id=workflow.workflow_id,
                input=workflow.run_input or {},
                started_at=time.time(),
            )
        )

    def saw(self, item: RunResponse) -> None:
        """Count an event the run yielded."""
        self.record.events += 1
        self.last_event = item.event

    def end(self, workflow: Workflow, error: BaseException | None) -> None:
        """Close the record with the run's outcome."""
        record = self.record
        record.ended_at = time.time()
        content = workflow.run_response.content
        record.output = (
            content if isinstance(content, str) else (None if content is None else unsaved_text(content))
        )
        if error is None:
            record.status = "succeeded"
        elif isinstance(error, GeneratorExit | KeyboardInterrupt):
            record.status, record.error = "cancelled", "The consumer stopped reading the run before it ended."
        else:
            record.status, record.error = "failed", f"{type(error).__name__}: {error}"
        if workflow.cache_hit is not None:
            record.cache_hit = workflow.cache_hit
        else:
            # A run that answered with a completed event and changed nothing was served from state.
            record.cache_hit = (
                error is None
                and self.last_event == RunEvent.workflow_completed
                and isinstance(workflow.session_state, dict)
                and not diff(workflow._base_state, workflow.session_state)
            )
        workflow.run_response.metrics = {**(workflow.run_response.metrics or {}), "time": record.duration}

    def failed_to_save(self, error: Exception, unsaved: str) -> None:
        """Mark the run failed because its state could not be saved, keeping the unsaved state."""
        self.record.status = "failed"
        prefix = f"{self.record.error}\n" if self.record.error else ""
        self.record.error = f"{prefix}State not saved: {type(error).__name__}: {error}"
        self.record.unsaved_state = unsaved
