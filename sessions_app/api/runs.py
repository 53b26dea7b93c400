"""Runs: start one on a session (201 answered from the cache, 202 queued or joined), get one.

Cancelling, running again and the list of runs across sessions come with their services (not yet
here). A run's events are `api.events`.
"""

from __future__ import annotations

from uuid import UUID

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Router, Status

from sessions_app.api.access import role_require
from sessions_app.api.lookups import run_or_404, session_or_404
from sessions_app.api.present import run_out
from sessions_app.api.schemas import ErrorOut, RunOut, RunStart, RunStartOut
from sessions_app.roles import CAN_RUN, CAN_VIEW
from sessions_app.services.runs import run_reap_if_stale, run_start

router = Router(tags=["runs"])
ERRORS = {code: ErrorOut for code in (400, 401, 403, 404, 413, 422, 429)}


@router.post(
    "/sessions/{session_id:session_id}/runs",
    response={201: RunStartOut, 202: RunStartOut, **ERRORS},
    url_name="run_start",
)
def runs_start(request: HttpRequest, response: HttpResponse, session_id: str, body: RunStart) -> Status[dict]:
    """Start a run: 201 with the result when the cache answers; 202 when queued, or joined (`joined`).

    A key already being generated on this session joins that run instead of starting another;
    follow `events_url` for its progress. Over the run-start rate limit: 429 with `Retry-After`.
    """
    role_require(request, CAN_RUN, doing="start runs")
    session = session_or_404(session_id)
    now = timezone.now()
    run = run_start(
        session=session, inputs=body.inputs, user=request.user, accept_stale=body.accept_stale, now=now
    )
    # run_start stamps a run it makes with `now`; a run it joined was made before.
    out = {**run_out(run), "joined": run.created_at != now}
    response["Location"] = out["url"]
    return Status(201 if run.cache_hit and run.is_finished else 202, out)


@router.get("/runs/{uuid:run_id}", response={200: RunOut, **ERRORS}, url_name="run_get")
def runs_get(request: HttpRequest, run_id: UUID) -> dict:
    """Return a run: its status, inputs and, once it has succeeded, its result."""
    role_require(request, CAN_VIEW, doing="see runs")
    run = run_or_404(run_id)
    run_reap_if_stale(run=run)
    return run_out(run)
