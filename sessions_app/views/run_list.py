"""The runs list: every run across sessions, filtered, newest first, its unfinished rows live.

A queued or running run's row polls its own fragment (`run_row`), waiting longer after each
answer that shows no change (`poll_delay`) and starting again from the shortest wait when the
status changes. The fragment of a finished run carries no trigger, so the row stops polling.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from uuid import UUID

from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET

from sessions_app.forms import RunFilterForm
from sessions_app.roles import CAN_VIEW
from sessions_app.selectors.keyset import CursorInvalidError
from sessions_app.selectors.runs import RunFilters, run_counts, run_row_get, runs_list
from sessions_app.services.runs import run_reap_if_stale
from sessions_app.views import HtmxHttpRequest, wants_partial
from sessions_app.views.access import role_required

PAGE_SIZE = 50
# Seconds before a live row asks again: the first wait, the growth after each unchanged answer, the longest.
POLL_FIRST, POLL_GROWTH, POLL_LONGEST = 1.0, 1.5, 15.0
POLLS_COUNTED = 20


def poll_delay(poll: int) -> float:
    """Return the seconds a live row waits before its `poll`-th request (0 for the first)."""
    return min(POLL_LONGEST, POLL_FIRST * POLL_GROWTH ** min(poll, POLLS_COUNTED))


def _day_start(day: date | None) -> datetime | None:
    """Return the moment `day` begins in the site's time zone."""
    if day is None:
        return None
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())


def filters_from(form: RunFilterForm) -> RunFilters:
    """Turn the valid part of the filter form into the selector's filters (dates as whole local days)."""
    form.is_valid()  # cleaned_data then holds the fields that parsed
    data = form.cleaned_data
    until = data.get("until")
    cache = data.get("cache") or ""
    return RunFilters(
        status=data.get("status") or "",
        workflow=data.get("workflow") or "",
        started_by=data.get("by") or "",
        cache_hit={"hit": True, "miss": False}.get(cache),
        since=_day_start(data.get("since")),
        until=_day_start(until + timedelta(days=1)) if until else None,
        search=data.get("q") or "",
    )


@role_required(CAN_VIEW, doing="see runs")
@require_GET
def run_list(request: HtmxHttpRequest) -> HttpResponse:
    """List every run, newest first, narrowed by the query string's filters, 50 a page by cursor."""
    form = RunFilterForm(request.GET)
    filters = filters_from(form)
    cursor = request.GET.get("cursor") or None
    try:
        page = runs_list(filters, cursor=cursor, limit=PAGE_SIZE)
        cursor_refused = False
    except CursorInvalidError:
        page, cursor_refused = runs_list(filters, limit=PAGE_SIZE), True
    context = {
        "form": form,
        "filtered": filters != RunFilters(),
        "page": page,
        "cursor": None if cursor_refused else cursor,
        "cursor_refused": cursor_refused,
        "counts": run_counts(),
        "delay": poll_delay(0),
        "next_poll": 1,
    }
    partial = wants_partial(request)
    template = "runs/run_list.html" + ("#run-results" if partial else "")
    response = render(request, template, context)
    patch_vary_headers(response, ("HX-Request",))
    return response


def _poll_number(request: HtmxHttpRequest, status: str) -> int:
    """Return the number of this poll in a row of unchanged answers (0 when the status just changed)."""
    if request.GET.get("seen") != status:
        return 0
    try:
        return max(0, int(request.GET.get("poll", "0")))
    except ValueError:
        return 0


@role_required(CAN_VIEW, doing="see runs")
@require_GET
def run_row(request: HtmxHttpRequest, run_id: UUID) -> HttpResponse:
    """Answer one row of the runs list; a finished run's row has no trigger, so its polling stops."""
    run = run_row_get(run_id=run_id)
    if run is None:
        raise Http404("No run with this id.")
    if run_reap_if_stale(run=run):  # a run whose worker died ends here, as on its page
        run = run_row_get(run_id=run_id) or run
    poll = _poll_number(request, run.status)
    context = {"run": run, "delay": poll_delay(poll), "next_poll": poll + 1}
    response = render(request, "runs/run_list.html#run-row", context)
    response["Cache-Control"] = "no-store"
    return response
