"""The role check every state-changing service makes before it writes."""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied

Actor = AbstractBaseUser | AnonymousUser | None


def actor_require(actor: Actor, *perms: str) -> None:
    """Raise PermissionDenied unless `actor` has every permission; None is the system (commands)."""
    if actor is None:
        return
    missing = [perm for perm in perms if not actor.has_perm(perm)]
    if missing:
        raise PermissionDenied(f"{actor} may not do this (needs {', '.join(missing)}).")
