"""Fixtures for the API's tests: a person in each role with a token, and clients that send it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from sessions_app.models import WorkflowSession
from sessions_app.services.api_tokens import api_token_create
from sessions_app.state.store import state_replace
from tests.django_fixtures import user_with_role

ROLES = ("viewer", "runner", "editor", "admin")


def bearer(token: str) -> Client:
    """Return a client whose every request carries `Authorization: Bearer <token>`."""
    return Client(headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def tokens(django_user_model: Any, db: None) -> dict[str | None, str]:
    """Return a token for a person in each role, and one for a person in none (key None)."""
    made: dict[str | None, str] = {}
    for role in (*ROLES, None):
        person = user_with_role(django_user_model, f"api-{role or 'nobody'}", role)
        made[role] = api_token_create(user=person, name="tests").text
    return made


@pytest.fixture
def api(tokens: dict[str | None, str]) -> Callable[[str | None], Client]:
    """Return a function that gives a client acting as a person in `role` ("anonymous": no credentials)."""

    def client(role: str | None) -> Client:
        return Client() if role == "anonymous" else bearer(tokens[role])

    return client


@pytest.fixture
def editor(api: Callable[[str | None], Client]) -> Client:
    return api("editor")


@pytest.fixture
def blog(db: None) -> WorkflowSession:
    """A session of the list-cached built-in workflow, with two cached entries and a note."""
    session = WorkflowSession.objects.create(session_id="blog", workflow="BlogPostGenerator")
    state_replace(
        session,
        {
            "blog_posts": [
                {"topic": "AI agents", "blog_post": "# Agents\n\nText."},
                {"topic": "Caching", "blog_post": "# Caching\n\nText."},
            ],
            "note": "n",
        },
    )
    session.save()
    return session


def error_of(response: Any) -> dict[str, Any]:
    """Return the error object of an API error answer, checking its shape."""
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    return body["error"]
