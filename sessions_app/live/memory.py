"""Give the memory that finished streams used back to the operating system.

A thousand streams leave behind freed objects that Python's allocator and glibc's `malloc` keep
for reuse, so the process stays as large as its busiest moment. When a web process has no live
stream left (checked again a moment later, so a burst of reconnects does not pay for it), this
collects cycles and asks glibc to return its free pages (`malloc_trim`). Elsewhere than glibc
it only collects.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
from collections.abc import Callable

SETTLE_SECONDS = 2.0


def _trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None


_malloc_trim = _trim()


def give_back() -> None:
    """Collect garbage cycles and return free heap pages to the system."""
    gc.collect()
    if _malloc_trim is not None:
        _malloc_trim(0)


def give_back_when_idle(idle: Callable[[], bool], *, after: float = SETTLE_SECONDS) -> None:
    """Call `give_back` in `after` seconds if `idle()` still says no stream is live."""
    loop = asyncio.get_running_loop()
    loop.call_later(after, lambda: give_back() if idle() else None)
