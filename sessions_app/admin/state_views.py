"""The session admin's extra pages: history, diff, clear, delete, restore, undo, fork, export, import.

They are the dashboard's state pages (`views.state_pages`) inside the admin's layout,
behind the admin's own checks: staff to enter, the view permission to read, the change
permission (the editor role's `CAN_EDIT_STATE`) to change anything.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.urls import reverse

from sessions_app.models import WorkflowSession
from sessions_app.roles import CAN_CREATE_SESSION, CAN_EDIT_STATE, CAN_VIEW, refusal
from sessions_app.views.state_pages.actions import action_page, import_page
from sessions_app.views.state_pages.history_actions import fork_page, undo_page
from sessions_app.views.state_pages.pages import StateLinks, diff_page, export_response, history_page

__all__ = ["StateLinks", "admin_links"]


def admin_links(session: WorkflowSession) -> StateLinks:
    """Return where this session's state pages are in the admin."""
    return StateLinks(
        url=lambda name, *args: reverse(
            f"admin:sessions_app_workflowsession_state_{name}", args=[session.pk, *args]
        ),
        back=reverse("admin:sessions_app_workflowsession_change", args=[session.pk]),
    )


def _context(model_admin: admin.ModelAdmin, request: HttpRequest, title: str, **more: Any) -> dict[str, Any]:
    return {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "base_template": "state/base_admin.html",
        "title": title,
        **more,
    }


def _session(
    model_admin: admin.ModelAdmin, request: HttpRequest, object_id: str, *, change: bool
) -> WorkflowSession:
    session = model_admin.get_object(request, unquote(object_id))
    if session is None:
        raise Http404("No such session.")
    allowed = model_admin.has_change_permission if change else model_admin.has_view_permission
    if not allowed(request, session):
        if change:
            raise PermissionDenied(refusal(CAN_EDIT_STATE, doing="change a session's state"))
        raise PermissionDenied(refusal(CAN_VIEW, doing="see sessions"))
    return session


def history_view(model_admin: admin.ModelAdmin, request: HttpRequest, object_id: str) -> HttpResponse:
    """List the session's state changes."""
    session = _session(model_admin, request, object_id, change=False)
    context = _context(
        model_admin, request, "State history", can_edit=model_admin.has_change_permission(request, session)
    )
    return history_page(request, session=session, links=admin_links(session), context=context)


def diff_view(model_admin: admin.ModelAdmin, request: HttpRequest, object_id: str) -> HttpResponse:
    """Compare two versions of the state."""
    session = _session(model_admin, request, object_id, change=False)
    context = _context(
        model_admin, request, "Compare versions", can_edit=model_admin.has_change_permission(request, session)
    )
    return diff_page(request, session=session, links=admin_links(session), context=context)


def action_view(
    model_admin: admin.ModelAdmin, request: HttpRequest, object_id: str, kind: str, version: int | None = None
) -> HttpResponse:
    """Confirm and do a clear, delete or restore."""
    if request.method not in ("GET", "POST"):
        return HttpResponseNotAllowed(["GET", "POST"])
    session = _session(model_admin, request, object_id, change=True)
    context = _context(model_admin, request, kind.capitalize())
    return action_page(
        request, kind=kind, session=session, links=admin_links(session), context=context, version=version
    )


def undo_view(
    model_admin: admin.ModelAdmin, request: HttpRequest, object_id: str, version: int
) -> HttpResponse:
    """Confirm and undo the change that made `version`."""
    if request.method not in ("GET", "POST"):
        return HttpResponseNotAllowed(["GET", "POST"])
    session = _session(model_admin, request, object_id, change=True)
    context = _context(model_admin, request, f"Undo version {version}")
    return undo_page(request, session=session, version=version, links=admin_links(session), context=context)


def fork_view(
    model_admin: admin.ModelAdmin, request: HttpRequest, object_id: str, version: int | None = None
) -> HttpResponse:
    """Fork the session from `version` (the latest without one) into a new session."""
    if request.method not in ("GET", "POST"):
        return HttpResponseNotAllowed(["GET", "POST"])
    session = _session(model_admin, request, object_id, change=True)
    if not request.user.has_perm(CAN_CREATE_SESSION):
        raise PermissionDenied(refusal(CAN_EDIT_STATE, CAN_CREATE_SESSION, doing="fork a session"))
    return fork_page(
        request,
        session=session,
        version=session.version if version is None else version,
        after=lambda fork: reverse("admin:sessions_app_workflowsession_change", args=[fork.pk]),
        links=admin_links(session),
        context=_context(model_admin, request, "Fork"),
    )


def export_view(model_admin: admin.ModelAdmin, request: HttpRequest, object_id: str) -> HttpResponse:
    """Download the session as JSON."""
    return export_response(_session(model_admin, request, object_id, change=False))


def import_view(model_admin: admin.ModelAdmin, request: HttpRequest) -> HttpResponse:
    """Upload a session file: a new session is created, an existing one updated."""
    if request.method not in ("GET", "POST"):
        return HttpResponseNotAllowed(["GET", "POST"])
    if not (model_admin.has_change_permission(request) and request.user.has_perm(CAN_CREATE_SESSION)):
        raise PermissionDenied(refusal(CAN_EDIT_STATE, CAN_CREATE_SESSION, doing="import sessions"))
    return import_page(
        request,
        session=None,
        after=lambda imported: reverse("admin:sessions_app_workflowsession_change", args=[imported.pk]),
        context=_context(model_admin, request, "Import a session"),
    )
