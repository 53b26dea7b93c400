"""The API tokens page: make a token (its text shown once), list your own, revoke one."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from sessions_app.models import ApiToken
from sessions_app.services.api_tokens import api_token_create
from tests.django_fixtures import user_with_role

pytestmark = pytest.mark.django_db

PAGE = "/account/tokens/"


@pytest.fixture
def ada(django_user_model: Any) -> Any:
    return user_with_role(django_user_model, "ada", "viewer")


@pytest.fixture
def client(ada: Any) -> Client:
    client = Client()
    client.force_login(ada)
    return client


def test_a_visitor_is_sent_to_log_in(db: None) -> None:
    assert Client().get(PAGE).status_code == 302


def test_making_a_token_shows_its_text_once_and_it_works(client: Client) -> None:
    made = client.post(PAGE, {"name": "laptop"})

    assert made.status_code == 201
    assert made["Cache-Control"] == "no-store"
    text = re.search(r'value="(wfs_[^"]+)"', made.content.decode()).group(1)
    later = client.get(PAGE).content.decode()
    assert text not in later
    assert "laptop" in later
    assert Client(headers={"Authorization": f"Bearer {text}"}).get("/api/v1/sessions").status_code == 200


def test_a_bad_name_is_refused_on_the_form(client: Client) -> None:
    client.post(PAGE, {"name": "laptop"})

    for name in ("", "laptop"):
        response = client.post(PAGE, {"name": name})
        assert response.status_code == 422
    assert ApiToken.objects.count() == 1
    assert "already have a token named" in response.content.decode()


def test_the_page_lists_only_your_tokens(client: Client, django_user_model: Any) -> None:
    api_token_create(user=user_with_role(django_user_model, "bob", "viewer"), name="bobs-secret-name")
    client.post(PAGE, {"name": "mine"})

    page = client.get(PAGE).content.decode()

    assert "mine" in page
    assert "bobs-secret-name" not in page


def test_revoke_asks_then_revokes(client: Client, ada: Any) -> None:
    made = api_token_create(user=ada, name="old")
    url = reverse("api_token_revoke", args=[made.token.pk])

    confirm = client.get(url)
    done = client.post(url, follow=True)

    assert confirm.status_code == 200
    assert 'class="button destructive"' in confirm.content.decode()
    assert done.status_code == 200
    assert "Revoked the token" in done.content.decode()
    assert ApiToken.objects.get().revoked_at is not None
    assert Client(headers={"Authorization": f"Bearer {made.text}"}).get("/api/v1/sessions").status_code == 401


def test_someone_elses_token_cannot_be_revoked_here(client: Client, django_user_model: Any) -> None:
    theirs = api_token_create(user=user_with_role(django_user_model, "bob", "viewer"), name="b")

    response = client.post(reverse("api_token_revoke", args=[theirs.token.pk]))

    assert response.status_code == 404
    assert ApiToken.objects.get().revoked_at is None
