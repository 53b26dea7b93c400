"""Fixtures any test may use.

`start_serve` runs the real stack the README starts (`manage.py serve`: uvicorn and a task
worker) as a subprocess, each on its own SQLite file: pytest-django's per-test database isolation
cannot reach another process, so those tests see only what they put in that file themselves.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, connections

BASE_DIR = Path(__file__).resolve().parent.parent
# Generous: on a loaded two-core machine, several processes importing Django can take a minute.
READY_TIMEOUT_SECONDS = 120
STOP_TIMEOUT_SECONDS = 30


def run_manage(*args: str, env: Mapping[str, str], timeout: float = 120) -> str:
    """Run `manage.py <args>` in a subprocess; fail the test with its output if it fails."""
    result = subprocess.run(
        [sys.executable, str(BASE_DIR / "manage.py"), *args],
        cwd=BASE_DIR,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"manage.py {args[0]} failed:\n{result.stdout}{result.stderr}", pytrace=False)
    return result.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServeStack:
    """A running `manage.py serve`, its base URL, and the environment that points at its database."""

    process: subprocess.Popen[bytes]
    base_url: str
    env: dict[str, str]
    log_path: Path

    def url(self, path: str) -> str:
        return self.base_url + path

    def manage(self, *args: str, extra_env: Mapping[str, str] | None = None) -> str:
        """Run another management command against this stack's database."""
        return run_manage(*args, env={**self.env, **(extra_env or {})})

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, signum: int = signal.SIGINT) -> int:
        """Signal serve and wait for it; kill it (its children follow) if it does not stop."""
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            return self.process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"manage.py serve did not stop on {signal.Signals(signum).name}:\n{self.log()}")


SERVING = re.compile(r"^Serving (http://\S+?)/? \(", re.MULTILINE)


def wait_until_ready(process: subprocess.Popen[bytes], log_path: Path) -> str:
    """Wait for serve's "Serving <url>" line (printed once its web processes answer); return the URL."""
    from tests.waiting import wait_for

    def serving() -> str | None:
        log = log_path.read_text(errors="replace")
        if found := SERVING.search(log):
            return found.group(1)
        if process.poll() is not None:
            pytest.fail(f"manage.py serve exited with {process.returncode}:\n{log}")
        return None

    try:
        url: str = wait_for(
            serving,
            timeout=READY_TIMEOUT_SECONDS,
            what="manage.py serve to say it was serving",
            every=0.1,
            detail=lambda: log_path.read_text(errors="replace"),
        )
    except BaseException:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
        raise
    return url


def launch_serve(directory: Path, *serve_args: str, env: Mapping[str, str] | None = None) -> ServeStack:
    """Migrate a fresh SQLite file in `directory`, start serve on a free port, wait until it serves.

    serve binds the port itself (`--port 0` lets the system pick a free one) and prints the URL
    once its web processes answer, so the URL is read from that line.
    """
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{directory / 'db.sqlite3'}",
        # DEBUG so uvicorn serves the static files, as it does for `make run`.
        "DEBUG": "true",
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    run_manage("migrate", "--no-input", env=env)
    log_path = directory / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, str(BASE_DIR / "manage.py"), "serve", "--port", "0", *serve_args],
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base_url = wait_until_ready(process, log_path)
    return ServeStack(process=process, base_url=base_url, env=env, log_path=log_path)


# -- the test database -------------------------------------------------------------------------------
# Threads need a test database they can share. pytest-django's SQLite test database is in memory
# by default, which other threads' connections reach only through SQLite's shared cache, whose
# table locks fail at once instead of waiting; so SQLite tests here run on a file.


@pytest.fixture(scope="session")
def django_db_modify_db_settings(
    django_db_modify_db_settings_parallel_suffix: None, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Put the SQLite test database in a file, so that threads share it."""
    settings = connections["default"].settings_dict
    if connections["default"].vendor == "sqlite":
        settings.setdefault("TEST", {})["NAME"] = str(tmp_path_factory.mktemp("db") / "test.sqlite3")


@pytest.fixture
def shared_db(transactional_db: None) -> None:
    """Fail clearly when the test database cannot be shared by threads (see above)."""
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        pytest.fail(
            "the SQLite test database is in memory, so threads cannot share it: give it a file "
            "(django_db_modify_db_settings in tests/conftest.py)"
        )


@pytest.fixture
def make_session(db: None) -> Callable[..., Any]:
    """Return a function that creates a session row holding a given state."""
    from sessions_app.models import WorkflowSession
    from sessions_app.state.store import state_replace

    def make(state: dict[str, Any] | None = None, session_id: str = "s", **fields: Any) -> Any:
        # The built-in workflow that caches in a list, so that `blog_posts` is a declared cache.
        fields.setdefault("workflow", "BlogPostGenerator")
        session = WorkflowSession.objects.create(session_id=session_id, **fields)
        state_replace(session, state or {})
        return session

    return make


@pytest.fixture(scope="session", autouse=True)
def fast_password_hasher() -> Iterator[None]:
    """Hash passwords with MD5 in tests: each login or create_user with the default PBKDF2 costs
    a good part of a second on a busy machine. The stacks in subprocesses keep the real hasher."""
    from django.test.utils import override_settings

    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture(scope="session")
def start_serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., ServeStack]]:
    """Return a function that starts a `manage.py serve` stack; any left running stop at the end."""
    started: list[ServeStack] = []

    def start(*serve_args: str, env: Mapping[str, str] | None = None) -> ServeStack:
        stack = launch_serve(tmp_path_factory.mktemp("stack"), *serve_args, env=env)
        started.append(stack)
        return stack

    yield start
    for stack in started:
        if stack.process.poll() is None:
            stack.stop()
