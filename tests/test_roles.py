from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command

from sessions_app.roles import CAN_DELETE_SESSION, CAN_EDIT_STATE, CAN_RUN, CAN_VIEW, refusal, role_needed

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


def test_create_roles_says_whether_the_role_or_the_user_is_missing(django_user_model) -> None:
    django_user_model.objects.create_user("ann", password="x")

    with pytest.raises(CommandError, match=r"There is no role 'wizard'\. The roles are: viewer, runner"):
        call_command("create_roles", add=["wizard", "ann"])
    with pytest.raises(CommandError, match=r"There is no user 'bob'\. Add them first in the admin"):
        call_command("create_roles", add=["runner", "bob"])
    with pytest.raises(CommandError, match="There is no role 'wizard'"):
        call_command("create_roles", add=["wizard", "bob"])  # the role is checked first
    assert not django_user_model.objects.get(username="ann").groups.exists()


@pytest.mark.parametrize(
    ("perms", "role"),
    [
        ((CAN_VIEW,), "viewer"),
        ((CAN_RUN,), "runner"),
        ((CAN_EDIT_STATE,), "editor"),
        ((CAN_EDIT_STATE, CAN_RUN), "editor"),
        ((CAN_DELETE_SESSION,), "admin"),
        (("sessions_app.no_such_thing",), ""),
    ],
)
def test_the_least_role_that_grants_permissions_is_named(perms: tuple[str, ...], role: str) -> None:
    assert role_needed(*perms) == role


def test_refusals_name_the_role_or_else_the_permissions() -> None:
    assert refusal(CAN_EDIT_STATE, doing="clear state") == "You need the editor role to clear state."
    assert refusal("sessions_app.no_such_thing") == (
        "Your account may not do this: it needs sessions_app.no_such_thing."
    )
