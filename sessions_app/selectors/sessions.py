"""Reads of sessions for the dashboard: the list (search, filter, sort) and one session."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.shortcuts import get_object_or_404

from sessions_app.models import StateEntry, WorkflowSession
from sessions_app.selectors import search as index
from sessions_app.workflow.cache import normalize_key


@dataclass(frozen=True)
class SessionFilters:
    """What the session list is narrowed and ordered by, as the list page's query string gives it."""

    search: str = ""
    # Words to find in the text of cached entries (`selectors.search`); every one must be there.
    text: str = ""
    workflow: str = ""
    oldest_first: bool = False
    # The owner (`WorkflowSession.user_id`, the username of whoever created it).
    user: str = ""


def session_list(*, filters: SessionFilters) -> QuerySet[WorkflowSession]:
    """Return the sessions matching `filters`, without their state, newest update first by default.

    The search matches the session id, the name, or the key of a cached entry (as its cache
    normalises keys by default), and the text search the words of a cached entry's text, both
    through the indexes `selectors.search` describes; a session with many matching entries is
    listed once.
    """
    sessions = WorkflowSession.objects.for_list()
    search = index.clean(filters.search)
    if search:
        sessions = _searched(sessions, search)
    if filters.text.strip():
        matching = index.sessions_matching_text(filters.text)
        sessions = sessions.none() if matching is None else sessions.filter(pk__in=matching)
    if filters.workflow:
        sessions = sessions.filter(workflow=filters.workflow)
    if filters.user:
        sessions = sessions.filter(user_id=filters.user)
    if filters.oldest_first:
        return sessions.order_by("updated_at", "id")
    return sessions.recently_updated()


def _searched(sessions: QuerySet[WorkflowSession], search: str) -> QuerySet[WorkflowSession]:
    if len(search) > index.MAX_SEARCH:
        return sessions.none()  # longer than any column it could be found in
    matching = index.sessions_matching(search)
    if matching is not None:
        return sessions.filter(pk__in=matching)
    # Too short for trigrams (SQLite): a scan, as every search was before the indexes.
    cached = StateEntry.objects.filter(session=OuterRef("pk"), lookup_key__contains=normalize_key(search))
    return sessions.filter(Q(session_id__icontains=search) | Q(name__icontains=search) | Exists(cached))


def session_get(*, session_id: str) -> WorkflowSession:
    """Return the session with this id, or raise Http404."""
    return get_object_or_404(WorkflowSession, session_id=session_id)
