"""The role an endpoint needs, checked before it reads or writes, refused as a 403 that names the role.

Services check their own permission again when they write; asking here first lets the answer
say which role is needed in a field a program can read (`details.role`).
"""

from __future__ import annotations

from django.http import HttpRequest

from sessions_app.api.errors import ApiError
from sessions_app.roles import refusal, role_needed


def role_require(request: HttpRequest, *perms: str, doing: str) -> None:
    """Raise a 403 ApiError unless the caller has every one of `perms`."""
    user = request.user
    if all(user.has_perm(perm) for perm in perms):
        return
    role = role_needed(*perms)
    have = sorted(group.name for group in user.groups.all()) if user.is_authenticated else []
    raise ApiError(
        403,
        refusal(*perms, doing=doing),
        details={"role": role or None, "permissions": list(perms), "your_roles": have},
    )
