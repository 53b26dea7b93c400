"""A feed polls many times on one connection: borrowed from the pool (PostgreSQL) or kept (SQLite)."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
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


def test_the_reader_keeps_its_connection_while_feeds_run_and_gives_it_back_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    closed: list[str] = []
    monkeypatch.setattr(feeds, "close_old_connections", lambda: closed.append("closed"))
    monkeypatch.setitem(feeds._feeds, (0, uuid.uuid4()), object())

    feeds.release_connection()
    assert closed == []  # a feed still polls: it keeps the connection

    feeds._feeds.clear()
    feeds.release_connection()
    assert closed == ["closed"]


def add_event(run: WorkflowRun, seq: int) -> None:
    RunEvent.objects.create(run=run, seq=seq, event="RunResponse", content=f"chunk {seq} ")


def test_postgresql_wakes_the_feed_at_once_and_sqlite_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    listens = connection.vendor == "postgresql"
    # Listening, the feed's own timer is far too slow to explain a prompt delivery.
    monkeypatch.setattr(feeds, "POLL_SECONDS", 30.0 if listens else 0.05)
    monkeypatch.setattr(feeds, "FALLBACK_SECONDS", 30.0)
    run = running_run()

    async def main() -> tuple[float, bool, list[int]]:
        async with feeds.watch(run, RunMessages) as feed:
            first = await feed.next(seen=0, after_seq=0, timeout=10)
            assert first is not None
            for _ in range(100):  # the listener connects on its own task
                if feed.woken is not None and feed.woken.listening == listens:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.2)  # the poll that connecting triggered is over
            began = time.monotonic()
            await sync_to_async(add_event)(run, 1)
            update = await feed.next(seen=feed.generation, after_seq=0, timeout=10)
            assert update is not None
            return time.monotonic() - began, feed.woken.listening, [seq for seq, _ in update.messages]

    elapsed, listening, seqs = async_to_sync(main)()

    assert listening == listens
    assert seqs == [1]
    assert elapsed < 5


def test_a_stream_of_a_watched_run_needs_no_lookup() -> None:
    run = running_run()

    async def main() -> tuple[WorkflowRun | None, WorkflowRun | None, WorkflowRun | None]:
        before = feeds.watched_run(run.run_id)
        async with feeds.watch(run, RunMessages) as feed:
            await feed.next(seen=0, after_seq=0, timeout=10)
            during = feeds.watched_run(run.run_id)
            other = feeds.watched_run(uuid.uuid4())
        return before, during, other

    before, during, other = async_to_sync(main)()

    assert before is None
    assert during is not None
    assert during.pk == run.pk
    assert other is None
