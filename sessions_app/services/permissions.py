"""The role check every state-changing service makes before it writes."""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied

from sessions_app.roles import role_needed

Actor = AbstractBaseUser | AnonymousUser | None


def actor_require(actor: Actor, *perms: str) -> None:
    """Raise PermissionDenied unless `actor` has every permission; None is the system (commands)."""
    if actor is None:
        return
    missing = [perm for perm in perms if not actor.has_perm(perm)]
    if missing:
        role = role_needed(*perms)
        needs = f"the {role} role" if role else ", ".join(missing)
        raise PermissionDenied(f"{actor} may not do this: it needs {needs}.")
