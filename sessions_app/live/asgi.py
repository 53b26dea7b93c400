"""Run the event streams' requests on a few shared threads instead of a thread each.

Django gives every ASGI request a thread of its own for its sync work (each middleware's hooks,
the session and user reads) and keeps it until the response ends, which for an event stream is
when the run ends: a thousand watchers would hold a thousand idle threads, and a thousand
database connections opened one per thread. `StreamRequests` puts the requests of
`/runs/<id>/events/` (and the session change streams, `/live/sessions/`) in a `ThreadSensitiveContext` whose executor is one of a few single threads
shared by all of them, so they cost no thread of their own. Their sync work is short (a few queries
before the stream starts), and the feeds read the database on a thread of their own. There are
STREAM_THREADS such threads, taken in turn, so that one request's database round trips do not
hold up every other stream's start.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import ThreadSensitiveContext

Scope = MutableMapping[str, Any]
# (scope, receive, send): Django's handler types receive and send more narrowly, hence the dots.
ASGIApp = Callable[..., Awaitable[None]]

STREAM_PATH = re.compile(r"/runs/[^/]+/events/$|/live/sessions/$")
STREAM_THREADS = 8
# Each executor runs one call at a time on one thread, as a ThreadSensitiveContext requires.
_STREAM_THREADS = itertools.cycle(
    [
        ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"wfsite-streams-{n}")
        for n in range(STREAM_THREADS)
    ]
)


def is_stream(scope: Scope) -> bool:
    """Whether the request is for a run's event stream."""
    return scope.get("type") == "http" and STREAM_PATH.search(scope.get("path", "")) is not None


class StreamRequests:
    """ASGI middleware: the event streams' sync work on shared threads; other requests unchanged."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if not is_stream(scope):
            await self.app(scope, receive, send)
            return
        async with ThreadSensitiveContext(executor=next(_STREAM_THREADS)):
            await self.app(scope, receive, send)
