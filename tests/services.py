"""Whether the PostgreSQL and Redis servers some tests need are running; skip without them, fail under CI.

Locally a missing server skips those tests with a reason saying how to start it. With `CI=true`
the same absence fails them, so a CI run can never pass by quietly testing less. The Makefile uses
this module as a script to decide whether the PostgreSQL pass of `make test` runs:

    python -m tests.services postgres   # exit 0: reachable; 2: skip (reason printed); 1: CI=true, fail
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

import pytest

DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/wfsite"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
CONNECT_TIMEOUT_SECONDS = 3
START_POSTGRES = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
START_REDIS = 'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no'
# Exit statuses of `python -m tests.services`.
EXIT_SKIP = 2
EXIT_FAIL = 1


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def postgres_url() -> str:
    """Return the PostgreSQL server tests use: DATABASE_URL when it names one, else the local default."""
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        return url
    return os.environ.get("WFSITE_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL


def redis_url() -> str:
    return os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL


def postgres_conninfo(url: str, *, dbname: str | None = None) -> str:
    """Return libpq connection info for `url`, pointed at `dbname` (the URL's database by default)."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(url)
    if dbname is not None:
        params["dbname"] = dbname
    params.setdefault("connect_timeout", CONNECT_TIMEOUT_SECONDS)
    return make_conninfo(**params)


def postgres_problem(url: str | None = None) -> str | None:
    """Return why the PostgreSQL server at `url` cannot be used, or None when it can."""
    url = url or postgres_url()
    try:
        import psycopg

        # The maintenance database: the URL's own one need not exist (pytest-django makes test_<name>).
        with psycopg.connect(postgres_conninfo(url, dbname="postgres")) as connection:
            connection.execute("SELECT 1")
    except Exception as error:
        return f"PostgreSQL is not reachable at {_hide_password(url)} ({_one_line(error)})"
    return None


def redis_problem(url: str | None = None) -> str | None:
    """Return why the Redis server at `url` cannot be used, or None when it can."""
    url = url or redis_url()
    try:
        import redis

        client = redis.Redis.from_url(
            url, socket_connect_timeout=CONNECT_TIMEOUT_SECONDS, socket_timeout=CONNECT_TIMEOUT_SECONDS
        )
        with client:
            client.ping()
    except Exception as error:
        return f"Redis is not reachable at {_hide_password(url)} ({_one_line(error)})"
    return None


def postgres_available(url: str | None = None) -> bool:
    return postgres_problem(url) is None


def redis_available(url: str | None = None) -> bool:
    return redis_problem(url) is None


def _missing(problem: str, start: str) -> NoReturn:
    if in_ci():
        pytest.fail(f"{problem}; CI=true, so a missing service is a failure", pytrace=False)
    pytest.skip(f"{problem}; start it with: {start}")


def require_postgres(url: str | None = None) -> str:
    """Return the PostgreSQL URL to use; skip the test without the server (fail it under CI=true)."""
    url = url or postgres_url()
    if (problem := postgres_problem(url)) is not None:
        _missing(problem, START_POSTGRES)
    return url


def require_redis(url: str | None = None) -> str:
    """Return the Redis URL to use; skip the test without the server (fail it under CI=true)."""
    url = url or redis_url()
    if (problem := redis_problem(url)) is not None:
        _missing(problem, START_REDIS)
    return url


def _one_line(error: BaseException) -> str:
    # libpq's messages span lines; a skip reason reads better on one.
    return f"{type(error).__name__}: {' '.join(str(error).split())}"


def _hide_password(url: str) -> str:
    """Return the URL without its password, for messages that end up in CI logs."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def main(argv: list[str]) -> int:
    """Probe one service for the Makefile; print why it is missing and what that means."""
    probes = {"postgres": (postgres_problem, START_POSTGRES), "redis": (redis_problem, START_REDIS)}
    if len(argv) not in (1, 2) or argv[0] not in probes:
        print("usage: python -m tests.services {postgres|redis} [URL]", file=sys.stderr)
        return EXIT_FAIL
    probe, start = probes[argv[0]]
    problem = probe(argv[1] if len(argv) == 2 else None)
    if problem is None:
        return 0
    if in_ci():
        print(f"FAILED: {problem}; CI=true, so a missing service is a failure.", file=sys.stderr)
        return EXIT_FAIL
    print(f"SKIPPED: {problem}; start it with: {start}", file=sys.stderr)
    return EXIT_SKIP


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
