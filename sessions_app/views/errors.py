"""The 403, 404 and 500 pages: what happened, in the dashboard's layout or (under /admin/) the admin's.

A 403 names the role the page needs (the message of the PermissionDenied, see `roles.refusal`),
the roles the person has, and what each role allows. Every page links back. The 500 page is
rendered without the request's context processors or the database, which may be what failed.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse, HttpResponseServerError
from django.shortcuts import render
from django.template import loader
from django.urls import NoReverseMatch, reverse
from django.utils.http import url_has_allowed_host_and_scheme

from sessions_app.models import WorkflowSession
from sessions_app.roles import ROLE_SUMMARIES, ROLES

NO_ROLE_403 = "Your account does not have the permission this page needs."
ADMIN_SESSION_PAGES = "sessions_app_workflowsession_"  # the session admin's own URL names start so
GENERIC_404 = "There is nothing at this address. The link may be out of date, or mistyped."


def _in_admin(request: HttpRequest) -> bool:
    return request.path.startswith(reverse("admin:index"))


def _session_url(request: HttpRequest) -> str | None:
    """Return the page of the session the refused page was about, on the dashboard or in the admin."""
    match = request.resolver_match
    if match is None:
        return None
    if "session_id" in match.kwargs:
        return reverse("session_detail", args=[match.kwargs["session_id"]])
    if "object_id" in match.kwargs and str(match.url_name).startswith(ADMIN_SESSION_PAGES):
        return reverse("admin:sessions_app_workflowsession_change", args=[match.kwargs["object_id"]])
    return None


def _links(request: HttpRequest, *, with_session: bool) -> list[tuple[str, str]]:
    """Return where to go from an error page: back, the session it was about, the start page."""
    links = []
    referer = request.META.get("HTTP_REFERER", "")
    if (
        referer
        and url_has_allowed_host_and_scheme(referer, {request.get_host()})
        and referer != request.build_absolute_uri()
    ):
        links.append(("Back to the previous page", referer))
    session_url = _session_url(request) if with_session else None
    if session_url:
        links.append(("Back to the session", session_url))
    if _in_admin(request):
        links.append(("Back to the admin", reverse("admin:index")))
    else:
        links.append(("Back to the sessions", reverse("session_list")))
    return links


def _your_roles(user: Any) -> str:
    if not user.is_authenticated:
        return ""
    if user.is_superuser:
        return "every role (you are a superuser)"
    names = set(user.groups.filter(name__in=ROLES).values_list("name", flat=True))
    return ", ".join(name for name in ROLES if name in names) or "none"


def _render(request: HttpRequest, context: dict[str, Any], status: int) -> HttpResponse:
    if _in_admin(request):
        context = {**admin.site.each_context(request), "title": context["heading"], **context}
        return render(request, "errors/admin.html", context, status=status)
    return render(request, "errors/site.html", context, status=status)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Say that the page needs a role the person does not have, and which."""
    message = str(exception) or NO_ROLE_403
    context = {
        "status": 403,
        "heading": "You can't open this page",
        "message": message,
        "needed_role": next((name for name in ROLES if f"the {name} role" in message), ""),
        "your_roles": _your_roles(request.user),
        "roles": list(ROLE_SUMMARIES.items()),
        "links": _links(request, with_session=True),
    }
    return _render(request, context, 403)


def _not_found_message(request: HttpRequest, exception: Exception) -> str:
    kwargs = request.resolver_match.kwargs if request.resolver_match else {}
    session_id = kwargs.get("session_id")
    if isinstance(session_id, str) and not WorkflowSession.objects.filter(session_id=session_id).exists():
        return (
            f"There is no session with the id “{session_id}”. It may have been deleted, or the link mistyped."
        )
    message = exception.args[0] if exception.args else None
    # get_object_or_404's "No StateEntry matches the given query." names a model, not a thing a person knows.
    if isinstance(message, str) and message and not message.endswith("matches the given query."):
        return message
    return GENERIC_404


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Say that there is nothing at this address, and what it was looking for when that is known."""
    context = {
        "status": 404,
        "heading": "Page not found",
        "message": _not_found_message(request, exception),
        "links": _links(request, with_session=False),
    }
    return _render(request, context, 404)


def server_error(request: HttpRequest) -> HttpResponse:
    """Say that the server failed, without touching the database or the request's context."""
    admin_page = request.path.startswith("/admin/")
    try:
        home = reverse("admin:index") if admin_page else reverse("session_list")
    except NoReverseMatch:
        home = "/"
    heading = "Something went wrong on the server"
    context = {
        "status": 500,
        "heading": heading,
        "title": heading,
        "message": "The server hit an error and could not finish this request. It is not something you did. "
        "Try again in a moment; if it keeps happening, the server's log says what failed.",
        "links": [("Back to the admin" if admin_page else "Back to the sessions", home)],
    }
    template = loader.get_template("errors/admin.html" if admin_page else "errors/site.html")
    return HttpResponseServerError(template.render(context))
