"""A 400 that says why: views raise `RequestRefused` for input that cannot be served, and the
site's `handler400` answers with its reason (Django's own 400 page hides every reason, since its
`SuspiciousOperation` messages may hold what an attacker sent)."""

from __future__ import annotations

from django.core.exceptions import BadRequest
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.views import defaults


class RequestRefused(BadRequest):
    """A request refused for a reason that is safe to show whoever sent it."""


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Answer 400: with the reason for a RequestRefused, else with Django's page."""
    if isinstance(exception, RequestRefused):
        # Plain text: the reason may quote the request, and text/plain (with nosniff) is never markup.
        return HttpResponseBadRequest(f"Bad request: {exception}\n", content_type="text/plain; charset=utf-8")
    return defaults.bad_request(request, exception)
