from __future__ import annotations

import json
from html import unescape
from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser, Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client
from django.urls import include, path, reverse

from sessions_app.models import StateChange, WorkflowRun, WorkflowSession
from sessions_app.selectors.transfer import session_export, session_export_bytes
from sessions_app.services.state import session_state_delete, session_state_edit
from sessions_app.services.transfer import session_import
from sessions_app.services.transfer_format import transfer_parse
from sessions_app.state.versions import states_at_versions
from tests.django_fixtures import assert_rows_consistent, stored_state
from tests.test_services_state import posts, run_commit
from wfsite.urls import urlpatterns as site_urlpatterns

urlpatterns = [
    *site_urlpatterns,
    path("sessions/<session_id:session_id>/", include("sessions_app.views.state_pages.urls")),
]

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


@pytest.fixture
def root(django_user_model: type[AbstractUser]) -> AbstractUser:
    return django_user_model.objects.create_superuser("root", password="x")


@pytest.fixture
def session(root: AbstractUser) -> WorkflowSession:
    run_commit("s", lambda state: state.update(blog_posts=posts("A", "B"), tone="dry"))
    session = WorkflowSession.objects.get(session_id="s")
    session_state_delete(session=session, path=("blog_posts", 0), base_version=1, actor=root)
    return session


def exported(session: WorkflowSession) -> dict[str, Any]:
    return json.loads(session_export_bytes(session=session))


def test_the_export_holds_state_runs_and_history(session: WorkflowSession) -> None:
    data = session_export(session=session)

    assert data["format"] == "wfsite.session"
    assert data["state"] == stored_state("s")
    assert data["session"]["version"] == 2
    assert [run["status"] for run in data["runs"]] == ["succeeded"]
    assert [(c["version"], c["source"], c["actor"]) for c in data["changes"]] == [
        (1, "run", None),
        (2, "clear", "root"),
    ]
    assert data["changes"][0]["run_id"] == data["runs"][0]["run_id"]


def test_importing_into_an_empty_site_recreates_the_session_with_its_history(
    session: WorkflowSession, root: AbstractUser
) -> None:
    data = exported(session)
    WorkflowSession.objects.all().delete()

    result = session_import(data=transfer_parse(json.dumps(data).encode()), actor=root)

    copy = result.session
    assert result.created
    assert result.runs_added == 1
    assert result.history_imported == 2
    assert stored_state("s") == data["state"]
    assert copy.version == 3
    change = StateChange.objects.get(session=copy, version=3)
    assert (change.source, change.actor) == ("import", root)
    assert StateChange.objects.get(session=copy, version=1).run.run_id.hex == data["runs"][0][
        "run_id"
    ].replace("-", "")
    states = states_at_versions(session=copy, versions=[1, 2, 3])
    assert states[1] == {"blog_posts": posts("A", "B"), "tone": "dry"}
    assert states[2] == states[3] == data["state"]
    assert_rows_consistent(copy)


def test_importing_again_changes_nothing_and_a_changed_file_is_one_recorded_change(
    session: WorkflowSession, root: AbstractUser
) -> None:
    data = exported(session)
    again = session_import(data=transfer_parse(json.dumps(data).encode()), actor=root)

    assert (again.created, again.change, again.runs_added, again.runs_skipped) == (False, None, 0, 1)
    assert WorkflowSession.objects.get(pk=session.pk).version == 2

    data["state"]["tone"] = "warm"
    result = session_import(data=transfer_parse(json.dumps(data).encode()), actor=root)

    assert stored_state("s")["tone"] == "warm"
    assert (result.change.version, result.change.source) == (3, "import")
    assert "history was left out" in result.describe()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{nope", "not valid JSON: Expecting property name"),
        (b"\xff\xfe", "not UTF-8"),
        (b"[]", "not a wfsite session file"),
        (json.dumps({"format": "wfsite.session", "format_version": 9}).encode(), "format version 9"),
        (
            json.dumps(
                {"format": "wfsite.session", "format_version": 1, "session": {}, "state": []}
            ).encode(),
            "session.session_id: is missing",
        ),
        (
            json.dumps(
                {
                    "format": "wfsite.session",
                    "format_version": 1,
                    "session": {"session_id": "x"},
                    "state": {},
                    "runs": [{"run_id": "nope", "status": "weird"}],
                    "changes": [{"version": 1, "source": "run", "ops": [["explode", [], 1]]}],
                }
            ).encode(),
            "runs[0].run_id: must be a UUID",
        ),
    ],
)
def test_a_bad_file_is_refused_with_a_clear_error(raw: bytes, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        transfer_parse(raw)

    assert message in " ".join(caught.value.messages)


def test_every_problem_in_a_file_is_named() -> None:
    raw = json.dumps(
        {
            "format": "wfsite.session",
            "format_version": 1,
            "session": {"session_id": "x"},
            "state": {},
            "runs": [{"run_id": "nope", "status": "weird"}],
            "changes": [{"version": 1, "source": "run", "ops": [["explode", [], 1]]}],
        }
    ).encode()

    with pytest.raises(ValidationError) as caught:
        transfer_parse(raw)

    text = " ".join(caught.value.messages)
    assert "runs[0].status: must be one of" in text
    assert "changes[0].ops[0]: must be" in text


def test_import_checks_the_role(session: WorkflowSession, django_user_model: type[AbstractUser]) -> None:
    call_command("create_roles")
    runner = django_user_model.objects.create_user("runner", password="x")
    runner.groups.add(Group.objects.get(name="runner"))
    runner = django_user_model.objects.get(pk=runner.pk)

    with pytest.raises(PermissionDenied):
        session_import(data=transfer_parse(session_export_bytes(session=session)), actor=runner)
    with pytest.raises(ValidationError, match="holds session 's'"):
        session_import(
            data=transfer_parse(session_export_bytes(session=session)),
            actor=None,
            into=WorkflowSession(session_id="t"),
        )


# -- the session page's download and upload -----------------------------------------------------------


def upload(client: Client, session_id: str, body: bytes) -> Any:
    url = reverse("state_import", args=[session_id])
    return client.post(url, {"file": SimpleUploadedFile("s.json", body, "application/json")})


def test_download_and_upload_from_the_session_page(
    client: Client, session: WorkflowSession, root: AbstractUser
) -> None:
    client.force_login(root)
    response = client.get(reverse("state_export", args=["s"]))
    assert response["Content-Disposition"] == 'attachment; filename="session-s.json"'
    session_state_edit(session=session, new_state={}, base_version=2, actor=root)

    done = upload(client, "s", response.content)

    assert done.status_code == 302
    assert stored_state("s") == {"blog_posts": posts("B"), "tone": "dry"}
    assert "Updated session 's'" in unescape(client.get(done["Location"]).content.decode())


def test_an_upload_for_another_session_or_too_large_is_refused(
    client: Client, session: WorkflowSession, root: AbstractUser, settings: Any
) -> None:
    client.force_login(root)
    body = session_export_bytes(session=session).replace(b'"session_id": "s"', b'"session_id": "other"')
    response = upload(client, "s", body)
    assert response.status_code == 400
    assert "holds session &#x27;other&#x27;, not &#x27;s&#x27;" in response.content.decode()

    settings.WFSITE_MAX_UPLOAD_BYTES = 100
    response = upload(client, "s", session_export_bytes(session=session))
    assert response.status_code == 400
    assert "the largest file that can be imported is 100\xa0bytes" in response.content.decode()
    assert not WorkflowSession.objects.filter(session_id="other").exists()
    assert WorkflowRun.objects.count() == 1


@pytest.mark.parametrize("role", ["viewer", "runner"])
def test_viewers_and_runners_may_download_but_not_upload(
    client: Client, session: WorkflowSession, django_user_model: type[AbstractUser], role: str
) -> None:
    call_command("create_roles")
    user = django_user_model.objects.create_user(role, password="x")
    user.groups.add(Group.objects.get(name=role))
    client.force_login(user)

    assert client.get(reverse("state_export", args=["s"])).status_code == 200
    assert client.get(reverse("state_import", args=["s"])).status_code == 403
    assert upload(client, "s", session_export_bytes(session=session)).status_code == 403
    assert WorkflowSession.objects.get(pk=session.pk).version == 2


# -- hostile files: each answered 400 with its reason, nothing imported ---------------------------------


def session_file(**parts: Any) -> dict[str, Any]:
    return {
        "format": "wfsite.session",
        "format_version": 1,
        "session": {"session_id": "x"},
        "state": {},
        **parts,
    }


def nested_text(levels: int) -> str:
    return '{"a":' * levels + "1" + "}" * levels


RUN_ID = "6f1c3e2a-7d0b-4a8e-9c55-1b2d3e4f5a6b"
HOSTILE = {
    "version-over-64-bits": (
        json.dumps(session_file(session={"session_id": "x", "version": 2**64})),
        "session.version: must be a whole number from 0 to 9223372036854775807",
    ),
    "state-version-over-64-bits": (
        json.dumps(session_file(runs=[{"run_id": RUN_ID, "state_version": 2**70}])),
        "runs[0].state_version: must be a whole number from 0 to",
    ),
    "change-version-over-64-bits": (
        json.dumps(session_file(changes=[{"version": 2**63, "source": "edit", "ops": []}])),
        "changes[0].version: must be a whole number from 0 to",
    ),
    "integer-of-5000-digits": (
        json.dumps(session_file()).replace('"state": {}', '"state": {"n": ' + "9" * 5000 + "}"),
        "The file holds a number that cannot be read",
    ),
    "state-nested-900-levels": (
        json.dumps(session_file()).replace('"state": {}', f'"state": {{"n": {nested_text(900)}}}'),
        "state: session_state['n']['a']['a']",
    ),
    "op-nested-too-deep": (
        json.dumps(session_file(changes=[{"version": 1, "source": "edit", "ops": []}])).replace(
            '"ops": []', f'"ops": [["set", ["k"], {nested_text(80)}]]'
        ),
        "more than 64 levels deep",
    ),
    "op-path-too-long": (
        json.dumps(session_file(changes=[{"version": 1, "source": "edit", "ops": [["set", ["k"] * 65, 1]]}])),
        "changes[0].ops[0]: its path is longer than WFSITE_MAX_STATE_DEPTH (64) keys",
    ),
    "surrogate-in-state": (
        json.dumps(session_file(state={"tone": "a\ud800"})),
        "state: session_state['tone']: the text holds a lone surrogate (U+D800)",
    ),
    "surrogate-in-a-key": (
        json.dumps(session_file(state={"k\udfff": 1})),
        "lone surrogate (U+DFFF)",
    ),
    "surrogate-in-an-op": (
        json.dumps(
            session_file(changes=[{"version": 1, "source": "edit", "ops": [["set", ["a\ud800"], 1]]}])
        ),
        "changes[0].ops[0]: its path holds a lone surrogate",
    ),
    "surrogate-in-the-name": (
        json.dumps(session_file(session={"session_id": "x", "name": "\ud800"})),
        "session.name: contains a lone surrogate (U+D800)",
    ),
    "surrogate-in-a-run-output": (
        json.dumps(session_file(runs=[{"run_id": RUN_ID, "output": "\ud800"}])),
        "runs[0].output: contains a lone surrogate",
    ),
    "surrogate-in-run-inputs": (
        json.dumps(session_file(runs=[{"run_id": RUN_ID, "inputs": {"topic": "\ud800"}}])),
        "runs[0].inputs: session_state['topic']: the text holds a lone surrogate",
    ),
    "surrogate-in-an-actor": (
        json.dumps(session_file(changes=[{"version": 1, "source": "edit", "ops": [], "actor": "\ud800"}])),
        "changes[0].actor: contains a lone surrogate",
    ),
    "surrogate-in-started-by": (
        json.dumps(session_file(runs=[{"run_id": RUN_ID, "started_by": "\ud800"}])),
        "runs[0].started_by: contains a lone surrogate",
    ),
    "surrogate-in-a-summary": (
        json.dumps(session_file(changes=[{"version": 1, "source": "edit", "ops": [], "summary": "\ud800"}])),
        "changes[0].summary: contains a lone surrogate",
    ),
    "date-beyond-year-9999-in-utc": (
        json.dumps(session_file(session={"session_id": "x", "created_at": "9999-12-31T23:59:59-05:00"})),
        "session.created_at: is not a date and time that exists",
    ),
    "date-before-year-1-in-utc": (
        json.dumps(session_file(runs=[{"run_id": RUN_ID, "started_at": "0001-01-01T00:00:00+01:00"}])),
        "runs[0].started_at: is not a date and time that exists",
    ),
    "a-day-that-does-not-exist": (
        json.dumps(
            session_file(
                changes=[{"version": 1, "source": "edit", "ops": [], "created_at": "2025-02-30T10:00:00"}]
            )
        ),
        "changes[0].created_at: is not a date and time that exists",
    ),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_hostile_file_is_answered_400_with_its_reason(
    client: Client, root: AbstractUser, name: str
) -> None:
    body, reason = HOSTILE[name]
    client.force_login(root)

    url = reverse("admin:sessions_app_workflowsession_import")
    response = client.post(url, {"file": SimpleUploadedFile("x.json", body.encode(), "application/json")})

    assert response.status_code == 400
    assert reason in unescape(response.content.decode())
    assert not WorkflowSession.objects.filter(session_id="x").exists()
