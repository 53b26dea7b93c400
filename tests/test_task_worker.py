"""`manage.py task_worker`: db_worker that backs off and keeps polling while the database is locked."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from sessions_app.management.commands.task_worker import CALM_SECONDS, MAX_DELAY, LockBackoff
from tests.site_processes import SiteProcesses, own_site, wait_for

LOCKED_LINE = "The database stayed locked by another process past the busy timeout"
START_RUN = """
import json
from sessions_app.services.runs import run_start
from sessions_app.services.sessions import session_create
session = session_create(session_id="after the lock", workflow="BlogPostGenerator", user=None)
print(json.dumps(str(run_start(session=session, inputs={"topic": "Locks"}, user=None).run_id)))
"""
RUN_STATUS = """
import json, os
from sessions_app.models import WorkflowRun
print(json.dumps(WorkflowRun.objects.get(run_id=os.environ["T_RUN"]).status))
"""


def test_the_wait_doubles_while_locked_and_starts_over_once_calm() -> None:
    backoff = LockBackoff()
    delays = [backoff.next_delay(float(now)) for now in range(6)]
    assert delays == [1, 2, 4, 8, MAX_DELAY, MAX_DELAY]
    assert backoff.next_delay(5 + CALM_SECONDS + 1) == 1


@pytest.fixture
def locked_site(tmp_path: Path) -> SiteProcesses:
    return SiteProcesses.create(tmp_path, WFSITE_SQLITE_BUSY_TIMEOUT="0.3", WFSITE_OFFLINE_DELAY="0")


def hold_the_write_lock(site: SiteProcesses) -> sqlite3.Connection:
    """Take SQLite's write lock from another connection, as a long writer in another process would."""
    holder = sqlite3.connect(site.directory / "db.sqlite3", timeout=5, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    return holder


@own_site
def test_a_lock_past_the_busy_timeout_ends_db_worker(locked_site: SiteProcesses) -> None:
    """The fault task_worker is for: django-tasks-db's own worker exits."""
    holder = hold_the_write_lock(locked_site)
    try:
        locked_site.start_workers(command_name="db_worker")
        (worker,) = locked_site.workers
        wait_for(lambda: worker.poll() is not None, timeout=60, what="db_worker to exit")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        locked_site.stop()
    assert worker.returncode != 0
    assert "database is locked" in locked_site.logs()


@own_site
def test_task_worker_keeps_polling_through_the_lock_and_runs_what_is_queued_after(
    locked_site: SiteProcesses,
) -> None:
    holder = hold_the_write_lock(locked_site)
    try:
        locked_site.start_workers(command_name="task_worker")
        (worker,) = locked_site.workers
        wait_for(lambda: locked_site.logs().count(LOCKED_LINE) >= 2, timeout=60, what="two locked polls")
        assert worker.poll() is None, locked_site.logs()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    try:
        run_id = locked_site.shell(START_RUN)
        finished = wait_for(
            lambda: (
                (status := locked_site.shell(RUN_STATUS, T_RUN=run_id)) not in {"queued", "running"}
                and status
            ),
            timeout=90,
            what="the run queued after the lock to finish",
        )
        assert finished == "succeeded", locked_site.logs()
        assert worker.poll() is None
        assert "polling again in 1 s." in locked_site.logs()
        assert "polling again in 2 s." in locked_site.logs()
    finally:
        locked_site.stop()
