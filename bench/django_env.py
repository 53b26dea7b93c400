"""Django in the benchmark's process: the project's settings on the lane's database, migrated.

The SQLite lane uses a temporary file; the PostgreSQL lane a database of its own on the server
at `TEST_POSTGRES_URL` (`<its database>_bench`, made afresh and dropped afterwards). The same
database is the one the server that the HTTP workloads start uses, so rows made here (100,000
sessions, a session with 1,000 posts) are what the pages are measured on.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/wfsite"  # as the Makefile's test pass
_state: dict[str, str] = {}


def setup(database_url: str, workdir: Path) -> str | None:
    """Configure and migrate Django on `database_url`; return why it cannot run here, or None."""
    if "error" in _state:
        return _state["error"]
    if "db" in _state:
        return None
    try:
        import django
        from django.core.management import call_command
    except ImportError as error:
        _state["error"] = f"Django is not installed ({error})"
        return _state["error"]
    os.environ["DJANGO_SETTINGS_MODULE"] = "wfsite.settings"
    os.environ["DATABASE_URL"] = database_url
    # DEBUG off: Django would otherwise keep every query's SQL in memory and time the logging too.
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    # With DEBUG off the pages name hashed static files, so they must be collected first.
    os.environ["STATIC_ROOT"] = str(workdir / "static")
    django.setup()
    call_command("migrate", verbosity=0, interactive=False)
    call_command("collectstatic", verbosity=0, interactive=False)
    _state["db"] = database_url
    return None


def setup_error() -> str | None:
    """Return why Django could not be set up here, or None once it is."""
    if "db" in _state:
        return None
    return _state.get("error", "Django is not set up")


def database_url() -> str:
    """Return the URL of the database Django was set up on here."""
    return _state["db"]


def server_env() -> dict[str, str]:
    """The environment a server needs to serve the database set up here."""
    return {
        "DJANGO_SETTINGS_MODULE": "wfsite.settings",
        "DATABASE_URL": _state["db"],
        "DEBUG": "false",
        "SECRET_KEY": os.environ["SECRET_KEY"],
        "STATIC_ROOT": os.environ["STATIC_ROOT"],
    }


def postgres_lane_url() -> tuple[str, str | None]:
    """Make the PostgreSQL lane's database afresh; return its URL and why it cannot be used, or None."""
    base = os.environ.get("TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL
    parts = urlsplit(base)
    name = f"{parts.path.lstrip('/') or 'wfsite'}_bench"
    url = parts._replace(path=f"/{name}").geturl()
    try:
        import psycopg

        with psycopg.connect(_admin_url(base), autocommit=True, connect_timeout=3) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{name}"')
    except Exception as error:
        return (
            url,
            f"PostgreSQL is not reachable at {_without_password(base)} ({' '.join(str(error).split())})",
        )
    return url, None


def postgres_lane_drop(url: str) -> None:
    """Drop the PostgreSQL lane's database (the lane's process has closed its connections)."""
    import psycopg

    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(_admin_url(url), autocommit=True, connect_timeout=3) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _admin_url(url: str) -> str:
    return urlsplit(url)._replace(path="/postgres").geturl()


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)).geturl()
