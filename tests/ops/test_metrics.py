"""/metrics: its guard, the run numbers counted in the database, and in-process metrics across processes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient, Client
from django.utils import timezone
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from sessions_app.models import RunEvent, WorkflowRun, WorkflowSession
from sessions_app.ops.instruments import STREAM_CLIENTS, counted_stream
from tests.conftest import BASE_DIR, run_manage
from tests.django_fixtures import user_with_role

pytestmark = pytest.mark.django_db
W = "BlogPostGenerator"


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(text: str, name: str, **labels: str) -> float:
    return samples(text)[name, frozenset(labels.items())]


def scrape(**extra: Any) -> Any:
    return Client().get("/metrics", **extra)


@pytest.fixture
def locked_down(settings: Any) -> None:
    settings.WFSITE_METRICS_TOKEN = ""
    settings.WFSITE_METRICS_ALLOWED_NETWORKS = []


def test_nobody_reads_metrics_without_the_token_or_an_allowed_address(locked_down: None) -> None:
    response = scrape(REMOTE_ADDR="127.0.0.1")

    assert response.status_code == 403
    assert response.content == b"Forbidden."


def test_the_token_opens_metrics_from_anywhere(locked_down: None, settings: Any) -> None:
    settings.WFSITE_METRICS_TOKEN = "s3cret-token"

    assert scrape(REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer s3cret-token").status_code == 200
    assert scrape(REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer s3cret-tokem").status_code == 403
    assert scrape(REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Basic s3cret-token").status_code == 403


def test_an_allowed_network_opens_metrics(locked_down: None, settings: Any) -> None:
    settings.WFSITE_METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8", "fd00::/8"]

    assert scrape(REMOTE_ADDR="10.20.30.40").status_code == 200
    assert scrape(REMOTE_ADDR="fd00::5").status_code == 200
    assert scrape(REMOTE_ADDR="11.0.0.1").status_code == 403


def test_run_numbers_come_from_the_database() -> None:
    session = WorkflowSession.objects.create(session_id="m", workflow=W)
    now = timezone.now()
    old_beat = now - timedelta(minutes=10)
    for status, cache_hit, heartbeat in [
        ("queued", False, None),
        ("running", False, now),
        ("running", False, old_beat),
        ("succeeded", True, None),
        ("succeeded", False, None),
        ("failed", False, None),
    ]:
        WorkflowRun.objects.create(
            session=session, workflow=W, status=status, cache_hit=cache_hit, heartbeat_at=heartbeat
        )

    text = scrape(REMOTE_ADDR="127.0.0.1").content.decode()

    assert value(text, "wfsite_runs_started_total", workflow=W) == 6
    assert value(text, "wfsite_runs_finished_total", workflow=W, status="succeeded") == 2
    assert value(text, "wfsite_runs_finished_total", workflow=W, status="failed") == 1
    assert value(text, "wfsite_runs_finished_total", workflow=W, status="cancelled") == 0
    assert value(text, "wfsite_cache_lookups_total", workflow=W, result="hit") == 1
    assert value(text, "wfsite_cache_lookups_total", workflow=W, result="miss") == 5
    assert value(text, "wfsite_runs_queued", workflow=W) == 1
    assert value(text, "wfsite_runs_running", workflow=W) == 2
    assert value(text, "wfsite_runs_stale", workflow=W) == 1
    assert value(text, "wfsite_metrics_database_up") == 1


def test_request_latency_is_recorded_by_view() -> None:
    labels = {"view": "healthz", "method": "GET", "status": "200"}
    before = REGISTRY.get_sample_value("wfsite_request_duration_seconds_count", labels) or 0
    Client().get("/healthz")
    Client().get("/healthz")

    text = scrape(REMOTE_ADDR="127.0.0.1").content.decode()

    assert value(text, "wfsite_request_duration_seconds_count", **labels) == before + 2
    unmatched = {"view": "unmatched", "method": "other", "status": "404"}
    Client().generic("BREW", "/no-such-page/")
    assert REGISTRY.get_sample_value("wfsite_request_duration_seconds_count", unmatched) >= 1


def test_an_open_stream_counts_as_a_client_until_it_closes() -> None:
    closed = []

    async def stream() -> AsyncIterator[str]:
        try:
            while True:
                yield "event"
        finally:
            closed.append(True)

    async def read_one_then_leave() -> tuple[float, float]:
        before = STREAM_CLIENTS._value.get()
        counted = counted_stream(stream())
        await anext(counted)
        during = STREAM_CLIENTS._value.get() - before
        await counted.aclose()
        return during, STREAM_CLIENTS._value.get() - before

    during, after = async_to_sync(read_one_then_leave)()

    assert (during, after) == (1, 0)
    assert closed == [True]


REQUESTS = """
import django
django.setup()
from django.test import AsyncClient, Client
for _ in range({n}):
    Client().get("/healthz")
if {scrape}:
    print(Client().get("/metrics").content.decode())
"""


def test_with_a_multiprocess_dir_every_process_is_counted(tmp_path: Path) -> None:
    """Two processes answer health checks; a third one's /metrics counts both."""
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "wfsite.settings",
        "DEBUG": "true",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    env.pop("WFSITE_METRICS_ALLOWED_NETWORKS", None)
    run_manage("migrate", "--no-input", env=env)

    def python(n: int, scrape: bool) -> str:
        code = REQUESTS.format(n=n, scrape=scrape)
        done = subprocess.run(
            [sys.executable, "-c", code],
            cwd=BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    python(2, False)
    python(3, False)
    text = python(0, True)

    assert (
        value(text, "wfsite_request_duration_seconds_count", view="healthz", method="GET", status="200") == 5
    )
    assert value(text, "wfsite_stream_clients") == 0
    assert value(text, "wfsite_metrics_database_up") == 1


@pytest.mark.django_db(transaction=True)
def test_the_run_event_stream_is_counted(django_user_model: Any) -> None:
    session = WorkflowSession.objects.create(session_id="live", workflow=W)
    run = WorkflowRun.objects.create(
        session=session, workflow=W, status="running", heartbeat_at=timezone.now()
    )
    RunEvent.objects.create(run=run, seq=1, event="ResearchStarted", content="Looking")
    viewer = user_with_role(django_user_model, "watcher", "viewer")

    async def open_stream() -> tuple[float, float]:
        before = STREAM_CLIENTS._value.get()
        client = AsyncClient()
        await client.aforce_login(viewer)
        response = await client.get(f"/runs/{run.run_id}/events/")
        first = asyncio.Event()

        async def read() -> None:
            async for _ in response.streaming_content:
                first.set()

        # A browser that goes away cancels the task sending the stream, as here.
        reader = asyncio.create_task(read())
        await asyncio.wait_for(first.wait(), 30)
        during = STREAM_CLIENTS._value.get() - before
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        return during, STREAM_CLIENTS._value.get() - before

    assert async_to_sync(open_stream)() == (1, 0)
