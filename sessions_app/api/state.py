"""A session's state: GET it with its version as the ETag; PUT or PATCH it with `If-Match`.

PATCH takes RFC 7396 JSON Merge Patch (`application/merge-patch+json`) or RFC 6902 JSON Patch
(`application/json-patch+json`). Every write is a compare-and-swap on the version: see
`services.state_patch` for how two clients racing with the same ETag both end up written.
"""

from __future__ import annotations

from typing import Any

import orjson
from django.http import HttpRequest, HttpResponse
from ninja import Router

from sessions_app.api.access import role_require
from sessions_app.api.conflicts import stale_answer
from sessions_app.api.errors import ApiError
from sessions_app.api.http import etag, if_match_version, if_none_match, read_json
from sessions_app.api.lookups import session_or_404
from sessions_app.api.present import write_out
from sessions_app.api.schemas import ErrorOut, WriteOut
from sessions_app.models import StateChange, WorkflowSession
from sessions_app.roles import CAN_EDIT_STATE, CAN_VIEW
from sessions_app.services.state import StateStaleError, session_state_edit
from sessions_app.services.state_patch import (
    PatchConflictError,
    PatchInvalidError,
    PatchKind,
    session_state_patch,
)
from sessions_app.state.store import state_snapshot

router = Router(tags=["state"])
STATE = "/sessions/{session_id:session_id}/state"
ERRORS = {code: ErrorOut for code in (400, 401, 403, 404, 409, 412, 413, 415, 422, 428)}
_IF_MATCH = {"in": "header", "name": "If-Match", "required": True, "schema": {"type": "string"}}
_OBJECT = {"schema": {"type": "object", "additionalProperties": True}}
_PATCH_DOC = {
    PatchKind.MERGE.value: _OBJECT,
    PatchKind.JSON.value: {"schema": {"type": "array", "items": {"type": "object"}}},
}


@router.get(STATE, response={200: dict[str, Any], 304: None, **ERRORS}, url_name="state_get")
def state_get(request: HttpRequest, session_id: str) -> HttpResponse:
    """Return the whole state; its version is the `ETag` (304 for a matching `If-None-Match`)."""
    role_require(request, CAN_VIEW, doing="see a session's state")
    found = state_snapshot(session_id)
    if found is None:
        session_or_404(session_id)
        raise ApiError(404, "The session was deleted.")
    session, state = found
    if if_none_match(request, session.version):
        response = HttpResponse(status=304)
    else:
        response = HttpResponse(orjson.dumps(state), content_type="application/json")
    response["ETag"] = etag(session.version)
    return response


def _written(response: HttpResponse, session: WorkflowSession, change: StateChange | None) -> dict:
    response["ETag"] = etag(session.version)
    return write_out(session, change)


@router.put(
    STATE,
    response={200: WriteOut, **ERRORS},
    openapi_extra={
        "parameters": [_IF_MATCH],
        "requestBody": {"required": True, "content": {"application/json": _OBJECT}},
    },
)
def state_put(request: HttpRequest, response: HttpResponse, session_id: str) -> dict:
    """Replace the whole state, as edited at the version `If-Match` names."""
    role_require(request, CAN_EDIT_STATE, doing="edit state")
    session = session_or_404(session_id)
    base = if_match_version(request)
    new_state = read_json(request)
    if not isinstance(new_state, dict):
        raise ApiError(422, f"The state must be a JSON object ({{…}}), not {type(new_state).__name__}.")
    try:
        change = session_state_edit(
            session=session, new_state=new_state, base_version=base, actor=request.user
        )
    except StateStaleError as error:
        raise stale_answer(session, error) from None
    return _written(response, session, change)


@router.patch(
    STATE,
    response={200: WriteOut, **ERRORS},
    openapi_extra={"parameters": [_IF_MATCH], "requestBody": {"required": True, "content": _PATCH_DOC}},
)
def state_patch(request: HttpRequest, response: HttpResponse, session_id: str) -> dict:
    """Patch the state (JSON Merge Patch or JSON Patch), made at the version `If-Match` names."""
    role_require(request, CAN_EDIT_STATE, doing="edit state")
    session = session_or_404(session_id)
    base = if_match_version(request)
    patch = read_json(request, media_types=tuple(kind.value for kind in PatchKind))
    try:
        change = session_state_patch(
            session=session,
            patch=patch,
            kind=PatchKind(request.content_type or ""),
            base_version=base,
            actor=request.user,
        )
    except StateStaleError as error:
        raise stale_answer(session, error) from None
    except PatchInvalidError as error:
        raise ApiError(400, f"{error} Nothing was saved.") from None
    except PatchConflictError as error:
        raise ApiError(409, f"{error} Nothing was saved.") from None
    return _written(response, session, change)
