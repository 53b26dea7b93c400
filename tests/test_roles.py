from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command

from sessions_app.roles import CAN_DELETE_SESSION, CAN_EDIT_STATE, CAN_RUN, CAN_VIEW

pytestmark = pytest.mark.django_db

EXPECTED = {
    "viewer": {CAN_VIEW},
    "runner": {CAN_VIEW, CAN_RUN},
    "editor": {CAN_VIEW, CAN_RUN, CAN_EDIT_STATE},
    "admin": {CAN_VIEW, CAN_RUN, CAN_EDIT_STATE, CAN_DELETE_SESSION},
}
ALL = set().union(*EXPECTED.values())


@pytest.mark.parametrize("role", list(EXPECTED))
def test_each_role_has_its_capabilities_and_no_others(role: str, django_user_model) -> None:
    call_command("create_roles")
    user = django_user_model.objects.create_user(f"{role}-user", password="x")
    user.groups.add(Group.objects.get(name=role))
    user = django_user_model.objects.get(pk=user.pk)  # fresh permission cache

    for perm in EXPECTED[role]:
        assert user.has_perm(perm), perm
    for perm in ALL - EXPECTED[role]:
        assert not user.has_perm(perm), perm


def test_create_roles_is_idempotent_and_adds_users(
    django_user_model, capsys: pytest.CaptureFixture[str]
) -> None:
    django_user_model.objects.create_user("ann", password="x")
    call_command("create_roles")
    call_command("create_roles", add=["runner", "ann"])
    assert Group.objects.count() == 4
    assert list(django_user_model.objects.get(username="ann").groups.values_list("name", flat=True)) == [
        "runner"
    ]
    assert "ann is now a runner." in capsys.readouterr().out
    with pytest.raises(CommandError, match="No such role or user"):
        call_command("create_roles", add=["wizard", "ann"])
