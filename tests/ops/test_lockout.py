"""Login throttling: per user name and per client address, in the database, with a clear message."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from axes.models import AccessAttempt, AccessFailureLog
from django.core.management import call_command
from django.test import AsyncClient, Client
from django.urls import reverse
from django.utils import timezone

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
ADMIN_LOGIN = "/admin/login/"
PASSWORD = "correct horse battery"


@pytest.fixture
def alice(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("alice", password=PASSWORD)


def log_in(username: str, password: str, address: str, path: str = LOGIN) -> Any:
    return Client().post(path, {"username": username, "password": password}, REMOTE_ADDR=address)


def fail(username: str, address: str, times: int = 1, path: str = LOGIN) -> Any:
    response = None
    for _ in range(times):
        response = log_in(username, "wrong", address, path)
    return response


def test_failures_for_one_name_lock_it_out_with_when_to_try_again(alice: Any) -> None:
    assert fail("alice", "10.0.0.1", times=4).status_code == 200  # the usual form error
    locked = fail("alice", "10.0.0.1")

    assert locked.status_code == 429
    assert locked["Retry-After"] == "900"
    page = locked.content.decode()
    assert "Too many failed logins for the user name “alice”. Try again in 15 minutes" in page
    assert 'role="alert"' in page
    assert 'name="username"' in page
    # Locked for that name, whatever the address and even with the right password.
    assert log_in("alice", PASSWORD, "10.0.0.1").status_code == 429
    assert log_in("alice", PASSWORD, "10.9.9.9").status_code == 429


def test_an_address_locked_out_does_not_lock_the_user_from_another_address(alice: Any) -> None:
    for name in ["bob", "carol", "dave", "erin"]:
        assert fail(name, "10.0.0.1").status_code == 200
    locked = fail("frank", "10.0.0.1")
    assert locked.status_code == 429
    assert "Too many failed logins from your address." in locked.content.decode()

    assert log_in("alice", PASSWORD, "10.0.0.1").status_code == 429
    elsewhere = log_in("alice", PASSWORD, "10.0.0.2")
    assert elsewhere.status_code == 302
    assert elsewhere["Location"] == "/sessions/"


def test_every_failure_is_recorded_also_while_locked_out(alice: Any) -> None:
    fail("alice", "10.0.0.1", times=7)

    records = AccessFailureLog.objects.filter(username="alice")
    assert records.count() == 7
    assert records.filter(locked_out=True).count() == 3
    assert set(records.values_list("ip_address", flat=True)) == {"10.0.0.1"}


def test_the_wait_is_counted_from_the_failures_still_in_the_window(alice: Any) -> None:
    fail("alice", "10.0.0.1", times=3)
    # Three failures ten minutes ago, two now from elsewhere: the lock lifts when the older
    # ones leave the 15-minute window, in five minutes.
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=10))
    locked = fail("alice", "10.0.0.2", times=2)

    assert locked.status_code == 429
    assert 280 <= int(locked["Retry-After"]) <= 300
    assert "Try again in 5 minutes" in locked.content.decode()


def test_the_lock_lifts_after_the_cool_off(alice: Any) -> None:
    fail("alice", "10.0.0.1", times=5)
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))

    assert log_in("alice", PASSWORD, "10.0.0.1").status_code == 302


def test_the_admin_login_is_throttled_and_shows_its_own_form(alice: Any) -> None:
    fail("alice", "10.0.0.1", times=4, path=ADMIN_LOGIN)
    locked = fail("alice", "10.0.0.1", path=ADMIN_LOGIN)

    assert locked.status_code == 429
    page = locked.content.decode()
    assert 'id="login-form"' in page
    assert "Too many failed logins for the user name “alice”" in page


def test_failures_on_either_page_count_together(alice: Any) -> None:
    fail("alice", "10.0.0.1", times=3, path=ADMIN_LOGIN)
    assert fail("alice", "10.0.0.1", times=2).status_code == 429


def test_the_asgi_handler_shows_the_same_lockout(alice: Any) -> None:
    async def post() -> Any:
        client = AsyncClient()
        return await client.post(LOGIN, {"username": "alice", "password": "wrong"}, REMOTE_ADDR="10.0.0.1")

    fail("alice", "10.0.0.1", times=4)
    locked = async_to_sync(post)()

    assert locked.status_code == 429
    assert "Too many failed logins for the user name “alice”" in locked.content.decode()


def test_the_command_unlocks_a_user(alice: Any) -> None:
    fail("alice", "10.0.0.1", times=5)
    call_command("axes_reset_username", "alice")

    assert log_in("alice", PASSWORD, "10.0.0.1").status_code == 302


def test_an_admin_unlocks_a_user_by_deleting_the_attempts(alice: Any, django_user_model: Any) -> None:
    fail("alice", "10.0.0.1", times=5)
    admin = Client()
    admin.force_login(django_user_model.objects.create_superuser("root", password="x"))
    url = reverse("admin:axes_accessattempt_changelist")
    assert "alice" in admin.get(url).content.decode()

    ids = [str(pk) for pk in AccessAttempt.objects.filter(username="alice").values_list("pk", flat=True)]
    confirm = admin.post(url, {"action": "delete_selected", "_selected_action": ids, "post": "yes"})

    assert confirm.status_code == 302
    assert not AccessAttempt.objects.filter(username="alice").exists()
    assert log_in("alice", PASSWORD, "10.0.0.1").status_code == 302


def test_a_successful_login_clears_earlier_failures(alice: Any) -> None:
    fail("alice", "10.0.0.1", times=4)
    assert log_in("alice", PASSWORD, "10.0.0.1").status_code == 302

    assert fail("alice", "10.0.0.1", times=4).status_code == 200
