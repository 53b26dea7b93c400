"""`/healthz`: the process answers. `/readyz`: it can serve, so a load balancer may send it traffic.

Ready means the database answers, every migration this code knows is applied, and Redis answers
when runs queue there (`WFSITE_TASK_BACKEND=rq`). Both need no login and say only which check
failed, never why: the reason goes to the log (`wfsite.health`), where operators look.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger("wfsite.health")

REDIS_TIMEOUT_SECONDS = 2.0
# Reading every migration file on each probe is slow; applied migrations stay applied.
MIGRATED_CACHE_SECONDS = 30.0
_migrated_at: float | None = None


@login_not_required
@never_cache
@require_GET
async def healthz(request: HttpRequest) -> HttpResponse:
    """Say the process is up; touches nothing else."""
    return JsonResponse({"status": "ok"})


def check_database() -> None:
    """Run a trivial query on the default database."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_migrations() -> None:
    """Raise unless every migration this code has is applied."""
    global _migrated_at
    if _migrated_at is not None and time.monotonic() - _migrated_at < MIGRATED_CACHE_SECONDS:
        return
    executor = MigrationExecutor(connection)
    unapplied = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if unapplied:
        raise RuntimeError(f"{len(unapplied)} migrations are not applied, first {unapplied[0][0]}")
    _migrated_at = time.monotonic()


def check_redis() -> None:
    """Ping the Redis the run queue uses."""
    import redis

    client = redis.Redis.from_url(
        str(settings.RQ_QUEUES["default"]["URL"]),
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
    )
    try:
        client.ping()
    finally:
        client.close()


def readiness_checks() -> dict[str, Callable[[], None]]:
    """Return the checks this configuration needs, in the order they run."""
    checks: dict[str, Callable[[], None]] = {"database": check_database, "migrations": check_migrations}
    if settings.WFSITE_TASK_BACKEND == "rq":
        checks["redis"] = check_redis
    return checks


@login_not_required
@never_cache
@require_GET
def readyz(request: HttpRequest) -> HttpResponse:
    """Answer 200 when every check passes, else 503 naming the checks that failed."""
    results: dict[str, str] = {}
    for name, check in readiness_checks().items():
        if name == "migrations" and results.get("database") != "ok":
            results[name] = "skipped"
            continue
        try:
            check()
        except Exception:
            logger.warning("Readiness check %s failed", name, exc_info=True)
            results[name] = "failing"
        else:
            results[name] = "ok"
    ready = all(value == "ok" for value in results.values())
    body = {"status": "ok" if ready else "unavailable", "checks": results}
    return JsonResponse(body, status=200 if ready else 503)
