"""W12 search: the session list page searched by id, name, cached key and cached text, over HTTP.

The database gets 100,000 sessions (1,000 with --quick) of 10 cached posts each, written straight
into the tables (the search indexes fill as they would on any write: SQLite's triggers, and
PostgreSQL's GIN indexes). Then `GET /sessions/?q=...` (id, name, key) and `?text=...` (words of
a post) are timed, each request asking for another session's id, name, topic or words, so no
answer is a repeat. The goal is p95 under 20 ms. A word that is in every post (every session
matches, and the page counts them) is timed too, without a goal, to show what the index cannot
make cheap. Rows written by other workloads (W4 and W10 add 100,000 sessions of one post) stay:
the note says how many sessions the database held.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from bench import http_stack
from bench.common import Context, Goal, Row, Section, median, percentile
from bench.stores import WORKFLOW

POSTS = 10
BATCH = 2000  # sessions per transaction
GOAL = Goal("p95 under 20 ms", 20.0, "max")
COMMON_WORD = "stay"  # in every post the offline model writes


def topic(number: int) -> str:
    return f"Search topic {number}"


def session_id(number: int) -> str:
    return f"w11-{number:06d}"


def run(ctx: Context) -> Section:
    count = 1000 if ctx.sizes.quick else 100_000
    section = Section(
        key="W12",
        title=f"W12 search over HTTP: {count:,} sessions of {POSTS} posts, GET /sessions/ with q or text",
    )
    queries = _queries(count)
    if ctx.django_error:
        section.rows = [_missing(name, ctx.django_error) for name in queries]
        return section
    began = time.perf_counter()
    fill(count)
    section.notes.append(f"filled {count * POSTS:,} posts in {time.perf_counter() - began:.0f} s")
    try:
        client = http_stack.login(http_stack.shared(ctx))
        for name, (make_path, goal) in queries.items():
            try:
                times = _timed(client, make_path, ctx.sizes.http_requests)
            except http_stack.NotAvailable as error:
                section.rows.append(Row(name, "GET p95", None, "ms", goal=goal, note=f"failed: {error}"))
                continue
            ms = [t * 1000 for t in times]
            section.rows.append(
                Row(
                    name,
                    "GET p95",
                    percentile(ms, 95),
                    "ms",
                    goal=goal,
                    note=f"p50 {median(ms):.1f} ms, worst {max(ms):.1f} ms over {len(ms)} requests",
                    samples=ms,
                    size=count,
                )
            )
    except http_stack.NotAvailable as error:
        section.rows = [_missing(name, str(error)) for name in queries]
    section.notes.append(f"the database held {_sessions():,} sessions")
    return section


def _queries(count: int) -> dict[str, tuple[Callable[[int], str], Goal | None]]:
    rng = random.Random(11)
    numbers = [rng.randrange(count) for _ in range(1000)]

    def pick(i: int) -> int:
        return numbers[i % len(numbers)]

    def entry(i: int) -> int:
        # A six-digit entry number where there are that many, so the words match one entry.
        return pick(i) * POSTS + i % POSTS

    return {
        "no search (the list, for scale), no goal": (lambda i: _page(page=str(1 + i % 5)), None),
        "search by session id (q)": (lambda i: _page(q=session_id(pick(i))), GOAL),
        "search by name (q)": (lambda i: _page(q=f"notes {pick(i):06d}"[:-1]), GOAL),
        "search by cached key (q)": (lambda i: _page(q=topic(entry(i)).lower()), GOAL),
        "search in cached text (text)": (lambda i: _page(text=f"search topic {entry(i)}"), GOAL),
        "API: search in cached text": (lambda i: _api(text=f"search topic {entry(i)}"), GOAL),
        f"text in every post ({COMMON_WORD!r}), no goal": (lambda i: _page(text=COMMON_WORD), None),
    }


def _page(**params: str) -> str:
    return "/sessions/?" + urlencode(params)


def _api(**params: str) -> str:
    return "/api/v1/sessions?" + urlencode(params)


def _timed(client: Any, make_path: Callable[[int], str], count: int) -> list[float]:
    first = client.get(make_path(count))  # warm-up, untimed
    if first.status_code != 200:
        raise http_stack.NotAvailable(f"GET {make_path(count)} answered {first.status_code}")
    import httpx

    times = []
    for i in range(count):
        began = time.perf_counter()
        try:
            response = client.get(make_path(i))
        except httpx.TimeoutException:
            raise http_stack.NotAvailable(f"GET {make_path(i)} took over 30 s") from None
        response.read()
        times.append(time.perf_counter() - began)
        if response.status_code != 200:
            raise http_stack.NotAvailable(f"GET {make_path(i)} answered {response.status_code}")
    return times


MARK = "{{topic}}"
TEMPLATES = 500  # distinct post shapes; each entry's post names its own topic throughout


def fill(count: int) -> None:
    """Make sure sessions w11-000000 up to `count` are there, each with POSTS posts of the offline model.

    Sessions go in through the ORM; their posts by one INSERT ... SELECT per batch, built in SQL
    from TEMPLATES posts of the offline model with each entry's topic put in, so 1,000,000 posts
    do not cross from Python one by one. Entry sizes on PostgreSQL are jsonb's text less its
    spaces, as compact JSON counts them.
    """
    from django.db import connection, transaction

    from sessions_app.models import WorkflowSession
    from sessions_app.workflow.offline_model import compose_post

    have = WorkflowSession.objects.filter(session_id__startswith="w11-").count()
    if have >= count:
        return
    pg = connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMPORARY TABLE IF NOT EXISTS w11_templates (id integer PRIMARY KEY, body text)"
        )
        cursor.execute("CREATE TEMPORARY TABLE IF NOT EXISTS w11_positions (pos integer PRIMARY KEY)")
        cursor.execute("DELETE FROM w11_templates")
        cursor.execute("DELETE FROM w11_positions")
        bodies = [(j, compose_post(topic(j)).replace(topic(j), MARK)) for j in range(TEMPLATES)]
        cursor.executemany("INSERT INTO w11_templates (id, body) VALUES (%s, %s)", bodies)
        cursor.executemany("INSERT INTO w11_positions (pos) VALUES (%s)", [(p,) for p in range(POSTS)])
    now = int(time.time())
    # A GIN index takes a million posts in minutes when it is built, in most of an hour when it
    # is kept up row by row: for the fill it is dropped and built again from its own definition.
    rebuild = _text_index_definitions() if pg else []
    with connection.cursor() as cursor:
        for name, _definition in rebuild:
            cursor.execute(f'DROP INDEX "{name}"')
    for low in range(have, count, BATCH):
        numbers = range(low, min(count, low + BATCH))
        with transaction.atomic():
            rows = WorkflowSession.objects.bulk_create(_session(number, now) for number in numbers)
            with connection.cursor() as cursor:
                cursor.execute(_ENTRIES_PG if pg else _ENTRIES_SQLITE, (rows[0].pk, rows[-1].pk))
    with connection.cursor() as cursor:
        if rebuild:
            cursor.execute("SET maintenance_work_mem = '256MB'")
        for _name, definition in rebuild:
            cursor.execute(definition)
        for table in ("sessions_app_stateentry", "sessions_app_workflowsession"):
            cursor.execute(f"VACUUM ANALYZE {table}" if pg else f"ANALYZE {table}")


def _text_index_definitions() -> list[tuple[str, str]]:
    """Return the name and CREATE INDEX statement of each full-text GIN index on the entries."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'sessions_app_stateentry' "
            "AND indexdef LIKE '%%USING gin%%' AND indexdef LIKE '%%to_tsvector%%'"
        )
        return list(cursor.fetchall())


def _session(number: int, now: int) -> Any:
    from sessions_app.models import WorkflowSession
    from sessions_app.state.layout import list_size, member_size, state_size

    moment = datetime.fromtimestamp(now - (number * 7919) % (365 * 86400), tz=UTC)
    return WorkflowSession(
        session_id=session_id(number),
        name=f"Research notes {number:06d}",
        workflow=WORKFLOW,
        list_keys=["blog_posts"],
        version=1,
        created_at=moment,
        updated_at=moment,
        state_size=state_size(1, member_size("blog_posts", list_size(POSTS, POSTS * 3600))),
        cache_entries=POSTS,
    )


_NUMBER = f"(substr(s.session_id, 5) * {POSTS} + p.pos)"
_ENTRIES_SQLITE = f"""
INSERT INTO sessions_app_stateentry (session_id, key, position, value, lookup_key, size, created_at, updated_at)
SELECT e.id, 'blog_posts', e.pos, e.value, lower(e.topic), length(CAST(e.value AS BLOB)), e.moment, e.moment
FROM (
    SELECT s.id, p.pos, s.updated_at AS moment, 'Search topic ' || CAST({_NUMBER} AS INTEGER) AS topic,
        json_object('topic', 'Search topic ' || CAST({_NUMBER} AS INTEGER),
            'blog_post', replace(t.body, '{MARK}', 'Search topic ' || CAST({_NUMBER} AS INTEGER))) AS value
    FROM sessions_app_workflowsession AS s
    CROSS JOIN w11_positions AS p
    JOIN w11_templates AS t ON t.id = CAST({_NUMBER} AS INTEGER) %% {TEMPLATES}
    WHERE s.id BETWEEN %s AND %s
) AS e
"""
_PG_NUMBER = f"(substr(s.session_id, 5)::integer * {POSTS} + p.pos)"
_ENTRIES_PG = f"""
INSERT INTO sessions_app_stateentry (session_id, key, position, value, lookup_key, size, created_at, updated_at)
SELECT e.id, 'blog_posts', e.pos, e.value, lower(e.topic), octet_length(e.value::text) - 3, e.moment, e.moment
FROM (
    SELECT s.id, p.pos, s.updated_at AS moment, n.topic,
        jsonb_build_object('topic', n.topic, 'blog_post', replace(t.body, '{MARK}', n.topic)) AS value
    FROM sessions_app_workflowsession AS s
    CROSS JOIN w11_positions AS p
    CROSS JOIN LATERAL (SELECT 'Search topic ' || {_PG_NUMBER} AS topic, {_PG_NUMBER} AS k) AS n
    JOIN w11_templates AS t ON t.id = n.k %% {TEMPLATES}
    WHERE s.id BETWEEN %s AND %s
) AS e
"""


def _sessions() -> int:
    from sessions_app.models import WorkflowSession

    return WorkflowSession.objects.count()


def _missing(name: str, reason: str) -> Row:
    return Row(name, "GET p95", None, "ms", goal=GOAL, note=f"not available: {reason}")
