"""Run pages: start a run from a session's form, and show one run (live while it runs, final after)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from sessions_app.forms import add_service_error
from sessions_app.markdown import safe_url
from sessions_app.models import RunEvent, WorkflowRun
from sessions_app.roles import CAN_RUN, CAN_VIEW
from sessions_app.selectors.runs import events_since, run_get
from sessions_app.selectors.sessions import session_get
from sessions_app.services.rate_limits import RunRateLimitedError
from sessions_app.services.run_events import CHUNK_EVENT, COMPLETED_EVENT, RUN_CANCELLED, RUN_FAILED
from sessions_app.services.runs import run_reap_if_stale, run_start
from sessions_app.views import HtmxHttpRequest, wants_partial
from sessions_app.views.sessions import cache_status, run_form_for, session_context

EVENT_BATCH = 500
ERROR_EVENTS = frozenset({RUN_FAILED, RUN_CANCELLED})


@login_required
@permission_required(CAN_RUN, raise_exception=True)
@require_POST
def run_create(request: HtmxHttpRequest, session_id: str) -> HttpResponse:
    """Start a run from the form and go to its page; over the rate limit, answer 429 with Retry-After."""
    session = session_get(session_id=session_id)
    form = run_form_for(session, request.POST)
    status, retry_after = 422, None
    if form is not None and form.is_valid():
        try:
            run = run_start(session=session, inputs=form.inputs(), user=request.user)
        except ValidationError as error:
            add_service_error(form, error)
        except RunRateLimitedError as error:
            form.add_error(None, str(error))
            status, retry_after = 429, error.retry_after
        else:
            url = reverse("run_detail", args=[run.run_id])
            return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    if form is not None and wants_partial(request):
        context = {"session": session, "run_form": form, **cache_status(session, form.data.get("topic", ""))}
        response = render(request, "sessions/session_detail.html#run-form", context, status=status)
    else:
        response = render(
            request, "sessions/session_detail.html", session_context(session, form), status=status
        )
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


@login_required
@permission_required(CAN_VIEW, raise_exception=True)
@require_GET
def run_detail(request: HtmxHttpRequest, run_id: UUID) -> HttpResponse:
    """Show a run: its status, inputs, steps and post, streamed live until it ends."""
    run = run_get(run_id=run_id)
    if run is None:
        raise Http404("No run with this id.")
    run_reap_if_stale(run=run)
    return render(request, "runs/run_detail.html", run_context(run))


@dataclass
class Step:
    """One progress event as the steps list shows it."""

    event: str
    content: str
    failed: bool = False
    sources: list[dict[str, str]] = field(default_factory=list)


@dataclass
class RunView:
    """What the run page shows, read from the run's events up to `last_seq`."""

    steps: list[Step] = field(default_factory=list)
    text: str = ""
    final: str | None = None
    last_seq: int = 0


def step_from_event(event: RunEvent) -> Step:
    """Return the steps-list item for a progress event, its sources' links checked."""
    data = event.data if isinstance(event.data, dict) else {}
    extra = data.get("extra_data") if isinstance(data.get("extra_data"), dict) else {}
    found = extra.get("sources") if isinstance(extra.get("sources"), list) else []
    sources = [
        {
            "title": str(source.get("title") or source.get("url") or "source"),
            "url": safe_url(source.get("url")),
        }
        for source in found
        if isinstance(source, dict)
    ]
    return Step(event=event.event, content=event.content, failed=event.event in ERROR_EVENTS, sources=sources)


def run_view(run: WorkflowRun) -> RunView:
    """Read every event of the run, in batches, into what its page shows."""
    view, chunks = RunView(), []
    while True:
        batch = events_since(run=run, after_seq=view.last_seq, limit=EVENT_BATCH)
        for event in batch:
            if event.event == CHUNK_EVENT:
                chunks.append(event.content)
            elif event.event == COMPLETED_EVENT:
                view.final = event.content
            else:
                view.steps.append(step_from_event(event))
            view.last_seq = event.seq
        if len(batch) < EVENT_BATCH:
            break
    view.text = "".join(chunks)
    if view.final is None and run.status == WorkflowRun.Status.SUCCEEDED:
        view.final = run.output or view.text
    return view


def run_context(run: WorkflowRun) -> dict[str, Any]:
    """Return the context of the run page's partials, for the page and the event stream alike."""
    return {"run": run, "view": run_view(run)}
