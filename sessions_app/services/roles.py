from __future__ import annotations

from django.contrib.auth.models import Group, Permission
from django.db import transaction

from sessions_app.roles import ROLES


@transaction.atomic
def roles_sync() -> dict[str, int]:
    """Create or update the role groups so each has exactly its permissions; return counts."""
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
