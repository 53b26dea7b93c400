"""The runs list's selector: each filter, the search, cursor pages that hold still under inserts, the counts."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from sessions_app.models import WorkflowRun, WorkflowSession
from sessions_app.selectors.keyset import CursorInvalidError
from sessions_app.selectors.runs import LIST_SORT, RunFilters, run_counts, runs_list, runs_matching

pytestmark = pytest.mark.django_db

BASE = timezone.now() - timedelta(days=3)


@pytest.fixture
def session() -> WorkflowSession:
    return WorkflowSession.objects.create(session_id="s", workflow="BlogPostGenerator")


def make(session: WorkflowSession, minutes: float, **fields: Any) -> WorkflowRun:
    fields.setdefault("workflow", session.workflow)
    fields.setdefault("status", "succeeded")
    return WorkflowRun.objects.create(session=session, created_at=BASE + timedelta(minutes=minutes), **fields)


def listed(filters: RunFilters, **kwargs: Any) -> list[WorkflowRun]:
    return runs_list(filters, limit=kwargs.pop("limit", 100), **kwargs).items


def test_newest_first_and_ties_by_id(session: WorkflowSession) -> None:
    older = make(session, 1)
    tie_a, tie_b = make(session, 5), make(session, 5)
    newest = make(session, 9)

    assert listed(RunFilters()) == [newest, tie_b, tie_a, older]


def test_each_filter_narrows_the_list(session: WorkflowSession) -> None:
    other = WorkflowSession.objects.create(session_id="o", workflow="BlogPostPipeline")
    ana = get_user_model().objects.create_user("ana")
    bob = get_user_model().objects.create_user("bob")
    failed = make(session, 1, status="failed", started_by=ana)
    hit = make(session, 2, cache_hit=True, started_by=bob)
    piped = make(other, 3, started_by=ana)
    engine = make(session, 4)

    assert listed(RunFilters(status="failed")) == [failed]
    assert listed(RunFilters(status="running")) == []
    assert listed(RunFilters(workflow="BlogPostPipeline")) == [piped]
    assert listed(RunFilters(started_by="ana")) == [piped, failed]
    # An unknown person started nothing: not the runs nobody started.
    assert listed(RunFilters(started_by="nobody")) == []
    assert listed(RunFilters(cache_hit=True)) == [hit]
    assert listed(RunFilters(cache_hit=False)) == [engine, piped, failed]
    assert listed(RunFilters(status="succeeded", started_by="ana")) == [piped]


def test_date_range_includes_its_start_and_excludes_its_end(session: WorkflowSession) -> None:
    runs = [make(session, minutes) for minutes in (0, 10, 20, 30)]

    window = RunFilters(since=BASE + timedelta(minutes=10), until=BASE + timedelta(minutes=30))

    assert listed(window) == [runs[2], runs[1]]
    assert listed(RunFilters(since=BASE + timedelta(minutes=25))) == [runs[3]]
    assert listed(RunFilters(until=BASE + timedelta(minutes=5))) == [runs[0]]


@pytest.mark.parametrize(
    ("typed", "found"),
    [
        ("agents", ["AI Agents"]),
        ("AGENTS", ["AI Agents"]),
        ("café", ["Café culture"]),
        ("CAFÉ", []),  # SQLite folds ASCII only; PostgreSQL folds more (see below)
        ('say "hi"', ['say "hi"']),
        ("50%", ["50% off"]),
        ("5_%", []),
        ("  culture ", ["Café culture"]),
    ],
)
def test_search_matches_the_text_of_any_input(session: WorkflowSession, typed: str, found: list[str]) -> None:
    for minutes, text in enumerate(["AI Agents", "Café culture", 'say "hi"', "50% off", "plain"]):
        make(session, minutes, inputs={"topic": text, "use_cache": True})

    titles = [run.inputs["topic"] for run in listed(RunFilters(search=typed))]

    if typed == "CAFÉ" and connection.vendor == "postgresql":
        found = ["Café culture"]
    assert titles == found


def test_search_combines_with_the_other_filters(session: WorkflowSession) -> None:
    make(session, 1, inputs={"q": "agents"}, status="failed")
    wanted = make(session, 2, inputs={"q": "agents"})
    make(session, 3, inputs={"q": "other"})

    assert listed(RunFilters(search="agents", status="succeeded")) == [wanted]


def test_pages_hold_still_while_runs_are_added(session: WorkflowSession) -> None:
    runs = [make(session, minutes) for minutes in range(7)]
    newest_first = runs[::-1]
    first = runs_list(RunFilters(), limit=3)
    assert first.items == newest_first[:3]

    make(session, 100)  # newer than every run: it would shift an offset by one
    make(session, 5)  # the same time as a run already shown, sorting before it (a higher id)
    second = runs_list(RunFilters(), cursor=first.next_cursor, limit=3)
    third = runs_list(RunFilters(), cursor=second.next_cursor, limit=3)

    assert second.items == newest_first[3:6]
    assert third.items == newest_first[6:]
    assert third.next_cursor is None


def test_a_tie_across_the_page_boundary_repeats_and_skips_nothing(session: WorkflowSession) -> None:
    runs = [make(session, 1) for _ in range(5)]

    first = runs_list(RunFilters(), limit=2)
    rest = runs_list(RunFilters(), cursor=first.next_cursor, limit=10)

    assert first.items + rest.items == runs[::-1]


def test_a_cursor_of_another_list_is_refused(session: WorkflowSession) -> None:
    with pytest.raises(CursorInvalidError):
        runs_list(RunFilters(), cursor="not-a-cursor")


def test_the_list_never_loads_outputs_or_any_state(session: WorkflowSession) -> None:
    make(session, 1, output="# a long post", unsaved_state='{"big": 1}')

    with CaptureQueriesContext(connection) as queries:
        [run] = listed(RunFilters())
        assert run.session.session_id == "s"

    sql = " ".join(query["sql"] for query in queries.captured_queries)
    assert len(queries.captured_queries) == 1
    for column in ("output", "unsaved_state", "session_state", "list_keys", "password"):
        assert f'"{column}"' not in sql, column


def test_counts_queued_and_running_across_sessions(session: WorkflowSession) -> None:
    other = WorkflowSession.objects.create(session_id="o", workflow="BlogPostGenerator")
    for status, where in [("queued", session), ("queued", other), ("running", other), ("failed", session)]:
        make(where, 1, status=status)

    assert run_counts() == {"queued": 2, "running": 1}
    WorkflowRun.objects.update(status="succeeded")
    assert run_counts() == {"queued": 0, "running": 0}


FILTERS = {
    "default": RunFilters(),
    "status": RunFilters(status="failed"),
    "workflow": RunFilters(workflow="BlogPostGenerator"),
    "started_by": RunFilters(started_by="ana"),
    "cache hit": RunFilters(cache_hit=True),
    "dates": RunFilters(since=BASE, until=BASE + timedelta(days=1)),
    "search": RunFilters(search="agents"),
    "status and search": RunFilters(status="succeeded", search="agents"),
}


def _plan(filters: RunFilters, cursor: datetime | None = None) -> str:
    rows = runs_matching(filters).order_by(LIST_SORT, "-id")
    if cursor is not None:
        rows = rows.filter(created_at__lte=cursor)
    return rows[:51].explain()


@pytest.mark.parametrize("name", FILTERS)
def test_every_filter_reads_an_index_in_order_and_sorts_nothing(session: WorkflowSession, name: str) -> None:
    """The list and each filter read a (filter, created_at, id) index newest first and stop at the page.

    With test-sized tables PostgreSQL would rightly scan the table, so scans of the table and
    sorts are made dear there: if no index served the order, the plan would still show a Sort.
    """
    ana = get_user_model().objects.create_user("ana")
    for minutes in range(30):
        make(session, minutes, started_by=ana, inputs={"topic": f"agents {minutes}"})
    filters = FILTERS[name]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE sessions_app_workflowrun")
            for method in ("seqscan", "bitmapscan", "sort"):
                cursor.execute(f"SET LOCAL enable_{method} = off")
        plan = _plan(filters)
        assert "Sort" not in plan, plan
        assert "Index Scan using run_" in plan, plan
    else:
        plan = _plan(filters, cursor=timezone.now())
        assert "TEMP B-TREE" not in plan, plan
        assert "sessions_app_workflowrun USING INDEX run_" in plan, plan
