"""Deployment knobs come from the environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PRINT = """
import json, django
from django.conf import settings
django.setup()
from django.db import connection
db = settings.DATABASES["default"]
out = {"engine": db["ENGINE"], "name": str(db["NAME"]), "host": db.get("HOST"), "debug": settings.DEBUG,
       "hosts": settings.ALLOWED_HOSTS, "key": settings.SECRET_KEY}
if db["ENGINE"].endswith("sqlite3"):
    with connection.cursor() as c:
        out["journal"] = c.execute("PRAGMA journal_mode").fetchone()[0]
        out["busy"] = c.execute("PRAGMA busy_timeout").fetchone()[0]
print(json.dumps(out))
"""


def settings_under(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS"}
    }
    return subprocess.run(
        [sys.executable, "-c", PRINT],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "wfsite.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def read(**env: str) -> dict[str, object]:
    done = settings_under(**env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_defaults_to_a_sqlite_file_in_the_project_in_wal_mode(tmp_path: Path) -> None:
    out = read(DATABASE_URL=f"sqlite:///{tmp_path}/site.sqlite3")
    # Django's SQLite backend with the write gate (sessions_app/db_backends/sqlite3).
    assert out["engine"] == "sessions_app.db_backends.sqlite3"
    assert out["name"] == f"{tmp_path}/site.sqlite3"
    assert out["journal"] == "wal"
    assert out["busy"] == 20000
    default = subprocess.run(
        [sys.executable, "-c", "from wfsite import settings; print(settings.DATABASES['default']['NAME'])"],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != "DATABASE_URL"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert default.stdout.strip() == str(ROOT / "db.sqlite3")


def test_the_sqlite_busy_timeout_is_a_setting(tmp_path: Path) -> None:
    out = read(DATABASE_URL=f"sqlite:///{tmp_path}/site.sqlite3", WFSITE_SQLITE_BUSY_TIMEOUT="0.5")
    assert out["busy"] == 500
    done = settings_under(
        DATABASE_URL=f"sqlite:///{tmp_path}/site.sqlite3", WFSITE_SQLITE_BUSY_TIMEOUT="soon"
    )
    assert done.returncode != 0
    assert "WFSITE_SQLITE_BUSY_TIMEOUT must be seconds, not 'soon'" in done.stderr


def test_absolute_sqlite_url(tmp_path: Path) -> None:
    out = read(DATABASE_URL=f"sqlite:////{str(tmp_path).lstrip('/')}/abs.sqlite3")
    assert out["name"] == f"{tmp_path}/abs.sqlite3"


def test_postgres_url() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from wfsite import settings; d = settings.DATABASES['default']; print(d['ENGINE'], d['HOST'], d['NAME'], d['USER'])",
        ],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": "postgres://bob@db.example:5433/wf"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.split() == ["django.db.backends.postgresql", "db.example", "wf", "bob"]


def test_secret_key_debug_and_hosts(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/s.sqlite3"
    out = read(DATABASE_URL=db, DEBUG="false", SECRET_KEY="k" * 50, ALLOWED_HOSTS="a.example, b.example")
    assert out["debug"] is False
    assert out["key"] == "k" * 50
    assert out["hosts"] == ["a.example", "b.example"]


@pytest.mark.parametrize(
    ("env", "message"),
    [({"DEBUG": "false"}, "SECRET_KEY must be set"), ({"DEBUG": "maybe"}, "DEBUG must be true or false")],
)
def test_bad_configuration_is_a_clear_error(tmp_path: Path, env: dict[str, str], message: str) -> None:
    done = settings_under(DATABASE_URL=f"sqlite:///{tmp_path}/s.sqlite3", **env)
    assert done.returncode != 0
    assert message in done.stderr


def database_options(argv0: str, **env: str) -> dict[str, object]:
    """The PostgreSQL OPTIONS the settings build, in a process whose argv[0] is `argv0`."""
    code = (
        f"import json, sys; sys.argv = [{argv0!r}, 'db_worker']; from wfsite import settings; "
        "print(json.dumps(settings.DATABASES['default'].get('OPTIONS', {})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**{k: v for k, v in os.environ.items() if k != "DATABASE_URL"}, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def test_postgres_connections_are_pooled_and_name_their_process() -> None:
    url = "postgres://u:p@db.example:5432/wf"
    pooled = database_options("/srv/wfsite/manage.py", DATABASE_URL=url)
    unpooled = database_options("/srv/wfsite/manage.py", DATABASE_URL=url, WFSITE_DB_POOL_SIZE="0")

    assert pooled == {
        "application_name": "wfsite db_worker",
        "pool": {"min_size": 1, "max_size": 20, "timeout": 30},
    }
    assert unpooled == {"application_name": "wfsite db_worker"}
    assert database_options("x", DATABASE_URL=url, WFSITE_DB_POOL_SIZE="25")["pool"]["max_size"] == 25
    assert database_options("x", DATABASE_URL="sqlite:////tmp/x.sqlite3").get("pool") is None


def test_process_names() -> None:
    from wfsite.settings import process_name

    assert process_name(["/srv/manage.py", "db_worker", "--no-reload"]) == "wfsite db_worker"
    assert (
        process_name(["/venv/lib/python3.11/site-packages/uvicorn/__main__.py", "--factory"])
        == "wfsite uvicorn"
    )
    assert process_name(["/venv/bin/pytest", "-q"]) == "wfsite pytest"
    assert process_name([]) == "wfsite python"
