"""Run pages: start a run from a session's form, and show one run (live while it runs, final after)."""

from __future__ import annotations

from uuid import UUID

from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from sessions_app.forms import add_service_error
from sessions_app.roles import CAN_RUN, CAN_VIEW
from sessions_app.selectors.run_facts import run_facts
from sessions_app.selectors.run_view import run_context
from sessions_app.selectors.runs import run_get
from sessions_app.selectors.sessions import session_get
from sessions_app.services.rate_limits import RunRateLimitedError
from sessions_app.services.run_events import RUN_CANCELLED, RUN_FAILED
from sessions_app.services.runs import run_reap_if_stale, run_start
from sessions_app.views import HtmxHttpRequest, wants_partial
from sessions_app.views.access import role_required
from sessions_app.views.session_page import key_status, run_form_for, session_context

EVENT_BATCH = 500
ERROR_EVENTS = frozenset({RUN_FAILED, RUN_CANCELLED})


# run_start checks the runner role too; asking first says so before the form is judged.
@role_required(CAN_RUN, doing="start runs")
@require_POST
def run_create(request: HtmxHttpRequest, session_id: str) -> HttpResponse:
    """Start a run from the form and go to its page; over the rate limit, answer 429 with Retry-After.

    `run_start` checks the runner role (a refusal is a 403), as it does for every caller.
    """
    session = session_get(session_id=session_id)
    form = run_form_for(session, request.POST)
    status, retry_after = 422, None
    if form is not None and form.is_valid():
        try:
            run = run_start(
                session=session, inputs=form.inputs(), user=request.user, accept_stale=form.accept_stale()
            )
        except ValidationError as error:
            add_service_error(form, error)
        except RunRateLimitedError as error:
            form.add_error(None, str(error))
            status, retry_after = 429, error.retry_after
        else:
            url = reverse("run_detail", args=[run.run_id])
            return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    if form is not None and wants_partial(request):
        context = {"session": session, "run_form": form, "key_status": key_status(session, form.data)}
        response = render(request, "sessions/session_detail.html#run-form", context, status=status)
    else:
        response = render(
            request, "sessions/session_detail.html", session_context(session, form), status=status
        )
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


@role_required(CAN_VIEW, doing="see runs")
@require_GET
def run_detail(request: HtmxHttpRequest, run_id: UUID) -> HttpResponse:
    """Show a run: its status, inputs, steps and post, streamed live until it ends."""
    run = run_get(run_id=run_id)
    if run is None:
        raise Http404("No run with this id.")
    run_reap_if_stale(run=run)
    return render(request, "runs/run_detail.html", {**run_context(run), "facts": run_facts(run)})
