"""Reads of sessions for the dashboard: the list (search, filter, sort), one session, its cache entries."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.db.models.fields.json import KeyTextTransform
from django.shortcuts import get_object_or_404

from sessions_app.models import StateEntry, WorkflowSession
from sessions_app.workflow.blog_post_generator import CACHE_KEY, topic_key

ENTRY_FIELDS = (
    "id",
    "session_id",
    "key",
    "position",
    "lookup_key",
    "size",
    "hits",
    "created_at",
    "updated_at",
)


@dataclass(frozen=True)
class SessionFilters:
    """What the session list is narrowed and ordered by, as the list page's query string gives it."""

    search: str = ""
    workflow: str = ""
    oldest_first: bool = False


def session_list(*, filters: SessionFilters) -> QuerySet[WorkflowSession]:
    """Return the sessions matching `filters`, without their state, newest update first by default.

    The search matches the session id, the name, or the topic of a cached entry; the topic
    match is an `Exists` subquery so a session with many matching entries is listed once.
    """
    sessions = WorkflowSession.objects.for_list()
    search = filters.search.strip()
    if search:
        topics = StateEntry.objects.filter(session=OuterRef("pk"), lookup_key__contains=topic_key(search))
        sessions = sessions.filter(
            Q(session_id__icontains=search) | Q(name__icontains=search) | Exists(topics)
        )
    if filters.workflow:
        sessions = sessions.filter(workflow=filters.workflow)
    if filters.oldest_first:
        return sessions.order_by("updated_at", "id")
    return sessions.recently_updated()


def session_get(*, session_id: str) -> WorkflowSession:
    """Return the session with this id, or raise Http404."""
    return get_object_or_404(WorkflowSession, session_id=session_id)


def session_entries(*, session: WorkflowSession) -> QuerySet[StateEntry]:
    """Return the session's list entries without their values; `.topic` is the entry's topic, if any."""
    return (
        StateEntry.objects.filter(session=session)
        .only(*ENTRY_FIELDS)
        .annotate(topic=KeyTextTransform("topic", "value"))
        .order_by("key", "position")
    )


def session_entry_get(*, session: WorkflowSession, entry_id: int) -> StateEntry:
    """Return one of the session's entries, value included, or raise Http404."""
    return get_object_or_404(StateEntry, session=session, pk=entry_id)


def session_cached_entry(*, session: WorkflowSession, topic: str) -> StateEntry | None:
    """Return the newest cached post entry for `topic` (without its value), or None."""
    key = topic_key(topic)
    if not key:
        return None
    return (
        StateEntry.objects.filter(session=session, key=CACHE_KEY, lookup_key=key)
        .only(*ENTRY_FIELDS)
        .order_by("-position")
        .first()
    )
