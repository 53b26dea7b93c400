"""`/runs/<run_id>/events/`: a run's events as server-sent events, for htmx 4's `hx-sse:connect`.

Message format (every text HTML-escaped; all swaps are `<hx-partial>` blocks, so the element
that holds the connection never changes):

- one message per `RunEvent` row, `id: <seq>`:
  - `RunResponse` (token chunks): the post so far as rendered Markdown, without re-sending it:
    the top-level blocks that this chunk completed are appended to `#run-blocks`, and the last,
    still open block replaces `#run-tail` (`markdown.post_split`; the run page renders the same
    split, so a reload resumes from the page's last seq);
  - `WorkflowCompleted`: the rendered post, swapped into `#run-post`;
  - anything else (research steps, `RunFailed`...): an `<li>` appended to `#run-steps`;
- a message without an id whenever the run's status changes: the badge, into `#run-status`;
- at the end: a message without an id that swaps the final status and result (the same
  partials the finished page renders), then `event: done` (data: the status), on which the
  page's `hx-sse:close="done"` closes the stream for good;
- `: keepalive` comments while nothing happens, so proxies keep the connection open.

A reconnect sends `Last-Event-ID` (or the page passes `?last_event_id=` for what it rendered
itself); the stream then starts after that seq, so nothing is shown twice or missed. Messages
that arrive together are sent in one write.

A stream gives its request's database connection back before it starts waiting: the run's
feed reads for it, so a thousand streams do not hold a thousand connections.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import UUID

from asgiref.sync import sync_to_async
from django.contrib.auth.decorators import login_not_required
from django.db import close_old_connections
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.template.loader import render_to_string
from django.utils.html import format_html
from django.views.decorators.http import require_GET

from sessions_app.live.feeds import Update, watch, watched_run
from sessions_app.live.sse import sse_message
from sessions_app.markdown import markdown_blocks, post_split, render_blocks, render_markdown
from sessions_app.models import RunEvent, WorkflowRun
from sessions_app.ops.instruments import counted_stream
from sessions_app.roles import CAN_VIEW
from sessions_app.selectors.run_view import run_context, step_from_event
from sessions_app.selectors.runs import arun_get
from sessions_app.services.run_events import CHUNK_EVENT, COMPLETED_EVENT
from sessions_app.views.errors import RequestRefused

HEARTBEAT_SECONDS = 15.0
WRITE_BYTES = 16_384
RUN_PAGE = "runs/run_detail.html"


@login_not_required  # checked below: an EventSource gets a plain 403, not a redirect to log in
@require_GET
async def run_events(request: HttpRequest, run_id: UUID) -> HttpResponseBase:
    """Stream the run's events after the last one the client has, until the run ends."""
    user = await request.auser()
    if not user.is_authenticated:
        # An EventSource cannot follow a redirect to a login page; say no plainly.
        return HttpResponse("Log in to follow this run.", status=403, content_type="text/plain")
    if not await user.ahas_perm(CAN_VIEW):
        return HttpResponse("You may not view runs.", status=403, content_type="text/plain")
    # A run this process already follows needs no query: a thousand watchers, one lookup.
    run = watched_run(run_id) or await arun_get(run_id=run_id)
    if run is None:
        raise Http404("No run with this id.")
    response = StreamingHttpResponse(
        counted_stream(event_stream(run, after_seq=last_event_id(request))), content_type="text/event-stream"
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    # The feed reads for the stream from here on; this request's connection goes back to the pool.
    await sync_to_async(close_old_connections)()
    return response


def last_event_id(request: HttpRequest) -> int:
    """Return the last seq the client has: the Last-Event-ID header, else ?last_event_id=, else 0.

    Raise RequestRefused (a 400 saying why) for anything but ASCII digits up to the largest seq:
    `str.isdigit` also accepts "²" and "١٢٣", and a thousand digits would overflow the query.
    """
    largest = 2**31 - 1  # RunEvent.seq is a PositiveIntegerField: 32 bits on PostgreSQL
    for name, raw in (
        ("The Last-Event-ID header", request.headers.get("Last-Event-ID")),
        ("?last_event_id=", request.GET.get("last_event_id")),
    ):
        text = (raw or "").strip(" \t")
        if not text:
            continue
        if not (
            text.isascii() and text.isdigit() and len(text) <= len(str(largest)) and int(text) <= largest
        ):
            shown = text if len(text) <= 40 else text[:40] + "…"
            raise RequestRefused(
                f"{name} must be the id of an event the stream sent: a whole number from 0 to {largest} "
                f"in ASCII digits, not {shown!r}."
            )
        return int(text)
    return 0


def partial(target: str, swap: str, html: str) -> str:
    """Return an `<hx-partial>` that swaps `html` (already safe) into `target`."""
    return format_html('<hx-partial hx-target="{}" hx-swap="{}">{}</hx-partial>', target, swap, html)


class RunMessages:
    """Render a run's events as messages, in order, keeping the post's blocks seen so far."""

    def __init__(self) -> None:
        self.text = ""
        self.complete: list[str] = []

    def event(self, event: RunEvent) -> str:
        """Return the message for the run's next event."""
        if event.event == CHUNK_EVENT:
            return sse_message(self.chunk(event.content), seq=event.seq)
        return event_message(event)

    def status(self, run: WorkflowRun) -> str:
        return status_message(run)

    def final(self, run: WorkflowRun) -> str:
        return final_messages(run)

    def chunk(self, content: str) -> str:
        """Return the partials that bring the page from the post before `content` to after it.

        Only the text from the open block on is parsed again: a top-level block that another
        one followed does not change, so the split equals `post_split` of the whole text (what
        the page renders). A carriage return, which may pair with a line feed in the next
        chunk, makes it split the whole text instead.
        """
        self.text += content
        if "\r" in self.text:
            complete, tail = post_split(self.text)
        else:
            fresh = markdown_blocks(self.text[sum(map(len, self.complete)) :])
            complete, tail = self.complete + fresh[:-1], (fresh[-1] if fresh else "")
        done = len(self.complete)
        if complete[:done] == self.complete:
            new = complete[done:]
            html = partial("#run-blocks", "beforeend", render_blocks(new)) if new else ""
        else:  # a block thought complete changed after all: send them all once
            html = partial("#run-blocks", "innerHTML", render_blocks(complete))
        self.complete = complete
        return html + partial("#run-tail", "innerHTML", render_markdown(tail))


def event_message(event: RunEvent) -> str:
    """Return the message that shows one event other than a chunk on the run page."""
    if event.event == COMPLETED_EVENT:
        post = render_to_string(f"{RUN_PAGE}#final-post", {"final": event.content})
        html = partial("#run-post", "innerHTML", post)
    else:
        step = render_to_string(f"{RUN_PAGE}#step", {"step": step_from_event(event)})
        html = partial("#run-steps", "beforeend", step)
    return sse_message(html, seq=event.seq)


def status_message(run: WorkflowRun) -> str:
    """Return the message that updates the status badge."""
    status = render_to_string(f"{RUN_PAGE}#status", {"run": run})
    return sse_message(partial("#run-status", "innerHTML", status))


def final_messages(run: WorkflowRun) -> str:
    """Return the final status and result (as the finished page shows them), then `done`."""
    context = run_context(run)
    html = format_html(
        '<hx-partial hx-target="#run-status" hx-swap="innerHTML">{}</hx-partial>'
        '<hx-partial hx-target="#run-post" hx-swap="innerHTML">{}</hx-partial>',
        render_to_string(f"{RUN_PAGE}#status", context),
        render_to_string(f"{RUN_PAGE}#post", context),
    )
    return sse_message(html) + sse_message(run.status, event="done")


def pieces(messages: list[str]) -> list[str]:
    """Join messages into writes of about WRITE_BYTES: few writes, and a client catching up on a
    long run gets its backlog a slice at a time, as fast as it reads, not all of it buffered at once.
    """
    joined, size, current = [], 0, []
    for message in messages:
        current.append(message)
        size += len(message)
        if size >= WRITE_BYTES:
            joined.append("".join(current))
            current, size = [], 0
    if current:
        joined.append("".join(current))
    return joined


async def event_stream(run: WorkflowRun, *, after_seq: int) -> AsyncIterator[str | bytes]:
    """Yield messages for the run's events after `after_seq`, then the end, once the run has ended.

    The run's feed (`live.feeds`) does the polling for every stream of the run in this process;
    this stream only waits for what it has not sent yet. Streams at the same place share the
    encoded writes of an update (`feed.memo`). A feed that fails (the database went away) ends
    the stream, and the browser reconnects from its Last-Event-ID.
    """
    async with watch(run, RunMessages) as feed:
        seen, shown_status = 0, ""  # the feed's first poll makes generation 1
        while True:
            update = await feed.next(seen=seen, after_seq=after_seq, timeout=HEARTBEAT_SECONDS)
            if update is None:
                if feed.task is not None and feed.task.done():
                    return
                yield ": keepalive\n\n"
                continue
            key = (update.generation, after_seq, shown_status)
            writes = feed.memo.get(key)
            if writes is None:
                writes = feed.memo[key] = compose(update, shown_status)
            seen, shown_status = update.generation, update.status
            after_seq = update.messages[-1][0] if update.messages else after_seq
            for write in writes:
                yield write
            if update.final is not None:
                return
            if not writes and feed.task is not None and feed.task.done():
                return  # the feed failed; the browser reconnects


def compose(update: Update, shown_status: str) -> list[bytes]:
    """Return the writes that bring a stream showing `shown_status` up to `update`."""
    out = [message for _, message in update.messages]
    if update.status != shown_status:
        out.append(update.status)
    if update.final is not None:
        out.append(update.final)
    return [piece.encode() for piece in pieces(out)]
