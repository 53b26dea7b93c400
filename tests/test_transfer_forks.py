"""A fork's origin through session files: exported, kept on import, and files without it still read."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError

from sessions_app.models import StateChange, WorkflowSession
from sessions_app.selectors.transfer import session_export, session_export_bytes
from sessions_app.services.forks import session_fork
from sessions_app.services.transfer import session_import
from sessions_app.services.transfer_format import transfer_parse
from tests.branch_helpers import posts, run_commit
from tests.django_fixtures import stored_state, user_with_role

pytestmark = pytest.mark.django_db


@pytest.fixture
def editor(django_user_model: type[AbstractUser]) -> AbstractUser:
    return user_with_role(django_user_model, "ed", "editor")


@pytest.fixture
def fork(editor: AbstractUser) -> WorkflowSession:
    run_commit("src", lambda state: state.update(blog_posts=posts("A"), tone="dry"))
    source = run_commit("src", lambda state: state["blog_posts"].append(posts("B")[0]))
    return session_fork(session=source, version=1, actor=editor, session_id="copy")


def test_the_export_names_where_a_fork_came_from(fork: WorkflowSession) -> None:
    assert session_export(session=fork)["session"]["forked_from"] == {"session_id": "src", "version": 1}
    source = WorkflowSession.objects.get(session_id="src")
    assert session_export(session=source)["session"]["forked_from"] is None


def test_a_fork_round_trips_with_its_origin_and_history(fork: WorkflowSession, editor: AbstractUser) -> None:
    raw = session_export_bytes(session=fork)
    state = stored_state("copy")
    fork.delete()

    result = session_import(data=transfer_parse(raw), actor=editor)

    imported = WorkflowSession.objects.get(session_id="copy")
    assert result.created
    source = WorkflowSession.objects.get(session_id="src")
    assert (imported.forked_from, imported.forked_from_session_id, imported.forked_from_version) == (
        source,
        "src",
        1,
    )
    assert stored_state("copy") == state
    sources = (
        StateChange.objects.filter(session=imported).order_by("version").values_list("source", "summary")
    )
    assert next(iter(sources)) == ("fork", "Forked from session 'src' at version 1")


def test_without_its_source_an_import_keeps_the_origin_as_text_and_links_it_when_the_source_comes(
    fork: WorkflowSession, editor: AbstractUser
) -> None:
    source = WorkflowSession.objects.get(session_id="src")
    fork_file, source_file = session_export_bytes(session=fork), session_export_bytes(session=source)
    fork.delete()
    source.delete()

    session_import(data=transfer_parse(fork_file), actor=editor)
    orphan = WorkflowSession.objects.get(session_id="copy")
    assert (orphan.forked_from, orphan.forked_from_session_id, orphan.forked_from_version) == (None, "src", 1)

    session_import(data=transfer_parse(source_file), actor=editor)
    orphan.refresh_from_db()
    assert orphan.forked_from == WorkflowSession.objects.get(session_id="src")


def test_a_file_from_before_forks_still_imports(fork: WorkflowSession, editor: AbstractUser) -> None:
    data = json.loads(session_export_bytes(session=fork))
    del data["session"]["forked_from"]
    data["session"]["session_id"] = "old file"

    session_import(data=transfer_parse(json.dumps(data).encode()), actor=editor)

    imported = WorkflowSession.objects.get(session_id="old file")
    assert (imported.forked_from, imported.forked_from_session_id, imported.forked_from_version) == (
        None,
        "",
        None,
    )


@pytest.mark.parametrize(
    ("origin", "problem"),
    [
        ("src", "session.forked_from: must be an object or null"),
        ({"version": 1}, "session.forked_from.session_id: is missing"),
        ({"session_id": "src", "version": -1}, "session.forked_from.version: must be a whole number"),
    ],
)
def test_a_bad_origin_is_named(fork: WorkflowSession, origin: object, problem: str) -> None:
    data = json.loads(session_export_bytes(session=fork))
    data["session"]["forked_from"] = origin

    with pytest.raises(ValidationError) as caught:
        transfer_parse(json.dumps(data).encode())

    assert any(message.startswith(problem) for message in caught.value.messages), caught.value.messages
