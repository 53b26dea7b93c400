"""The answer to a write made from an old version: 412, with what changed since and the new ETag."""

from __future__ import annotations

from sessions_app.api.errors import ApiError
from sessions_app.api.http import etag
from sessions_app.api.present import change_out, rows_out
from sessions_app.models import WorkflowSession
from sessions_app.selectors.history import changes_since, version_diff
from sessions_app.services.state import StateStaleError
from sessions_app.state.versions import VersionUnavailableError

CHANGES_SHOWN = 50


def stale_answer(session: WorkflowSession, error: StateStaleError) -> ApiError:
    """Return the 412 for a write made at `error.base_version`: the changes since, their diff, the new ETag."""
    fresh = WorkflowSession.objects.get(pk=session.pk)
    base = error.base_version
    changes = changes_since(session=fresh, version=base)[:CHANGES_SHOWN]
    try:
        rows = rows_out(version_diff(session=fresh, before=base, after=fresh.version).rows)
    except VersionUnavailableError:
        rows = None
    return ApiError(
        412,
        f"{error} Read the state again (its ETag is now {etag(fresh.version)}), redo your change, and retry.",
        details={
            "your_version": base,
            "latest_version": fresh.version,
            "changes": [change_out(fresh, change) for change in changes],
            "diff": rows,
        },
        headers={"ETag": etag(fresh.version)},
    )
