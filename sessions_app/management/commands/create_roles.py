from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError, CommandParser

from sessions_app.roles import ROLES
from sessions_app.services.roles import roles_sync


class Command(BaseCommand):
    help = "Create (or update) the viewer, runner, editor and admin groups; optionally add users to one."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--add", nargs=2, metavar=("ROLE", "USERNAME"), help="Also put USERNAME in ROLE.")

    def handle(self, *args: Any, **options: Any) -> None:
        for name, count in roles_sync(actor=None).items():
            self.stdout.write(f"{name}: {count} permissions")
        if options["add"]:
            role, username = options["add"]
            self._add(role, username)

    def _add(self, role: str, username: str) -> None:
        """Put the user in the role's group, saying which of the two does not exist."""
        if role not in ROLES:
            raise CommandError(f"There is no role {role!r}. The roles are: {', '.join(ROLES)}.")
        users = get_user_model()
        try:
            user = users.objects.get_by_natural_key(username)
        except users.DoesNotExist:
            raise CommandError(
                f"There is no user {username!r}. Add them first in the admin (/admin/auth/user/add/), "
                "then run this again. The roles exist now."
            ) from None
        user.groups.add(Group.objects.get(name=role))
        self.stdout.write(f"{username} is now a {role}.")
