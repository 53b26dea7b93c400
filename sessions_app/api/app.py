"""The API object, its routers, and its URLs: `/api/v1/...`, the schema and the docs page.

Every API URL answers for itself: its views are exempt from the site's login redirect (a program
gets a 401 in the API's error shape instead), a wrong method is a 405 in that shape, and a path
under `/api/v1/` that names no endpoint is a 404 in it too. The docs page is Swagger UI from
ninja's packaged static files, with no inline script, so it runs under the site's CSP.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import URLPattern, URLResolver, path, re_path, reverse
from ninja import NinjaAPI

from sessions_app.api import caches, events, history, runs, sessions, state, transfer
from sessions_app.api.auth import API_AUTH
from sessions_app.api.errors import ApiError, error_response, errors_install
from sessions_app.urls import SessionIdConverter  # noqa: F401 -- registers the path converter the routes use

DESCRIPTION = """The wfsite JSON API. Authenticate with `Authorization: Bearer <token>` (make a token
on the dashboard's API tokens page) or the browser's login (writes then need the `X-CSRFToken`
header). Session ids in paths are encoded as on the pages: `%` as `%25` and `/` as `%2F`, then the
whole segment percent-encoded as usual; every response gives the URLs it names, so follow them.
Errors are `{"error": {"code", "message", "details"}}`."""


class Api(NinjaAPI):
    """The NinjaAPI whose operation ids are the endpoints' own names (`state_patch`, not a module path)."""

    def get_openapi_operation_id(self, operation: Any) -> str:
        return str(operation.view_func.__name__)


api = Api(
    title="wfsite API",
    version="1",
    description=DESCRIPTION,
    auth=API_AUTH,
    urls_namespace="api",
    docs_url="/docs",
    openapi_url="/openapi.json",
)
errors_install(api)
for module in (sessions, state, caches, runs, events, history, transfer):
    api.add_router("/", module.router)


def _not_allowed(response: HttpResponse) -> HttpResponse:
    allowed = sorted(part.strip() for part in response.get("Allow", "").split(",") if part.strip())
    answer = error_response(
        ApiError(405, f"This URL answers {', '.join(allowed)}.", details={"allowed": allowed})
    )
    answer["Allow"] = ", ".join(allowed)
    return answer


def _answering_for_itself(view: Callable[..., Any]) -> Callable[..., Any]:
    """Exempt a view from the login redirect and give its 405 the API's error shape."""
    if iscoroutinefunction(view):

        @wraps(view)
        async def async_checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            response = await view(request, *args, **kwargs)
            return _not_allowed(response) if response.status_code == 405 else response

        return login_not_required(async_checked)

    @wraps(view)
    def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        return _not_allowed(response) if response.status_code == 405 else response

    return login_not_required(checked)


@login_not_required
def api_index(request: HttpRequest) -> HttpResponse:
    """Say where the schema, the docs and the first resource are."""
    return JsonResponse(
        {
            "openapi": reverse("api:openapi-json"),
            "docs": reverse("api:openapi-view"),
            "sessions": reverse("api:session_list"),
        }
    )


@login_not_required
def api_not_found(request: HttpRequest, rest: str = "") -> HttpResponse:
    """Answer a path under the API that names no endpoint."""
    return error_response(ApiError(404, f"No API endpoint at {json.dumps(request.path)}; see /api/v1/docs."))


def api_urls() -> tuple[list[URLPattern | URLResolver], str]:
    """Return the API's URL patterns and app name, to `include` under `api/v1/` with namespace "api"."""
    patterns, app_name, _ = api.urls
    wrapped: list[URLPattern | URLResolver] = []
    for pattern in patterns:
        assert isinstance(pattern, URLPattern)
        if pattern.name == "api-root":  # ninja's root (which it reverses for the schema): our index
            wrapped.append(path("", api_index, name=pattern.name))
            continue
        wrapped.append(path(str(pattern.pattern), _answering_for_itself(pattern.callback), name=pattern.name))
    wrapped.append(re_path(r"^(?P<rest>.*)$", api_not_found, name="not_found"))
    return wrapped, app_name
