"""Sessions: list (search, filters, sort, cursor pages; never the state), create, get, rename, delete."""

from __future__ import annotations

from typing import Literal

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Status

from sessions_app.api.access import role_require
from sessions_app.api.errors import ApiError
from sessions_app.api.lookups import session_or_404
from sessions_app.api.present import matches_out, session_out
from sessions_app.api.schemas import ErrorOut, SessionCreate, SessionOut, SessionPage, SessionRename
from sessions_app.registry import workflow_classes
from sessions_app.roles import CAN_CREATE_SESSION, CAN_DELETE_SESSION, CAN_EDIT_STATE, CAN_VIEW
from sessions_app.selectors.keyset import CursorInvalidError, keyset_page
from sessions_app.selectors.search_matches import session_text_matches
from sessions_app.selectors.sessions import SessionFilters, session_list
from sessions_app.services.sessions import session_create, session_delete, session_rename

router = Router(tags=["sessions"])
SESSION = "/sessions/{session_id:session_id}"
Sort = Literal["-updated_at", "updated_at", "-created_at", "created_at", "session_id", "-session_id"]
ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}


@router.get("/sessions", response={200: SessionPage, **ERRORS}, url_name="session_list")
def sessions_list(
    request: HttpRequest,
    q: str = Query("", description="Matches the id, the name or a cached entry's key (a substring)."),
    text: str = Query(
        "", description="Words that must all be in one cached entry's text; the last may begin a word."
    ),
    workflow: str = Query("", description="Only this workflow's sessions."),
    user: str = Query("", description="Only sessions this username created."),
    sort: Sort = Query("-updated_at", description="A field, newest or largest first with '-'."),
    limit: int = Query(50, ge=1, le=200),
    cursor: str | None = Query(None, description="The next_cursor of the page before."),
) -> dict:
    """List sessions, 50 a page by default; follow `next_cursor` for the next page."""
    role_require(request, CAN_VIEW, doing="list sessions")
    rows = session_list(filters=SessionFilters(search=q, text=text, workflow=workflow, user=user))
    try:
        page = keyset_page(rows, sort=sort, cursor=cursor, limit=limit)
    except CursorInvalidError as error:
        raise ApiError(400, str(error), details={"cursor": cursor}) from None
    found = session_text_matches(sessions=page.items, text=text) if text.strip() else {}
    items = [session_out(s) | matches_out(found.get(s.pk)) for s in page.items]
    return {"items": items, "next_cursor": page.next_cursor}


@router.post("/sessions", response={201: SessionOut, **ERRORS, 409: ErrorOut})
def sessions_create(request: HttpRequest, response: HttpResponse, body: SessionCreate) -> Status[dict]:
    """Create a session, empty or with an initial state (which needs the editor role)."""
    perms = (CAN_CREATE_SESSION, CAN_EDIT_STATE) if body.state else (CAN_CREATE_SESSION,)
    role_require(request, *perms, doing="create sessions" + (" with a state" if body.state else ""))
    workflow = body.workflow or next(iter(workflow_classes()), "")
    session = session_create(
        session_id=body.session_id, workflow=workflow, name=body.name, user=request.user, state=body.state
    )
    out = session_out(session)
    response["Location"] = out["url"]
    return Status(201, out)


@router.get(SESSION, response={200: SessionOut, **ERRORS}, url_name="session_get")
def sessions_get(request: HttpRequest, session_id: str) -> dict:
    """Describe one session (its state is at `state_url`)."""
    role_require(request, CAN_VIEW, doing="see sessions")
    return session_out(session_or_404(session_id))


@router.patch(SESSION, response={200: SessionOut, **ERRORS})
def sessions_rename(request: HttpRequest, session_id: str, body: SessionRename) -> dict:
    """Rename a session (the state is untouched)."""
    role_require(request, CAN_EDIT_STATE, doing="rename sessions")
    session = session_or_404(session_id)
    session_rename(session=session, name=body.name, actor=request.user)
    return session_out(session)


@router.delete(SESSION, response={204: None, **ERRORS})
def sessions_delete(request: HttpRequest, session_id: str) -> Status[None]:
    """Delete a session with its state, runs and history (admins only; it cannot be undone)."""
    role_require(request, CAN_DELETE_SESSION, doing="delete sessions")
    session_delete(session=session_or_404(session_id), actor=request.user)
    return Status(204, None)
