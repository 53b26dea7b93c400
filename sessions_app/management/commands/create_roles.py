from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError, CommandParser

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
            try:
                group = Group.objects.get(name=role)
                user = get_user_model().objects.get(username=username)
            except (Group.DoesNotExist, get_user_model().DoesNotExist) as error:
                raise CommandError(f"No such role or user: {role!r}, {username!r}") from error
            user.groups.add(group)
            self.stdout.write(f"{username} is now a {role}.")
