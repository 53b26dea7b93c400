"""A session's history: its changes, one change's diff, the diff between two versions, restoring one,
undoing one change (later changes kept; 409 naming the values a later change touched) and forking
a new session from a version.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Status

from sessions_app.api.access import role_require
from sessions_app.api.conflicts import stale_answer
from sessions_app.api.errors import ApiError
from sessions_app.api.http import etag, if_match_version
from sessions_app.api.lookups import session_or_404
from sessions_app.api.present import change_out, rows_out, session_out, write_out
from sessions_app.api.schemas import (
    ChangeDetailOut,
    DiffOut,
    ErrorOut,
    ForkIn,
    HistoryPage,
    SessionOut,
    WriteOut,
)
from sessions_app.roles import CAN_CREATE_SESSION, CAN_EDIT_STATE, CAN_VIEW
from sessions_app.selectors.history import change_rows, history_get, history_list, version_diff
from sessions_app.services.forks import session_fork
from sessions_app.services.state import StateStaleError, session_state_restore, state_change_undo

router = Router(tags=["history"])
HISTORY = "/sessions/{session_id:session_id}/history"
ERRORS = {code: ErrorOut for code in (400, 401, 403, 404, 409, 412, 422, 428)}


@router.get(HISTORY, response={200: HistoryPage, **ERRORS}, url_name="history_list")
def history_changes(
    request: HttpRequest,
    session_id: str,
    before: int | None = Query(None, ge=1, description="Only changes older than this version."),
    limit: int = Query(50, ge=1, le=200),
) -> dict:
    """List the session's changes, newest first; follow `next_before` for older ones."""
    role_require(request, CAN_VIEW, doing="see a session's history")
    session = session_or_404(session_id)
    changes = history_list(session=session)
    if before is not None:
        changes = changes.filter(version__lt=before)
    found = list(changes[: limit + 1])
    more = len(found) > limit
    found = found[:limit]
    return {
        "items": [change_out(session, change) for change in found],
        "next_before": found[-1].version if more else None,
    }


@router.get(HISTORY + "/{int:version}", response={200: ChangeDetailOut, **ERRORS}, url_name="history_get")
def history_change(request: HttpRequest, session_id: str, version: int) -> dict:
    """Return the change that made `version`, with what it changed."""
    role_require(request, CAN_VIEW, doing="see a session's history")
    session = session_or_404(session_id)
    change = history_get(session=session, version=version)
    if change is None:
        raise ApiError(
            404, f"No change made version {version} of this session.", details={"version": version}
        )
    return {**(change_out(session, change) or {}), "rows": rows_out(change_rows(change))}


@router.get(
    "/sessions/{session_id:session_id}/diff", response={200: DiffOut, **ERRORS}, url_name="history_diff"
)
def history_diff(
    request: HttpRequest,
    session_id: str,
    before: int = Query(..., ge=0),
    after: int | None = Query(None, ge=0, description="The latest version when left out."),
) -> dict:
    """Return what changed from version `before` to version `after` (either may be the older)."""
    role_require(request, CAN_VIEW, doing="compare versions")
    session = session_or_404(session_id)
    after = session.version if after is None else after
    found = version_diff(session=session, before=before, after=after)
    return {"before": found.before, "after": found.after, "rows": rows_out(found.rows)}


@router.post(
    HISTORY + "/{int:version}/restore",
    response={200: WriteOut, **ERRORS},
    url_name="history_restore",
    openapi_extra={
        "parameters": [{"in": "header", "name": "If-Match", "required": True, "schema": {"type": "string"}}]
    },
)
def history_restore(request: HttpRequest, response: HttpResponse, session_id: str, version: int) -> dict:
    """Make the state what it was at `version`; `If-Match` is the latest version you saw."""
    role_require(request, CAN_EDIT_STATE, doing="restore a version")
    session = session_or_404(session_id)
    base = if_match_version(request)
    try:
        change = session_state_restore(
            session=session, version=version, base_version=base, actor=request.user
        )
    except StateStaleError as error:
        raise stale_answer(session, error) from None
    response["ETag"] = etag(session.version)
    return write_out(session, change)


@router.post(HISTORY + "/{int:version}/undo", response={200: WriteOut, **ERRORS}, url_name="history_undo")
def history_undo(request: HttpRequest, response: HttpResponse, session_id: str, version: int) -> dict:
    """Undo the change that made `version` alone, keeping later changes; no `If-Match` needed.

    A later change that set the same values to something else makes it a 409 naming them
    (`details.paths`), and nothing is written; restoring `version - 1` would drop the later changes too.
    """
    role_require(request, CAN_EDIT_STATE, doing="undo a change")
    session = session_or_404(session_id)
    change = state_change_undo(session=session, version=version, actor=request.user)
    response["ETag"] = etag(session.version)
    return write_out(session, change)


@router.post(HISTORY + "/{int:version}/fork", response={201: SessionOut, **ERRORS}, url_name="history_fork")
def history_fork(
    request: HttpRequest, response: HttpResponse, session_id: str, version: int, body: ForkIn
) -> Status[dict]:
    """Make a new session whose state is this one's at `version`; its history starts by naming this one."""
    role_require(request, CAN_EDIT_STATE, CAN_CREATE_SESSION, doing="fork a session")
    session = session_or_404(session_id)
    fork = session_fork(
        session=session, version=version, actor=request.user, session_id=body.session_id, name=body.name
    )
    out = session_out(fork)
    response["Location"] = out["url"]
    return Status(201, out)
