"""A session's declared caches and their entries: list (key, size, age, hits, staleness), get, delete.

Entries are named by cache and key, as the pages name them. A delete is a recorded change, so it
can be undone alone through history (the answer links that undo, `undo_url`).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router

from sessions_app.api.access import role_require
from sessions_app.api.conflicts import stale_answer
from sessions_app.api.errors import ApiError
from sessions_app.api.http import etag, if_match_version
from sessions_app.api.lookups import session_or_404
from sessions_app.api.present import api_url, entry_out, write_out
from sessions_app.api.schemas import CacheOut, EntryDetailOut, EntryPage, ErrorOut, WriteOut
from sessions_app.models import WorkflowSession
from sessions_app.roles import CAN_EDIT_STATE, CAN_VIEW
from sessions_app.selectors.caches import FoundEntry, cache_entry_find, cache_tables, session_cache
from sessions_app.services.caches import cache_entry_delete
from sessions_app.services.state import StateStaleError
from sessions_app.workflow.cache import Cache
from sessions_app.workflow.errors import StateConflictError

router = Router(tags=["caches"])
CACHES = "/sessions/{session_id:session_id}/caches"
ENTRIES = CACHES + "/{session_id:cache}/entries"
ENTRY = ENTRIES + "/{session_id:key}"
ERRORS = {code: ErrorOut for code in (400, 401, 403, 404, 412, 422)}


def _cache(session: WorkflowSession, name: str) -> Cache:
    cache = session_cache(session=session, state_key=name)
    if cache is None:
        raise ApiError(404, f"{session.workflow} declares no cache named {name!r}.", details={"cache": name})
    return cache


def _entry(session: WorkflowSession, cache: Cache, key: str) -> FoundEntry:
    entry = cache_entry_find(session=session, cache=cache, key=key)
    if entry is None:
        raise ApiError(404, f"Nothing is cached under {key!r} in {cache.state_key!r}.", details={"key": key})
    return entry


@router.get(CACHES, response={200: list[CacheOut], **ERRORS}, url_name="cache_list")
def caches_list(request: HttpRequest, session_id: str) -> list[dict]:
    """List the caches the session's workflow declares, with how many entries each holds."""
    role_require(request, CAN_VIEW, doing="see cached entries")
    session = session_or_404(session_id)
    return [
        {
            "name": table.cache.state_key,
            "label": table.cache.label or table.cache.state_key,
            "shape": table.cache.shape,
            "ttl_seconds": table.cache.ttl,
            "entries": table.total,
            "entries_url": api_url("cache_entries", session_id, table.cache.state_key),
        }
        for table in cache_tables(session=session)
    ]


@router.get(ENTRIES, response={200: EntryPage, **ERRORS}, url_name="cache_entries")
def cache_entries(request: HttpRequest, session_id: str, cache: str, page: int = Query(1, ge=1)) -> dict:
    """List one cache's entries, newest per key, 50 a page."""
    role_require(request, CAN_VIEW, doing="see cached entries")
    session = session_or_404(session_id)
    _cache(session, cache)
    [table] = [t for t in cache_tables(session=session, page=page, paged=cache) if t.cache.state_key == cache]
    found = table.page
    if page > found.paginator.num_pages and table.total:
        raise ApiError(404, f"There is no page {page}; the last is {found.paginator.num_pages}.")
    return {
        "items": [entry_out(session, entry) for entry in found.object_list],
        "page": found.number,
        "pages": found.paginator.num_pages,
        "total": table.total,
    }


@router.get(ENTRY, response={200: EntryDetailOut, **ERRORS}, url_name="cache_entry_get")
def cache_entry_get(request: HttpRequest, session_id: str, cache: str, key: str) -> dict:
    """Return one cached entry with its value (a post's Markdown, say) and whole record."""
    role_require(request, CAN_VIEW, doing="see cached entries")
    session = session_or_404(session_id)
    return entry_out(session, _entry(session, _cache(session, cache), key), with_value=True)


@router.delete(ENTRY, response={200: WriteOut, **ERRORS})
def cache_entry_remove(
    request: HttpRequest, response: HttpResponse, session_id: str, cache: str, key: str
) -> dict:
    """Delete a cached entry; undo it with a POST to `undo_url` (`If-Match` optional, see below).

    With `If-Match`, the entry is deleted only if it is unchanged since that version (412
    otherwise); without, it is deleted as it is now.
    """
    role_require(request, CAN_EDIT_STATE, doing="delete cached entries")
    session = session_or_404(session_id)
    declared = _cache(session, cache)
    _entry(session, declared, key)
    base = if_match_version(request) if "If-Match" in request.headers else session.version
    try:
        change = cache_entry_delete(
            session=session, cache=declared, key=key, base_version=base, actor=request.user
        )
    except StateConflictError:
        raise stale_answer(
            session, StateStaleError(base_version=base, latest_version=session.version)
        ) from None
    response["ETag"] = etag(session.version)
    return write_out(session, change)
