"""Wait for a condition, never for a fixed time: the one helper every test that waits uses.

A test that sleeps a fixed time guesses how fast the machine is, and on a busy two-core machine
guesses wrong. These poll the condition often and give up only after a generous deadline, so a
passing test returns as soon as the condition holds and a failing one says what it waited for.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

# Generous: on a loaded two-core machine a subprocess can take tens of seconds to get going.
WAIT_SECONDS = 60.0


def wait_for(
    condition: Callable[[], Any],
    *,
    what: str,
    timeout: float = WAIT_SECONDS,
    every: float = 0.05,
    detail: Callable[[], str] | None = None,
) -> Any:
    """Return condition()'s first truthy value; fail the test after `timeout` seconds.

    `condition` may itself fail the test (say, when a process it waits on has exited); `detail`
    adds what to show on a timeout, such as a log.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            more = f"\n{detail()}" if detail is not None else ""
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}{more}", pytrace=False)
        time.sleep(every)


async def await_for(
    condition: Callable[[], Any], *, what: str, timeout: float = WAIT_SECONDS, every: float = 0.01
) -> Any:
    """`wait_for` inside an event loop: poll without blocking the loop's other tasks."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}", pytrace=False)
        await asyncio.sleep(every)
