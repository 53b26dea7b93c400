"""A run's events as `text/event-stream` of JSON objects, resumable with `Last-Event-ID`.

Every message's data is one JSON object with a `type`:
- `"event"`, one per `RunEvent` row, with `id: <seq>`: `{"type", "seq", "event", "content", "data", "created_at"}`;
- `"status"` whenever the run's status changes (no id): `{"type", "status"}`;
- `"done"` once the run has ended and every event was sent (no id): `{"type", "run"}`, the run as
  `GET /runs/<id>` shows it; the stream then ends.
`: keepalive` comments go out while nothing happens. A reconnect with `Last-Event-ID: <seq>` (or
`?last_event_id=`) starts after that event, so nothing is sent twice or missed.

The stream polls the run's rows itself, a little less often once the run is idle; it does not
share the dashboard's per-run feeds (`live.feeds`), whose messages are HTML.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

from asgiref.sync import sync_to_async
from django.core.serializers.json import DjangoJSONEncoder
from django.db import close_old_connections
from django.http import HttpRequest, StreamingHttpResponse
from ninja import Router

from sessions_app.api.access import role_require
from sessions_app.api.errors import ApiError
from sessions_app.api.present import run_out
from sessions_app.api.schemas import ErrorOut
from sessions_app.models import RunEvent, WorkflowRun
from sessions_app.roles import CAN_VIEW
from sessions_app.selectors.runs import aevents_since, arun_get
from sessions_app.services.runs import run_reap_if_stale

router = Router(tags=["runs"])
POLL_SECONDS = 0.1
IDLE_AFTER_SECONDS = 5.0
IDLE_POLL_SECONDS = 0.5
KEEPALIVE_SECONDS = 15.0
REAP_SECONDS = 5.0
STATUS_FIELDS = ["status", "error", "heartbeat_at", "started_at", "finished_at", "cache_hit", "output"]
_STREAM = {
    "content": {"text/event-stream": {"schema": {"type": "string"}}},
    "description": "Server-sent events",
}


def sse(data: dict[str, Any], *, seq: int | None = None) -> str:
    """Format one server-sent event whose data is a JSON object (on one line)."""
    line = json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False)
    return (f"id: {seq}\n" if seq is not None else "") + f"data: {line}\n\n"


def event_data(event: RunEvent) -> dict[str, Any]:
    """Describe one run event as its message's JSON."""
    return {
        "type": "event",
        "seq": event.seq,
        "event": event.event,
        "content": event.content,
        "data": event.data,
        "created_at": event.created_at,
    }


def resume_after(request: HttpRequest) -> int:
    """Return the last seq the client has: `Last-Event-ID`, else `?last_event_id=`, else 0."""
    for raw in (request.headers.get("Last-Event-ID"), request.GET.get("last_event_id")):
        if raw is not None and raw.strip().isdigit():
            return int(raw.strip())
    return 0


async def json_stream(run: WorkflowRun, *, after_seq: int) -> AsyncIterator[str]:
    """Yield the run's events after `after_seq`, its status changes, then `done`, until it has ended."""
    shown_status, last_event = None, time.monotonic()
    last_sent = reaped = time.monotonic()
    while True:
        await run.arefresh_from_db(fields=STATUS_FIELDS)
        if time.monotonic() - reaped >= REAP_SECONDS:
            reaped = time.monotonic()
            await sync_to_async(run_reap_if_stale)(run=run)
        events = await aevents_since(run=run, after_seq=after_seq)
        for event in events:
            yield sse(event_data(event), seq=event.seq)
            after_seq = event.seq
        if run.status != shown_status:
            shown_status = run.status
            yield sse({"type": "status", "status": run.status})
        # The status was read before the events: a run that had ended had written them all.
        if run.is_finished and not events:
            yield sse({"type": "done", "run": await sync_to_async(run_out)(run)})
            return
        now = time.monotonic()
        last_event = now if events else last_event
        if events:
            last_sent = now
        elif now - last_sent >= KEEPALIVE_SECONDS:
            last_sent = now
            yield ": keepalive\n\n"
        await sync_to_async(close_old_connections)()
        await asyncio.sleep(IDLE_POLL_SECONDS if now - last_event >= IDLE_AFTER_SECONDS else POLL_SECONDS)


@router.get(
    "/runs/{uuid:run_id}/events",
    response={401: ErrorOut, 403: ErrorOut, 404: ErrorOut},
    url_name="run_events",
    openapi_extra={"responses": {"200": _STREAM}},
)
async def runs_events(request: HttpRequest, run_id: UUID) -> StreamingHttpResponse:
    """Stream the run's events as server-sent JSON, from after `Last-Event-ID`, until the run ends."""
    await sync_to_async(role_require)(request, CAN_VIEW, doing="see runs")
    run = await arun_get(run_id=run_id)
    if run is None:
        raise ApiError(404, f"There is no run with the id {run_id}.", details={"run_id": str(run_id)})
    response = StreamingHttpResponse(
        json_stream(run, after_seq=resume_after(request)), content_type="text/event-stream"
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response
