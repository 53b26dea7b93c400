"""Scaled out: RQ workers on Redis run 50 concurrent runs on PostgreSQL, losing no write and no flight.

The site here is real processes, as on several machines: its own PostgreSQL database (created,
migrated and dropped by the test), its own Redis database (an empty one, flushed at the end),
five `manage.py rq_worker` processes, and a `manage.py shell` that starts the runs with `run_start`
from ten threads at once. The outcome is read back with another `manage.py shell`.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from sessions_app.workflow.blog_post_generator import topic_key
from tests.services import postgres_conninfo, require_postgres, require_redis
from tests.waiting import wait_for

BASE_DIR = Path(__file__).resolve().parent.parent
WORKERS = 5
THREADS = 10
SESSIONS = 5
# Per session: one topic asked three times (spelled three ways), one twice, five once = 10 starts.
TOPICS = ["Shared topic", "shared TOPIC ", "  SHARED   topic", "Kelp {n}", "kelp {n}"] + [
    f"Topic {letter} {{n}}" for letter in "CDEFG"
]
GENERATIONS_PER_SESSION = len({topic_key(topic) for topic in TOPICS})
# The runs must all end this soon after the test starts; setup and teardown fit in pytest's 120 s.
DEADLINE_SECONDS = 90
WORKER_COMMAND = ["rq_worker"]

START_RUNS = """
import json, os, threading, traceback
from django.db import connection
from sessions_app.models import WorkflowSession
from sessions_app.services.runs import run_start
from sessions_app.services.sessions import session_create

plan = json.loads(os.environ["T_PLAN"])
threads = int(os.environ["T_THREADS"])
for session_id in dict.fromkeys(session_id for session_id, _ in plan):
    session_create(session_id=session_id, workflow="BlogPostGenerator", user=None)
connection.close()
barrier = threading.Barrier(threads)
started = [None] * len(plan)
errors = []

def start(first):
    try:
        barrier.wait(30)
        for index in range(first, len(plan), threads):
            session_id, topic = plan[index]
            session = WorkflowSession.objects.get(session_id=session_id)
            run = run_start(session=session, inputs={"topic": topic}, user=None)
            started[index] = {"run_id": str(run.run_id), "cache_hit": run.cache_hit}
    except BaseException:
        errors.append(traceback.format_exc())
    finally:
        connection.close()

workers = [threading.Thread(target=start, args=(n,)) for n in range(threads)]
for worker in workers:
    worker.start()
for worker in workers:
    worker.join(60)
print(json.dumps({"started": started, "errors": errors}))
"""

REPORT = """
import json
from sessions_app.models import StateChange, WorkflowRun, WorkflowSession
from sessions_app.state.store import state_load

report = {}
for session in WorkflowSession.objects.order_by("session_id"):
    changes = StateChange.objects.filter(session=session).select_related("run").order_by("version", "pk")
    runs = WorkflowRun.objects.filter(session=session).order_by("created_at")
    report[session.session_id] = {
        "version": session.version,
        "state": state_load(session),
        "changes": [
            {"version": c.version, "source": c.source, "ops": c.ops, "run_id": c.run and str(c.run.run_id)}
            for c in changes
        ],
        "runs": [
            {
                "run_id": str(r.run_id),
                "topic": r.inputs.get("topic"),
                "status": r.status,
                "error": r.error,
                "cache_hit": r.cache_hit,
                "output": r.output,
                "queued_s": r.started_at and (r.started_at - r.created_at).total_seconds(),
                "ran_s": r.finished_at and r.started_at and (r.finished_at - r.started_at).total_seconds(),
            }
            for r in runs
        ],
    }
print(json.dumps(report))
"""


def the_plan() -> list[tuple[str, str]]:
    """Return the 50 (session, topic) starts, interleaved so that repeats of a topic start together."""
    per_session = [[(f"scale ✓ {n}", topic.format(n=n)) for topic in TOPICS] for n in range(1, SESSIONS + 1)]
    return [starts[j] for j in range(len(TOPICS)) for starts in per_session]


@dataclass
class ScaleSite:
    """A migrated PostgreSQL database, an empty Redis database, and the environment that uses both."""

    env: dict[str, str]
    directory: Path
    workers: list[tuple[subprocess.Popen[bytes], Path]] = field(default_factory=list)

    def manage(self, *args: str, timeout: float = 90, **extra: str) -> str:
        try:
            result = subprocess.run(
                [sys.executable, str(BASE_DIR / "manage.py"), *args],
                cwd=BASE_DIR,
                env={**self.env, **extra},
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as error:
            pytest.fail(
                f"manage.py {args[0]} did not finish in {timeout:.0f} s:\n{error.stdout}{error.stderr}\n"
                f"{self.worker_logs()}",
                pytrace=False,
            )
        if result.returncode != 0:
            pytest.fail(f"manage.py {args[0]} failed:\n{result.stdout}{result.stderr}", pytrace=False)
        return result.stdout

    def start_workers(self, count: int) -> None:
        for number in range(1, count + 1):
            log_path = self.directory / f"rqworker-{number}.log"
            with log_path.open("wb") as log:
                process = subprocess.Popen(
                    [sys.executable, str(BASE_DIR / "manage.py"), *WORKER_COMMAND],
                    cwd=BASE_DIR,
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            self.workers.append((process, log_path))

    def check_workers_alive(self) -> None:
        for process, log_path in self.workers:
            if process.poll() is not None:
                log = log_path.read_text(errors="replace")
                pytest.fail(f"an RQ worker exited with {process.returncode}:\n{log}", pytrace=False)

    def stop_workers(self) -> None:
        # SIGTERM is RQ's warm shutdown: the worker finishes its job (none is left) and exits.
        for process, _ in self.workers:
            if process.poll() is None:
                process.terminate()
        for process, _ in self.workers:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def worker_logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}" for _, path in self.workers
        )


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def empty_redis_db(url: str) -> int:
    """Return the number of an empty Redis database, so flushing it at the end touches nobody else's keys."""
    import redis

    with redis.Redis.from_url(url) as client:
        count = int(client.config_get("databases").get("databases", 16))
    candidates = list(range(1, count))
    random.shuffle(candidates)
    for number in candidates:
        with redis.Redis.from_url(url, db=number) as client:
            if client.dbsize() == 0:
                return number
    pytest.fail(f"no empty Redis database among 1..{count - 1} at {url} for the test to use", pytrace=False)


@pytest.fixture
def scale_site(tmp_path: Path) -> Iterator[ScaleSite]:
    import psycopg
    import redis

    pg_url = require_postgres()
    redis_base = require_redis()
    name = f"wfsite_scale_{uuid.uuid4().hex[:10]}"
    redis_db = empty_redis_db(redis_base)
    redis_url = with_database(redis_base, str(redis_db))
    admin = postgres_conninfo(pg_url, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"WFSITE_MODEL_PROVIDER", "WFSITE_SEARCHER", "WFSITE_HEARTBEAT_TIMEOUT"}
    }
    env.update(
        DATABASE_URL=with_database(pg_url, name),
        WFSITE_TASK_BACKEND="rq",
        REDIS_URL=redis_url,
        # Slow enough that generations overlap across workers, fast enough to finish in seconds.
        WFSITE_OFFLINE_DELAY="0.002",
        PYTHONUNBUFFERED="1",
    )
    site = ScaleSite(env=env, directory=tmp_path)
    try:
        site.manage("migrate", "--no-input", "--skip-checks")
        yield site
    finally:
        site.stop_workers()
        with redis.Redis.from_url(redis_url) as client:
            client.flushdb()
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name]
            )
            connection.execute(f'DROP DATABASE IF EXISTS "{name}"')


def wait_until(condition: Callable[[], bool], *, deadline: float, what: str, site: ScaleSite) -> None:
    def holds() -> bool:
        site.check_workers_alive()
        return condition()

    timeout = max(deadline - time.monotonic(), 0)
    wait_for(holds, timeout=timeout, what=what, every=0.2, detail=site.worker_logs)


def unfinished_runs(site: ScaleSite) -> int:
    import psycopg

    with psycopg.connect(postgres_conninfo(site.env["DATABASE_URL"])) as connection:
        row = connection.execute(
            "SELECT count(*) FROM sessions_app_workflowrun WHERE status IN ('queued', 'running')"
        ).fetchone()
    assert row is not None
    return int(row[0])


def start_runs(site: ScaleSite, plan: list[tuple[str, str]], deadline: float) -> list[dict[str, Any]]:
    """Start every planned run from THREADS threads at once; return what each run_start returned."""
    args = ("shell", "-v", "0", "-c", START_RUNS)
    env = {"T_PLAN": json.dumps(plan), "T_THREADS": str(THREADS)}
    out = json.loads(site.manage(*args, timeout=deadline - time.monotonic(), **env))
    assert not out["errors"], "run_start raised in a thread:\n" + "\n".join(out["errors"])
    assert all(out["started"]), "some starts never returned a run"
    return out["started"]


@pytest.mark.timeout(120)
def test_rq_workers_run_50_concurrent_runs_on_postgres(scale_site: ScaleSite) -> None:
    began = time.monotonic()
    deadline = began + DEADLINE_SECONDS
    plan = the_plan()
    scale_site.start_workers(WORKERS)
    started = start_runs(scale_site, plan, deadline)
    wait_until(
        lambda: unfinished_runs(scale_site) == 0, deadline=deadline, what="every run to end", site=scale_site
    )
    report = json.loads(scale_site.manage("shell", "-v", "0", "-c", REPORT))
    elapsed = time.monotonic() - began

    assert sorted(report) == sorted({session_id for session_id, _ in plan})
    runs = {run["run_id"]: run for session in report.values() for run in session["runs"]}
    failed = [run for run in runs.values() if run["status"] != "succeeded" or run["error"]]
    assert not failed, f"runs that did not succeed: {failed}"
    for (session_id, topic), start in zip(plan, started, strict=True):
        run = runs.get(start["run_id"])
        assert run is not None, f"run_start for {session_id!r}/{topic!r} returned a run that is not stored"
        assert topic_key(run["topic"]) == topic_key(topic)
    joined = check_single_flight(report, plan, started)
    for session_id, session in report.items():
        check_history(session_id, session, check_posts_cached(session_id, session))
    print(summary(runs, joined, elapsed))
    assert elapsed < DEADLINE_SECONDS


def summary(runs: dict[str, dict[str, Any]], joined: int, elapsed: float) -> str:
    generations = [run for run in runs.values() if not run["cache_hit"]]
    return (
        f"\n{SESSIONS * len(TOPICS)} starts on {SESSIONS} sessions by {WORKERS} RQ workers in {elapsed:.1f} s "
        f"(longest queue wait {max(run['queued_s'] for run in generations):.1f} s, longest run "
        f"{max(run['ran_s'] for run in generations):.1f} s): {len(runs)} run rows, "
        f"{len(generations)} generations, {joined} joined a run in flight, "
        f"{len(runs) - len(generations)} cache hits"
    )


def check_single_flight(
    report: dict[str, Any], plan: list[tuple[str, str]], started: list[dict[str, Any]]
) -> int:
    """Assert each session generated each topic once; return how many starts joined a run in flight."""
    starts: Counter[tuple[str, str]] = Counter((s, topic_key(t)) for s, t in plan)
    returned: defaultdict[tuple[str, str], list[str]] = defaultdict(list)
    for (session_id, topic), start in zip(plan, started, strict=True):
        returned[(session_id, topic_key(topic))].append(start["run_id"])
    joined = 0
    for session_id, session in report.items():
        by_topic: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
        for run in session["runs"]:
            by_topic[topic_key(run["topic"])].append(run)
        assert len(by_topic) == GENERATIONS_PER_SESSION, f"{session_id}: topics {sorted(by_topic)}"
        for key, runs in by_topic.items():
            generations = [run for run in runs if not run["cache_hit"]]
            assert len(generations) == 1, (
                f"{session_id}/{key!r} was generated {len(generations)} times (single-flight failed): "
                f"{generations}"
            )
            ids = returned[(session_id, key)]
            # Each start either made or joined the generation, or made its own cache-hit row.
            joins = ids.count(generations[0]["run_id"]) - 1
            assert joins + len(runs) == starts[(session_id, key)], f"{session_id}/{key!r}: {ids} vs {runs}"
            joined += joins
    assert joined, "no start joined a run in flight, so single-flight was not exercised"
    return joined


def check_posts_cached(session_id: str, session: dict[str, Any]) -> dict[str, str]:
    """Assert the state caches every generated post once; return {topic key: post}."""
    generated = {topic_key(run["topic"]): run["output"] for run in session["runs"] if not run["cache_hit"]}
    posts = session["state"].get("blog_posts")
    assert isinstance(posts, list), f"{session_id}: no blog_posts list in {session['state']}"
    keys = [topic_key(post["topic"]) for post in posts]
    assert Counter(keys) == Counter(list(generated)), (
        f"{session_id}: cached topics {keys}, generated {sorted(generated)}"
    )
    for post in posts:
        assert post["blog_post"] == generated[topic_key(post["topic"])], f"{session_id}: {post['topic']!r}"
    for run in session["runs"]:
        assert run["output"] == generated[topic_key(run["topic"])], f"{session_id}: answer of {run}"
    return generated


def check_history(session_id: str, session: dict[str, Any], generated: dict[str, str]) -> None:
    """Assert versions 1..N are contiguous, N is the state's version, and each post came in one run change."""
    changes = session["changes"]
    versions = [change["version"] for change in changes]
    assert versions == list(range(1, len(changes) + 1)), f"{session_id}: versions {versions}"
    assert session["version"] == len(changes), (
        f"{session_id}: version {session['version']}, {len(changes)} changes"
    )
    generators = {run["run_id"]: run for run in session["runs"] if not run["cache_hit"]}
    seen: Counter[str] = Counter()
    for change in changes:
        assert change["source"] == "run", f"{session_id}: unexpected change {change}"
        run = generators.get(change["run_id"])
        assert run is not None, f"{session_id}: change v{change['version']} is not from a generating run"
        for kind, path, value, *_ in change["ops"]:
            if kind == "append" and path == ["blog_posts"]:
                for post in value:
                    key = topic_key(post["topic"])
                    assert key == topic_key(run["topic"]), f"{session_id}: run {run['topic']!r} wrote {key!r}"
                    assert post["blog_post"] == generated[key]
                    seen[key] += 1
    assert seen == Counter(dict.fromkeys(generated, 1)), f"{session_id}: posts per run change {seen}"
