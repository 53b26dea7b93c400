"""The storage a dashboard run writes through: DjangoWorkflowStorage that writes the run's events first.

The engine records how a run ended (its status) in the commit that saves its last state. A page
that sees the run finished must find every event already written, so this storage writes the
pending chunks, and RunFailed with the error, just before that commit.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from django.db import DatabaseError

from sessions_app.models import WorkflowRun, WorkflowSession
from sessions_app.services.run_events import RunEventWriter
from sessions_app.state.storage import DjangoWorkflowStorage
from sessions_app.workflow.state import Op
from sessions_app.workflow.storage import Commit, RunRecord, SessionMeta

logger = logging.getLogger("wfsite.runs")


class RunStorage(DjangoWorkflowStorage):
    """DjangoWorkflowStorage for one run, flushing that run's events before its outcome is stored."""

    def __init__(self, *, workflow: str, writer: RunEventWriter) -> None:
        super().__init__(workflow=workflow)
        self.writer = writer

    def commit(
        self,
        *,
        meta: SessionMeta,
        base_version: int,
        ops: list[Op],
        state: dict[str, Any],
        run: RunRecord | None = None,
    ) -> Commit:
        """Write the run's events if it is ending, then commit as DjangoWorkflowStorage does."""
        if run is not None:
            self._write_events(run)
        return super().commit(meta=meta, base_version=base_version, ops=ops, state=state, run=run)

    def _log_change(
        self, row: WorkflowSession, ops: list[Op], *, run: WorkflowRun | None, summary: str
    ) -> None:
        # The run's own write_to_storage() saves are its changes too, not a person's edits.
        super()._log_change(row, ops, run=self.writer.run if run is None else run, summary=summary)

    def record_run(self, run: RunRecord) -> None:
        """Write the run's events, then record the run (its state could not be saved)."""
        self._write_events(run)
        super().record_run(run)

    def _write_events(self, record: RunRecord) -> None:
        # The engine commits from inside its `except` block, so this is the error ending the run.
        # A worker being stopped (SystemExit) or our own closing of the stream (GeneratorExit)
        # is described by run_execute afterwards, in better words than the engine's.
        ending = sys.exc_info()[1]
        failed_here = record.status == "failed" and (ending is None or isinstance(ending, Exception))
        try:
            if failed_here:
                self.writer.end(status=record.status, error=record.error or "")
            else:
                self.writer.flush()
        except DatabaseError:
            # Events are the run's commentary; its state must still be saved without them.
            logger.exception("Could not write the last events of run %s", record.run_id)
