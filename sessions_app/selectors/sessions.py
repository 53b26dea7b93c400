"""Reads of sessions for the dashboard: the list (search, filter, sort) and one session."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.shortcuts import get_object_or_404

from sessions_app.models import StateEntry, WorkflowRun, WorkflowSession, WorkflowSessionQuerySet
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


def _searched(sessions: WorkflowSessionQuerySet, search: str) -> WorkflowSessionQuerySet:
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


def session_forks(*, session: WorkflowSession) -> QuerySet[WorkflowSession]:
    """Return the sessions forked from `session`, oldest first, without their state."""
    return WorkflowSession.objects.for_list().filter(forked_from=session).order_by("created_at", "id")


def session_row_get(*, session_id: str) -> WorkflowSession:
    """Return the session with this id as the session list reads it (without its state), or raise Http404."""
    return get_object_or_404(WorkflowSession.objects.for_list(), session_id=session_id)


@dataclass(frozen=True)
class Signature:
    """What a session's live pages show, condensed: `token` changes whenever they would.

    It is made of the state's version, the run count, the last run status and the id and
    status of every queued or running run, so a run starting, being claimed, ending (even with
    the status the last one had) or a write to the state by anyone changes it, and nothing else
    does (a heartbeat, a token chunk). `active`: the session has a queued or running run.
    """

    token: str
    active: bool


def session_signatures(*, pks: Iterable[int]) -> dict[int, Signature]:
    """Return the signature of each of these sessions that exists, in two indexed queries."""
    wanted = sorted(set(pks))
    if not wanted:
        return {}
    active: dict[int, list[tuple[int, str]]] = {}
    runs = WorkflowRun.objects.active().filter(session_id__in=wanted).order_by("pk")
    for session_pk, run_pk, status in runs.values_list("session_id", "pk", "status"):
        active.setdefault(session_pk, []).append((run_pk, status))
    rows = WorkflowSession.objects.filter(pk__in=wanted).values_list(
        "pk", "version", "run_count", "last_run_status"
    )
    signatures = {}
    for pk, version, run_count, last_status in rows:
        shown = repr((version, run_count, last_status, active.get(pk, [])))
        token = hashlib.blake2b(shown.encode(), digest_size=8).hexdigest()
        signatures[pk] = Signature(token=token, active=pk in active)
    return signatures
