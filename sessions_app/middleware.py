"""Middleware: a login for every page, a Content-Security-Policy, bodies within limits, a "busy" page.

`SiteLoginRequiredMiddleware` is Django's `LoginRequiredMiddleware`: every view needs a logged-in
user unless it is marked `@login_not_required` (the login and password-reset pages, the admin's
login, `/healthz`, `/readyz`, `/metrics` with its own guard, and the event stream, which answers
a plain 403 because an EventSource cannot follow a redirect). The admin's pages send a visitor to
the admin's own login, as they would without it.

Django 5.2 has no CSP support of its own. The policy is `WFSITE_CONTENT_SECURITY_POLICY`; a view
that sets its own header keeps it.

Django refuses a form body over `DATA_UPLOAD_MAX_MEMORY_SIZE` (or with more than
`DATA_UPLOAD_MAX_NUMBER_FIELDS` fields) with a bare "Bad Request (400)" from wherever the body
is first read. `RequestLimitsMiddleware` reads form bodies first, so the person gets a 413 (or
400) that says which limit. A body with files may be `WFSITE_MAX_UPLOAD_BYTES` larger; one over
that is refused by its Content-Length before it is parsed. Parsing here is what
CsrfViewMiddleware would do next anyway, so views keep Django's default upload handlers.

`DatabaseBusyMiddleware` answers a view whose write found the database locked past its busy
timeout (another process holding SQLite's write lock: a long import, a backup) with a 503 page
in the site's layout and `Retry-After`, instead of a 500: nothing was written, and trying again
later works.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.db import DatabaseError, OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.deprecation import MiddlewareMixin

from sessions_app.limits import size_text
from sessions_app.workflow.errors import StorageBusyError

logger = logging.getLogger("wfsite.busy")

CSP_HEADER = "Content-Security-Policy"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_NOTHING = "Nothing was saved."
# Seconds a person (or program) is told to wait before trying a write again.
BUSY_RETRY_AFTER_SECONDS = 10
_API_PREFIX = "/api/"


class ContentSecurityPolicyMiddleware(MiddlewareMixin):
    """Add the site's Content-Security-Policy to responses that do not have one."""

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        policy = settings.WFSITE_CONTENT_SECURITY_POLICY
        if policy and CSP_HEADER not in response:
            response[CSP_HEADER] = policy
        return response


class SiteLoginRequiredMiddleware(LoginRequiredMiddleware):
    """Send a visitor who is not logged in to log in: the admin's login for admin pages."""

    def handle_no_permission(self, request: HttpRequest, view_func: Any) -> HttpResponseRedirect:
        match = request.resolver_match
        if match is not None and "admin" in match.namespaces:
            return redirect_to_login(
                request.get_full_path(), reverse("admin:login", current_app=match.namespace)
            )
        return super().handle_no_permission(request, view_func)


def _refuse(status: int, message: str) -> HttpResponse:
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


class RequestLimitsMiddleware(MiddlewareMixin):
    """Answer a request over the body limits with a status and a message that name the limit."""

    def process_request(self, request: HttpRequest) -> HttpResponse | None:
        # The JSON API reads its own bodies, within its own limit, and refuses them as JSON.
        if request.method not in _BODY_METHODS or request.path_info.startswith(_API_PREFIX):
            return None
        form_limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        upload = request.content_type == "multipart/form-data"
        limit = settings.WFSITE_MAX_UPLOAD_BYTES + (form_limit or 0) if upload else form_limit
        length = _content_length(request)
        if limit is not None and length > limit:
            what = "upload" if upload else "form"
            return _refuse(
                413, f"The {what} is {size_text(length)}; the limit is {size_text(limit)}. {_NOTHING}"
            )
        try:
            request.POST  # noqa: B018 -- parsing applies Django's limits, also to a body sent without a length
        except RequestDataTooBig:
            fields = "The form's fields (files not counted) are" if upload else "The form is"
            return _refuse(413, f"{fields} over the limit of {size_text(form_limit or 0)}. {_NOTHING}")
        except TooManyFieldsSent:
            limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
            return _refuse(400, f"The form sent too many fields; the limit is {limit}. {_NOTHING}")
        except TooManyFilesSent:
            limit = settings.DATA_UPLOAD_MAX_NUMBER_FILES
            return _refuse(400, f"The form sent too many files; the limit is {limit}. {_NOTHING}")
        return None


def _content_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def is_database_busy(error: BaseException) -> bool:
    """Whether `error` means the database stayed locked by another writer past the busy timeout."""
    if isinstance(error, StorageBusyError):
        return True
    # SQLite says "database is locked" (or "database table is locked"), PostgreSQL's lock_timeout
    # "canceling statement due to lock timeout".
    return isinstance(error, OperationalError) and any(
        words in str(error).lower() for words in ("is locked", "lock timeout")
    )


class DatabaseBusyMiddleware(MiddlewareMixin):
    """Answer a view that found the database locked with a 503 "busy, try again" page and Retry-After."""

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_database_busy(exception):
            return None
        logger.warning(
            "%s %s: the database is busy (%s); answered 503", request.method, request.path, exception
        )
        context = {"retry_after": BUSY_RETRY_AFTER_SECONDS}
        htmx = getattr(request, "htmx", False)
        template = "503.html#busy-message" if htmx else "503.html"
        try:
            response = render(request, template, context, status=503)
        except DatabaseError:
            # The layout reads the user; if even reads fail, say the same thing in plain text.
            response = _refuse(
                503, f"The site is busy: nothing was saved. Try again in {BUSY_RETRY_AFTER_SECONDS} s."
            )
        response["Retry-After"] = str(BUSY_RETRY_AFTER_SECONDS)
        return response
