from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.contrib.auth.models import AbstractUser
from django.test import AsyncClient
from django.urls import reverse
from django.utils import timezone

from sessions_app.models import RunEvent, WorkflowRun, WorkflowSession
from sessions_app.views import events as events_view
from sessions_app.views.events import sse_message
from tests.django_fixtures import user_with_role
from tests.waiting import await_for

pytestmark = pytest.mark.django_db(transaction=True)

XSS = '"><svg onload=alert(1)><script>alert(1)</script>'
TIMEOUT = 10


@dataclass
class Message:
    event: str = ""
    id: str | None = None
    data: str = ""
    comment: bool = False


def parse(text: str) -> list[Message]:
    """Parse an event stream the way the browser's hx-sse parser does."""
    messages = []
    for block in text.split("\n\n"):
        if not block:
            continue
        message, data = Message(), []
        for line in block.split("\n"):
            if line.startswith(":"):
                message.comment = True
                continue
            field, _, value = line.partition(": ")
            if field == "data":
                data.append(value)
            elif field == "event":
                message.event = value
            elif field == "id":
                message.id = value
        message.data = "\n".join(data)
        messages.append(message)
    return messages


@pytest.fixture
def user(django_user_model: type[AbstractUser]) -> AbstractUser:
    return user_with_role(django_user_model, "watcher", "viewer")


def make_run(status: str = "succeeded", events: tuple[tuple[str, str], ...] = ()) -> WorkflowRun:
    session = WorkflowSession.objects.create(session_id="s1", workflow="BlogPostGenerator")
    now = timezone.now()
    run = WorkflowRun.objects.create(
        session=session,
        workflow="BlogPostGenerator",
        status=status,
        started_at=now if status != "queued" else None,
        heartbeat_at=now if status != "queued" else None,
        finished_at=now if status in ("succeeded", "failed") else None,
    )
    add_events(run, 1, *events)
    return run


def add_events(run: WorkflowRun, first: int, *events: tuple[str, str]) -> None:
    RunEvent.objects.bulk_create(
        RunEvent(run=run, seq=seq, event=event, content=content)
        for seq, (event, content) in enumerate(events, first)
    )


def stream(
    user: AbstractUser | None,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    on_message: Callable[[Message], Awaitable[None]] | None = None,
) -> tuple[Any, list[Message]]:
    """GET the event stream and read it to its end; `on_message` runs after each message."""

    async def read() -> tuple[Any, list[Message]]:
        client = AsyncClient()
        if user is not None:
            await client.aforce_login(user)
        response = await client.get(url, headers=headers or {})
        if not response.streaming:
            return response, []
        messages: list[Message] = []
        buffer = ""
        async for chunk in response.streaming_content:
            buffer += chunk.decode() if isinstance(chunk, bytes) else chunk
            *complete, buffer = buffer.split("\n\n")
            for block in complete:
                for message in parse(block + "\n\n"):
                    messages.append(message)
                    if on_message is not None:
                        await on_message(message)
        return response, messages

    async def bounded() -> tuple[Any, list[Message]]:
        return await asyncio.wait_for(read(), TIMEOUT)

    return async_to_sync(bounded)()


def test_events_in_order_then_the_end(user: AbstractUser) -> None:
    run = make_run(
        events=(
            ("ResearchStarted", "Research started."),
            ("RunResponse", "# Title\n\nHello "),
            ("RunResponse", "world"),
            ("WorkflowCompleted", "# Title\n\nHello world"),
        )
    )

    response, messages = stream(user, reverse("run_events", args=[run.run_id]))

    assert response["Content-Type"] == "text/event-stream"
    assert response["Cache-Control"] == "no-cache"
    assert response["X-Accel-Buffering"] == "no"
    assert [m.id for m in messages[:4]] == ["1", "2", "3", "4"]
    step, first_chunk, second_chunk, completed = messages[:4]
    assert step.data.startswith('<hx-partial hx-target="#run-steps" hx-swap="beforeend">')
    assert "ResearchStarted" in step.data
    assert "Research started." in step.data
    # The heading is complete once the paragraph starts: appended once; the paragraph is the open tail.
    assert first_chunk.data == (
        '<hx-partial hx-target="#run-blocks" hx-swap="beforeend"><h1>Title</h1>\n</hx-partial>'
        '<hx-partial hx-target="#run-tail" hx-swap="innerHTML"><p>Hello</p>\n</hx-partial>'
    )
    assert second_chunk.data == (
        '<hx-partial hx-target="#run-tail" hx-swap="innerHTML"><p>Hello world</p>\n</hx-partial>'
    )
    assert '<hx-partial hx-target="#run-post" hx-swap="innerHTML">' in completed.data
    assert "<h1>Title</h1>" in completed.data
    status, final, done = messages[4:]
    assert status.id is None
    assert 'hx-target="#run-status"' in status.data
    assert "succeeded" in status.data
    assert final.id is None
    assert 'hx-target="#run-post"' in final.data
    assert "<h1>Title</h1>" in final.data
    assert (done.event, done.data) == ("done", "succeeded")


def test_resume_after_last_event_id(user: AbstractUser) -> None:
    run = make_run(events=(("ResearchStarted", "one"), ("WritingStarted", "two"), ("RunResponse", "three")))
    url = reverse("run_events", args=[run.run_id])

    _, by_header = stream(user, url, headers={"Last-Event-ID": "2"})
    _, by_query = stream(user, url + "?last_event_id=2")
    _, header_wins = stream(user, url + "?last_event_id=0", headers={"Last-Event-ID": "2"})
    _, blank = stream(user, url, headers={"Last-Event-ID": " "})

    for messages in (by_header, by_query, header_wins):
        assert [m.id for m in messages if m.id] == ["3"]
        assert messages[-1].event == "done"
    assert [m.id for m in blank if m.id] == ["1", "2", "3"]


@pytest.mark.parametrize(
    ("headers", "query", "shown"),
    [
        ({"Last-Event-ID": "9" * 5000}, "", "The Last-Event-ID header must be the id of an event"),
        ({"Last-Event-ID": str(2**31)}, "", "a whole number from 0 to 2147483647"),
        ({"Last-Event-ID": "²"}, "", "in ASCII digits, not '²'"),
        ({}, "?last_event_id=%D9%A1%D9%A2%D9%A3", "?last_event_id= must be the id of an event"),
        ({"Last-Event-ID": "abc"}, "", "not 'abc'"),
        ({"Last-Event-ID": "-1"}, "", "not '-1'"),
    ],
    ids=["5000-digits", "past-32-bits", "superscript", "arabic-indic-digits", "letters", "negative"],
)
def test_a_bad_last_event_id_is_answered_400_with_the_reason(
    user: AbstractUser, headers: dict[str, str], query: str, shown: str
) -> None:
    run = make_run(events=(("ResearchStarted", "one"),))

    response, messages = stream(user, reverse("run_events", args=[run.run_id]) + query, headers=headers)

    assert response.status_code == 400
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert shown in response.content.decode()
    assert messages == []


def test_live_run_streams_until_it_ends(user: AbstractUser) -> None:
    run = make_run(status="running", events=(("ResearchStarted", "Research started."),))

    def finish() -> None:
        add_events(run, 2, ("RunResponse", "late text"), ("WorkflowCompleted", "late text"))
        WorkflowRun.objects.filter(pk=run.pk).update(status="succeeded", finished_at=timezone.now())

    async def on_message(message: Message) -> None:
        if message.id == "1":
            await sync_to_async(finish)()

    _, messages = stream(user, reverse("run_events", args=[run.run_id]), on_message=on_message)

    assert [m.id for m in messages if m.id] == ["1", "2", "3"]
    statuses = [m.data for m in messages if 'hx-target="#run-status"' in m.data]
    assert "running" in statuses[0]
    assert "succeeded" in statuses[-1]
    assert messages[-1].event == "done"
    assert "late text" in next(m.data for m in messages if m.id == "2")


def test_queued_run_sends_keepalives_while_waiting(
    user: AbstractUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events_view, "HEARTBEAT_SECONDS", 0.05)
    run = make_run(status="queued")
    seen: list[Message] = []

    async def on_message(message: Message) -> None:
        seen.append(message)
        if message.comment and sum(m.comment for m in seen) == 2:
            await sync_to_async(WorkflowRun.objects.filter(pk=run.pk).update)(status="cancelled")

    _, messages = stream(user, reverse("run_events", args=[run.run_id]), on_message=on_message)

    # Keepalives may come first on a slow machine: the feed's first read takes longer than 50 ms.
    assert "Waiting for a worker" in next(m.data for m in messages if not m.comment)
    assert sum(m.comment for m in messages) >= 2
    assert (messages[-1].event, messages[-1].data) == ("done", "cancelled")


def test_text_is_escaped(user: AbstractUser) -> None:
    run = make_run(
        status="failed",
        events=(
            ("RunResponse", XSS),
            ("ResearchStep", XSS),
            ("RunFailed", XSS),
            ("</hx-partial><hx-partial>", XSS),
        ),
    )

    _, messages = stream(user, reverse("run_events", args=[run.run_id]))

    text = "".join(m.data for m in messages)
    assert "<svg" not in text
    assert "<script" not in text
    assert "&lt;svg onload=alert(1)&gt;" in text
    assert text.count("<hx-partial") == text.count("</hx-partial>")
    assert "&lt;/hx-partial&gt;" in text


def test_anonymous_and_unknown_runs(user: AbstractUser) -> None:
    run = make_run()

    anonymous, _ = stream(None, reverse("run_events", args=[run.run_id]))
    unknown, _ = stream(user, reverse("run_events", args=["00000000-0000-0000-0000-000000000000"]))

    assert anonymous.status_code == 403
    assert unknown.status_code == 404


def test_sse_message_format() -> None:
    assert sse_message("a\nb\r\nc\rd", seq=7) == "id: 7\ndata: a\ndata: b\ndata: c\ndata: d\n\n"
    assert sse_message("x", event="done") == "event: done\ndata: x\n\n"
    assert sse_message("") == "data: \n\n"
    assert sse_message("line\u2028sep") == "data: line\u2028sep\n\n"


def test_many_streams_of_one_run_share_one_feed_and_each_get_every_event_once() -> None:
    from sessions_app.live import feeds

    run = make_run(status="running", events=(("ResearchStarted", "go"),))
    polls = 0
    real_since = feeds.events_since

    def counting_since(**kwargs: Any) -> list[RunEvent]:
        nonlocal polls
        polls += 1
        return real_since(**kwargs)

    async def writer() -> None:
        for seq in range(2, 12):
            await sync_to_async(add_events)(run, seq, ("RunResponse", f"chunk {seq}"))
            await asyncio.sleep(0.02)
        await WorkflowRun.objects.filter(pk=run.pk).aupdate(status="succeeded", finished_at=timezone.now())

    async def reader() -> list[str]:
        return [
            m if isinstance(m, str) else m.decode() async for m in events_view.event_stream(run, after_seq=0)
        ]

    async def main() -> tuple[list[list[str]], int]:
        readers = [asyncio.create_task(reader()) for _ in range(8)]

        # Eight streams, one poller.
        def watching() -> int:
            return sum(feed.watchers for feed in feeds._feeds.values())

        await await_for(lambda: watching() == 8, what="the eight streams to watch")
        assert len(feeds._feeds) == 1
        await writer()
        outputs = await asyncio.wait_for(asyncio.gather(*readers), 20)
        return outputs, len(feeds._feeds)

    feeds.events_since = counting_since
    try:
        outputs, left = async_to_sync(main)()
    finally:
        feeds.events_since = real_since

    assert left == 0  # the feed went away with its last watcher
    for output in outputs:
        ids = [m.id for m in parse("".join(output)) if m.id]
        assert ids == [str(seq) for seq in range(1, 12)]
        assert parse("".join(output))[-1].event == "done"
    # One poller, not eight: about one read per poll interval while the writer ran (8 pollers: 40+).
    assert polls < 20
