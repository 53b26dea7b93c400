"""`/live/sessions/`: which of some sessions changed, as server-sent events, for the pages that show them.

`?s=<session pk>.<token>` (repeated, at most MAX_SESSIONS) names each session the page shows
and the signature token it was rendered at (`selectors.sessions.Signature`). The stream sends
`event: changed-<pk>` (data: the new token) as soon as a session's token differs from the one
the page has: at once if it changed between the page's render and the stream's start, then
whenever it changes again. The page's sections listen for that event and fetch themselves
(`session_sections`, `session_row`), with the reader's roles, so the stream carries no content.
`: keepalive` comments keep proxies from closing a quiet stream. After a reconnect the stream
compares with the tokens in the URL again, so a page that missed a change while it was
disconnected refreshes once.

The request gives its database connection back before streaming; the loop's `SessionSignals`
reads for every stream (see `live.signals`).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

from asgiref.sync import sync_to_async
from django.contrib.auth.decorators import login_not_required
from django.db import close_old_connections
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.views.decorators.http import require_GET

from sessions_app.live.signals import watching
from sessions_app.live.sse import sse_message
from sessions_app.ops.instruments import counted_stream
from sessions_app.roles import CAN_VIEW
from sessions_app.views.errors import RequestRefused

HEARTBEAT_SECONDS = 15.0
MAX_SESSIONS = 100
_WATCH = re.compile(r"([0-9]{1,18})(?:\.([0-9a-f]{1,32}))?")


@login_not_required  # checked below: an EventSource gets a plain 403, not a redirect to log in
@require_GET
async def session_changes(request: HttpRequest) -> HttpResponseBase:
    """Stream which of the named sessions changed, until the page goes away."""
    user = await request.auser()
    if not user.is_authenticated:
        return HttpResponse("Log in to follow sessions.", status=403, content_type="text/plain")
    if not await user.ahas_perm(CAN_VIEW):
        return HttpResponse("You may not view sessions.", status=403, content_type="text/plain")
    since = watched_tokens(request.GET.getlist("s"))
    response = StreamingHttpResponse(counted_stream(change_stream(since)), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    await sync_to_async(close_old_connections)()
    return response


def watched_tokens(values: list[str]) -> dict[int, str]:
    """Return {session pk: token the page has ("" if none)}; RequestRefused (a 400) for anything else."""
    if not values or len(values) > MAX_SESSIONS:
        raise RequestRefused(f"Name from 1 to {MAX_SESSIONS} sessions to follow, as ?s=<id>.<token>.")
    since = {}
    for value in values:
        match = _WATCH.fullmatch(value)
        if match is None:
            shown = value if len(value) <= 40 else value[:40] + "…"
            raise RequestRefused(f"?s= must be a session's number and its token, as 12.0a1b, not {shown!r}.")
        since[int(match[1])] = match[2] or ""
    return since


async def change_stream(since: dict[int, str]) -> AsyncIterator[str]:
    """Yield `changed-<pk>` for each watched session whose token moves away from what the page has."""
    shown = dict(since)
    async with watching(shown) as signals:
        seen = signals.generation
        while True:
            messages = []
            for pk, signature in list(signals.signatures.items()):
                if pk not in shown or signature.token == shown[pk]:
                    continue
                if shown[pk]:  # a page that gave no token is where the first read finds it
                    messages.append(sse_message(signature.token, event=f"changed-{pk}"))
                shown[pk] = signature.token
            if messages:
                yield "".join(messages)
            generation = await signals.next(seen=seen, timeout=HEARTBEAT_SECONDS)
            if generation is None:
                if signals.task is None or signals.task.done():
                    return  # the watcher failed (the database went away); the browser reconnects
                yield ": keepalive\n\n"
                continue
            seen = generation
