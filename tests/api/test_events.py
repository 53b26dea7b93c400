"""A run's events through the API: server-sent JSON objects with ids, status and done messages,
resumed with Last-Event-ID; a token revoked while its stream is open is refused on the next request."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.test import AsyncClient
from django.urls import reverse
from django.utils import timezone

from sessions_app.api import events as events_api
from sessions_app.models import ApiToken, RunEvent, WorkflowRun, WorkflowSession
from sessions_app.services.api_tokens import api_token_create, api_token_revoke
from tests.django_fixtures import user_with_role

pytestmark = pytest.mark.django_db(transaction=True)
TIMEOUT = 15


def parse(block: str) -> dict[str, Any]:
    """Return one SSE message as {"id", "data" (parsed JSON), "comment"}."""
    message: dict[str, Any] = {"id": None, "data": None, "comment": False}
    for line in block.split("\n"):
        if line.startswith(":"):
            message["comment"] = True
        elif line.startswith("id: "):
            message["id"] = line[4:]
        elif line.startswith("data: "):
            message["data"] = json.loads(line[6:])
    return message


def stream(
    token: str | None,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    on_message: Callable[[dict[str, Any]], Awaitable[None]] | None = None,
) -> tuple[Any, list[dict[str, Any]]]:
    """GET the stream and read it to its end; `on_message` runs after each message."""

    async def read() -> tuple[Any, list[dict[str, Any]]]:
        auth = {"Authorization": f"Bearer {token}"} if token else {}
        response = await AsyncClient().get(url, headers={**auth, **(headers or {})})
        if not response.streaming:
            return response, []
        messages, buffer = [], ""
        async for chunk in response.streaming_content:
            buffer += chunk.decode() if isinstance(chunk, bytes) else chunk
            *complete, buffer = buffer.split("\n\n")
            for block in complete:
                messages.append(parse(block))
                if on_message is not None:
                    await on_message(messages[-1])
        return response, messages

    async def bounded() -> tuple[Any, list[dict[str, Any]]]:
        return await asyncio.wait_for(read(), TIMEOUT)

    return async_to_sync(bounded)()


@pytest.fixture
def token(django_user_model: Any) -> str:
    return api_token_create(user=user_with_role(django_user_model, "watcher", "viewer"), name="t").text


def make_run(status: str = "succeeded", events: tuple[tuple[str, str], ...] = ()) -> WorkflowRun:
    session = WorkflowSession.objects.create(session_id="s/1", workflow="BlogPostGenerator")
    now = timezone.now()
    run = WorkflowRun.objects.create(
        session=session,
        workflow=session.workflow,
        status=status,
        started_at=now,
        heartbeat_at=now,
        finished_at=now if status == "succeeded" else None,
        output="done text" if status == "succeeded" else "",
    )
    add_events(run, 1, *events)
    return run


def add_events(run: WorkflowRun, first: int, *events: tuple[str, str]) -> None:
    RunEvent.objects.bulk_create(
        RunEvent(run=run, seq=seq, event=event, content=content, data={"n": seq})
        for seq, (event, content) in enumerate(events, first)
    )


def url_of(run: WorkflowRun) -> str:
    return reverse("api:run_events", args=[run.run_id])


def test_events_are_json_objects_with_ids_then_status_then_done(token: str) -> None:
    run = make_run(events=(("ResearchStarted", "<b>one</b>"), ("RunResponse", "two\nlines")))

    response, messages = stream(token, url_of(run))

    assert response["Content-Type"] == "text/event-stream"
    assert response["Cache-Control"] == "no-cache"
    first, second, status, done = messages
    assert (first["id"], first["data"]["type"], first["data"]["event"]) == ("1", "event", "ResearchStarted")
    assert first["data"]["content"] == "<b>one</b>"
    assert first["data"]["data"] == {"n": 1}
    assert (second["id"], second["data"]["content"]) == ("2", "two\nlines")
    assert (status["id"], status["data"]) == (None, {"type": "status", "status": "succeeded"})
    assert done["id"] is None
    assert done["data"]["type"] == "done"
    assert done["data"]["run"]["output"] == "done text"


def test_resume_after_last_event_id(token: str) -> None:
    run = make_run(events=(("A", "1"), ("B", "2"), ("C", "3")))

    _, by_header = stream(token, url_of(run), headers={"Last-Event-ID": "2"})
    _, by_query = stream(token, url_of(run) + "?last_event_id=1")

    assert [m["id"] for m in by_header if m["id"]] == ["3"]
    assert [m["id"] for m in by_query if m["id"]] == ["2", "3"]
    assert by_header[-1]["data"]["type"] == "done"


def test_a_live_run_streams_until_it_ends(token: str) -> None:
    run = make_run(status="running", events=(("A", "first"),))

    def finish() -> None:
        add_events(run, 2, ("RunResponse", "late"))
        WorkflowRun.objects.filter(pk=run.pk).update(status="succeeded", finished_at=timezone.now())

    async def on_message(message: dict[str, Any]) -> None:
        if message["id"] == "1":
            await sync_to_async(finish)()

    _, messages = stream(token, url_of(run), on_message=on_message)

    assert [m["id"] for m in messages if m["id"]] == ["1", "2"]
    statuses = [m["data"]["status"] for m in messages if m["data"] and m["data"]["type"] == "status"]
    assert statuses == ["running", "succeeded"]
    assert messages[-1]["data"]["type"] == "done"


def test_a_quiet_run_sends_keepalives(token: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events_api, "KEEPALIVE_SECONDS", 0.05)
    run = make_run(status="running")
    seen: list[dict[str, Any]] = []

    async def on_message(message: dict[str, Any]) -> None:
        seen.append(message)
        if sum(m["comment"] for m in seen) == 2:
            await sync_to_async(WorkflowRun.objects.filter(pk=run.pk).update)(status="cancelled")

    _, messages = stream(token, url_of(run), on_message=on_message)

    assert sum(m["comment"] for m in messages) >= 2
    assert messages[-1]["data"]["run"]["status"] == "cancelled"


def test_a_token_revoked_mid_stream_is_refused_on_the_next_request(token: str) -> None:
    run = make_run(status="running", events=(("A", "first"),))

    def revoke_and_finish() -> None:
        found = ApiToken.objects.select_related("user").get()
        api_token_revoke(token=found, actor=found.user)
        WorkflowRun.objects.filter(pk=run.pk).update(status="succeeded", finished_at=timezone.now())

    async def on_message(message: dict[str, Any]) -> None:
        if message["id"] == "1":
            await sync_to_async(revoke_and_finish)()

    _, messages = stream(token, url_of(run), on_message=on_message)
    again, _ = stream(token, url_of(run), headers={"Last-Event-ID": "1"})

    assert messages[-1]["data"]["type"] == "done"
    assert again.status_code == 401
    assert "revoked" in json.loads(again.content)["error"]["message"]


def test_refusals_are_json(token: str, django_user_model: Any) -> None:
    run = make_run()
    nobody = api_token_create(user=user_with_role(django_user_model, "nobody", None), name="t").text

    missing, _ = stream(token, reverse("api:run_events", args=["00000000-0000-0000-0000-000000000000"]))
    anonymous, _ = stream(None, url_of(run))
    forbidden, _ = stream(nobody, url_of(run))

    assert (missing.status_code, anonymous.status_code, forbidden.status_code) == (404, 401, 403)
    assert json.loads(forbidden.content)["error"]["details"]["role"] == "viewer"
