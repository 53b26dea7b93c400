"""The role check every state-changing service makes before it writes.

A service that writes on someone's behalf takes an `actor` (or `user`) and calls `actor_require`
first, so a write reached from a page, the admin, the API or a task is refused the same way. `None`
is the system: management commands and the worker's own bookkeeping (claiming, heartbeats,
events, failing a dead run), which no person reaches directly.
"""

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
    missing = [perm for perm in perms if not actor.has_perm(perm)]  # type: ignore[union-attr]  # auth.User has it
    if missing:
        role = role_needed(*perms)
        needs = f"the {role} role" if role else ", ".join(missing)
        raise PermissionDenied(f"{actor} may not do this: it needs {needs}.")
