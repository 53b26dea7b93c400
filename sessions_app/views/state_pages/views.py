"""A session's state pages on the dashboard: what it holds, its history, diffs, and the actions on it.

Viewers (`CAN_VIEW`) see the state, history, diffs and may download the session; editors
(`CAN_EDIT_STATE`) also clear, delete, restore, undo one change, fork and import. A refused request changes nothing
and answers 403. The admin offers the same pages (`sessions_app.admin.state_views`).
"""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from sessions_app.roles import CAN_EDIT_STATE, CAN_VIEW
from sessions_app.selectors.sessions import session_get
from sessions_app.state.layout import session_caches
from sessions_app.state.store import state_load
from sessions_app.views import HtmxHttpRequest
from sessions_app.views.access import role_required
from sessions_app.views.state_pages.actions import action_page, import_page
from sessions_app.views.state_pages.history_actions import fork_page, undo_page
from sessions_app.views.state_pages.pages import (
    StateLinks,
    diff_page,
    export_response,
    history_page,
    state_overview,
)

BASE = {"base_template": "state/base_site.html"}


def site_links(session_id: str) -> StateLinks:
    """Return where this session's state pages are on the dashboard."""
    return StateLinks(
        url=lambda name, *args: reverse(f"state_{name}", args=[session_id, *args]),
        back=reverse("state_overview", args=[session_id]),
    )


def _can_edit(request: HtmxHttpRequest) -> bool:
    return request.user.has_perm(CAN_EDIT_STATE)


@role_required(CAN_VIEW, doing="see a session's state")
@require_GET
def state_overview_view(request: HtmxHttpRequest, session_id: str) -> HttpResponse:
    """Show the state's keys and cached entries, with clear and delete for editors."""
    session = session_get(session_id=session_id)
    links = site_links(session_id)
    context = {
        **BASE,
        "title": "State",
        "session": session,
        "links": links,
        "keys": state_overview(state_load(session), links, session_caches(session)),
        "can_edit": _can_edit(request),
    }
    return render(request, "state/overview.html", context)


@role_required(CAN_VIEW, doing="see a session's history")
@require_GET
def state_history(request: HtmxHttpRequest, session_id: str) -> HttpResponse:
    """List the session's state changes, newest first."""
    session = session_get(session_id=session_id)
    context = {**BASE, "can_edit": _can_edit(request)}
    return history_page(request, session=session, links=site_links(session_id), context=context)


@role_required(CAN_VIEW, doing="compare versions")
@require_GET
def state_diff(request: HtmxHttpRequest, session_id: str) -> HttpResponse:
    """Show the diff between two versions."""
    session = session_get(session_id=session_id)
    context = {**BASE, "can_edit": _can_edit(request)}
    return diff_page(request, session=session, links=site_links(session_id), context=context)


def _action(request: HtmxHttpRequest, session_id: str, kind: str, version: int | None = None) -> HttpResponse:
    session = session_get(session_id=session_id)
    links = site_links(session_id)
    return action_page(request, kind=kind, session=session, links=links, context=BASE, version=version)


@role_required(CAN_EDIT_STATE, doing="clear state")
@require_http_methods(["GET", "POST"])
def state_clear(request: HtmxHttpRequest, session_id: str) -> HttpResponse:
    """Confirm, then empty the cache at `?path=` (the whole state without one)."""
    return _action(request, session_id, "clear")


@role_required(CAN_EDIT_STATE, doing="delete state")
@require_http_methods(["GET", "POST"])
def state_delete(request: HtmxHttpRequest, session_id: str) -> HttpResponse:
    """Confirm, then delete the entry or key at `?path=`."""
    return _action(request, session_id, "delete")


@role_required(CAN_EDIT_STATE, doing="restore a version")
@require_http_methods(["GET", "POST"])
def state_restore(request: HtmxHttpRequest, session_id: str, version: int) -> HttpResponse:
    """Confirm, then make the state what it was at `version`."""
    return _action(request, session_id, "restore", version)


@role_required(CAN_EDIT_STATE, doing="undo a change")
@require_http_methods(["GET", "POST"])
def state_undo(request: HtmxHttpRequest, session_id: str, version: int) -> HttpResponse:
    """Confirm, then take back the change that made `version`, keeping later ones."""
    session = session_get(session_id=session_id)
    links = site_links(session_id)
    return undo_page(request, session=session, version=version, links=links, context=BASE)


@role_required(CAN_EDIT_STATE, doing="fork a session")
@require_http_methods(["GET", "POST"])
def state_fork(request: HtmxHttpRequest, session_id: str, version: int) -> HttpResponse:
    """Ask for an id and name, then make a new session from the state at `version`."""
    session = session_get(session_id=session_id)
    return fork_page(
        request,
        session=session,
        version=version,
        after=lambda fork: reverse("session_detail", args=[fork.session_id]),
        links=site_links(session_id),
        context={**BASE, "can_edit": True},
    )


@role_required(CAN_VIEW, doing="download sessions")
@require_GET
def state_export(request: HtmxHttpRequest, session_id: str) -> HttpResponse:
    """Download the session (state, runs, change history) as JSON."""
    return export_response(session_get(session_id=session_id))


@role_required(CAN_EDIT_STATE, doing="import sessions")
@require_http_methods(["GET", "POST"])
def state_import(request: HtmxHttpRequest, session_id: str) -> HttpResponse:
    """Upload a file exported from this session to bring it back."""
    session = session_get(session_id=session_id)
    context = {**BASE, "title": "Upload a saved copy", "links": site_links(session_id)}
    return import_page(
        request,
        session=session,
        after=lambda imported: reverse("state_overview", args=[imported.session_id]),
        context=context,
    )
