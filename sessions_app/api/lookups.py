"""Finding what a path names, or answering 404 in the API's error shape."""

from __future__ import annotations

from uuid import UUID

from sessions_app.api.errors import ApiError
from sessions_app.models import WorkflowRun, WorkflowSession
from sessions_app.selectors.runs import run_get


def session_or_404(session_id: str) -> WorkflowSession:
    """Return the session with this id, or raise a 404 naming it."""
    session = WorkflowSession.objects.filter(session_id=session_id).first()
    if session is None:
        raise ApiError(
            404, f"There is no session with the id {session_id!r}.", details={"session_id": session_id}
        )
    return session


def run_or_404(run_id: UUID) -> WorkflowRun:
    """Return the run with this id (with its session), or raise a 404."""
    run = run_get(run_id=run_id)
    if run is None:
        raise ApiError(404, f"There is no run with the id {run_id}.", details={"run_id": str(run_id)})
    return run
