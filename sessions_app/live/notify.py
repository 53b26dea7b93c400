"""Wake a run's feed when the run changes: PostgreSQL's LISTEN/NOTIFY, or a plain timer elsewhere.

On PostgreSQL, triggers (migration 0005) send `NOTIFY wfsite_runs, '<run pk>'` when a run gets
events or changes status, and (migration 0009) `NOTIFY wfsite_sessions, '<session pk>'` when
what a session's pages show may have changed. Each web process's event loop has one `Listener`:
one connection of its own (outside the pool) that listens on both channels for as long as any
feed does, and wakes the feeds of the rows named. While it is connected a feed sleeps until woken (or a slow fallback timer, in case a
notification was lost); while it is not (SQLite, the server restarting) `Wakeup.listening` is
False and the feed polls on its own timer, as before. After reconnecting, every feed is woken
once, for whatever it missed.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from django.db import connection

CHANNEL = "wfsite_runs"
SESSIONS_CHANNEL = "wfsite_sessions"
CHANNELS = (CHANNEL, SESSIONS_CHANNEL)
RECONNECT_SECONDS = 2.0
# How long one wait for notifications lasts before the listener checks whether anyone still listens.
CHECK_SECONDS = 1.0
logger = logging.getLogger("wfsite.live")


class Wakeup:
    """What a feed waits on between polls: a notification for its run, or the time running out."""

    def __init__(self) -> None:
        self.listening = False
        self._event = asyncio.Event()

    def set(self) -> None:
        self._event.set()

    async def wait(self, seconds: float) -> None:
        """Wait until the run changed (when listening) or `seconds` passed, whichever comes first."""
        try:
            async with asyncio.timeout(seconds):
                await self._event.wait()
        except TimeoutError:
            pass
        self._event.clear()


class Listener:
    """The LISTEN connection of one event loop, shared by every feed that runs in it."""

    def __init__(self) -> None:
        # Keyed by (channel, the row's pk as the payload spells it).
        self.wakeups: dict[tuple[str, str], set[Wakeup]] = {}
        self.task: asyncio.Task[None] | None = None
        self.connected = False

    def add(self, pk: int, wakeup: Wakeup, *, channel: str = CHANNEL) -> None:
        self.wakeups.setdefault((channel, str(pk)), set()).add(wakeup)
        wakeup.listening = self.connected
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self.run())

    def remove(self, pk: int, wakeup: Wakeup, *, channel: str = CHANNEL) -> None:
        waiting = self.wakeups.get((channel, str(pk)), set())
        waiting.discard(wakeup)
        if not waiting:
            self.wakeups.pop((channel, str(pk)), None)

    def _connected(self, connected: bool) -> None:
        self.connected = connected
        for waiting in self.wakeups.values():
            for wakeup in waiting:
                wakeup.listening = connected
                wakeup.set()  # poll now: something may have changed while nobody listened

    async def run(self) -> None:
        """Listen while any feed does; reconnect after a failure, the feeds polling meanwhile."""
        while self.wakeups:
            try:
                await self._listen()
            except Exception as error:  # the server went away; the feeds poll until it is back
                logger.warning("Live updates fall back to polling: %s", error)
                self._connected(False)
                await asyncio.sleep(RECONNECT_SECONDS)
        self._connected(False)

    async def _listen(self) -> None:
        import psycopg

        async with await psycopg.AsyncConnection.connect(**listen_params(), autocommit=True) as conn:
            for channel in CHANNELS:
                await conn.execute(f"LISTEN {channel}")
            self._connected(True)
            while self.wakeups:
                async for note in conn.notifies(timeout=CHECK_SECONDS):
                    for wakeup in self.wakeups.get((note.channel, note.payload), ()):
                        wakeup.set()
        self._connected(False)


def listen_params() -> dict[str, Any]:
    """Return how to connect to Django's PostgreSQL database, for a connection of our own."""
    params = connection.get_connection_params()
    for name in ("cursor_factory", "context", "prepare_threshold"):
        params.pop(name, None)
    return params


_listeners: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Listener] = weakref.WeakKeyDictionary()


def listener() -> Listener | None:
    """Return this event loop's Listener on PostgreSQL, None elsewhere (where feeds only poll)."""
    if connection.vendor != "postgresql":
        return None
    return _listeners.setdefault(asyncio.get_running_loop(), Listener())


@asynccontextmanager
async def listening(run_pk: int) -> AsyncIterator[Wakeup]:
    """Yield the Wakeup of run `run_pk` for as long as the block runs (woken by NOTIFY on PostgreSQL)."""
    wakeup = Wakeup()
    loop_listener = listener()
    if loop_listener is None:
        yield wakeup
        return
    loop_listener.add(run_pk, wakeup)
    try:
        yield wakeup
    finally:
        loop_listener.remove(run_pk, wakeup)
