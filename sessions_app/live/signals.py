"""One watcher per web process of which sessions changed, shared by every page that shows them.

A session's page and the session list follow sessions through `/live/sessions/`, a stream that
only says which session changed (`selectors.sessions.Signature`); the page then fetches the
sections it shows. Every stream of an event loop shares one `SessionSignals`: it reads the
signatures of all the sessions any stream watches in one batch (two indexed queries), on one
reader thread of its own, and wakes the streams whose sessions' signatures changed. So the
stream holds no database connection while it waits, and the reader keeps one only while some
stream watches (it is given back when the last leaves).

When to read: on PostgreSQL the `wfsite_sessions` notifications (migration 0009) wake the
watcher at once, and it reads again only every FALLBACK_SECONDS in case one was lost. Elsewhere
it polls: every ACTIVE_POLL_SECONDS while a watched session has a queued or running run, and,
while none has, backing off from there to IDLE_POLL_SECONDS, so an idle page costs two small
queries every few seconds per web process, however many people have it open.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
import weakref
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

from django.db import close_old_connections

from sessions_app.live import notify
from sessions_app.selectors.sessions import Signature, session_signatures

ACTIVE_POLL_SECONDS = 0.5
IDLE_POLL_SECONDS = 5.0
FALLBACK_SECONDS = 15.0
logger = logging.getLogger("wfsite.live")
_READER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wfsite-signals")


class SessionSignals:
    """The signatures of every session some stream of this event loop watches."""

    def __init__(self) -> None:
        self.watched: Counter[int] = Counter()
        self.signatures: dict[int, Signature] = {}
        self.generation = 0
        self.reads = 0
        self.task: asyncio.Task[None] | None = None
        self.wakeup = notify.Wakeup()
        self._waiters: set[asyncio.Future[None]] = set()

    def add(self, pks: Iterable[int]) -> None:
        """Watch these sessions too, and read them now, so the stream learns where they are."""
        listener = notify.listener()
        for pk in pks:
            if self.watched[pk] == 0 and listener is not None:
                listener.add(pk, self.wakeup, channel=notify.SESSIONS_CHANNEL)
            self.watched[pk] += 1
        if self.task is None or self.task.done():
            # A context of its own: the watcher outlives the request that happened to start it.
            self.task = asyncio.create_task(self.poll(), context=contextvars.Context())
        self.wakeup.set()

    def remove(self, pks: Iterable[int]) -> None:
        listener = notify.listener()
        for pk in pks:
            self.watched[pk] -= 1
            if self.watched[pk] <= 0:
                del self.watched[pk]
                self.signatures.pop(pk, None)
                if listener is not None:
                    listener.remove(pk, self.wakeup, channel=notify.SESSIONS_CHANNEL)
        if not self.watched:
            self.wakeup.set()  # so the watcher stops now, not after its pause

    async def next(self, *, seen: int, timeout: float) -> int | None:
        """Wait until the signatures changed after generation `seen`; None when `timeout` passes first."""
        if self.generation <= seen:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.add(waiter)
            try:
                async with asyncio.timeout(timeout):
                    await waiter
            except TimeoutError:
                pass
            finally:
                self._waiters.discard(waiter)
        return self.generation if self.generation > seen else None

    async def poll(self) -> None:
        """Read the watched sessions' signatures until nobody watches any, then give the connection back."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                await self._read_while_watched(loop)
            finally:
                self._wake()
            # (A watcher cancelled with its event loop gives nothing back: the process is ending.)
            await loop.run_in_executor(_READER, release_connection, self)
            if not self.watched:  # else a stream came while the connection was given back
                return

    async def _read_while_watched(self, loop: asyncio.AbstractEventLoop) -> None:
        quiet_since = time.monotonic()
        while self.watched:
            pks = list(self.watched)
            try:
                read = await loop.run_in_executor(_READER, session_signatures_read, pks)
            except Exception as error:  # the database went away: the streams wait, we try again
                logger.warning("Could not read the watched sessions: %s", error)
                await self.wakeup.wait(IDLE_POLL_SECONDS)
                continue
            self.reads += 1
            fresh = {pk: signature for pk, signature in read.items() if pk in self.watched}
            if any(self.signatures.get(pk) != signature for pk, signature in fresh.items()):
                quiet_since = time.monotonic()
                self.signatures.update(fresh)
                self._wake()
            if self.watched:
                await self.wakeup.wait(self._pause(quiet_since))

    def _pause(self, quiet_since: float) -> float:
        if self.wakeup.listening:
            return FALLBACK_SECONDS
        if any(signature.active for signature in self.signatures.values()):
            return ACTIVE_POLL_SECONDS
        # Idle: twice as long as it has been quiet, from the active pace up to IDLE_POLL_SECONDS.
        quiet = time.monotonic() - quiet_since
        return min(IDLE_POLL_SECONDS, max(ACTIVE_POLL_SECONDS, quiet))

    def _wake(self) -> None:
        self.generation += 1
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()


def session_signatures_read(pks: list[int]) -> dict[int, Signature]:
    """Read the signatures on the reader thread; a broken connection goes, the next read gets a fresh one."""
    try:
        return session_signatures(pks=pks)
    except Exception:
        close_old_connections()
        raise


def release_connection(signals: SessionSignals) -> None:
    """Give the reader's connection back once no stream watches (it keeps it from read to read till then)."""
    if not signals.watched:
        close_old_connections()


_signals: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, SessionSignals] = weakref.WeakKeyDictionary()


def loop_signals() -> SessionSignals:
    """Return this event loop's SessionSignals."""
    return _signals.setdefault(asyncio.get_running_loop(), SessionSignals())


@asynccontextmanager
async def watching(pks: Iterable[int]) -> AsyncIterator[SessionSignals]:
    """Watch the sessions `pks` for as long as the block runs."""
    wanted = sorted(set(pks))
    signals = loop_signals()
    signals.add(wanted)
    try:
        yield signals
    finally:
        signals.remove(wanted)
