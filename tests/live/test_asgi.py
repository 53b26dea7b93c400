"""Event-stream requests run their sync work on a few shared threads; other requests keep Django's own."""

from __future__ import annotations

import threading
from typing import Any

from asgiref.sync import ThreadSensitiveContext, async_to_sync, sync_to_async

from sessions_app.live.asgi import STREAM_THREADS, StreamRequests, is_stream


def test_stream_requests_share_one_thread_and_pages_get_their_own() -> None:
    threads: dict[str, str] = {}

    async def django_like(scope: dict[str, Any], receive: Any, send: Any) -> None:
        # Django's ASGIHandler enters a ThreadSensitiveContext per request, as here.
        async with ThreadSensitiveContext():
            threads[scope["path"]] = await sync_to_async(lambda: threading.current_thread().name)()

    app = StreamRequests(django_like)

    streams = [f"/runs/{n}/events/" for n in range(3 * STREAM_THREADS)]

    async def main() -> None:
        for path in [*streams, "/runs/a/", "/sessions/x/events/y/"]:
            await app({"type": "http", "path": path}, None, None)

    async_to_sync(main)()

    shared = {threads[path] for path in streams}
    assert len(shared) == STREAM_THREADS  # a few shared threads, taken in turn
    assert all(name.startswith("wfsite-streams") for name in shared)
    assert not threads["/runs/a/"].startswith("wfsite-streams")
    assert not threads["/sessions/x/events/y/"].startswith("wfsite-streams")


def test_only_http_requests_for_a_run_stream_count_as_streams() -> None:
    assert is_stream({"type": "http", "path": "/runs/0b1f/events/"})
    assert is_stream({"type": "http", "path": "/prefix/runs/0b1f/events/"})
    assert not is_stream({"type": "http", "path": "/runs/0b1f/events/extra"})
    assert not is_stream({"type": "websocket", "path": "/runs/0b1f/events/"})
    assert not is_stream({"type": "lifespan"})


def test_the_site_serves_through_it() -> None:
    from wfsite.asgi import application

    assert isinstance(application, StreamRequests)
