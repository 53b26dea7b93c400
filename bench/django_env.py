"""Django in the benchmark's process: the project's settings on a temporary SQLite file, migrated.

The same file is the database of the server that the HTTP workloads start, so rows made here
(100,000 sessions, a session with 1,000 posts) are what the pages are measured on.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

_state: dict[str, str] = {}


def setup(db_file: Path) -> str | None:
    """Configure and migrate Django on `db_file`; return why it cannot run here, or None."""
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
    os.environ["DATABASE_URL"] = f"sqlite:///{db_file}"
    # DEBUG off: Django would otherwise keep every query's SQL in memory and time the logging too.
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    # With DEBUG off the pages name hashed static files, so they must be collected first.
    os.environ["STATIC_ROOT"] = str(db_file.parent / "static")
    django.setup()
    call_command("migrate", verbosity=0, interactive=False)
    call_command("collectstatic", verbosity=0, interactive=False)
    _state["db"] = str(db_file)
    return None


def server_env() -> dict[str, str]:
    """The environment a server needs to serve the database set up here."""
    return {
        "DJANGO_SETTINGS_MODULE": "wfsite.settings",
        "DATABASE_URL": f"sqlite:///{_state['db']}",
        "DEBUG": "false",
        "SECRET_KEY": os.environ["SECRET_KEY"],
        "STATIC_ROOT": os.environ["STATIC_ROOT"],
    }
