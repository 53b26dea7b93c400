"""Runs: start one on a session (201 answered from the cache, 202 queued or joined), get one, list them.

The list takes the runs page's filters (`selectors.runs.RunFilters`) and pages by cursor.
Cancelling and running again come with their services (not yet here). A run's events are `api.events`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Query, Router, Status

from sessions_app.api.access import role_require
from sessions_app.api.errors import ApiError
from sessions_app.api.lookups import run_or_404, session_or_404
from sessions_app.api.present import run_item_out, run_out
from sessions_app.api.schemas import ErrorOut, RunOut, RunPage, RunStart, RunStartOut
from sessions_app.models import WorkflowRun
from sessions_app.roles import CAN_RUN, CAN_VIEW
from sessions_app.selectors.keyset import CursorInvalidError
from sessions_app.selectors.runs import RunFilters, run_counts
from sessions_app.selectors.runs import runs_list as runs_page
from sessions_app.services.runs import run_reap_if_stale, run_start

router = Router(tags=["runs"])
ERRORS = {code: ErrorOut for code in (400, 401, 403, 404, 413, 422, 429)}
# The statuses a run can have, from the model ("" for any).
RunStatus = Literal["", *WorkflowRun.Status.values]  # type: ignore[valid-type]
CACHE = {"": None, "hit": True, "miss": False}


def _aware(moment: datetime | None) -> datetime | None:
    """Read a time without a zone in the site's zone (UTC by default)."""
    if moment is None or timezone.is_aware(moment):
        return moment
    return timezone.make_aware(moment)


@router.get("/runs", response={200: RunPage, **ERRORS}, url_name="run_list")
def runs_list(
    request: HttpRequest,
    status: RunStatus = Query("", description="Only runs in this status."),
    workflow: str = Query("", description="Only this workflow's runs."),
    started_by: str = Query("", description="Only runs this username started."),
    cache: Literal["", "hit", "miss"] = Query("", description="Only cache hits, or only misses."),
    created_after: datetime | None = Query(None, description="Created at or after this time."),
    created_before: datetime | None = Query(None, description="Created before this time."),
    q: str = Query("", description="Matches the text of any input, case-insensitively."),
    limit: int = Query(50, ge=1, le=200),
    cursor: str | None = Query(None, description="The next_cursor of the page before."),
) -> dict:
    """List runs across sessions, newest first, 50 a page by default; follow `next_cursor`."""
    role_require(request, CAN_VIEW, doing="see runs")
    filters = RunFilters(
        status=status,
        workflow=workflow,
        started_by=started_by,
        cache_hit=CACHE[cache],
        since=_aware(created_after),
        until=_aware(created_before),
        search=q,
    )
    try:
        page = runs_page(filters, cursor=cursor, limit=limit)
    except CursorInvalidError as error:
        raise ApiError(400, str(error), details={"cursor": cursor}) from None
    items = [run_item_out(run) for run in page.items]
    return {"items": items, "next_cursor": page.next_cursor, "counts": run_counts()}


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
