"""Two API clients patching different keys of one session at the same moment, from the same ETag.

The compare-and-swap lets exactly one write through at that version; the other is told 412 with
the new ETag, retries from it, and lands. No write is lost, on SQLite and on PostgreSQL alike.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from django.urls import reverse

from sessions_app.models import StateChange, WorkflowSession
from sessions_app.services.api_tokens import api_token_create
from tests.api.conftest import bearer
from tests.django_fixtures import in_threads, stored_state, user_with_role

MERGE = "application/merge-patch+json"
CLIENTS = 2


@pytest.mark.usefixtures("shared_db")
@pytest.mark.parametrize("rounds", [5])
def test_two_clients_patching_different_keys_at_once_both_land(django_user_model: Any, rounds: int) -> None:
    person = user_with_role(django_user_model, "racer", "editor")
    token = api_token_create(user=person, name="race").text
    WorkflowSession.objects.create(session_id="race", workflow="BlogPostGenerator")
    url = reverse("api:state_get", args=["race"])
    start = threading.Barrier(CLIENTS)
    outcomes: dict[int, list[int]] = {n: [] for n in range(CLIENTS)}

    def client(n: int) -> None:
        api = bearer(token)
        for round_ in range(rounds):
            etag = api.get(url)["ETag"]
            start.wait(timeout=30)
            body = json.dumps({f"key{n}": round_})
            for _attempt in range(10):
                response = api.patch(url, body, content_type=MERGE, headers={"If-Match": etag})
                outcomes[n].append(response.status_code)
                if response.status_code != 412:
                    break
                etag = response["ETag"]
            start.wait(timeout=30)  # the round is over for both before either reads the next ETag

    errors = in_threads(*(lambda n=n: client(n) for n in range(CLIENTS)))

    assert errors == [None] * CLIENTS
    assert stored_state("race") == {f"key{n}": rounds - 1 for n in range(CLIENTS)}
    # Every round: one client's first try wins, the other's is refused once, then lands.
    assert all(codes.count(200) == rounds for codes in outcomes.values())
    assert sum(codes.count(412) for codes in outcomes.values()) == rounds
    assert StateChange.objects.filter(session__session_id="race").count() == rounds * CLIENTS
