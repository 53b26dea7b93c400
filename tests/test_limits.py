"""Input limits: each refused with a message that names the limit, and nothing written."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from sessions_app.limits import StateTooLargeError, size_text, state_size_check
from sessions_app.models import StateChange, WorkflowRun, WorkflowSession
from sessions_app.services.runs import run_start
from sessions_app.services.sessions import session_create
from sessions_app.state.storage import DjangoWorkflowStorage
from sessions_app.state.store import json_size, state_replace
from sessions_app.workflow import RunResponse, Workflow
from sessions_app.workflow.state import Op
from sessions_app.workflow.storage import SessionMeta
from tests.django_fixtures import stored_state, user_with_role

pytestmark = pytest.mark.django_db


class Notes(Workflow):
    """A workflow with a free-text input and no limit of its own."""

    def run(self, text: str, count: int = 1) -> Iterator[RunResponse]:
        yield RunResponse(content=text * count)


@pytest.fixture(autouse=True)
def registered(settings: Any) -> None:
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    settings.WFSITE_WORKFLOWS = ["sessions_app.workflow.BlogPostGenerator", f"{__name__}.Notes"]


@pytest.fixture
def user(client: Client, django_user_model: Any) -> Any:
    user = user_with_role(django_user_model, "runner", "runner")
    client.force_login(user)
    return user


@pytest.fixture
def blog(user: Any) -> WorkflowSession:
    return session_create(session_id="blog", workflow="BlogPostGenerator", user=user)


def assert_no_run(session: WorkflowSession) -> None:
    assert not WorkflowRun.objects.exists()
    session.refresh_from_db()
    assert session.run_count == 0


# -- the topic --------------------------------------------------------------------------------------


def test_the_run_form_shows_the_topic_limit(client: Client, blog: WorkflowSession) -> None:
    html = client.get(reverse("session_detail", args=[blog.session_id])).content.decode()

    assert "At most 300 characters." in html
    assert "maxlength" not in html  # a pasted topic is not cut short silently: the error says why


def test_the_service_refuses_a_topic_over_the_limit(blog: WorkflowSession, user: Any) -> None:
    with pytest.raises(ValidationError) as refused:
        run_start(session=blog, inputs={"topic": "t" * 301}, user=user)

    assert refused.value.message_dict == {"topic": ["The topic is 301 characters long; the limit is 300."]}
    assert_no_run(blog)


def test_the_form_refuses_a_topic_over_the_limit_in_the_same_words(
    client: Client, blog: WorkflowSession
) -> None:
    response = client.post(reverse("run_create", args=[blog.session_id]), {"topic": "t" * 301})

    assert response.status_code == 422
    assert "The topic is 301 characters long; the limit is 300." in response.content.decode()
    assert_no_run(blog)


# -- other inputs -----------------------------------------------------------------------------------


def test_free_text_inputs_are_limited_too(settings: Any, user: Any) -> None:
    settings.WFSITE_MAX_INPUT_CHARS = 100
    notes = session_create(session_id="notes", workflow="Notes", user=user)

    with pytest.raises(ValidationError) as refused:
        run_start(session=notes, inputs={"text": "x" * 101}, user=user)

    assert refused.value.message_dict == {"text": ["The text is 101 characters long; the limit is 100."]}
    assert_no_run(notes)


def test_the_number_of_inputs_is_limited(settings: Any, blog: WorkflowSession, user: Any) -> None:
    settings.WFSITE_MAX_RUN_INPUTS = 5
    inputs = {"topic": "AI"} | {f"extra{n}": n for n in range(1000)}

    with pytest.raises(ValidationError) as refused:
        run_start(session=blog, inputs=inputs, user=user)

    assert refused.value.messages == ["A run takes at most 5 inputs; 1001 were given."]
    assert_no_run(blog)


# -- session ids ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("session_id", "message"),
    [
        (
            "tab\there\x01",
            "The id contains control characters (U+0001, U+0009); letters, digits, spaces and "
            "punctuation in any script are fine.",
        ),
        ("lone \ud800 half", "The id contains lone surrogates (U+D800), which are not valid text; "),
        ("\x01\x02\x03\x04\x05\x06", "control characters (U+0001, U+0002, U+0003, U+0004, U+0005, ...)"),
        ("x" * 256, "The id is 256 characters long; the limit is 255."),
        ("", "Give the session an id: 1 to 255 characters."),
    ],
    ids=["control", "surrogate", "many-control", "too-long", "empty"],
)
def test_session_ids_the_engine_cannot_take_are_refused_clearly(
    user: Any, session_id: str, message: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        session_create(session_id=session_id, workflow="BlogPostGenerator", user=user)

    assert any(message in text for text in refused.value.message_dict["session_id"])
    assert not WorkflowSession.objects.exists()


@pytest.mark.parametrize(
    ("session_id", "message"),
    [
        ("bell\x07", "The id contains control characters (U+0007)"),
        ("x" * 256, "Ensure this value has at most 255 characters (it has 256)."),
    ],
)
def test_the_new_session_form_shows_the_same_errors(
    client: Client, user: Any, session_id: str, message: str
) -> None:
    response = client.post(
        reverse("session_list"), {"session_id": session_id, "workflow": "BlogPostGenerator", "name": ""}
    )

    assert response.status_code == 422
    assert message in response.content.decode()
    assert not WorkflowSession.objects.exists()


# -- request bodies ---------------------------------------------------------------------------------


def post_urlencoded(client: Client, url: str, data: dict[str, str]) -> Any:
    """POST as a browser form or htmx does (the test client sends multipart by default)."""
    return client.post(url, urlencode(data), content_type="application/x-www-form-urlencoded")


def test_a_form_body_over_the_limit_is_413_with_the_limit(
    settings: Any, client: Client, blog: WorkflowSession
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000

    response = post_urlencoded(client, reverse("run_create", args=[blog.session_id]), {"topic": "t" * 3000})

    assert response.status_code == 413
    assert response.content.decode() == "The form is 2.9 KB; the limit is 1000 bytes. Nothing was saved."
    assert_no_run(blog)


def test_multipart_form_fields_over_the_limit_are_413_too(
    settings: Any, client: Client, blog: WorkflowSession
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000

    response = client.post(reverse("run_create", args=[blog.session_id]), {"topic": "t" * 3000})

    assert response.status_code == 413
    assert response.content.decode() == (
        "The form's fields (files not counted) are over the limit of 1000 bytes. Nothing was saved."
    )
    assert_no_run(blog)


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_too_many_form_fields_is_400_with_the_limit(
    settings: Any, client: Client, blog: WorkflowSession, encoding: str
) -> None:
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 5
    fields = {"topic": "AI"} | {f"f{n}": "x" for n in range(10)}
    url = reverse("run_create", args=[blog.session_id])

    response = post_urlencoded(client, url, fields) if encoding == "urlencoded" else client.post(url, fields)

    assert response.status_code == 400
    assert response.content.decode() == "The form sent too many fields; the limit is 5. Nothing was saved."
    assert_no_run(blog)


def test_an_upload_over_the_limit_is_413_before_it_is_parsed(
    settings: Any, client: Client, user: Any
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    settings.WFSITE_MAX_UPLOAD_BYTES = 1024
    upload = SimpleUploadedFile("session.json", b"{}" * 3000, content_type="application/json")

    response = client.post(
        reverse("session_list"), {"session_id": "up", "workflow": "BlogPostGenerator", "file": upload}
    )

    assert response.status_code == 413
    text = response.content.decode()
    assert text.startswith("The upload is 6.")
    assert text.endswith("; the limit is 2 KB. Nothing was saved.")
    assert not WorkflowSession.objects.exists()


def test_bodies_within_the_limits_pass(settings: Any, client: Client, blog: WorkflowSession) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000

    response = post_urlencoded(client, reverse("run_create", args=[blog.session_id]), {"topic": "AI agents"})

    assert response.status_code == 302
    assert WorkflowRun.objects.count() == 1


def test_size_text() -> None:
    assert size_text(999) == "999 bytes"
    assert size_text(2048) == "2 KB"
    assert size_text(20 * 1024 * 1024) == "20 MB"
    assert size_text(int(2.5 * 1024**3)) == "2.5 GB"


# -- state size -------------------------------------------------------------------------------------


def test_state_size_check_names_the_limit(settings: Any) -> None:
    settings.WFSITE_MAX_STATE_BYTES = 20 * 1024 * 1024

    state_size_check(20 * 1024 * 1024)
    with pytest.raises(StateTooLargeError) as refused:
        state_size_check(21 * 1024 * 1024)

    assert str(refused.value).startswith(
        "The session's state would be 21 MB (22020096 bytes as JSON); the limit is 20 MB "
        "(WFSITE_MAX_STATE_BYTES). The state was not saved; the stored state is unchanged."
    )


def test_state_size_check_lets_an_oversized_state_shrink(settings: Any) -> None:
    settings.WFSITE_MAX_STATE_BYTES = 100

    state_size_check(150, previous=200)
    state_size_check(200, previous=200)
    with pytest.raises(StateTooLargeError):
        state_size_check(201, previous=200)


def test_state_size_check_can_be_turned_off(settings: Any) -> None:
    settings.WFSITE_MAX_STATE_BYTES = 0

    state_size_check(10**12)


class Grower(Workflow):
    """Adds `size` characters to the state."""

    size: int = 0

    def run(self) -> Iterator[RunResponse]:
        self.session_state["blob"] = "x" * self.size
        yield RunResponse(content="grew")


def test_a_commit_over_the_state_limit_writes_nothing(settings: Any) -> None:
    settings.WFSITE_MAX_STATE_BYTES = 1000
    storage = DjangoWorkflowStorage()
    meta = SessionMeta(session_id="big")
    storage.commit(meta=meta, base_version=0, ops=[], state={"small": 1})

    with pytest.raises(StateTooLargeError, match="the limit is 1000 bytes"):
        storage.commit(meta=meta, base_version=1, ops=[Op("set", ("blob",), "x" * 2000)], state={})
    with pytest.raises(StateTooLargeError):
        storage.commit(
            meta=meta, base_version=1, ops=[Op("append", ("posts",), ["x" * 600, "y" * 600])], state={}
        )

    session = WorkflowSession.objects.get(session_id="big")
    assert (stored_state("big"), session.version, session.state_size) == ({"small": 1}, 1, 11)
    assert StateChange.objects.count() == 1


def test_replacing_a_state_over_the_limit_writes_nothing(settings: Any, blog: WorkflowSession) -> None:
    settings.WFSITE_MAX_STATE_BYTES = 1000
    state_replace(blog, {"blog_posts": [{"topic": "a", "blog_post": "b"}]})

    with pytest.raises(StateTooLargeError):
        state_replace(blog, {"blog_posts": [{"topic": "a", "blog_post": "b" * 2000}]})

    assert stored_state("blog") == {"blog_posts": [{"topic": "a", "blog_post": "b"}]}


def test_a_session_over_a_lowered_limit_can_still_shrink(settings: Any) -> None:
    storage = DjangoWorkflowStorage()
    meta = SessionMeta(session_id="big")
    storage.commit(meta=meta, base_version=0, ops=[], state={"a": "x" * 2000, "b": "y" * 2000})
    settings.WFSITE_MAX_STATE_BYTES = 1000

    storage.commit(meta=meta, base_version=1, ops=[Op("delete", ("a",))], state={})

    assert stored_state("big") == {"b": "y" * 2000}
    assert WorkflowSession.objects.get(session_id="big").state_size == json_size({"b": "y" * 2000})


def test_a_run_that_outgrows_the_limit_fails_and_keeps_the_stored_state(settings: Any) -> None:
    settings.WFSITE_MAX_STATE_BYTES = 1000
    storage = DjangoWorkflowStorage()
    list(Grower(session_id="g", storage=storage, size=10).run())

    with pytest.raises(StateTooLargeError):
        list(Grower(session_id="g", storage=storage, size=5000).run())

    assert stored_state("g") == {"blob": "x" * 10}
    failed = WorkflowRun.objects.order_by("created_at", "id").last()
    assert failed.status == "failed"
    assert "WFSITE_MAX_STATE_BYTES" in failed.error
