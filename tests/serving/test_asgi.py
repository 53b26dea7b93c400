"""The ASGI handler: a sync view's middleware runs in one thread hop, an async view stays on the loop."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import asgiref.sync
import pytest
from django.contrib.auth.decorators import login_not_required
from django.core.handlers.asgi import ASGIHandler
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.urls import path

from sessions_app.serving.asgi import VIEW_THREADS, SyncViewsASGIHandler, view_is_async

seen: dict[str, bool] = {}


@login_not_required
def sync_view(request: HttpRequest) -> HttpResponse:
    seen["sync view on the loop's thread"] = threading.current_thread() is threading.main_thread()
    return HttpResponse("sync")


@login_not_required
def db_view(request: HttpRequest) -> HttpResponse:
    connection.ensure_connection()
    threads.append(threading.current_thread().name)
    connection_ids.add(id(connection.connection))
    return HttpResponse("db")


@login_not_required
async def async_view(request: HttpRequest) -> HttpResponse:
    seen["async view on the loop's thread"] = threading.current_thread() is threading.main_thread()
    return HttpResponse("async")


threads: list[str] = []
connection_ids: set[int] = set()
urlpatterns = [path("sync/", sync_view), path("async/", async_view), path("db/", db_view)]


def call(app: ASGIHandler, url: str) -> tuple[int, bytes]:
    """Send one GET through the ASGI app on an event loop in this (the main) thread."""
    return asyncio.run(request(app, url))


async def request(app: ASGIHandler, url: str) -> tuple[int, bytes]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": url,
        "raw_path": url.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
    }
    sent: list[dict[str, Any]] = []
    bodies = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive() -> dict[str, Any]:
        if bodies:
            return bodies.pop()
        await asyncio.sleep(3600)  # the client never disconnects early
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


@pytest.fixture
def test_urls(settings: Any) -> None:
    settings.ROOT_URLCONF = __name__
    seen.clear()
    threads.clear()
    connection_ids.clear()


def count_thread_hops(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count every sync_to_async call made from now on (each is a hop to a thread and back)."""
    hops = [0]
    real = asgiref.sync.SyncToAsync.__call__

    async def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        hops[0] += 1
        return await real(self, *args, **kwargs)

    monkeypatch.setattr(asgiref.sync.SyncToAsync, "__call__", counted)
    return hops


@pytest.mark.usefixtures("test_urls")
def test_a_sync_view_runs_its_middleware_in_far_fewer_hops(monkeypatch: pytest.MonkeyPatch) -> None:
    ours, djangos = SyncViewsASGIHandler(), ASGIHandler()
    hops = count_thread_hops(monkeypatch)
    assert call(ours, "/sync/") == (200, b"sync")
    our_hops, hops[0] = hops[0], 0
    assert call(djangos, "/sync/") == (200, b"sync")
    assert seen["sync view on the loop's thread"] is False
    # Django's adds a hop per hook of each of the site's middleware; ours runs them in one.
    assert our_hops * 2 < hops[0], (our_hops, hops[0])


@pytest.mark.usefixtures("test_urls")
def test_an_async_view_stays_on_the_event_loop() -> None:
    assert view_is_async("/async/")
    assert not view_is_async("/sync/")
    assert not view_is_async("/no/such/page/")
    assert call(SyncViewsASGIHandler(), "/async/") == (200, b"async")
    assert seen["async view on the loop's thread"] is True


@pytest.mark.usefixtures("test_urls")
def test_a_page_no_view_matches_is_still_a_404() -> None:
    assert call(SyncViewsASGIHandler(), "/no/such/page/")[0] == 404


@pytest.mark.usefixtures("test_urls", "shared_db")
def test_sync_views_reuse_a_few_threads_and_their_connections() -> None:
    app = SyncViewsASGIHandler()

    async def many() -> list[tuple[int, bytes]]:
        # Ten at a time, twice over: more requests than threads, so some wait for one.
        first = await asyncio.gather(*(request(app, "/db/") for _ in range(10)))
        return first + list(await asyncio.gather(*(request(app, "/db/") for _ in range(10))))

    assert asyncio.run(many()) == [(200, b"db")] * 20
    assert all(name.startswith("view-") for name in threads), threads
    assert len(set(threads)) <= VIEW_THREADS
    # SQLite's settings keep connections (CONN_MAX_AGE); PostgreSQL's close them after each request.
    if connection.settings_dict["CONN_MAX_AGE"]:
        assert len(connection_ids) <= VIEW_THREADS, "each thread keeps its connection"
