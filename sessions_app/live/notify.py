"""Wake a run's feed when the run changes: PostgreSQL notifications, or a plain timer elsewhere."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


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


@asynccontextmanager
async def listening(run_pk: int) -> AsyncIterator[Wakeup]:
    """Yield the Wakeup of run `run_pk` for as long as the block runs."""
    yield Wakeup()
