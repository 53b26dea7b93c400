"""Who is calling: a bearer token (programs), or the browser's session login (with CSRF enforced).

A request that carries an `Authorization` header is judged by it alone: a bad token is a 401
even when the browser also sends a session cookie, so a client never acts as someone else by
accident. A request with neither is a 401 too; a session request that changes something needs
Django's CSRF token (the `X-CSRFToken` header), as the dashboard's forms do.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja.security import APIKeyCookie, HttpBearer

from sessions_app.api.errors import ApiError
from sessions_app.services.api_tokens import TokenRefusedError, api_token_authenticate


class BearerToken(HttpBearer):
    """`Authorization: Bearer wfs_...`, a token made on the API tokens page."""

    def __call__(self, request: HttpRequest) -> Any:
        value = request.headers.get(self.header)
        if value is not None and value.split(" ")[0].lower() != self.openapi_scheme:
            raise ApiError(401, "Send the token as `Authorization: Bearer <token>`.")
        return super().__call__(request)

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        try:
            user = api_token_authenticate(text=token)
        except TokenRefusedError as error:
            raise ApiError(401, str(error)) from None
        request.user = user
        return user


class SessionLogin(APIKeyCookie):
    """The dashboard's login cookie; CSRF is checked for writes, as Django checks the pages' forms."""

    param_name = settings.SESSION_COOKIE_NAME

    def _get_key(self, request: HttpRequest) -> str | None:
        if "Authorization" in request.headers or self.param_name not in request.COOKIES:
            return None
        return super()._get_key(request)

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        if key is None:
            return None
        user = request.user
        return user if user.is_authenticated else None


API_AUTH = [BearerToken(), SessionLogin()]
