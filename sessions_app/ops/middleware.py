"""A request id, one log line and a latency sample for every request.

Outermost in MIDDLEWARE, so it times and logs everything, static files included. The id is the
client's `X-Request-ID` when that is short and plain (a proxy may set it), else a new one; it is
sent back in `X-Request-ID` and named on every line logged while the request is handled.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from django.utils.encoding import escape_uri_path

from sessions_app.ops.instruments import REQUEST_LATENCY
from sessions_app.ops.logs import request_id_from, request_id_var

REQUEST_ID_HEADER = "X-Request-ID"
# Any other method is counted as "other", so a client cannot grow the metric's label set.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
logger = logging.getLogger("wfsite.requests")


def view_label(request: HttpRequest) -> str:
    """Return the name of the view that answered, bounded to the URL names the site has."""
    match = getattr(request, "resolver_match", None)
    if match is not None:
        return match.view_name or "unnamed"
    if request.path_info.startswith("/" + settings.STATIC_URL.lstrip("/")):
        return "static"
    return "unmatched"


class RequestMetricsMiddleware:
    """Give each request an id, then log and time it."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase | Awaitable[HttpResponseBase]]):
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if self.is_async:
            return self.__acall__(request)
        token = request_id_var.set(request_id_from(request.headers.get(REQUEST_ID_HEADER)))
        try:
            started = time.perf_counter()
            response = self.get_response(request)
            return self._finish(request, response, started)  # type: ignore[arg-type]
        finally:
            request_id_var.reset(token)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        # Each ASGI request runs in its own task, whose context ends with it: the id is not reset,
        # so lines logged while a streaming response is sent still name it.
        request_id_var.set(request_id_from(request.headers.get(REQUEST_ID_HEADER)))
        started = time.perf_counter()
        response = await self.get_response(request)  # type: ignore[misc]
        return self._finish(request, response, started)

    def _finish(self, request: HttpRequest, response: HttpResponseBase, started: float) -> HttpResponseBase:
        elapsed = time.perf_counter() - started
        view = view_label(request)
        status = response.status_code
        method = request.method if request.method in METHODS else "other"
        REQUEST_LATENCY.labels(view=view, method=method, status=str(status)).observe(elapsed)
        response[REQUEST_ID_HEADER] = request_id_var.get()
        path = escape_uri_path(request.path)
        logger.info(
            "%s %s %s %.1f ms (%s)",
            request.method,
            path,
            status,
            elapsed * 1000,
            view,
            extra={
                "request_id": request_id_var.get(),
                "method": request.method,
                "path": path,
                "status": status,
                "duration_ms": round(elapsed * 1000, 1),
                "view": view,
            },
        )
        return response
