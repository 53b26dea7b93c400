"""The real `manage.py db_worker` runs queued runs; a worker killed mid-run is reaped and the session lives on.

These tests use their own SQLite file (the worker is another process), start runs with
`manage.py shell`, and read the outcome straight from the file.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import uuid
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from tests.site_processes import SiteProcesses
from tests.waiting import wait_for

BASE_DIR = Path(__file__).resolve().parent.parent
OLD_STATE = {"blog_posts": [{"topic": "Old topic", "blog_post": "kept post"}], "note": "written before"}
START_RUN = """
import json, os
from sessions_app.models import WorkflowSession
from sessions_app.services.runs import run_start
from sessions_app.services.sessions import session_create
from sessions_app.state.store import state_replace
session = WorkflowSession.objects.filter(session_id=os.environ["T_SESSION"]).first()
if session is None:
    session = session_create(session_id=os.environ["T_SESSION"], workflow="BlogPostGenerator", user=None)
    state_replace(session, json.loads(os.environ["T_STATE"]))
print(run_start(session=session, inputs={"topic": os.environ["T_TOPIC"]}, user=None).run_id)
"""
PRINT_STATE = """
import json, os
from sessions_app.models import WorkflowSession
from sessions_app.state.store import state_load
print(json.dumps(state_load(WorkflowSession.objects.get(session_id=os.environ["T_SESSION"]))))
"""
WORKER = ["db_worker", "--no-reload", "--no-startup-delay", "--skip-checks"]


class Site(SiteProcesses):
    """A migrated SQLite file and the environment that points manage.py at it."""

    @property
    def db(self) -> Path:
        return self.directory / "db.sqlite3"

    def start_run(self, session_id: str, topic: str) -> str:
        env = {"T_SESSION": session_id, "T_TOPIC": topic, "T_STATE": json.dumps(OLD_STATE)}
        return self.manage("shell", "-v", "0", "-c", START_RUN, **env).strip()

    def state(self, session_id: str) -> dict[str, Any]:
        return json.loads(self.manage("shell", "-v", "0", "-c", PRINT_STATE, T_SESSION=session_id))

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with closing(sqlite3.connect(self.db, timeout=20)) as connection:
            return connection.execute(sql, params).fetchall()

    def run_row(self, run_id: str) -> dict[str, Any]:
        columns = ("status", "error", "output", "cache_hit", "id")
        row = self.query(
            f"SELECT {', '.join(columns)} FROM sessions_app_workflowrun WHERE run_id = ?",
            uuid.UUID(run_id).hex,
        )
        return dict(zip(columns, row[0], strict=True))

    def events(self, run_id: str) -> list[tuple[int, str, str]]:
        return self.query(
            "SELECT seq, event, content FROM sessions_app_runevent WHERE run_id = ? ORDER BY seq",
            self.run_row(run_id)["id"],
        )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    return Site.create(tmp_path_factory.mktemp("worker"), WFSITE_OFFLINE_DELAY="0")


def test_db_worker_runs_a_queued_run(site: Site) -> None:
    run_id = site.start_run("worker ✓ one", "Kelp forests")
    assert site.run_row(run_id)["status"] == "queued"
    site.manage(*WORKER, "--batch", "--interval", "0", timeout=60)
    row = site.run_row(run_id)
    assert (row["status"], row["error"], row["cache_hit"]) == ("succeeded", "", 0)
    events = site.events(run_id)
    assert [seq for seq, _, _ in events] == list(range(1, len(events) + 1))
    assert events[-1][1:] == ("WorkflowCompleted", row["output"])
    assert "".join(content for _, event, content in events if event == "RunResponse") == row["output"]
    assert site.state("worker ✓ one")["blog_posts"][-1] == {
        "topic": "Kelp forests",
        "blog_post": row["output"],
    }


@pytest.mark.timeout(120)
def test_killed_worker_is_reaped_and_the_session_lives_on(site: Site) -> None:
    session_id = "worker ✓ killed"
    run_id = site.start_run(session_id, "Slow topic")

    def task_status() -> str:
        [(task_id,)] = site.query(
            "SELECT task_id FROM sessions_app_workflowrun WHERE run_id = ?", uuid.UUID(run_id).hex
        )
        [(status,)] = site.query(
            "SELECT status FROM django_tasks_database_dbtaskresult WHERE id = ?", uuid.UUID(task_id).hex
        )
        return status

    slow = {**site.env, "WFSITE_OFFLINE_DELAY": "0.2", "WFSITE_HEARTBEAT_INTERVAL": "0.2"}
    worker = subprocess.Popen(
        [sys.executable, str(BASE_DIR / "manage.py"), *WORKER, "--interval", "0.1"],
        cwd=BASE_DIR,
        env=slow,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(
            lambda: any(event == "RunResponse" for _, event, _ in site.events(run_id)),
            timeout=30,
            what="the worker to stream the first chunk",
        )
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert site.run_row(run_id)["status"] == "running"  # nothing noticed the death yet
    assert task_status() == "RUNNING"
    reaper = subprocess.Popen(
        [sys.executable, str(BASE_DIR / "manage.py"), "reap_runs", "--loop", "0.2", "--skip-checks"],
        cwd=BASE_DIR,
        env={**site.env, "WFSITE_HEARTBEAT_TIMEOUT": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(lambda: site.run_row(run_id)["status"] != "running", timeout=30, what="the reaper")
    finally:
        reaper.terminate()
        output, _ = reaper.communicate(timeout=10)
    assert reaper.returncode == 0, output  # SIGTERM ends the loop cleanly
    assert "Marked 1 run with no heartbeat as failed." in output
    row = site.run_row(run_id)
    assert row["status"] == "failed"
    assert row["error"].startswith("The worker running this run stopped responding (no heartbeat for ")
    assert row["error"].endswith(" s); state saved up to its last write is kept.")
    assert site.events(run_id)[-1][1:] == ("RunFailed", row["error"])
    assert task_status() == "FAILED"  # the task queue's row too, not left running for good
    assert site.state(session_id) == OLD_STATE

    again = site.start_run(session_id, "slow TOPIC")
    assert again != run_id
    site.manage(*WORKER, "--batch", "--interval", "0", timeout=60)
    assert site.run_row(again)["status"] == "succeeded"
    posts = site.state(session_id)["blog_posts"]
    assert [post["topic"] for post in posts] == ["Old topic", "slow TOPIC"]
