"""Reads of runs and their events: the runs list, the run page, its event stream, the session's history."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db.models import Count, Q, QuerySet, TextField, Value
from django.db.models.functions import Cast, StrIndex, Upper
from django.db.models.lookups import GreaterThan

from sessions_app.models import RunEvent, WorkflowRun, WorkflowSession
from sessions_app.selectors.keyset import KeysetPage, keyset_page

# What a row of the runs list shows; never a run's output, unsaved state, or its session's state.
LIST_FIELDS = (
    "run_id",
    "workflow",
    "status",
    "inputs",
    "cache_hit",
    "error",
    "created_at",
    "started_at",
    "finished_at",
    "heartbeat_at",
    "session__session_id",
    "started_by__username",
)
LIST_SORT = "-created_at"


@dataclass(frozen=True)
class RunFilters:
    """What the runs list is narrowed by, as the runs page's query string and the API give it.

    Every filter is optional; `since` is inclusive and `until` exclusive (both on `created_at`).
    `started_by` is a username; `cache_hit` None means hits and misses.
    """

    status: str = ""
    workflow: str = ""
    started_by: str = ""
    cache_hit: bool | None = None
    since: datetime | None = None
    until: datetime | None = None
    search: str = ""


def _search(text: str) -> Q:
    """Match `text` inside the inputs as stored: SQLite keeps JSON's \\u escapes, PostgreSQL the characters.

    A run's inputs are a small JSON object, so matching its text (case-insensitively) finds the
    words of any input without naming one; it also matches an input's name, which is harmless.
    `STRPOS`/`INSTR` rather than `LIKE`: PostgreSQL guesses that a `LIKE '%...%'` matches almost
    nothing and so scans and sorts every match, which for a common word is most of the table;
    a position it cannot guess at, so it reads the list's index newest first and stops at the page.
    """
    stored = Upper(Cast("inputs", TextField()))
    query = Q()
    for form in {json.dumps(text)[1:-1], json.dumps(text, ensure_ascii=False)[1:-1]}:
        query |= Q(GreaterThan(StrIndex(stored, Upper(Value(form))), 0))
    return query


def runs_matching(filters: RunFilters) -> QuerySet[WorkflowRun]:
    """Return the runs matching `filters`, unordered, with only the columns the list shows."""
    runs = WorkflowRun.objects.select_related("session", "started_by").only(*LIST_FIELDS)
    if filters.status:
        runs = runs.filter(status=filters.status)
    if filters.workflow:
        runs = runs.filter(workflow=filters.workflow)
    if filters.started_by:
        # One lookup of the person first: the run's (started_by, created_at) index does the rest.
        users = get_user_model().objects.filter(username=filters.started_by)
        user_id = users.values_list("pk", flat=True).first()
        runs = runs.filter(started_by_id=user_id) if user_id is not None else runs.none()
    if filters.cache_hit is not None:
        runs = runs.filter(cache_hit=filters.cache_hit)
    if filters.since is not None:
        runs = runs.filter(created_at__gte=filters.since)
    if filters.until is not None:
        runs = runs.filter(created_at__lt=filters.until)
    search = filters.search.strip()
    if search:
        runs = runs.filter(_search(search))
    return runs


def runs_list(filters: RunFilters, *, cursor: str | None = None, limit: int = 50) -> KeysetPage[WorkflowRun]:
    """Return one page of the runs matching `filters`, newest first, after `cursor` (the page before's).

    Raises `CursorInvalidError` for a cursor this list did not give out.
    """
    return keyset_page(runs_matching(filters), sort=LIST_SORT, cursor=cursor, limit=limit)


def run_counts() -> dict[str, int]:
    """Return how many runs are queued and how many running, across every session."""
    counts = {WorkflowRun.Status.QUEUED.value: 0, WorkflowRun.Status.RUNNING.value: 0}
    rows = WorkflowRun.objects.active().values_list("status").annotate(n=Count("id")).order_by()
    counts.update({status: n for status, n in rows})
    return counts


def run_row_get(*, run_id: uuid.UUID | str) -> WorkflowRun | None:
    """Return one run with only what its row in the runs list shows, or None."""
    key = _run_id(run_id)
    if key is None:
        return None
    return runs_matching(RunFilters()).filter(run_id=key).first()


def _events_after(run: WorkflowRun, after_seq: int, limit: int) -> QuerySet[RunEvent]:
    return RunEvent.objects.filter(run=run, seq__gt=after_seq).order_by("seq")[:limit]


def events_since(*, run: WorkflowRun, after_seq: int, limit: int = 500) -> list[RunEvent]:
    """Return the run's events after `after_seq` (0 for all), oldest first, at most `limit`."""
    return list(_events_after(run, after_seq, limit))


async def aevents_since(*, run: WorkflowRun, after_seq: int, limit: int = 500) -> list[RunEvent]:
    """Return the run's events after `after_seq`, oldest first, at most `limit` (async)."""
    return [event async for event in _events_after(run, after_seq, limit)]


def _run_id(run_id: uuid.UUID | str) -> uuid.UUID | None:
    try:
        return run_id if isinstance(run_id, uuid.UUID) else uuid.UUID(str(run_id))
    except ValueError:
        return None


def run_get(*, run_id: uuid.UUID | str) -> WorkflowRun | None:
    """Return the run with this id, with its session, starter and canceller, or None (also for a malformed id)."""
    key = _run_id(run_id)
    if key is None:
        return None
    return (
        WorkflowRun.objects.select_related("session", "started_by", "cancelled_by").filter(run_id=key).first()
    )


async def arun_get(*, run_id: uuid.UUID | str) -> WorkflowRun | None:
    """Return the run with this id, with its session and starter, or None (async)."""
    key = _run_id(run_id)
    if key is None:
        return None
    return await WorkflowRun.objects.select_related("session", "started_by").filter(run_id=key).afirst()


def session_runs(*, session: WorkflowSession, limit: int = 50) -> list[WorkflowRun]:
    """Return the session's latest runs, newest first, for its history table."""
    runs = WorkflowRun.objects.filter(session=session).select_related("started_by")
    return list(runs.order_by("-created_at", "-id")[:limit])
