"""A run's events as `RunEvent` rows, in order, with streamed token chunks merged into few rows.

`seq` starts at 1 and goes up by one per row, so a reader resumes with `seq > last seen`.
`RunEvent.data` is null or a JSON object with any of these keys:

- `"model"`: the model id the RunResponse names;
- `"extra_data"`: the RunResponse's `extra_data` (research steps, sources);
- `"chunks"`: on `RunResponse` rows only, how many streamed chunks the row's content joins.

Besides the events a workflow yields, the dashboard writes `RunFailed` (or `RunCancelled`), content
the run's readable error, as the last event of a run that ended that way. A worker writes every
event, that one included, before the run's status says it finished (see `run_storage`), so a
reader that sees a finished run and then reads the events has them all. Only where the outcome
is decided after the engine's last commit (the worker was stopped, or the reaper failed the run
while its worker still lived) can a final `RunFailed` follow the status; the last such event is
the run's final word.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max

from sessions_app.models import RunEvent, WorkflowRun
from sessions_app.workflow import RunResponse
from sessions_app.workflow.events import RunEvent as EngineEvent

CHUNK_EVENT = EngineEvent.run_response.value
COMPLETED_EVENT = EngineEvent.workflow_completed.value
RUN_FAILED = "RunFailed"
RUN_CANCELLED = "RunCancelled"
END_EVENTS: dict[str, str] = {
    WorkflowRun.Status.FAILED: RUN_FAILED,
    WorkflowRun.Status.CANCELLED: RUN_CANCELLED,
}
# A watcher sees text within this long of it being written, and a fast model costs few rows.
FLUSH_SECONDS = 0.05
FLUSH_CHUNKS = 64


def storable_text(text: str) -> str:
    """Return text every database can store (PostgreSQL refuses NUL and lone surrogates)."""
    return text.replace("\x00", "\ufffd").encode("utf-8", "replace").decode()


def event_content(response: RunResponse) -> str:
    """Return an event's content as text, JSON for anything that is not a string."""
    content = response.content
    if content is None:
        return ""
    if not isinstance(content, str):
        content = json.dumps(content, default=str, ensure_ascii=False)
    return storable_text(content)


def event_data(response: RunResponse) -> dict[str, Any] | None:
    """Return the JSON kept beside an event's content: its model and extra_data, when set."""
    data: dict[str, Any] = {}
    if response.model is not None:
        data["model"] = str(response.model)
    if response.extra_data is not None:
        text = json.dumps(response.extra_data, default=str, ensure_ascii=False)
        data["extra_data"] = json.loads(storable_text(text).replace("\\u0000", "\\ufffd"))
    return data or None


def next_seq(run: WorkflowRun) -> int:
    """Return the seq the run's next event gets."""
    return (RunEvent.objects.filter(run=run).aggregate(last=Max("seq"))["last"] or 0) + 1


def _insert(rows: list[RunEvent], run: WorkflowRun) -> None:
    """Insert rows numbered from the run's next seq on; renumber and retry if another writer got there."""
    for attempt in range(3):
        try:
            # A savepoint, so a lost race leaves the caller's transaction usable.
            with transaction.atomic():
                RunEvent.objects.bulk_create(rows)
            return
        except IntegrityError:
            # The reaper (or the worker, if the reaper came first) appended meanwhile.
            if attempt == 2:
                raise
            first = next_seq(run)
            for offset, row in enumerate(rows):
                row.seq = first + offset


def run_event_append(*, run: WorkflowRun, event: str, content: str = "", data: Any = None) -> RunEvent:
    """Append one event after the run's last one."""
    row = RunEvent(run=run, seq=next_seq(run), event=event, content=storable_text(content), data=data)
    _insert([row], run)
    return row


class RunEventWriter:
    """Append a run's RunResponses as rows: chunks merged and written every FLUSH_SECONDS, others at once.

    The first chunk after a quiet spell is written at once, and later ones at most FLUSH_SECONDS
    (or FLUSH_CHUNKS) apart, so a page shows text promptly without one row per token.
    """

    def __init__(
        self,
        run: WorkflowRun,
        *,
        flush_seconds: float = FLUSH_SECONDS,
        flush_chunks: int = FLUSH_CHUNKS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.run = run
        self.flush_seconds, self.flush_chunks, self.clock = flush_seconds, flush_chunks, clock
        self.seq = next_seq(run)
        self._pending: list[RunEvent] = []
        self._open: RunEvent | None = None  # the chunk row still taking chunks
        self._open_data: dict[str, Any] | None = None
        self._chunks = 0
        self._flushed_at = -math.inf
        self._last: tuple[str, str] | None = None  # the last row written: (event, content)

    def add(self, response: RunResponse) -> None:
        """Take one event; write it now unless it is a chunk that can wait a moment."""
        content, data = event_content(response), event_data(response)
        if response.event != CHUNK_EVENT:
            self._pending.append(self._row(str(response.event), content, data))
            self._open = None
            self.flush()
            return
        if self._open is not None and self._open_data == data:
            self._open.content += content
            self._open.data["chunks"] += 1
        else:
            self._open, self._open_data = self._row(CHUNK_EVENT, content, {**(data or {}), "chunks": 1}), data
            self._pending.append(self._open)
        self._chunks += 1
        if self._chunks >= self.flush_chunks or self.clock() - self._flushed_at >= self.flush_seconds:
            self.flush()

    def end(self, *, status: str, error: str) -> None:
        """Write what is pending and, for a run that ended badly, RunFailed or RunCancelled with its error."""
        event = END_EVENTS.get(status)
        content = storable_text(error or f"The run was {status}.")
        if event is not None and self._last != (event, content):
            self._open = None
            self._pending.append(self._row(event, content, None))
        self.flush()

    def flush(self) -> None:
        """Write whatever is pending."""
        if self._pending:
            _insert(self._pending, self.run)
            self.seq = self._pending[-1].seq + 1
            self._last = (self._pending[-1].event, self._pending[-1].content)
        self._pending, self._open, self._chunks = [], None, 0
        self._flushed_at = self.clock()

    def _row(self, event: str, content: str, data: dict[str, Any] | None) -> RunEvent:
        row = RunEvent(run=self.run, seq=self.seq, event=event[:64], content=content, data=data)
        self.seq += 1
        return row
