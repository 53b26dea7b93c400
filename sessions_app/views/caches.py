"""Cached entries' pages, named by cache and key: the entry, its delete (with undo), its regeneration.

URLs are `/sessions/<session_id>/caches/<cache>/<key>/...`, built from what the entry is, not
where its row is, so a link made before a restore, an import, a clear and undo or a history
fold still opens the same entry afterwards.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from sessions_app.models import StateEntry, WorkflowSession
from sessions_app.registry import UnknownWorkflowError, get_workflow_class
from sessions_app.roles import CAN_EDIT_STATE, CAN_RUN, CAN_VIEW
from sessions_app.selectors.caches import FoundEntry, cache_entry_find, session_cache
from sessions_app.selectors.diffs import DiffRow, preview
from sessions_app.selectors.savings import cache_savings, savings_by_workflow
from sessions_app.selectors.sessions import session_get
from sessions_app.services.caches import cache_entry_delete, cache_entry_regenerate
from sessions_app.services.rate_limits import RunRateLimitedError
from sessions_app.services.state import StateConflictError
from sessions_app.views import HtmxHttpRequest
from sessions_app.views.access import role_required
from sessions_app.views.state_pages.forms import StateActionForm
from sessions_app.views.state_pages.pages import StateLinks, done, error_text

BASE = {"base_template": "state/base_site.html"}
CHANGED = "{name} changed since this page was opened, so nothing was deleted. Check it again, then confirm."


def entry_url(name: str, session_id: str, state_key: str, key: str) -> str:
    """Return the URL of one of an entry's pages (`cache_entry`, `cache_entry_delete`, ...)."""
    return reverse(name, args=[session_id, state_key, key])


def _entry(session: WorkflowSession, state_key: str, key: str) -> FoundEntry:
    cache = session_cache(session=session, state_key=state_key)
    if cache is None:
        raise Http404(f"{session.workflow} declares no cache named {state_key!r}.")
    entry = cache_entry_find(session=session, cache=cache, key=key)
    if entry is None:
        raise Http404(f"Nothing is cached under that key in {state_key!r} now; it may have been deleted.")
    return entry


@role_required(CAN_VIEW, doing="see cached entries")
@require_GET
def cache_entry(request: HtmxHttpRequest, session_id: str, state_key: str, key: str) -> HttpResponse:
    """Show one cached entry: Markdown rendered where its cache says so, anything else as a JSON tree."""
    session = session_get(session_id=session_id)
    entry = _entry(session, state_key, key)
    return render(request, "sessions/entry_detail.html", {"session": session, "entry": entry})


@role_required(CAN_VIEW, doing="see cached entries")
@require_GET
def legacy_entry(request: HtmxHttpRequest, session_id: str, entry_id: int) -> HttpResponse:
    """Send an old row-numbered entry link to the entry's own URL, while that row still exists."""
    session = session_get(session_id=session_id)
    row = get_object_or_404(StateEntry, session=session, pk=entry_id)
    if not row.lookup_key:
        raise Http404("That row is not a cached entry.")
    return redirect(entry_url("cache_entry", session.session_id, row.key, row.lookup_key))


def _links(session: WorkflowSession) -> StateLinks:
    session_id = session.session_id
    return StateLinks(
        url=lambda name, *args: reverse(f"state_{name}", args=[session_id, *args]),
        back=reverse("session_detail", args=[session_id]),
    )


@role_required(CAN_EDIT_STATE, doing="delete cached entries")
@require_http_methods(["GET", "POST"])
def cache_entry_delete_view(
    request: HtmxHttpRequest, session_id: str, state_key: str, key: str
) -> HttpResponse:
    """Ask to confirm deleting an entry (GET), or delete it (POST) and offer to undo."""
    session = session_get(session_id=session_id)
    entry = _entry(session, state_key, key)
    error, status = "", 200
    if request.method == "POST":
        form = StateActionForm(request.POST)
        if form.is_valid():
            try:
                change = cache_entry_delete(
                    session=session,
                    cache=entry.cache,
                    key=key,
                    base_version=form.cleaned_data["base_version"],
                    actor=request.user,
                )
            except StateConflictError:
                error, status = CHANGED.format(name=entry.name.capitalize()), 409
            except ValidationError as err:
                error, status = error_text(err), 409
            else:
                return done(request, _links(session), change, f"Deleted {entry.name}")
        else:
            error, status = "The form was incomplete; nothing was deleted.", 400
        session = session_get(session_id=session_id)
    context = {
        **BASE,
        "title": f"Delete {entry.name}",
        "session": session,
        "links": _links(session),
        "kind": "delete",
        "rows": [DiffRow(entry.name, "removed", before=preview(entry.value))],
        "form": StateActionForm(initial={"base_version": session.version, "path": ""}),
        "error": error,
    }
    return render(request, "state/confirm.html", context, status=status)


@role_required(CAN_RUN, doing="regenerate cached entries")
@require_POST
def cache_entry_regenerate_view(
    request: HtmxHttpRequest, session_id: str, state_key: str, key: str
) -> HttpResponse:
    """Start a run that makes the entry anew, and go to its page."""
    session = session_get(session_id=session_id)
    entry = _entry(session, state_key, key)
    try:
        workflow_class = get_workflow_class(session.workflow)
        run = cache_entry_regenerate(
            session=session, workflow_class=workflow_class, cache=entry.cache, key=key, user=request.user
        )
    except (ValidationError, UnknownWorkflowError) as err:
        messages.error(request, error_text(err) if isinstance(err, ValidationError) else str(err))
        return HttpResponseRedirect(reverse("session_detail", args=[session_id]))
    except RunRateLimitedError as err:
        messages.error(request, str(err))
        response = HttpResponseRedirect(reverse("session_detail", args=[session_id]))
        response["Retry-After"] = str(err.retry_after)
        return response
    url = reverse("run_detail", args=[run.run_id])
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@role_required(CAN_VIEW, doing="see what the cache saved")
@require_GET
def cache_overview(request: HtmxHttpRequest) -> HttpResponse:
    """Show what the cache saved across every session: totals, a chart per day, and each workflow's share."""
    context = {"savings": cache_savings(), "by_workflow": savings_by_workflow()}
    return render(request, "sessions/cache_overview.html", context)
