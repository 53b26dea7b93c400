"""One error shape for every API answer that is not a success: `{"error": {"code", "message", "details"}}`.

Endpoints raise `ApiError` (or let a service's exception through); `errors_install` maps every
exception the API can meet onto that shape, so a client never sees an HTML page or ninja's
default `{"detail": ...}`.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from sessions_app.services.rate_limits import RunRateLimitedError
from sessions_app.services.runs import RunConflictError
from sessions_app.state.changes import path_text
from sessions_app.state.versions import VersionUnavailableError
from sessions_app.workflow.errors import StateConflictError

logger = logging.getLogger("wfsite.api")

CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    412: "precondition_failed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid",
    428: "precondition_required",
    429: "rate_limited",
    500: "server_error",
}
AUTHENTICATE = 'Bearer realm="wfsite"'


class ApiError(Exception):
    """An answer other than success, with its status, a code, a sentence, and details for programs."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status, self.message, self.details = status, message, details
        self.code = code or CODES.get(status, "error")
        self.headers = headers or {}
        super().__init__(message)


def error_response(error: ApiError) -> HttpResponse:
    """Render an ApiError in the API's one error shape."""
    body = {"error": {"code": error.code, "message": error.message, "details": error.details}}
    response = JsonResponse(body, status=error.status, json_dumps_params={"ensure_ascii": False})
    if error.status == 401:
        response["WWW-Authenticate"] = AUTHENTICATE
    for name, value in error.headers.items():
        response[name] = value
    return response


def _django_invalid(error: DjangoValidationError) -> ApiError:
    details = error.message_dict if hasattr(error, "error_dict") else {"__all__": error.messages}
    return ApiError(422, " ".join(error.messages), details=details)


def _where(loc: Any) -> str:
    """Say where a value is wrong: ninja's ("body", "body", "inputs") reads "body.inputs"."""
    parts = [str(part) for part in loc]
    return ".".join(part for n, part in enumerate(parts) if n == 0 or part != parts[n - 1])


def _ninja_invalid(error: NinjaValidationError) -> ApiError:
    problems = [
        {"where": _where(item.get("loc", ())), "message": item.get("msg", "")} for item in error.errors
    ]
    text = "; ".join(f"{p['where']}: {p['message']}" for p in problems[:5])
    return ApiError(422, f"The request is not valid: {text}.", details=problems)


def as_api_error(exc: Exception) -> ApiError:
    """Return the ApiError that answers `exc`."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, AuthenticationError):
        return ApiError(401, "Send `Authorization: Bearer <token>` or log in; this request carried neither.")
    if isinstance(exc, HttpError):
        return ApiError(exc.status_code, str(exc.message))
    if isinstance(exc, RequestDataTooBig):
        return ApiError(413, "The body is over DATA_UPLOAD_MAX_MEMORY_SIZE; nothing was saved.")
    if isinstance(exc, NinjaValidationError):
        return _ninja_invalid(exc)
    if isinstance(exc, Http404 | VersionUnavailableError):
        return ApiError(404, str(exc) or "Not found.")
    if isinstance(exc, PermissionDenied):
        return ApiError(403, str(exc) or "You may not do this.")
    if isinstance(exc, DjangoValidationError):
        return _django_invalid(exc)
    if isinstance(exc, StateConflictError):
        paths = [path_text(path) for path in exc.paths]
        return ApiError(409, str(exc), details={"paths": paths})
    if isinstance(exc, RunConflictError):
        return ApiError(409, str(exc), details={"status": exc.status})
    if isinstance(exc, RunRateLimitedError):
        retry = str(exc.retry_after)
        return ApiError(
            429, str(exc), details={"retry_after": exc.retry_after}, headers={"Retry-After": retry}
        )
    logger.exception("API error", exc_info=exc)
    return ApiError(500, "Something went wrong on our side; nothing was changed. Try again later.")


def errors_install(api: NinjaAPI) -> None:
    """Answer every exception an endpoint raises in the one error shape."""

    def handle(request: HttpRequest, exc: Exception) -> HttpResponse:
        return error_response(as_api_error(exc))

    api.exception_handler(Exception)(handle)
    for kind in (
        HttpError,
        NinjaValidationError,
        Http404,
        PermissionDenied,
        DjangoValidationError,
        RequestDataTooBig,
    ):
        api.exception_handler(kind)(handle)
