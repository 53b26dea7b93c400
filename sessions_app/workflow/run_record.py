"""Tracking one run for the session's history: status, timings, output, cache hit, error."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from sessions_app.workflow.events import RunEvent, RunResponse
from sessions_app.workflow.storage import RunRecord


def unsaved_text(state: Any) -> str:
    """Return the state as JSON text a person can read, even when parts of it are not JSON."""
    try:
        return json.dumps(state, default=repr, ensure_ascii=False, indent=2)
    except (TypeError, ValueError) as error:
        return f"<state could not be rendered: {error}>\n{state!r}"


class WorkflowMemory:
    """The runs this instance made, in process; the storage keeps the durable history."""

    def __init__(self) -> None:
        self.runs: list[dict[str, Any]] = []

    def add_run(self, run: dict[str, Any]) -> None:
        """Remember one run's input and response."""
        self.runs.append(run)

    def to_dict(self) -> dict[str, Any]:
        """Return upstream's memory shape."""
        return {"runs": self.runs}


class RunTracker:
    """Build a run's RunRecord as the run goes."""

    def __init__(self, record: RunRecord) -> None:
        self.record = record
        self.last_event: str | None = None

    @classmethod
    def start(
        cls, *, run_id: str, session_id: str, workflow_id: str | None, run_input: dict[str, Any]
    ) -> RunTracker:
        """Open a record for a run that starts now."""
        record = RunRecord(
            run_id=run_id,
            session_id=session_id,
            workflow_id=workflow_id,
            input=run_input,
            started_at=time.time(),
        )
        return cls(record)

    def saw(self, item: RunResponse) -> None:
        """Count an event the run yielded."""
        self.record.events += 1
        self.last_event = item.event

    def end(
        self,
        error: BaseException | None,
        *,
        content: Any,
        cache_hit: bool | None,
        changed_state: Callable[[], bool],
        cache_hits: Sequence[tuple[str, str]] = (),
        usage: dict[str, Any] | None = None,
    ) -> None:
        """Close the record with the run's outcome; `changed_state` says whether the run changed its state."""
        record = self.record
        record.ended_at = time.time()
        record.output = (
            content if isinstance(content, str) else (None if content is None else unsaved_text(content))
        )
        if error is None:
            record.status = "succeeded"
        elif isinstance(error, GeneratorExit | KeyboardInterrupt):
            record.status, record.error = "cancelled", "The consumer stopped reading the run before it ended."
        else:
            record.status, record.error = "failed", f"{type(error).__name__}: {error}"
        record.cache_hits = [list(hit) for hit in cache_hits]
        record.usage = dict(usage) if usage else None
        if cache_hit is not None:
            record.cache_hit = cache_hit
        else:
            # A run that answered with a completed event and changed nothing was served from state.
            record.cache_hit = (
                error is None and self.last_event == RunEvent.workflow_completed and not changed_state()
            )

    def failed_to_save(self, error: Exception, unsaved: str) -> None:
        """Mark the run failed because its state could not be saved, keeping the unsaved state."""
        self.record.status = "failed"
        prefix = f"{self.record.error}\n" if self.record.error else ""
        self.record.error = f"{prefix}State not saved: {type(error).__name__}: {error}"
        self.record.unsaved_state = unsaved
