"""Run pages: start a run from a session's form, show one run (live while it runs), cancel it, run it again."""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from sessions_app.forms import add_service_error
from sessions_app.models import WorkflowRun
from sessions_app.registry import result_cache_flag
from sessions_app.roles import CAN_RUN, CAN_VIEW
from sessions_app.selectors.run_facts import run_facts
from sessions_app.selectors.run_view import run_context
from sessions_app.selectors.runs import run_get
from sessions_app.selectors.sessions import session_get
from sessions_app.services.rate_limits import RunRateLimitedError
from sessions_app.services.run_events import RUN_CANCELLED, RUN_FAILED
from sessions_app.services.runs import (
    RunConflictError,
    run_again,
    run_cancel,
    run_cancel_allowed,
    run_reap_if_stale,
    run_start,
)
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


def _run_or_404(run_id: UUID) -> WorkflowRun:
    run = run_get(run_id=run_id)
    if run is None:
        raise Http404("No run with this id.")
    return run


def _go(request: HtmxHttpRequest, run: WorkflowRun) -> HttpResponse:
    url = reverse("run_detail", args=[run.run_id])
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@role_required(CAN_VIEW, doing="see runs")
@require_GET
def run_detail(request: HtmxHttpRequest, run_id: UUID) -> HttpResponse:
    """Show a run: its status, inputs, steps and post, streamed live until it ends; cancel or repeat it."""
    run = _run_or_404(run_id)
    run_reap_if_stale(run=run)
    controls = {
        "may_cancel": run_cancel_allowed(run=run, actor=request.user),
        "may_run": request.user.has_perm(CAN_RUN),
        "regenerates": bool(result_cache_flag(run.workflow)),
    }
    return render(
        request, "runs/run_detail.html", {**run_context(run), "facts": run_facts(run), "controls": controls}
    )


# run_cancel checks the rest: the runner who started the run, or an editor.
@role_required(CAN_RUN, doing="cancel runs")
@require_http_methods(["GET", "POST"])
def run_cancel_view(request: HtmxHttpRequest, run_id: UUID) -> HttpResponse:
    """Ask to confirm cancelling a queued or running run (GET), or cancel it (POST)."""
    run = _run_or_404(run_id)
    error, status = "", 200
    if request.method == "POST":
        try:
            run = run_cancel(run=run, actor=request.user)
        except RunConflictError as err:
            error, status = str(err), 409
        else:
            if run.is_finished:
                messages.success(request, "Cancelled the run; no worker will start it.")
            else:
                messages.success(
                    request, "Asked the run to stop; it ends at its next step, keeping its state."
                )
            return _go(request, run)
    elif run.is_finished:
        error, status = f"The run has already ended ({run.status}), so there is nothing to cancel.", 409
    context = {"run": run, "facts": run_facts(run), "error": error}
    return render(request, "runs/cancel.html", context, status=status)


@role_required(CAN_RUN, doing="start runs")
@require_POST
def run_again_view(request: HtmxHttpRequest, run_id: UUID) -> HttpResponse:
    """Start a finished run's inputs again (`regenerate=1`: with the cache off) and go to the new run."""
    run = _run_or_404(run_id)
    regenerate = request.POST.get("regenerate") in ("1", "true", "on")
    try:
        again = run_again(run=run, actor=request.user, regenerate=regenerate)
    except (ValidationError, RunConflictError, RunRateLimitedError) as err:
        text = " ".join(err.messages) if isinstance(err, ValidationError) else str(err)
        messages.error(request, text)
        response = _go(request, run)
        if isinstance(err, RunRateLimitedError):
            response["Retry-After"] = str(err.retry_after)
        return response
    return _go(request, again)
