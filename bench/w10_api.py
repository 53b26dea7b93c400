"""W10 the JSON API over HTTP: a cache-hit run start until its JSON result, and the session list at N sessions.

Both go to `manage.py serve` (the server `make run` starts) with a bearer token, as a program
would. The cache hit is `POST /api/v1/sessions/<id>/runs` for a cached topic: the answer is a 201
holding the post, with no worker involved; each request asks for another of the session's posts
(1,000, or 50 with --quick). The list is `GET /api/v1/sessions` (the 50 newest, no filters) with
the database holding 100,000 sessions (1,000 with --quick), filled as W4 fills it.
"""

from __future__ import annotations

import time
from typing import Any

from bench import bulk, http_stack
from bench.common import Context, Goal, Row, Section, median, percentile, state_with, topic
from bench.stores import WfsiteDjango

SESSION = "w10-cached-posts"
HIT = ("wfsite API, cached topic", "POST to JSON result, p50", Goal("p50 under 20 ms", 20.0, "max"))
LIST = ("wfsite API, session list", "GET /api/v1/sessions p95", Goal("p95 under 50 ms", 50.0, "max"))


def run(ctx: Context) -> Section:
    quick = ctx.sizes.quick
    posts, count = (50, 1000) if quick else (1000, 100_000)
    section = Section(
        key="W10",
        title=f"W10 the JSON API over HTTP ({ctx.sizes.w7_requests} cache hits, list at {count:,} sessions)",
    )
    if ctx.django_error:
        section.rows = [_missing(what, ctx.django_error) for what in (HIT, LIST)]
        return section
    try:
        stack = http_stack.shared(ctx)
        client = _client(stack)
        WfsiteDjango().seed(SESSION, state_with(posts))
        _start(client, topic(0))  # warm-up
        hits = [_start(client, topic(1 + i * 7 % (posts - 1))) * 1000 for i in range(ctx.sizes.w7_requests)]
        _fill(count)
        lists = [t * 1000 for t in http_stack.timed_get(client, "/api/v1/sessions", ctx.sizes.http_requests)]
    except http_stack.NotAvailable as error:
        section.rows = [_missing(what, str(error)) for what in (HIT, LIST)]
        return section
    section.rows = [
        Row(
            HIT[0],
            HIT[1],
            median(hits),
            "ms",
            goal=HIT[2],
            note=f"p95 {percentile(hits, 95):.1f} ms; session of {posts} posts",
            samples=hits,
        ),
        Row(
            LIST[0],
            LIST[1],
            percentile(lists, 95),
            "ms",
            goal=LIST[2],
            note=f"p50 {median(lists):.1f} ms",
            samples=lists,
            size=count,
        ),
    ]
    return section


def _client(stack: http_stack.Stack) -> Any:
    """Return an httpx client carrying a fresh API token of the bench's user."""
    import httpx
    from django.contrib.auth import get_user_model

    from sessions_app.services.api_tokens import api_token_create

    http_stack.ensure_user()
    user = get_user_model().objects.get(username=http_stack.USERNAME)
    token = api_token_create(user=user, name=f"bench {time.time_ns()}").text
    client = httpx.Client(base_url=stack.base_url, timeout=30, headers={"Authorization": f"Bearer {token}"})
    stack.clients.append(client)
    return client


def _start(client: Any, wanted: str) -> float:
    """POST a run for a cached topic; return the seconds until the JSON result is in hand."""
    began = time.perf_counter()
    answer = client.post(f"/api/v1/sessions/{SESSION}/runs", json={"inputs": {"topic": wanted}})
    body = answer.json()
    elapsed = time.perf_counter() - began
    if answer.status_code != 201 or not body.get("cache_hit") or wanted not in body.get("output", ""):
        raise http_stack.NotAvailable(
            f"a cached topic was answered {answer.status_code}: {answer.text[:200]}"
        )
    return elapsed


def _fill(count: int) -> None:
    """Make sure the database holds `count` sessions, adding W4's rows where W4 has not run."""
    from sessions_app.models import WorkflowSession

    have = WorkflowSession.objects.filter(session_id__startswith="w4-").count()
    if have < count:
        bulk.fill_django(have, count)


def _missing(what: tuple[str, str, Goal], reason: str) -> Row:
    return Row(what[0], what[1], None, "ms", goal=what[2], note=f"not available: {reason}")
