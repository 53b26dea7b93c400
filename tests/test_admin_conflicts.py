"""The admin's compare-and-swap edit: every value changed on both sides shows on the first refusal,
and one choice (keep mine, keep theirs, replace) settles them all."""

from __future__ import annotations

import json
import re
from html import unescape
from typing import Any

import pytest
from django.test import Client

from sessions_app.models import WorkflowSession
from tests.test_admin import admin_client, post_state, session, stored  # noqa: F401
from tests.test_services_state import posts, run_commit

pytestmark = pytest.mark.django_db


def radios(html: str) -> list[str]:
    return re.findall(r'<input type="radio" name="resolve" value="(\w+)"', html)


def checked(html: str) -> list[str]:
    return re.findall(r'<input type="radio" name="resolve" value="(\w+)"[^>]*checked', html)


@pytest.fixture
def theirs(session: WorkflowSession) -> WorkflowSession:  # noqa: F811
    """Version 2: someone else changed tone and title and added audience after the admin opened version 1."""
    run_commit("s1", lambda state: state.update(tone="theirs", title="Their title", audience="engineers"))
    return session


def mine() -> dict[str, Any]:
    """The admin's text, made from version 1: tone and title changed differently, and a new key."""
    return {"blog_posts": posts("A", "B"), "tone": "mine", "title": "My title", "mood": "calm"}


def test_the_first_refusal_lists_every_value_changed_on_both_sides(
    admin_client: Client,  # noqa: F811
    theirs: WorkflowSession,
) -> None:
    response = post_state(admin_client, theirs, json.dumps(mine()), 1)

    html = unescape(response.content.decode())
    assert response.status_code == 200
    assert "Changed on both sides (2)" in html
    assert "Your edit and the newer changes both changed tone, title" in html
    for path, opened, now, yours in [
        ("tone", '"dry"', '"theirs"', '"mine"'),
        ("title", "(absent)", '"Their title"', '"My title"'),
    ]:
        assert (
            f'<tr><td><code class="state-path">{path}</code></td><td><code class="diff-value">{opened}</code></td>'
            f'<td><code class="diff-value">{now}</code></td><td><code class="diff-value">{yours}</code></td></tr>'
        ) in html
    assert radios(html) == ["mine", "theirs", "replace"]
    assert checked(html) == []  # a choice is made on purpose
    assert 'name="seen_version" value="2"' in html
    assert stored(theirs)["tone"] == "theirs"


def test_one_choice_keeps_mine_everywhere_both_changed(
    admin_client: Client,  # noqa: F811
    theirs: WorkflowSession,
) -> None:
    response = post_state(admin_client, theirs, json.dumps(mine()), 1, resolve="mine", seen_version=2)

    assert response.status_code == 302
    state = stored(theirs)
    assert (state["tone"], state["title"]) == ("mine", "My title")
    assert (state["audience"], state["mood"]) == ("engineers", "calm")  # both sides' other changes
    assert WorkflowSession.objects.get(pk=theirs.pk).version == 3


def test_one_choice_keeps_theirs_everywhere_both_changed(
    admin_client: Client,  # noqa: F811
    theirs: WorkflowSession,
) -> None:
    response = post_state(admin_client, theirs, json.dumps(mine()), 1, resolve="theirs", seen_version=2)

    assert response.status_code == 302
    state = stored(theirs)
    assert (state["tone"], state["title"]) == ("theirs", "Their title")
    assert (state["audience"], state["mood"]) == ("engineers", "calm")


def test_a_choice_made_on_an_older_screen_is_asked_again(
    admin_client: Client,  # noqa: F811
    theirs: WorkflowSession,
) -> None:
    run_commit("s1", lambda state: state.update(mood="stormy"))  # version 3: a new conflict, not yet seen

    response = post_state(admin_client, theirs, json.dumps(mine()), 1, resolve="mine", seen_version=2)

    html = unescape(response.content.decode())
    assert response.status_code == 200
    assert "Changed on both sides (3)" in html
    assert 'name="seen_version" value="3"' in html
    assert stored(theirs)["mood"] == "stormy"


def test_without_conflicts_the_refusal_offers_to_merge(
    admin_client: Client,  # noqa: F811
    session: WorkflowSession,  # noqa: F811
) -> None:
    run_commit("s1", lambda state: state.update(audience="engineers"))

    html = post_state(admin_client, session, json.dumps(mine()), 1).content.decode()

    assert "Changed on both sides" not in html
    assert radios(html) == ["merge", "replace"]
    assert checked(html) == ["merge"]
