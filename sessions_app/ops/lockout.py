"""What a person locked out by django-axes sees: the login page again, saying why and until when.

Axes counts failed logins per user name and per client address (`AXES_LOCKOUT_PARAMETERS`), in
the database, over a sliding window of `AXES_COOLOFF_TIME`. A name or an address is locked while
the failures still inside the window reach `AXES_FAILURE_LIMIT`; `lockout_until` works out from
those rows when that stops being true. Both login pages, the dashboard's and the admin's, answer
429 with `Retry-After` and their own form, the message in place of the usual error.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from axes.helpers import get_client_parameters, get_client_username, get_cool_off, get_failure_limit
from axes.models import AccessAttempt
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.forms import AuthenticationForm
from django.forms.utils import ErrorDict
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

NAME, ADDRESS = "username", "ip_address"


def lockout_until(request: HttpRequest, credentials: dict[str, Any] | None) -> tuple[datetime, str]:
    """Return when the lockout ends, and what it is on ("username" or "ip_address")."""
    now = timezone.now()
    cool_off = get_cool_off(request)
    limit = get_failure_limit(request, credentials)
    username = get_client_username(request, credentials)
    ip_address = getattr(request, "axes_ip_address", None)
    user_agent = getattr(request, "axes_user_agent", "")
    ends, on = now + cool_off, ""
    found = None
    for filters in get_client_parameters(username, ip_address, user_agent, request, credentials):
        rows = (
            AccessAttempt.objects.filter(**filters, attempt_time__gte=now - cool_off)
            .order_by("-attempt_time")
            .values_list("attempt_time", "failures_since_start")
        )
        total = 0
        for attempt_time, failures in rows:
            total += failures
            if total >= limit:  # the lock lifts once this row leaves the window
                if found is None or attempt_time + cool_off > found:
                    found, on = attempt_time + cool_off, "+".join(filters)
                break
    return (found or ends), on


def lockout_message(*, until: datetime, on: str, username: str, now: datetime | None = None) -> str:
    """Return the sentence that says what is locked and when to try again."""
    seconds = max(1, math.ceil((until - (now or timezone.now())).total_seconds()))
    minutes = math.ceil(seconds / 60)
    wait = "1 minute" if minutes == 1 else f"{minutes} minutes"
    what = f"for the user name “{username}”" if on == NAME and username else "from your address"
    at = timezone.localtime(until).strftime("%H:%M %Z")
    return f"Too many failed logins {what}. Try again in {wait} (after {at})."


def _locked_form(
    form_class: type[AuthenticationForm], request: HttpRequest, message: str, username: str
) -> Any:
    form = form_class(request, initial={"username": username})
    # An unbound form showing one error: binding it would authenticate, which would count again.
    form._errors = ErrorDict(  # type: ignore[attr-defined]  # set by __init__; the stubs omit it
        {"__all__": form.error_class([message], error_class="nonfield")}
    )
    return form


def lockout_response(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """Answer a locked-out login with its login page, the message, 429 and Retry-After."""
    # AxesMiddleware passes different arguments under WSGI and ASGI; the request has all we need.
    credentials = getattr(request, "axes_credentials", None)
    username = get_client_username(request, credentials) or ""
    until, on = lockout_until(request, credentials)
    now = timezone.now()
    message = lockout_message(until=until, on=on, username=username, now=now)
    next_url = request.POST.get(REDIRECT_FIELD_NAME, "")
    match = getattr(request, "resolver_match", None)
    if match is not None and match.view_name == "admin:login":
        form = _locked_form(AdminAuthenticationForm, request, message, username)
        context = {
            **admin.site.each_context(request),
            "title": "Log in",
            "subtitle": None,
            "app_path": request.get_full_path(),
            "username": username,
            "form": form,
            REDIRECT_FIELD_NAME: next_url,
        }
        response = render(request, "admin/login.html", context, status=429)
    else:
        form = _locked_form(AuthenticationForm, request, message, username)
        response = render(request, "registration/login.html", {"form": form, "next": next_url}, status=429)
    response["Retry-After"] = str(max(1, math.ceil((until - now).total_seconds())))
    return response
