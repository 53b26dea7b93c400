"""One database poller per watched run in a web process, shared by every stream of that run.

A thousand browsers watching ten runs would otherwise poll the database ten thousand times a
second. A feed polls once for all its watchers, renders each event's message once (its renderer
keeps what it needs between events, such as the post's Markdown blocks so far), and wakes the
watchers, each through a future of its own. It stops when its last watcher leaves or the run has
ended and every event has been read.

Connections: the feeds of a process read on READERS threads (a run's feed always on the same
one), so together they use at most READERS database connections however many streams there
are, each kept while any feed runs and given back (to psycopg's pool on PostgreSQL) when the
last one stops; a stream holds none while it waits (see `views.events`). More than one reader,
so that one feed's database round trips do not hold up every other run's. On PostgreSQL a feed also
listens (`live.notify`): a run's new events and status wake it at once, and it polls only as a
fallback, slowly, in case a notification was lost.
"""

from __future__ import annotations

import asyncio
import bisect
import contextvars
import copy
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

from django.db import close_old_connections

from sessions_app.live import memory, notify
from sessions_app.models import RunEvent, WorkflowRun
from sessions_app.selectors.runs import events_since
from sessions_app.services.runs import run_reap_if_stale

POLL_SECONDS = 0.05
# Listening on PostgreSQL, a feed still polls this often in case a notification was lost.
FALLBACK_SECONDS = 2.0
# After this long without events (a queued run with no worker, a slow model) poll less often.
IDLE_AFTER_SECONDS = 5.0
IDLE_POLL_SECONDS = 0.5
REAP_SECONDS = 5.0
STATUS_FIELDS = ["status", "error", "heartbeat_at", "started_at", "finished_at", "cache_hit", "output"]
READERS = 4
_READERS = [ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"wfsite-feeds-{n}") for n in range(READERS)]


class Renderer(Protocol):
    """Turns a run's events, in order, and its status into messages; made once per feed."""

    def event(self, event: RunEvent) -> str: ...

    def status(self, run: WorkflowRun) -> str: ...

    def final(self, run: WorkflowRun) -> str: ...


@dataclass
class Update:
    """What a watcher has not seen yet: rendered events after its seq, the run, whether it ended.

    `status` is the message for the run's current status; `final`, once it ended, the last one.
    """

    generation: int
    messages: list[tuple[int, str]]
    run: WorkflowRun
    status: str
    final: str | None

    @property
    def finished(self) -> bool:
        return self.final is not None


@dataclass
class Read:
    """One poll's findings, made on the reader thread and applied on the event loop."""

    run: WorkflowRun
    messages: list[tuple[int, str]]
    status: str | None = None
    final: str | None = None
    reaped: bool = False


class RunFeed:
    """Poll one run's events and status for all the streams watching it."""

    def __init__(self, run: WorkflowRun, renderer: Renderer) -> None:
        self.run, self.render = run, renderer
        self.reader = _READERS[run.pk % READERS]
        self.seqs: list[int] = []
        self.messages: list[str] = []
        self.generation = 0
        self.status = ""
        self.final: str | None = None
        self.watchers = 0
        self.task: asyncio.Task[None] | None = None
        self.woken: notify.Wakeup | None = None
        # What the streams make of the current generation, shared by those at the same place.
        self.memo: dict[Any, Any] = {}
        self._waiters: set[asyncio.Future[None]] = set()
        self._reaped_at = time.monotonic()

    async def next(self, *, seen: int, after_seq: int, timeout: float) -> Update | None:
        """Wait until something changed since generation `seen`; None when `timeout` passes first."""
        if self.generation <= seen:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.add(waiter)
            try:
                async with asyncio.timeout(timeout):
                    await waiter
            except TimeoutError:
                pass  # but the feed may have moved on just as the time ran out
            finally:
                self._waiters.discard(waiter)
            if self.generation <= seen:
                return None
        start = bisect.bisect_right(self.seqs, after_seq)
        news = list(zip(self.seqs[start:], self.messages[start:], strict=True))
        return Update(self.generation, news, self.run, self.status, self.final)

    @property
    def finished(self) -> bool:
        return self.final is not None

    def _wake(self) -> None:
        self.generation += 1
        self.memo = {}
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()

    def read(self) -> Read:
        """Read the run's status, then its new events, rendered (on the reader thread)."""
        try:
            run = copy.copy(self.run)
            run.refresh_from_db(fields=STATUS_FIELDS)
            if time.monotonic() - self._reaped_at >= REAP_SECONDS:
                self._reaped_at = time.monotonic()
                if run_reap_if_stale(run=run):
                    return Read(run, [], reaped=True)
            events = events_since(run=run, after_seq=self.seqs[-1] if self.seqs else 0)
        except Exception:
            close_old_connections()  # a broken connection goes; the next poll gets a fresh one
            raise
        read = Read(run, [(event.seq, self.render.event(event)) for event in events])
        if run.status != self.run.status or not self.status:
            read.status = self.render.status(run)
        # The status was read before the events: a finished run had written them all.
        if run.is_finished and not events:
            read.final = self.render.final(run)
        return read

    def apply(self, read: Read) -> bool:
        """Take one poll's findings; return whether the watchers have something new."""
        self.run = read.run
        for seq, message in read.messages:
            self.seqs.append(seq)
            self.messages.append(message)
        self.status = read.status or self.status
        self.final = read.final
        return bool(read.messages) or read.status is not None or read.final is not None

    async def poll(self, key: tuple[int, UUID]) -> None:
        """Read new events and the run's status until nobody watches or the run is over."""
        loop = asyncio.get_running_loop()
        last_event_at = time.monotonic()
        try:
            async with notify.listening(self.run.pk) as woken:
                self.woken = woken
                while True:
                    if self.watchers == 0 or self.finished:
                        # Leave the registry before any await, so a stream arriving now starts a new feed.
                        self._leave(key)
                        return
                    read = await loop.run_in_executor(self.reader, self.read)
                    if self.apply(read):
                        last_event_at = time.monotonic() if read.messages else last_event_at
                        self._wake()
                    if not (read.reaped or self.finished):
                        await woken.wait(self._pause(woken, last_event_at))
        finally:
            self._leave(key)
            self._wake()

    def _pause(self, woken: notify.Wakeup, last_event_at: float) -> float:
        if woken.listening:
            return FALLBACK_SECONDS
        return IDLE_POLL_SECONDS if time.monotonic() - last_event_at >= IDLE_AFTER_SECONDS else POLL_SECONDS

    def _leave(self, key: tuple[int, UUID]) -> None:
        if _feeds.get(key) is self:
            del _feeds[key]
            if not _feeds:  # the last live stream of this process has gone
                for reader in _READERS:
                    asyncio.get_running_loop().run_in_executor(reader, release_connection)
                memory.give_back_when_idle(lambda: not _feeds)


def release_connection() -> None:
    """Give the reader's connection back (to the pool on PostgreSQL) once no feed needs it.

    While feeds run, the reader keeps its one connection from poll to poll: borrowing it back
    for each would cost the pool's health check and a round trip more, on every poll.
    """
    if not _feeds:
        close_old_connections()


_feeds: dict[tuple[int, UUID], RunFeed] = {}


def watched_run(run_id: UUID) -> WorkflowRun | None:
    """Return the run if a feed of this event loop follows it now (its status as last read), else None."""
    feed = _feeds.get((id(asyncio.get_running_loop()), run_id))
    return feed.run if feed is not None and feed.task is not None and not feed.task.done() else None


@asynccontextmanager
async def watch(run: WorkflowRun, renderer: Callable[[], Renderer]) -> AsyncIterator[RunFeed]:
    """Join (or start) the feed of `run` in this event loop for as long as the block runs.

    `renderer()` makes the new feed's renderer: one per feed, since it may keep state.
    """
    key = (id(asyncio.get_running_loop()), run.run_id)
    feed = _feeds.get(key)
    if feed is None or feed.task is None or feed.task.done():
        feed = _feeds[key] = RunFeed(run, renderer())
        feed.watchers += 1
        # A context of its own: the feed outlives the request that happened to start it.
        feed.task = asyncio.create_task(feed.poll(key), context=contextvars.Context())
    else:
        feed.watchers += 1
    try:
        yield feed
    finally:
        feed.watchers -= 1
        if feed.watchers == 0 and feed.woken is not None:
            feed.woken.set()  # so the feed stops now, not after its pause
