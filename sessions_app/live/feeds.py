"""One database poller per watched run in this web process, shared by every stream of that run.

A hundred browsers watching ten runs would otherwise poll the database a thousand times a
second, and Django's async ORM runs every query on one thread, so each stream's reads would
queue behind all the others'. A feed polls once for all its watchers, renders each event's
message once, and wakes the watchers through an `asyncio.Condition`. It stops when its last
watcher leaves or the run has ended and every event has been read.
"""

from __future__ import annotations

import asyncio
import bisect
import copy
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from uuid import UUID

from asgiref.sync import sync_to_async
from django.db import close_old_connections

from sessions_app.models import RunEvent, WorkflowRun
from sessions_app.selectors.runs import aevents_since
from sessions_app.services.runs import run_reap_if_stale

POLL_SECONDS = 0.05
# After this long without events (a queued run with no worker, a slow model) poll less often.
IDLE_AFTER_SECONDS = 5.0
IDLE_POLL_SECONDS = 0.5
REAP_SECONDS = 5.0
STATUS_FIELDS = ["status", "error", "heartbeat_at", "started_at", "finished_at", "cache_hit", "output"]


@dataclass
class Update:
    """What a watcher has not seen yet: rendered events after its seq, the run, whether it ended."""

    generation: int
    messages: list[tuple[int, str]]
    run: WorkflowRun
    finished: bool


class RunFeed:
    """Poll one run's events and status for all the streams watching it."""

    def __init__(self, run: WorkflowRun, render: Callable[[RunEvent], str]) -> None:
        self.run, self.render = run, render
        self.seqs: list[int] = []
        self.messages: list[str] = []
        self.generation = 0
        self.finished = False
        self.watchers = 0
        self.changed = asyncio.Condition()
        self.task: asyncio.Task[None] | None = None

    async def next(self, *, seen: int, after_seq: int, timeout: float) -> Update | None:
        """Wait until something changed since generation `seen`; None when `timeout` passes first."""
        async with self.changed:
            try:
                await asyncio.wait_for(self.changed.wait_for(lambda: self.generation > seen), timeout)
            except TimeoutError:
                return None
            start = bisect.bisect_right(self.seqs, after_seq)
            news = list(zip(self.seqs[start:], self.messages[start:], strict=True))
            return Update(self.generation, news, copy.copy(self.run), self.finished)

    async def poll(self, key: tuple[int, UUID]) -> None:
        """Read new events and the run's status until nobody watches or the run is over."""
        last_event_at = reaped_at = time.monotonic()
        status = None
        try:
            while self.watchers > 0 and not self.finished:
                await self.run.arefresh_from_db(fields=STATUS_FIELDS)
                if time.monotonic() - reaped_at >= REAP_SECONDS:
                    reaped_at = time.monotonic()
                    if await sync_to_async(run_reap_if_stale)(run=self.run):
                        continue
                events = await aevents_since(run=self.run, after_seq=self.seqs[-1] if self.seqs else 0)
                for event in events:
                    self.seqs.append(event.seq)
                    self.messages.append(self.render(event))
                # The status was read before the events: a finished run had written them all.
                self.finished = self.run.is_finished and not events
                if events or self.finished or self.run.status != status or not self.generation:
                    status = self.run.status
                    last_event_at = time.monotonic() if events else last_event_at
                    async with self.changed:
                        self.generation += 1
                        self.changed.notify_all()
                if not self.finished:
                    await sync_to_async(close_old_connections)()
                    idle = time.monotonic() - last_event_at >= IDLE_AFTER_SECONDS
                    await asyncio.sleep(IDLE_POLL_SECONDS if idle else POLL_SECONDS)
        finally:
            # Leave the registry before any await, so a stream arriving now starts a new feed.
            if _feeds.get(key) is self:
                del _feeds[key]
            await sync_to_async(close_old_connections)()


_feeds: dict[tuple[int, UUID], RunFeed] = {}


@asynccontextmanager
async def watch(run: WorkflowRun, render: Callable[[RunEvent], str]) -> AsyncIterator[RunFeed]:
    """Join (or start) the feed of `run` in this event loop for as long as the block runs."""
    key = (id(asyncio.get_running_loop()), run.run_id)
    feed = _feeds.get(key)
    if feed is None or feed.task is None or feed.task.done():
        feed = _feeds[key] = RunFeed(run, render)
        feed.watchers += 1
        feed.task = asyncio.create_task(feed.poll(key))
    else:
        feed.watchers += 1
    try:
        yield feed
    finally:
        feed.watchers -= 1
