"""Request ids and run ids on every log line, and the line logged for each run transition.

The request's id (see `middleware`) and the run being worked on live in context variables, so
they follow a request or a run into threads (`sync_to_async` copies the context) and reach every
log record through `ContextFilter`; a line logged outside either shows "-".
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sessions_app.models import WorkflowRun

NO_ID = "-"
request_id_var: ContextVar[str] = ContextVar("wfsite_request_id", default=NO_ID)
run_id_var: ContextVar[str] = ContextVar("wfsite_run_id", default=NO_ID)
# What a client (or a proxy) may pass as its own request id; anything else gets a new one.
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")

run_logger = logging.getLogger("wfsite.runs")


def request_id_from(header: str | None) -> str:
    """Return the id the client sent, when it is short and plain, else a new random one."""
    if header and _SANE_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


class ContextFilter(logging.Filter):
    """Put the current request id and run id on a record that does not name its own."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        if not hasattr(record, "run_id"):
            record.run_id = run_id_var.get()
        return True


@contextmanager
def run_logging(run_id: object) -> Iterator[None]:
    """Name `run_id` on every line logged inside the block."""
    token = run_id_var.set(str(run_id))
    try:
        yield
    finally:
        run_id_var.reset(token)


def run_transition_log(run: WorkflowRun, previous: str, *, note: str = "") -> None:
    """Log one line saying the run went from `previous` to its current status."""
    run_logger.info(
        "run %s %s -> %s (%s)%s",
        run.run_id,
        previous or "new",
        run.status,
        run.workflow,
        f": {note}" if note else "",
        extra={
            "request_id": request_id_var.get(),
            "run_id": str(run.run_id),
            "workflow": run.workflow,
            "status": run.status,
            "previous_status": previous or "new",
        },
    )
