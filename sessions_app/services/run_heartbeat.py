"""A running run's heartbeat: a thread stamps `heartbeat_at` so the reaper can tell a dead worker.

The thread has its own database connection, so a long write in the run (or a model that blocks
for a minute) never delays the beat; it closes that connection when it stops.
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType

from django.db import DatabaseError, connection
from django.utils import timezone

from sessions_app.models import WorkflowRun

logger = logging.getLogger("wfsite.runs")


class Heartbeat:
    """Stamp the run's heartbeat every `interval` seconds while the `with` block runs."""

    def __init__(self, run: WorkflowRun, *, interval: float) -> None:
        self.run_pk = run.pk
        self.interval = interval
        # The status and error someone else (the reaper, a cancel) ended the run with, once they have.
        self.ended_elsewhere: tuple[str, str] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-run-{run.pk}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=max(self.interval, 1.0) + 5)

    def _beat(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                if self._stamp():
                    return
        finally:
            connection.close()

    def _stamp(self) -> bool:
        """Stamp the heartbeat; return True when the run is no longer running."""
        try:
            rows = WorkflowRun.objects.filter(pk=self.run_pk, status=WorkflowRun.Status.RUNNING)
            if rows.update(heartbeat_at=timezone.now()):
                return False
            # An unseen row (the caller's transaction has not committed) is not an ended run.
            ended = (
                WorkflowRun.objects.filter(pk=self.run_pk)
                .exclude(status=WorkflowRun.Status.RUNNING)
                .values_list("status", "error")
                .first()
            )
            if ended is not None:
                self.ended_elsewhere = ended
                return True
        except DatabaseError as error:
            # A locked or briefly unreachable database: the next beat tries again.
            logger.warning("Could not stamp the heartbeat of run %s: %s", self.run_pk, error)
            connection.close()
        return False
