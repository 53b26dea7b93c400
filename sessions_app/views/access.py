"""Who may open a dashboard page: `role_required` refuses with a 403 that names the role needed."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from sessions_app.roles import refusal

View = TypeVar("View", bound=Callable[..., HttpResponse])


def role_required(perm: str, *, doing: str) -> Callable[[View], View]:
    """Refuse a user without `perm`, saying which role `doing` needs; put it under `login_required`."""

    def decorator(view: View) -> View:
        @wraps(view)
        def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.has_perm(perm):
                raise PermissionDenied(refusal(perm, doing=doing))
            return view(request, *args, **kwargs)

        return checked  # type: ignore[return-value]

    return decorator
