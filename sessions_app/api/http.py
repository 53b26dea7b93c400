"""HTTP details the API's state endpoints share: reading a JSON body within its limit, versions as ETags.

A state's ETag is its version, `"7"`. Writes that replace or patch a state must say which version
they were made from (`If-Match: "7"`): none is a 428, another version than the latest a 412.
Bodies are read here rather than by ninja so their limit is `WFSITE_API_MAX_BODY_BYTES` (a state
may be far larger than a form) and each way a body can be wrong has its own status and message.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from django.conf import settings
from django.http import HttpRequest

from sessions_app.api.errors import ApiError
from sessions_app.limits import size_text

_ETAG = re.compile(r'^\s*(?:W/)?"?(\d{1,19})"?\s*$')


def etag(version: int) -> str:
    """Return the ETag of a state at `version`."""
    return f'"{version}"'


def if_match_version(request: HttpRequest) -> int:
    """Return the version `If-Match` names; 428 when there is none, 400 when it is not a version."""
    raw = request.headers.get("If-Match")
    if raw is None or raw.strip() == "*":
        raise ApiError(
            428,
            'Say which version you changed: send `If-Match` with the ETag from GET …/state (e.g. If-Match: "7"). '
            "Nothing was saved.",
            details={"header": "If-Match"},
        )
    match = _ETAG.match(raw)
    if match is None:
        raise ApiError(400, f'If-Match must be one version\'s ETag, like "7"; got {raw[:40]!r}.')
    return int(match.group(1))


def if_none_match(request: HttpRequest, version: int) -> bool:
    """Whether the client already holds this version (`If-None-Match`)."""
    raw = request.headers.get("If-None-Match")
    return raw is not None and any(part.strip() in (etag(version), "*") for part in raw.split(","))


def _content_length(request: HttpRequest) -> int | None:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None


def _too_large(size: int | None, limit: int) -> ApiError:
    what = f"The body is {size_text(size)}" if size else "The body is larger than the limit"
    return ApiError(
        413,
        f"{what}; the limit is {size_text(limit)} (WFSITE_API_MAX_BODY_BYTES). Nothing was saved.",
        details={"limit": limit},
    )


def read_body(request: HttpRequest) -> bytes:
    """Return the raw body, refusing one over the limit before reading it when its length says so."""
    limit = settings.WFSITE_API_MAX_BODY_BYTES
    length = _content_length(request)
    if length is not None and length > limit:
        raise _too_large(length, limit)
    # A body already read (by a middleware) is kept on the request; otherwise read no more than needed.
    raw = request._body if hasattr(request, "_body") else request.read(limit + 1)
    if len(raw) > limit:
        raise _too_large(None, limit)
    return raw


def read_json(request: HttpRequest, *, media_types: tuple[str, ...] = ("application/json",)) -> Any:
    """Return the body parsed as JSON; 415 for another media type, 400 for text that is not JSON."""
    if request.content_type not in media_types:
        raise ApiError(
            415,
            f"Send the body as {' or '.join(media_types)}, not {request.content_type or 'nothing'}.",
            details={"accepted": list(media_types)},
            headers={"Accept-Patch": ", ".join(media_types)} if request.method == "PATCH" else None,
        )
    raw = read_body(request)
    if not raw.strip():
        raise ApiError(400, "The body is empty; send a JSON document. Nothing was saved.")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise ApiError(400, f"The body is not valid JSON: {error}. Nothing was saved.") from None
