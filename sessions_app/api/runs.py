"""Runs: start one on a session (201 answered from the cache, 202 queued or joined), get, cancel, run again.

The list of runs across sessions comes with its page. A run's events are `api.events`.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Query, Router, Status

from sessions_app.api.access import role_require
from sessions_app.api.lookups import run_or_404, session_or_404
from sessions_app.api.present import run_out
from sessions_app.api.schemas import ErrorOut, RunAgain, RunOut, RunStart, RunStartOut
from sessions_app.models import WorkflowRun
from sessions_app.roles import CAN_EDIT_STATE, CAN_RUN, CAN_VIEW
from sessions_app.services.runs import run_again, run_cancel, run_cancel_allowed, run_reap_if_stale, run_start

router = Router(tags=["runs"])
ERRORS = {code: ErrorOut for code in (400, 401, 403, 404, 413, 422, 429)}
CONTROL_ERRORS = {code: ErrorOut for code in (400, 401, 403, 404, 409, 413, 422, 429)}


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
    return _started(response, run, now)


def _started(response: HttpResponse, run: WorkflowRun, now: datetime) -> Status[dict]:
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


@router.post(
    "/runs/{uuid:run_id}/cancel", response={200: RunOut, 202: RunOut, **CONTROL_ERRORS}, url_name="run_cancel"
)
def runs_cancel(request: HttpRequest, run_id: UUID) -> Status[dict]:
    """Cancel a run: 200 when it was queued (it never starts), 202 while its worker stops it.

    A running run stops at its next step, keeping what it streamed and the state it saved, and
    ends `cancelled` with `cancelled_by`; follow `url` or `events_url`. The runner who started the
    run may cancel it, as may an editor. A run that has already ended: 409.
    """
    run = run_or_404(run_id)
    if not run_cancel_allowed(run=run, actor=request.user):
        # The role this person lacks: a runner's, for their own run; an editor's, for anyone else's.
        if run.started_by_id is not None and run.started_by_id == request.user.pk:
            role_require(request, CAN_RUN, doing="cancel runs")
        role_require(request, CAN_EDIT_STATE, doing="cancel a run someone else started")
    run = run_cancel(run=run, actor=request.user)
    return Status(200 if run.is_finished else 202, run_out(run))


@router.post(
    "/runs/{uuid:run_id}/again",
    response={201: RunStartOut, 202: RunStartOut, **CONTROL_ERRORS},
    url_name="run_again",
)
def runs_again(
    request: HttpRequest, response: HttpResponse, run_id: UUID, options: Query[RunAgain]
) -> Status[dict]:
    """Start a finished run's inputs again, as `POST .../runs` would: 201 from the cache, 202 queued or joined.

    `?regenerate=true` turns the workflow's cache off, so the result is made anew and replaces the
    cached entry (422 when the workflow has no cache to turn off). No body is needed. A run still
    queued or running: 409. The run-start rate limit applies (429 with `Retry-After`).
    """
    role_require(request, CAN_RUN, doing="start runs")
    run = run_or_404(run_id)
    now = timezone.now()
    again = run_again(run=run, actor=request.user, regenerate=options.regenerate, now=now)
    return _started(response, again, now)
