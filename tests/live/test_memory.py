"""When a process's last live stream has gone, its memory is given back; not while streams go on."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from django.utils import timezone

from sessions_app.live import feeds, memory
from sessions_app.models import WorkflowRun, WorkflowSession
from sessions_app.views.events import RunMessages
from tests.waiting import await_for


def test_give_back_waits_and_checks_again(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(memory, "give_back", lambda: calls.append("gave back"))
    idle = {"now": True}
    checks: list[bool] = []

    def is_idle() -> bool:
        checks.append(idle["now"])
        return idle["now"]

    async def main() -> None:
        memory.give_back_when_idle(is_idle, after=0.05)
        assert checks == []  # it waits before it checks
        await await_for(lambda: calls, what="the memory to be given back")
        idle["now"] = False  # a stream came back before the next check
        memory.give_back_when_idle(is_idle, after=0.05)
        await await_for(lambda: len(checks) == 2, what="the second check")

    async_to_sync(main)()

    assert checks == [True, False]
    assert calls == ["gave back"]


def test_give_back_runs_here() -> None:
    memory.give_back()  # glibc's malloc_trim where there is one; a collection everywhere


@pytest.mark.django_db(transaction=True)
def test_the_last_feed_leaving_gives_memory_back(monkeypatch: pytest.MonkeyPatch) -> None:
    scheduled: list[bool] = []
    monkeypatch.setattr(memory, "give_back_when_idle", lambda idle: scheduled.append(idle()))
    session = WorkflowSession.objects.create(session_id="memory", workflow="BlogPostGenerator")
    now = timezone.now()
    runs = [
        WorkflowRun.objects.create(
            session=session, workflow="BlogPostGenerator", status="running", started_at=now, heartbeat_at=now
        )
        for _ in range(2)
    ]

    async def main() -> list[bool]:
        async with feeds.watch(runs[0], RunMessages) as first:
            async with feeds.watch(runs[1], RunMessages) as second:
                await second.next(seen=0, after_seq=0, timeout=10)
            await second.task
            seen_while_first_runs = list(scheduled)
            await first.next(seen=0, after_seq=0, timeout=10)
        await first.task
        return seen_while_first_runs

    while_one_is_left = async_to_sync(main)()

    assert while_one_is_left == []
    assert scheduled == [True]
