"""The dashboard's views: thin functions that parse input, call a service or selector, and render."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    """A request that went through django-htmx's middleware."""

    htmx: HtmxDetails


class LoggedInRequest(HtmxHttpRequest):
    """A request the login middleware let through: its user is a person, never AnonymousUser."""

    user: User


def wants_partial(request: HtmxHttpRequest) -> bool:
    """Whether to answer with a partial: an htmx request, but not htmx restoring a page from history."""
    return bool(request.htmx) and not request.htmx.history_restore_request
