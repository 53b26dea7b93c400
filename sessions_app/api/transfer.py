"""Export and import one session as a session file, the same JSON as the pages' download and upload.

An import is checked by the pages' own validation (`services.transfer_format.transfer_check`), so a
file the pages refuse the API refuses with the same list of problems, and the other way round.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Router, Status

from sessions_app.api.access import role_require
from sessions_app.api.http import read_json
from sessions_app.api.lookups import session_or_404
from sessions_app.api.present import change_out, session_out
from sessions_app.api.schemas import ErrorOut, ImportOut, SessionFileOut
from sessions_app.roles import CAN_EDIT_STATE, CAN_VIEW
from sessions_app.selectors.transfer import session_export_bytes
from sessions_app.services.transfer import session_import
from sessions_app.services.transfer_format import transfer_check

router = Router(tags=["export and import"])
ERRORS = {code: ErrorOut for code in (400, 401, 403, 404, 413, 415, 422)}
_FILE = {"schema": {"$ref": "#/components/schemas/SessionFileOut"}}


@router.get(
    "/sessions/{session_id:session_id}/export",
    response={200: SessionFileOut, **ERRORS},
    url_name="session_export",
)
def sessions_export(request: HttpRequest, session_id: str) -> HttpResponse:
    """Return the session's state, runs and change history as a session file."""
    role_require(request, CAN_VIEW, doing="download sessions")
    # The pages' own bytes, so a file is the same whichever way it was downloaded.
    data = session_export_bytes(session=session_or_404(session_id))
    return HttpResponse(data, content_type="application/json")


@router.post(
    "/imports",
    response={200: ImportOut, 201: ImportOut, **ERRORS},
    url_name="session_import",
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": _FILE}}},
)
def sessions_import(request: HttpRequest, response: HttpResponse) -> Status[dict]:
    """Import a session file: 201 creating its session, 200 updating it through one recorded change."""
    role_require(request, CAN_EDIT_STATE, doing="import sessions")
    result = session_import(data=transfer_check(read_json(request)), actor=request.user)
    out: dict[str, Any] = {
        "created": result.created,
        "message": result.describe(),
        "session": session_out(result.session),
        "change": change_out(result.session, result.change),
        "runs_added": result.runs_added,
        "runs_skipped": result.runs_skipped,
        "history_imported": result.history_imported,
    }
    response["Location"] = out["session"]["url"]
    return Status(201 if result.created else 200, out)
