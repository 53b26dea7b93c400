"""A request id on every request, one log line per request and per run transition, plain or JSON."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from sessions_app.models import WorkflowSession
from sessions_app.ops.logs import request_id_from
from sessions_app.services.run_worker import run_execute
from sessions_app.services.runs import run_start
from tests.conftest import BASE_DIR

pytestmark = pytest.mark.django_db


def test_a_plain_request_id_from_the_client_is_kept_and_sent_back(client: Client) -> None:
    response = client.get("/healthz", HTTP_X_REQUEST_ID="lb-1234.abc")

    assert response["X-Request-ID"] == "lb-1234.abc"


@pytest.mark.parametrize("sent", [None, "", "has spaces", "x" * 65, "new\nline"])
def test_anything_else_gets_a_new_id(client: Client, sent: str | None) -> None:
    headers = {} if sent is None else {"HTTP_X_REQUEST_ID": sent}
    first = client.get("/healthz", **headers)["X-Request-ID"]
    second = client.get("/healthz", **headers)["X-Request-ID"]

    assert first != second
    assert first == request_id_from(first)  # a fresh id is itself a plain one


def test_each_request_logs_one_line_with_its_id(client: Client, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="wfsite.requests"):
        response = client.get("/sessions/%0Aforged/", HTTP_X_REQUEST_ID="req-1")

    [record] = [r for r in caplog.records if r.name == "wfsite.requests"]
    assert record.request_id == "req-1"
    assert record.status == response.status_code == 302
    assert record.view == "session_detail"
    assert "\n" not in record.getMessage()  # a path cannot forge a second log line


def test_each_run_transition_logs_a_line_with_the_run_and_request_ids(
    django_user_model: Any, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    settings.WFSITE_OFFLINE_DELAY = 0
    session = WorkflowSession.objects.create(session_id="logs", workflow="BlogPostGenerator")
    client = Client()
    client.force_login(django_user_model.objects.create_superuser("root", password="x"))

    with caplog.at_level(logging.INFO, logger="wfsite.runs"):
        response = client.post(
            f"/sessions/{session.session_id}/runs/", {"topic": "Logging", "use_cache": "on"}
        )
        run = session.runs.get()
        run_execute(run_id=str(run.run_id))
        run_start(session=session, inputs={"topic": "Logging", "use_cache": True}, user=None)

    lines = [r for r in caplog.records if r.name == "wfsite.runs" and hasattr(r, "previous_status")]
    assert [(r.previous_status, r.status) for r in lines] == [
        ("new", "queued"),
        ("queued", "running"),
        ("running", "succeeded"),
        ("new", "succeeded"),  # the second start is answered from the cache
    ]
    assert {r.run_id for r in lines[:3]} == {str(run.run_id)}
    assert lines[0].request_id == response["X-Request-ID"]


LOG_A_REQUEST = """
import django
django.setup()
from django.test import Client
Client().get("/healthz", HTTP_X_REQUEST_ID="probe-7")
"""


def logged_lines(tmp_path: Path, log_format: str) -> list[str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "wfsite.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "WFSITE_LOG_FORMAT": log_format,
    }
    done = subprocess.run(
        [sys.executable, "-c", LOG_A_REQUEST],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return [line for line in done.stderr.splitlines() if "healthz" in line]


def test_plain_lines_name_the_request_and_run(tmp_path: Path) -> None:
    [line] = logged_lines(tmp_path, "plain")

    assert "INFO wfsite.requests [req=probe-7 run=-] GET /healthz 200" in line


def test_json_lines_are_one_object_each(tmp_path: Path) -> None:
    [line] = logged_lines(tmp_path, "json")
    record = json.loads(line)

    assert record["level"] == "INFO"
    assert record["logger"] == "wfsite.requests"
    assert record["request_id"] == "probe-7"
    assert record["run_id"] == "-"
    assert record["view"] == "healthz"
    assert record["status"] == 200
    assert record["message"].startswith("GET /healthz 200")
