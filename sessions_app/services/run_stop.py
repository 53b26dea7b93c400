"""How a running run learns that it should stop: someone ended it elsewhere, or asked to cancel it.

Cancelling is cooperative. `run_cancel` only stamps `cancel_requested_at` on a running run; the
worker asks between two events whether that happened, at most every CHECK_SECONDS (one indexed
read of one row), so a stream of small chunks costs a query or two a second, and a run blocked in
a model call is stopped at its next event, once that call returns or times out.
"""

from __future__ import annotations

import time

from sessions_app.models import WorkflowRun
from sessions_app.services.run_heartbeat import Heartbeat

CHECK_SECONDS = 0.5


def cancel_text(run: WorkflowRun) -> str:
    """Say who cancelled the run, for its error and its last event."""
    who = run.cancelled_by.get_username() if run.cancelled_by is not None else "the system"
    return f"Cancelled by {who}."


class RunStop:
    """Whether the run being driven should stop, and the status and error it then ends with."""

    def __init__(self, run: WorkflowRun, heartbeat: Heartbeat, *, every: float = CHECK_SECONDS) -> None:
        self.run_pk = run.pk
        self.heartbeat = heartbeat
        self.every = every
        self.cancelled: tuple[str, str] | None = None
        self._next_check = 0.0  # the first event checks at once

    @property
    def ended(self) -> tuple[str, str] | None:
        """The (status, error) the run ends with instead of the engine's, once it should stop."""
        return self.heartbeat.ended_elsewhere or self.cancelled

    def should_stop(self) -> bool:
        """Return whether to stop now; reads the database at most every `every` seconds."""
        if self.ended is not None:
            return True
        now = time.monotonic()
        if now < self._next_check:
            return False
        self._next_check = now + self.every
        run = (
            WorkflowRun.objects.filter(pk=self.run_pk, cancel_requested_at__isnull=False)
            .select_related("cancelled_by")
            .first()
        )
        if run is not None:
            self.cancelled = (WorkflowRun.Status.CANCELLED, cancel_text(run))
        return self.cancelled is not None
