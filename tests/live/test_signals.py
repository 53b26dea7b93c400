"""A session's change signal: it moves when a run starts, is claimed or ends and when the state is written, not
otherwise; its streams share one reader, hold no connection, and are woken by NOTIFY on PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.contrib.auth.models import AbstractUser
from django.db import connection
from django.db.backends.signals import connection_created
from django.db.models import F
from django.test import AsyncClient
from django.urls import reverse
from django.utils import timezone
from django_tasks import default_task_backend

from sessions_app.live import signals
from sessions_app.models import RunEvent, WorkflowRun, WorkflowSession
from sessions_app.selectors.sessions import session_signatures
from sessions_app.services.run_worker import run_execute
from sessions_app.services.runs import run_start
from sessions_app.services.state import session_state_edit
from sessions_app.state.store import state_load
from sessions_app.views import live as live_view
from tests.django_fixtures import user_with_role
from tests.waiting import await_for

pytestmark = pytest.mark.django_db(transaction=True)
TIMEOUT = 20


@pytest.fixture(autouse=True)
def quick(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    monkeypatch.setenv("WFSITE_OFFLINE_DELAY", "0")
    monkeypatch.setattr(signals, "ACTIVE_POLL_SECONDS", 0.02)
    monkeypatch.setattr(signals, "IDLE_POLL_SECONDS", 0.05)
    default_task_backend.clear()
    yield
    default_task_backend.clear()


@pytest.fixture
def editor(django_user_model: type[AbstractUser]) -> AbstractUser:
    return user_with_role(django_user_model, "eda", "editor")


def make_session(session_id: str = "live s1") -> WorkflowSession:
    return WorkflowSession.objects.create(session_id=session_id, workflow="BlogPostGenerator")


def token(session: WorkflowSession) -> str:
    return session_signatures(pks=[session.pk])[session.pk].token


def test_the_signature_moves_on_run_start_claim_end_and_state_writes_only(editor: AbstractUser) -> None:
    session = make_session()
    seen = [token(session)]

    def moved() -> bool:
        seen.append(token(session))
        return seen[-1] != seen[-2]

    WorkflowSession.objects.filter(pk=session.pk).update(name="renamed")
    assert not moved()  # what the live sections show did not change

    run = run_start(session=session, inputs={"topic": "Signals"}, user=editor)
    assert moved()  # started: queued
    assert session_signatures(pks=[session.pk])[session.pk].active

    second = WorkflowRun.objects.create(session=session, workflow=session.workflow)
    assert moved()  # a second run queued (the count moved)
    run.mark_running()
    assert moved()  # claimed
    RunEvent.objects.create(run=run, seq=1, event="RunResponse", content="chunk")
    WorkflowRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now())
    assert not moved()  # events and heartbeats are the run page's business

    # The second is claimed while the first runs: the last run status stays "running", yet it moves.
    second.mark_running()
    assert moved()
    second.mark_finished(WorkflowRun.Status.FAILED, error="x")
    assert moved()

    WorkflowRun.objects.filter(pk=run.pk).update(status=WorkflowRun.Status.QUEUED)
    run_execute(run_id=str(run.run_id))
    assert moved()  # ended: succeeded, the post cached
    assert not session_signatures(pks=[session.pk])[session.pk].active

    session.refresh_from_db()
    session_state_edit(
        session=session,
        new_state={**state_load(session), "note": "x"},
        base_version=session.version,
        actor=editor,
    )
    assert moved()  # another writer changed the state
    assert not moved()


def test_signatures_of_many_sessions_take_two_queries(django_assert_num_queries: Any) -> None:
    sessions = [make_session(f"s{n}") for n in range(5)]
    WorkflowRun.objects.create(session=sessions[0], workflow="BlogPostGenerator")
    with django_assert_num_queries(2):
        found = session_signatures(pks=[s.pk for s in sessions] + [10**9])
    assert set(found) == {s.pk for s in sessions}
    assert [found[s.pk].active for s in sessions] == [True, False, False, False, False]


async def read_messages(stream: AsyncIterator[str], until: Any) -> list[str]:
    """Read the stream's writes until `until(writes)` says so."""
    writes: list[str] = []
    async for write in stream:
        writes.append(write)
        if until(writes):
            break
    return writes


def changed(writes: list[str]) -> list[str]:
    return [line for write in writes for line in write.split("\n") if line.startswith("event: changed-")]


async def stopped() -> None:
    """Wait until the loop's watcher has stopped and given its connection back, as it does once nobody watches."""
    task = signals.loop_signals().task
    if task is not None:
        await asyncio.wait_for(task, TIMEOUT)


def test_the_stream_says_changed_once_per_change_and_only_then(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live_view, "HEARTBEAT_SECONDS", 0.05)
    session, other = make_session(), make_session("other")
    since = {session.pk: token(session), other.pk: token(other)}

    async def main() -> list[str]:
        stream = live_view.change_stream(since)
        writes: list[str] = []
        keepalives = after_change = 0
        async for write in stream:
            writes.append(write)
            keepalives += write.startswith(":")
            if keepalives == 3 and not changed(writes):
                await sync_to_async(WorkflowRun.objects.create)(session=session, workflow=session.workflow)
            after_change += bool(changed(writes)) and write.startswith(":")
            if after_change >= 10:
                break
        await stream.aclose()
        await stopped()
        return writes

    writes = async_to_sync(main)()
    # Once, though it kept listening for ten keepalives more, and never for the other session.
    assert changed(writes) == [f"event: changed-{session.pk}"]


def test_a_page_rendered_before_a_change_hears_of_it_at_once() -> None:
    session = make_session()
    old = token(session)
    WorkflowRun.objects.create(session=session, workflow=session.workflow)

    async def main() -> list[str]:
        stream = live_view.change_stream({session.pk: old})
        writes = await asyncio.wait_for(read_messages(stream, changed), TIMEOUT)
        await stream.aclose()
        await stopped()
        return writes

    assert changed(async_to_sync(main)()) == [f"event: changed-{session.pk}"]


opened: list[str] = []


def count_connects(sender: Any, **kwargs: Any) -> None:
    opened.append(threading.current_thread().name)


def backends_opened() -> int:
    """Connections opened to the server so far: the pool's count on PostgreSQL, Django's on SQLite."""
    pool = getattr(connection, "pool", None)
    if pool is not None:
        return int(pool.get_stats().get("connections_num", 0))
    return len(opened)


def test_many_streams_share_one_reader_and_hold_no_connection(
    django_user_model: type[AbstractUser], monkeypatch: pytest.MonkeyPatch
) -> None:
    user = user_with_role(django_user_model, "vic", "viewer")
    session = make_session()
    url = f"{reverse('session_changes')}?s={session.pk}.{token(session)}"
    released: list[bool] = []
    real_release = signals.release_connection
    monkeypatch.setattr(signals, "release_connection", lambda s: (released.append(True), real_release(s)))
    reads_at_start = 0

    async def one_stream(client: AsyncClient) -> list[str]:
        response = await client.get(url)
        assert response.status_code == 200
        assert response["Content-Type"] == "text/event-stream"
        got: list[str] = []
        async for chunk in response.streaming_content:
            got.append(chunk.decode() if isinstance(chunk, bytes) else chunk)
            if changed(got):
                break
        await response._iterator.aclose()  # the browser leaves: the server closes the stream
        return got

    async def main() -> tuple[list[list[str]], int, int]:
        nonlocal reads_at_start
        client = AsyncClient()
        await client.aforce_login(user)
        readers = [asyncio.create_task(one_stream(client)) for _ in range(10)]
        await await_for(
            lambda: signals.loop_signals().watched[session.pk] == 10, what="every stream watching"
        )
        watched = signals.loop_signals().watched[session.pk]
        reads_at_start = signals.loop_signals().reads
        await sync_to_async(WorkflowRun.objects.create)(session=session, workflow=session.workflow)
        outputs = await asyncio.wait_for(asyncio.gather(*readers), TIMEOUT)
        await await_for(lambda: released, what="the reader to give its connection back")
        return outputs, watched, signals.loop_signals().reads - reads_at_start

    connection_created.connect(count_connects)
    before = backends_opened()
    try:
        outputs, watched, reads = async_to_sync(main)()
    finally:
        connection_created.disconnect(count_connects)

    assert watched == 10  # ten streams, one watcher
    assert all(changed(output) == [f"event: changed-{session.pk}"] for output in outputs)
    # Ten streams, yet at most the reader's connection (kept from read to read) and the requests' one.
    assert backends_opened() - before <= 2
    assert sum(name.startswith("wfsite-signals") for name in opened) <= 1
    assert released  # and given back once the last stream left
    assert reads < 200  # one reader polling, not ten


def test_postgresql_wakes_the_watcher_at_once_and_sqlite_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    listens = connection.vendor == "postgresql"
    # Listening, the watcher's own timers are far too slow to explain a prompt delivery.
    monkeypatch.setattr(signals, "ACTIVE_POLL_SECONDS", 30.0 if listens else 0.05)
    monkeypatch.setattr(signals, "IDLE_POLL_SECONDS", 30.0 if listens else 0.05)
    monkeypatch.setattr(signals, "FALLBACK_SECONDS", 30.0)
    session = make_session()

    async def main() -> tuple[float, bool]:
        async with signals.watching([session.pk]) as watcher:
            first = await watcher.next(seen=0, timeout=10)
            assert first is not None
            # The listener connects on its own task.
            await await_for(lambda: watcher.wakeup.listening == listens, what="the listener to connect")
            await asyncio.sleep(0.2)  # the read that connecting triggered is over
            began = time.monotonic()
            await sync_to_async(WorkflowRun.objects.create)(session=session, workflow=session.workflow)
            assert await watcher.next(seen=watcher.generation, timeout=10) is not None
            # Another writer changes the state: that wakes it too.
            await WorkflowSession.objects.filter(pk=session.pk).aupdate(version=F("version") + 1)
            assert await watcher.next(seen=watcher.generation, timeout=10) is not None
            return time.monotonic() - began, watcher.wakeup.listening

    elapsed, listening = async_to_sync(main)()
    assert listening == listens
    assert elapsed < 10


def test_an_idle_watcher_backs_off_and_an_active_one_keeps_pace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(signals, "ACTIVE_POLL_SECONDS", 0.5)
    monkeypatch.setattr(signals, "IDLE_POLL_SECONDS", 5.0)
    watcher = signals.SessionSignals()
    now = time.monotonic()
    assert watcher._pause(quiet_since=now) == 0.5
    assert watcher._pause(quiet_since=now - 2) == pytest.approx(2, abs=0.1)
    assert watcher._pause(quiet_since=now - 60) == 5.0
    watcher.signatures[1] = signals.Signature(token="t", active=True)
    assert watcher._pause(quiet_since=now - 60) == 0.5
    watcher.wakeup.listening = True
    assert watcher._pause(quiet_since=now) == signals.FALLBACK_SECONDS


def test_the_stream_refuses_what_is_not_a_session_and_token(django_user_model: type[AbstractUser]) -> None:
    viewer = user_with_role(django_user_model, "val", "viewer")
    nobody = user_with_role(django_user_model, "nob", None)

    async def get(user: AbstractUser | None, query: str) -> int:
        client = AsyncClient()
        if user is not None:
            await client.aforce_login(user)
        return (await client.get(reverse("session_changes") + query)).status_code

    async def main() -> list[int]:
        return [
            await get(None, "?s=1.ab"),
            await get(nobody, "?s=1.ab"),
            await get(viewer, ""),
            await get(viewer, "?s=<script>"),
            await get(viewer, "?s=1.xyz"),
            await get(viewer, "?" + "&".join(f"s={n}" for n in range(live_view.MAX_SESSIONS + 1))),
        ]

    assert async_to_sync(main)() == [403, 403, 400, 400, 400, 400]


def test_an_idle_page_costs_few_reads_however_many_watch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(signals, "ACTIVE_POLL_SECONDS", 0.5)  # the defaults
    monkeypatch.setattr(signals, "IDLE_POLL_SECONDS", 5.0)
    monkeypatch.setattr(signals, "FALLBACK_SECONDS", 15.0)
    session = make_session()
    since = {session.pk: token(session)}
    watching_for = 4.0

    async def one_stream() -> list[str]:
        stream = live_view.change_stream(since)
        writes: list[str] = []
        try:
            async with asyncio.timeout(watching_for):
                async for write in stream:
                    writes.append(write)
        except TimeoutError:
            pass
        await stream.aclose()
        await stopped()
        return writes

    async def main() -> tuple[int, list[list[str]]]:
        before = signals.loop_signals().reads
        outputs = await asyncio.gather(*(one_stream() for _ in range(50)))
        return signals.loop_signals().reads - before, outputs

    reads, outputs = async_to_sync(main)()
    # Fifty pages open for four seconds on an idle session: reads at 0, 0.5, 1, 2 and 4 s or so
    # (two queries each), not fifty pages' worth, and nothing sent to any of them.
    assert 1 <= reads <= 6
    assert not any(changed(output) for output in outputs)


def test_a_failed_read_is_tried_again_and_the_streams_carry_on(monkeypatch: pytest.MonkeyPatch) -> None:
    session = make_session()
    old = token(session)
    WorkflowRun.objects.create(session=session, workflow=session.workflow)
    failures = [RuntimeError("the database went away")]
    real = signals.session_signatures

    def flaky(**kwargs: Any) -> Any:
        if failures:
            raise failures.pop()
        return real(**kwargs)

    monkeypatch.setattr(signals, "session_signatures", flaky)

    async def main() -> list[str]:
        stream = live_view.change_stream({session.pk: old})
        writes = await asyncio.wait_for(read_messages(stream, changed), TIMEOUT)
        await stream.aclose()
        await stopped()
        return writes

    assert changed(async_to_sync(main)()) == [f"event: changed-{session.pk}"]
    assert not failures
