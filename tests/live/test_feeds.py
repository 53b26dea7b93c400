"""A feed polls many times on one connection: borrowed from the pool (PostgreSQL) or kept (SQLite)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django.db.backends.signals import connection_created
from django.utils import timezone

from sessions_app.live import feeds
from sessions_app.models import RunEvent, WorkflowRun, WorkflowSession
from sessions_app.views.events import RunMessages

pytestmark = pytest.mark.django_db(transaction=True)
POLLS = 10


def running_run() -> WorkflowRun:
    session = WorkflowSession.objects.create(session_id="feeds", workflow="BlogPostGenerator")
    now = timezone.now()
    return WorkflowRun.objects.create(
        session=session, workflow="BlogPostGenerator", status="running", started_at=now, heartbeat_at=now
    )


def backends_opened() -> int:
    """Connections opened to the server so far: the pool's count on PostgreSQL, the feeds' on SQLite."""
    pool = getattr(connection, "pool", None)
    if pool is not None:
        return int(pool.get_stats().get("connections_num", 0))
    return opened_on_feed_thread


opened_on_feed_thread = 0


def count_feed_connects(sender: Any, **kwargs: Any) -> None:
    global opened_on_feed_thread
    if threading.current_thread().name.startswith("wfsite-feeds"):
        opened_on_feed_thread += 1


def test_a_feed_polls_many_times_without_opening_a_connection_each_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run = running_run()
    polls = 0
    real_since = feeds.events_since

    def counting_since(**kwargs: Any) -> list[RunEvent]:
        nonlocal polls
        polls += 1
        return real_since(**kwargs)

    monkeypatch.setattr(feeds, "events_since", counting_since)
    connection_created.connect(count_feed_connects)
    before = backends_opened()

    async def watch_a_while() -> None:
        async with feeds.watch(run, RunMessages):
            while polls < POLLS:
                await asyncio.sleep(feeds.POLL_SECONDS)

    try:
        async_to_sync(watch_a_while)()
    finally:
        connection_created.disconnect(count_feed_connects)

    assert polls >= POLLS
    assert backends_opened() - before <= 1


def test_the_reader_gives_a_postgresql_connection_back_after_each_poll(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    closed: list[str] = []
    monkeypatch.setattr(feeds, "close_old_connections", lambda: closed.append(connection.vendor))

    feeds.release_connection()

    # Kept on SQLite (a file handle on a long-lived thread), given back to the pool elsewhere.
    assert closed == ([] if connection.vendor == "sqlite" else [connection.vendor])
