"""Cancelling runs on real workers, for each task queue: the database's `db_worker` and Redis's `rq_worker`.

A queued run that is cancelled is skipped by the worker that picks its task up; a running one stops
within seconds, keeps the events it streamed and the state it had, and says who cancelled it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.services import redis_url, require_redis
from tests.site_processes import SiteProcesses, own_site, wait_for, with_database
from tests.test_scale_out import empty_redis_db

pytestmark = own_site

OLD_STATE = {"blog_posts": [{"topic": "Old topic", "blog_post": "kept post"}], "note": "written before"}
# ~650 chunks at 50 ms: the run streams for half a minute unless it is cancelled.
OFFLINE_DELAY = "0.05"
START = """
import json, os
from sessions_app.services.runs import run_start
from sessions_app.services.sessions import session_create
from sessions_app.state.store import state_replace
from sessions_app.models import WorkflowSession
session = WorkflowSession.objects.filter(session_id=os.environ["T_SESSION"]).first()
if session is None:
    session = session_create(session_id=os.environ["T_SESSION"], workflow="BlogPostGenerator", user=None)
    state_replace(session, json.loads(os.environ["T_STATE"]))
print(json.dumps(str(run_start(session=session, inputs={"topic": os.environ["T_TOPIC"]}, user=None).run_id)))
"""
CANCEL = """
import json, os
from django.contrib.auth import get_user_model
from sessions_app.models import WorkflowRun
from sessions_app.services.runs import run_cancel
user = get_user_model().objects.get(username=os.environ["T_USER"])
run = run_cancel(run=WorkflowRun.objects.get(run_id=os.environ["T_RUN"]), actor=user)
print(json.dumps(run.status))
"""
REPORT = """
import json, os
from sessions_app.models import WorkflowRun
from sessions_app.state.store import state_load
run = WorkflowRun.objects.select_related("session", "cancelled_by").get(run_id=os.environ["T_RUN"])
events = list(run.events.order_by("seq").values_list("event", "content"))
print(json.dumps({
    "status": run.status, "error": run.error, "started": run.started_at is not None,
    "cancelled_by": run.cancelled_by.get_username() if run.cancelled_by else None,
    "events": events, "state": state_load(run.session), "session_status": run.session.last_run_status,
    "stopped_after": (run.finished_at - run.cancel_requested_at).total_seconds() if run.finished_at
    and run.cancel_requested_at else None,
}))
"""


def redis_db_url() -> str:
    """Redis at REDIS_URL when it names a database of its own, else an empty one (the workers take every job)."""
    url = require_redis(redis_url())
    if urlsplit(url).path.strip("/") in ("", "0"):
        url = with_database(url, str(empty_redis_db(url)))
    return url


@pytest.fixture(params=["db", "rq"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def site(backend: str, tmp_path: Path) -> Iterator[SiteProcesses]:
    env = {"WFSITE_OFFLINE_DELAY": OFFLINE_DELAY, "WFSITE_RUN_RATE_LIMIT": ""}
    if backend == "rq":
        env.update(WFSITE_TASK_BACKEND="rq", REDIS_URL=redis_db_url())
    site = SiteProcesses.create(tmp_path, **env)
    try:
        yield site
    finally:
        site.stop()
        if backend == "rq":
            import redis

            with redis.Redis.from_url(env["REDIS_URL"]) as client:
                client.flushdb()


def report(site: SiteProcesses, run_id: str) -> dict[str, Any]:
    return site.shell(REPORT, T_RUN=run_id)


@pytest.mark.timeout(180)
def test_cancel_on_real_workers(site: SiteProcesses, backend: str) -> None:
    user, _ = site.make_superuser()
    # Queued, with no worker yet: cancelled at once, and skipped when a worker picks its task up.
    queued = site.shell(START, T_SESSION="cancel queued", T_TOPIC="Never started", T_STATE="{}")
    assert site.shell(CANCEL, T_RUN=queued, T_USER=user) == "cancelled"
    if backend == "rq":
        site.start_rq_worker()
    else:
        site.start_workers()
    wait_for(
        lambda: f"Skipping run {queued}: cancelled" in site.logs(tail=100_000),
        timeout=60,
        what="the worker to skip the cancelled run",
    )
    skipped = report(site, queued)
    assert (skipped["status"], skipped["started"], skipped["cancelled_by"]) == ("cancelled", False, user)
    assert skipped["events"] == [["RunCancelled", f"Cancelled by {user}."]]

    # Running: stops within seconds of the cancel, keeping what it streamed and the state it had.
    running = site.shell(
        START, T_SESSION="cancel running", T_TOPIC="Slow topic", T_STATE=json.dumps(OLD_STATE)
    )

    def streaming() -> bool:
        site.check_alive()
        now = report(site, running)
        return now["status"] == "running" and any(event == "RunResponse" for event, _ in now["events"])

    wait_for(streaming, timeout=60, what="the run to stream", every=0.3)
    asked = time.monotonic()
    assert site.shell(CANCEL, T_RUN=running, T_USER=user) == "running"  # asked; its worker ends it
    wait_for(lambda: report(site, running)["status"] != "running", timeout=30, what="the run to stop")
    took = time.monotonic() - asked
    ended = report(site, running)
    assert (ended["status"], ended["error"], ended["cancelled_by"]) == (
        "cancelled",
        f"Cancelled by {user}.",
        user,
    )
    assert ended["events"][-1] == ["RunCancelled", f"Cancelled by {user}."]
    chunks = "".join(content for event, content in ended["events"] if event == "RunResponse")
    assert chunks.startswith("# ")
    assert [event for event, _ in ended["events"]].count("WorkflowCompleted") == 0
    assert ended["state"] == OLD_STATE  # nothing half-written was cached, nothing older was lost
    assert ended["session_status"] == "cancelled"
    # Within a second or two of the cancel, not the half minute the run would have taken.
    assert 0 <= ended["stopped_after"] < 5, ended["stopped_after"]
    assert took < 30, took  # wall time, with a manage.py shell for each look
