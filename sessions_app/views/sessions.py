"""Session pages: the list (with the new-session form), one session, and its run form's cache check."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import HttpResponseClientRedirect

from sessions_app.forms import SessionCreateForm, add_service_error
from sessions_app.registry import workflow_classes
from sessions_app.roles import CAN_CREATE_SESSION, CAN_VIEW, refusal
from sessions_app.selectors.search_matches import session_text_matches
from sessions_app.selectors.sessions import (
    SessionFilters,
    session_get,
    session_list,
    session_row_get,
)
from sessions_app.services.sessions import session_create
from sessions_app.views import HtmxHttpRequest, wants_partial
from sessions_app.views.access import role_required
from sessions_app.views.session_page import (
    changes_url,
    key_status,
    session_context,
    session_sections_context,
)

PAGE_SIZE = 50


@role_required(CAN_VIEW, doing="see sessions")
@require_http_methods(["GET", "POST"])
def session_index(request: HtmxHttpRequest) -> HttpResponse:
    """List sessions (GET) or create one (POST): the list page holds the new-session form."""
    if request.method == "POST":
        return _session_create(request)
    return _session_list(request, SessionCreateForm())


def _session_list(request: HtmxHttpRequest, form: SessionCreateForm, status: int = 200) -> HttpResponse:
    filters = SessionFilters(
        search=request.GET.get("q", ""),
        text=request.GET.get("text", ""),
        workflow=request.GET.get("workflow", ""),
        oldest_first=request.GET.get("sort") == "oldest",
    )
    page = Paginator(session_list(filters=filters), PAGE_SIZE).get_page(request.GET.get("page"))
    matches = (
        session_text_matches(sessions=page.object_list, text=filters.text) if filters.text.strip() else {}
    )
    context = {
        "filters": filters,
        "page": page,
        # Where each listed row is, for the list's change stream (views.live).
        "changes_url": changes_url([session.pk for session in page.object_list]),
        "rows": [(session, matches.get(session.pk)) for session in page.object_list],
        "workflows": list(workflow_classes()),
        "create_form": form,
    }
    partial = request.method == "GET" and wants_partial(request)
    template = "sessions/session_list.html" + ("#session-results" if partial else "")
    response = render(request, template, context, status=status)
    patch_vary_headers(response, ("HX-Request",))
    return response


def _session_create(request: HtmxHttpRequest) -> HttpResponse:
    # session_create checks the runner role too; asking first says so before the form is judged.
    if not request.user.has_perm(CAN_CREATE_SESSION):
        raise PermissionDenied(refusal(CAN_CREATE_SESSION, doing="create sessions"))
    form = SessionCreateForm(request.POST)
    if form.is_valid():
        try:
            session = session_create(
                session_id=form.cleaned_data["session_id"],
                workflow=form.cleaned_data["workflow"],
                name=form.cleaned_data["name"],
                user=request.user,
            )
        except ValidationError as error:
            add_service_error(form, error)
        else:
            url = reverse("session_detail", args=[session.session_id])
            return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    if request.htmx:
        return render(request, "sessions/session_list.html#create-form", {"create_form": form}, status=422)
    return _session_list(request, form, status=422)


@role_required(CAN_VIEW, doing="see sessions")
@require_GET
def session_detail(request: HtmxHttpRequest, session_id: str) -> HttpResponse:
    """Show a session: its state, cached entries, the run form and the run history."""
    session = session_get(session_id=session_id)
    context = session_context(
        session, entries_page=request.GET.get("entries_page"), paged_cache=request.GET.get("cache")
    )
    return render(request, "sessions/session_detail.html", context)


@role_required(CAN_VIEW, doing="see sessions")
@require_GET
def session_cache_check(request: HtmxHttpRequest, session_id: str) -> HttpResponse:
    """Say whether the typed key is cached in this session (and since when), being made now, or close to one."""
    session = session_get(session_id=session_id)
    context = {"session": session, "key_status": key_status(session, request.GET)}
    return render(request, "sessions/session_detail.html#cache-status", context)


@role_required(CAN_VIEW, doing="see sessions")
@require_GET
def session_sections(request: HtmxHttpRequest, session_id: str) -> HttpResponse:
    """Send the session page's live sections again (not its form), each as an `<hx-partial>` to morph in."""
    session = session_get(session_id=session_id)
    context = session_sections_context(
        session, entries_page=request.GET.get("entries_page"), paged_cache=request.GET.get("cache")
    )
    response = render(request, "sessions/session_page/sections.html", context)
    response["Cache-Control"] = "no-store"
    return response


@role_required(CAN_VIEW, doing="see sessions")
@require_GET
def session_row(request: HtmxHttpRequest, session_id: str) -> HttpResponse:
    """Send the session's row of the session list again."""
    session = session_row_get(session_id=session_id)
    response = render(request, "sessions/_session_row.html", {"session": session})
    response["Cache-Control"] = "no-store"
    return response
