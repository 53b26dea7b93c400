"""Who may call the API: bearer tokens (shown once, stored hashed, revocable), the session login with
CSRF, and 401s that say what was wrong."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.urls import reverse

from sessions_app.models import ApiToken, WorkflowSession
from sessions_app.services.api_tokens import api_token_create, api_token_revoke, token_digest
from tests.api.conftest import bearer, error_of
from tests.django_fixtures import user_with_role

pytestmark = pytest.mark.django_db

LIST = "/api/v1/sessions"


@pytest.fixture
def person(django_user_model: Any) -> Any:
    return user_with_role(django_user_model, "ada", "editor")


def test_a_token_is_stored_only_as_its_digest(person: Any) -> None:
    made = api_token_create(user=person, name="laptop")

    row = ApiToken.objects.get()
    assert made.text.startswith("wfs_")
    assert row.digest == token_digest(made.text)
    assert made.text not in {row.digest, row.prefix, row.name}
    assert made.text.startswith(row.prefix)


def test_a_bearer_token_acts_as_its_person(person: Any) -> None:
    made = api_token_create(user=person, name="laptop")

    response = bearer(made.text).post(
        LIST, {"session_id": "mine", "workflow": "BlogPostGenerator"}, content_type="application/json"
    )

    assert response.status_code == 201
    assert WorkflowSession.objects.get(session_id="mine").user_id == "ada"
    assert ApiToken.objects.get().last_used_at is not None


@pytest.mark.parametrize(
    ("header", "says"),
    [
        (None, "Authorization: Bearer"),
        ("Bearer nope", "not a wfsite API token"),
        ("Bearer wfs_unknown", "No such API token"),
        ("Basic YWRhOnB3", "Authorization: Bearer"),
    ],
)
def test_no_or_bad_credentials_are_401_saying_why(db: None, header: str | None, says: str) -> None:
    client = Client(headers={"Authorization": header} if header else {})

    response = client.get(LIST)

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert error_of(response)["code"] == "unauthorized"
    assert says in error_of(response)["message"]


def test_a_revoked_token_is_401(person: Any) -> None:
    made = api_token_create(user=person, name="laptop")
    client = bearer(made.text)
    assert client.get(LIST).status_code == 200

    api_token_revoke(token=made.token, actor=person)

    response = client.get(LIST)
    assert response.status_code == 401
    assert "revoked" in error_of(response)["message"]


def test_a_deactivated_persons_token_is_401(person: Any) -> None:
    made = api_token_create(user=person, name="laptop")
    person.is_active = False
    person.save()

    assert bearer(made.text).get(LIST).status_code == 401


def test_a_bad_token_is_refused_even_beside_a_good_login(person: Any) -> None:
    client = Client(headers={"Authorization": "Bearer wfs_wrong"})
    client.force_login(person)

    assert client.get(LIST).status_code == 401


def test_the_browser_login_works_and_writes_need_the_csrf_token(person: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(person)
    assert client.get(LIST).status_code == 200
    body = {"session_id": "from-browser", "workflow": "BlogPostGenerator"}

    refused = client.post(LIST, body, content_type="application/json")

    assert refused.status_code == 403
    assert "CSRF" in error_of(refused)["message"]
    assert not WorkflowSession.objects.filter(session_id="from-browser").exists()
    client.get(reverse("api_tokens"))  # any page sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    accepted = client.post(LIST, body, content_type="application/json", headers={"X-CSRFToken": token})
    assert accepted.status_code == 201


def test_a_token_needs_no_csrf_token(person: Any) -> None:
    made = api_token_create(user=person, name="script")
    client = Client(enforce_csrf_checks=True, headers={"Authorization": f"Bearer {made.text}"})

    response = client.post(
        LIST, {"session_id": "scripted", "workflow": "BlogPostGenerator"}, content_type="application/json"
    )

    assert response.status_code == 201


def test_only_its_owner_may_revoke_a_token(person: Any, django_user_model: Any) -> None:
    made = api_token_create(user=person, name="laptop")
    other = user_with_role(django_user_model, "bob", "editor")

    with pytest.raises(PermissionDenied):
        api_token_revoke(token=made.token, actor=other)
    assert bearer(made.text).get(LIST).status_code == 200


def test_a_token_needs_a_name_unique_among_the_persons_tokens(person: Any) -> None:
    api_token_create(user=person, name="laptop")

    for name in ("", "   ", "x" * 101, "laptop"):
        with pytest.raises(ValidationError):
            api_token_create(user=person, name=name)
    with pytest.raises(PermissionDenied):
        api_token_create(user=AnonymousUser(), name="visitor")
