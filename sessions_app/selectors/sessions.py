"""Reads of sessions for the dashboard: the list (search, filter, sort) and one session."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.shortcuts import get_object_or_404

from sessions_app.models import StateEntry, WorkflowSession
from sessions_app.workflow.cache import normalize_key


@dataclass(frozen=True)
class SessionFilters:
    """What the session list is narrowed and ordered by, as the list page's query string gives it."""

    search: str = ""
    workflow: str = ""
    oldest_first: bool = False
    # The owner (`WorkflowSession.user_id`, the username of whoever created it).
    user: str = ""


def session_list(*, filters: SessionFilters) -> QuerySet[WorkflowSession]:
    """Return the sessions matching `filters`, without their state, newest update first by default.

    The search matches the session id, the name, or the key of a cached entry (as its cache
    normalises keys by default); the key match is an `Exists` subquery so a session with many
    matching entries is listed once.
    """
    sessions = WorkflowSession.objects.for_list()
    search = filters.search.strip()
    if search:
        cached = StateEntry.objects.filter(session=OuterRef("pk"), lookup_key__contains=normalize_key(search))
        sessions = sessions.filter(
            Q(session_id__icontains=search) | Q(name__icontains=search) | Exists(cached)
        )
    if filters.workflow:
        sessions = sessions.filter(workflow=filters.workflow)
    if filters.user:
        sessions = sessions.filter(user_id=filters.user)
    if filters.oldest_first:
        return sessions.order_by("updated_at", "id")
    return sessions.recently_updated()


def session_get(*, session_id: str) -> WorkflowSession:
    """Return the session with this id, or raise Http404."""
    return get_object_or_404(WorkflowSession, session_id=session_id)


def session_forks(*, session: WorkflowSession) -> QuerySet[WorkflowSession]:
    """Return the sessions forked from `session`, oldest first, without their state."""
    return WorkflowSession.objects.for_list().filter(forked_from=session).order_by("created_at", "id")
