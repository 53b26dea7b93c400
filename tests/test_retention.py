"""Pruning: old task rows, old runs' streamed chunks, history beyond the keep, login records; pages keep working."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from axes.models import AccessFailureLog, AccessLog
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from sessions_app.models import RunEvent, StateChange, WorkflowRun, WorkflowSession
from sessions_app.selectors.run_view import run_view
from sessions_app.services.retention import data_prune
from sessions_app.services.run_events import CHUNK_EVENT, COMPLETED_EVENT
from sessions_app.services.state import session_state_edit
from sessions_app.state.store import state_load, state_replace
from tests.conftest import BASE_DIR, READY_TIMEOUT_SECONDS, run_manage

pytestmark = pytest.mark.django_db

LATER = timezone.now() + timedelta(days=60)


@pytest.fixture
def session() -> WorkflowSession:
    session = WorkflowSession.objects.create(session_id="kept", workflow="BlogPostGenerator")
    state_replace(session, {"blog_posts": [{"topic": "t", "blog_post": "# T\n\nBody."}]})
    return session


def finished_run(
    session: WorkflowSession, status: str, events: list[tuple[str, str]], **fields: Any
) -> WorkflowRun:
    fields = {"started_at": timezone.now(), "finished_at": timezone.now(), **fields}
    run = WorkflowRun.objects.create(
        session=session, workflow=session.workflow, status=status, inputs={"topic": "t"}, **fields
    )
    for seq, (event, content) in enumerate(events, start=1):
        RunEvent.objects.create(run=run, seq=seq, event=event, content=content)
    return run


@pytest.fixture
def runs(session: WorkflowSession) -> list[WorkflowRun]:
    chunks = [(CHUNK_EVENT, "# T\n\n"), (CHUNK_EVENT, "Bo"), (CHUNK_EVENT, "dy.")]
    return [
        finished_run(
            session,
            "succeeded",
            [
                ("ResearchStarted", "Looking"),
                *chunks,
                ("PostCached", "cached"),
                (COMPLETED_EVENT, "# T\n\nBody."),
            ],
            output="# T\n\nBody.",
        ),
        finished_run(
            session,
            "failed",
            [("ResearchStarted", "Looking"), *chunks, ("RunFailed", "model timed out")],
            error="model timed out",
        ),
        finished_run(session, "succeeded", [(COMPLETED_EVENT, "# T")], cache_hit=True, output="# T"),
    ]


def pages(session: WorkflowSession, runs: list[WorkflowRun]) -> list[str]:
    entry = session.entries.get()
    return [
        reverse("session_detail", args=[session.session_id]),
        reverse("cache_entry", args=[session.session_id, entry.key, entry.lookup_key]),
        reverse("state_overview", args=[session.session_id]),
        reverse("state_history", args=[session.session_id]),
        *(reverse("run_detail", args=[run.run_id]) for run in runs),
    ]


def shown(run: WorkflowRun) -> tuple[Any, ...]:
    """What the run's page shows: its steps and result (the streamed text only when there is no post)."""
    view = run_view(run)
    return view.steps, view.final, view.text if view.final is None else None, view.last_seq


def run_sections(html: str) -> list[str]:
    return re.findall(r'<(?:ol id="run-steps"|div id="run-post").*?</(?:ol|div)>', html, re.S)


def test_pruning_keeps_every_page_of_a_kept_run_as_it_was(
    session: WorkflowSession, runs: list[WorkflowRun], django_user_model: Any
) -> None:
    client = Client()
    client.force_login(django_user_model.objects.create_superuser("root", password="x"))
    views_before = [shown(run) for run in runs]
    before = {url: client.get(url) for url in pages(session, runs)}

    result = data_prune(actor=None, now=LATER)

    assert result.chunk_events == 5  # the succeeded run's 3, and 2 of the failed run's joined into one
    assert [shown(run) for run in runs] == views_before
    for url, old in before.items():
        new = client.get(url)
        assert new.status_code == old.status_code == 200, url
        if "/runs/" in url:
            assert run_sections(old.content.decode()), url
        assert run_sections(new.content.decode()) == run_sections(old.content.decode()), url
    failed = RunEvent.objects.filter(run=runs[1], event=CHUNK_EVENT).get()
    assert failed.content == "# T\n\nBody."
    assert data_prune(actor=None, now=LATER).chunk_events == 0  # nothing left to do


def test_with_the_defaults_recent_runs_keep_every_event(
    session: WorkflowSession, runs: list[WorkflowRun]
) -> None:
    count = RunEvent.objects.count()

    result = data_prune(actor=None)

    assert result.chunk_events == 0
    assert RunEvent.objects.count() == count


def test_a_run_still_running_keeps_its_chunks(session: WorkflowSession) -> None:
    run = finished_run(session, "running", [(CHUNK_EVENT, "a"), (CHUNK_EVENT, "b")], finished_at=None)

    data_prune(actor=None, now=LATER)

    assert RunEvent.objects.filter(run=run).count() == 2


def task_row(status: str, finished_days_ago: int | None) -> DBTaskResult:
    finished = None if finished_days_ago is None else timezone.now() - timedelta(days=finished_days_ago)
    return DBTaskResult.objects.create(
        status=status,
        finished_at=finished,
        args_kwargs={"args": [], "kwargs": {}},
        task_path="sessions_app.tasks.run_execute_task",
        backend_name="default",
        run_after=timezone.now(),
    )


def test_finished_task_rows_go_after_their_retention(settings: Any) -> None:
    settings.WFSITE_TASK_RESULTS_KEEP_DAYS = 14
    old_done, old_failed = task_row("SUCCESSFUL", 20), task_row("FAILED", 20)
    recent, waiting = task_row("SUCCESSFUL", 2), task_row("READY", None)

    assert data_prune(actor=None).task_results == 2

    assert set(DBTaskResult.objects.values_list("pk", flat=True)) == {recent.pk, waiting.pk}
    assert not DBTaskResult.objects.filter(pk__in=[old_done.pk, old_failed.pk]).exists()


def test_zero_days_keeps_task_rows_forever(settings: Any) -> None:
    settings.WFSITE_TASK_RESULTS_KEEP_DAYS = 0
    task_row("SUCCESSFUL", 400)

    assert data_prune(actor=None).task_results == 0


def test_history_beyond_the_keep_is_folded_and_the_state_is_untouched(
    session: WorkflowSession, settings: Any
) -> None:
    settings.WFSITE_HISTORY_KEEP = 100  # writes fold only past 110: ten more stay for the prune
    for n in range(105):
        session_state_edit(
            session=session,
            new_state={**state_load(session), "n": n},
            base_version=session.version,
            actor=None,
        )
    settings.WFSITE_HISTORY_KEEP = 3
    state = state_load(session)

    result = data_prune(actor=None)

    assert result.history_changes > 0
    assert StateChange.objects.filter(session=session).count() == 4  # the baseline and three changes
    assert state_load(session) == state


def test_old_login_records_go(settings: Any) -> None:
    settings.WFSITE_LOGIN_RECORDS_KEEP_DAYS = 90
    old = timezone.now() - timedelta(days=100)
    for model in (AccessLog, AccessFailureLog, AccessFailureLog):
        model.objects.create(username="a", ip_address="10.0.0.1", user_agent="")
    AccessLog.objects.update(attempt_time=old)  # attempt_time is set on create
    AccessFailureLog.objects.filter(pk=AccessFailureLog.objects.order_by("pk").first().pk).update(
        attempt_time=old
    )

    assert data_prune(actor=None).login_records == 2
    assert AccessFailureLog.objects.count() == 1


SEED_OLD_TASK = """
from datetime import timedelta
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
DBTaskResult.objects.create(status="SUCCESSFUL", finished_at=timezone.now() - timedelta(days=30),
    args_kwargs={"args": [], "kwargs": {}}, task_path="x", backend_name="default", run_after=timezone.now())
"""


def test_the_reaper_loop_prunes_on_its_schedule(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "WFSITE_PRUNE_INTERVAL": "3600",
    }
    run_manage("migrate", "--no-input", env=env)
    run_manage("shell", "-c", SEED_OLD_TASK, env=env)
    loop = subprocess.Popen(
        [sys.executable, str(BASE_DIR / "manage.py"), "reap_runs", "--loop", "0.2"],
        cwd=BASE_DIR,
        env={**env, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        seen = []
        assert loop.stdout is not None
        while time.monotonic() < deadline and not any(line.startswith("Pruned") for line in seen):
            seen.append(loop.stdout.readline())
    finally:
        loop.send_signal(signal.SIGTERM)
        loop.wait(30)
    assert "Pruned 1 task results, 0 chunk events, 0 history changes, 0 login records.\n" in seen
