"""Making the role groups (`manage.py create_roles`)."""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission
from django.db import transaction

from sessions_app.roles import CAN_MANAGE_ROLES, ROLES
from sessions_app.services.permissions import Actor, actor_require


@transaction.atomic
def roles_sync(*, actor: Actor) -> dict[str, int]:
    """Create or update the role groups so each has exactly its permissions; return counts."""
    actor_require(actor, *CAN_MANAGE_ROLES)
    counts = {}
    for name, perms in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        wanted = []
        for perm in perms:
            app_label, codename = perm.split(".")
            wanted.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
        group.permissions.set(wanted)
        counts[name] = len(wanted)
    return counts
