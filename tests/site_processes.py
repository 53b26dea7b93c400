"""The real stack for tests: `manage.py serve`, or its processes (uvicorn, db_workers, the reaper) one by one.

This is the one place tests start the real stack. `launch_serve` starts it whole, as `manage.py
serve` (tests/conftest.py's `start_serve` fixture calls it), which supervises its children and
stops everything when one dies. That is what a person wants and not what a fault test needs, so
`SiteProcesses` starts each process on its own: a test can SIGKILL the web server alone and
start it again on the same port and database. `SiteClient` is a logged-in HTTP client (session cookie, CSRF token) for that site, and
`forms_in` reads the fields of a page's forms the way a browser would submit them.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
import pytest

from tests.waiting import wait_for

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


READY_TIMEOUT = READY_TIMEOUT_SECONDS
# Settings a developer's shell may hold that would change what these tests measure.
CLEARED_ENV = {
    "WFSITE_MODEL_PROVIDER",
    "WFSITE_SEARCHER",
    "WFSITE_HEARTBEAT_TIMEOUT",
    "WFSITE_TASK_BACKEND",
    "OPENAI_BASE_URL",
    "DATABASE_URL",
}
UVICORN_APP = "sessions_app.management.commands.serve:asgi_application"
CREATE_SUPERUSER = """
import os
from django.contrib.auth import get_user_model
get_user_model().objects.create_superuser(os.environ["T_USER"], "", os.environ["T_PASSWORD"])
"""


# `make test` runs the suite a second time with DATABASE_URL on PostgreSQL, for the tests that use
# Django's database. A site made here never does (it has its own database), so it ran already.
own_site = pytest.mark.skipif(
    os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")),
    reason="starts a site on its own database; it ran in the SQLite pass of make test",
)


@dataclass
class SiteProcesses:
    """One site's database and the processes serving it; every process is stopped by `stop()`."""

    directory: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    web: subprocess.Popen[bytes] | None = None
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    reaper: subprocess.Popen[bytes] | None = None
    _logs: list[Path] = field(default_factory=list)

    @classmethod
    def create(cls, directory: Path, database_url: str | None = None, **env: str) -> SiteProcesses:
        """Point at `database_url` (a new SQLite file in `directory` by default) and migrate it."""
        base = {key: value for key, value in os.environ.items() if key not in CLEARED_ENV}
        base.update(
            {
                "DATABASE_URL": database_url or f"sqlite:///{directory / 'db.sqlite3'}",
                "DJANGO_SETTINGS_MODULE": "wfsite.settings",
                "DEBUG": "true",
                "PYTHONUNBUFFERED": "1",
                **env,
            }
        )
        site = cls(directory=directory, env=base)
        site.manage("migrate", "--no-input", "--skip-checks")
        return site

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def manage(self, *args: str, timeout: float = 90, **env: str) -> str:
        """Run a management command against this site's database; fail the test if it fails."""
        return run_manage(*args, env={**self.env, **env}, timeout=timeout)

    def shell(self, script: str, **env: str) -> Any:
        """Run Python in `manage.py shell` here and return the JSON its last printed line holds."""
        out = self.manage("shell", "--no-imports", "-v", "0", "-c", script, **env)
        return json.loads(out.strip().splitlines()[-1])

    def make_superuser(self) -> tuple[str, str]:
        username, password = f"soak-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex
        self.manage("shell", "--no-imports", "-c", CREATE_SUPERUSER, T_USER=username, T_PASSWORD=password)
        return username, password

    def _spawn(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log_path = self.directory / f"{name}-{len(self._logs)}.log"
        self._logs.append(log_path)
        with log_path.open("wb") as log:
            return subprocess.Popen(
                command, cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def start_web(self) -> None:
        """Start uvicorn on this site's port and wait until it answers."""
        command = [sys.executable, "-m", "uvicorn", "--factory", UVICORN_APP, "--host", "127.0.0.1"]
        command += ["--port", str(self.port), "--lifespan", "off", "--timeout-graceful-shutdown", "1"]
        command += ["--no-access-log"]
        web = self.web = self._spawn("web", command, self.env)

        def answers() -> bool:
            if web.poll() is not None:
                pytest.fail(f"uvicorn exited with {web.returncode}:\n{self.logs()}", pytrace=False)
            with contextlib.suppress(httpx.HTTPError):
                return httpx.get(self.url("/accounts/login/"), timeout=2).status_code == 200
            return False

        wait_for(answers, timeout=READY_TIMEOUT, what="uvicorn to answer", every=0.1, detail=self.logs)

    def kill_web(self, signum: int = signal.SIGKILL) -> None:
        """Stop the web server the hard way (by default), as a crash or an OOM kill would."""
        assert self.web is not None
        self.web.send_signal(signum)
        self.web.wait(15)

    def start_workers(self, count: int = 1, *, command_name: str = "db_worker", **env: str) -> None:
        """Start `count` workers (`db_worker`, or `task_worker`, which takes the same options)."""
        command = [sys.executable, str(BASE_DIR / "manage.py"), command_name, "--no-reload"]
        command += ["--no-startup-delay", "--interval", "0.1", "--skip-checks"]
        for _ in range(count):
            self.workers.append(self._spawn("worker", command, {**self.env, **env}))

    def start_rq_worker(self, **env: str) -> None:
        """Start one `manage.py rq_worker` (the site's env must say WFSITE_TASK_BACKEND=rq and REDIS_URL)."""
        command = [sys.executable, str(BASE_DIR / "manage.py"), "rq_worker"]
        self.workers.append(self._spawn("rqworker", command, {**self.env, **env}))

    def start_reaper(self, loop: float = 0.5, **env: str) -> None:
        command = [sys.executable, str(BASE_DIR / "manage.py"), "reap_runs", "--loop", str(loop)]
        self.reaper = self._spawn("reaper", [*command, "--skip-checks"], {**self.env, **env})

    def newest_event(self, run_id: str) -> int:
        """Return the seq of the run's newest stored event (0 for none), read from the site's SQLite file."""
        url = self.env["DATABASE_URL"]
        assert url.startswith("sqlite:///"), "reads the site's own SQLite file"
        with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"), timeout=20)) as con:
            row = con.execute(
                "SELECT max(e.seq) FROM sessions_app_runevent e JOIN sessions_app_workflowrun r"
                " ON e.run_id = r.id WHERE r.run_id = ?",
                (uuid.UUID(run_id).hex,),
            ).fetchone()
        return int(row[0] or 0)

    def check_alive(self) -> None:
        """Fail the test, with the logs, if a process it started died on its own."""
        for process in [self.web, self.reaper, *self.workers]:
            if process is not None and process.poll() is not None and process.returncode != -signal.SIGKILL:
                pytest.fail(f"a site process exited with {process.returncode}:\n{self.logs()}", pytrace=False)

    def logs(self, tail: int = 4000) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-tail:]}"
            for path in self._logs
            if path.exists()
        )

    def stop(self) -> None:
        """SIGTERM every process this site started, then SIGKILL what is left after a few seconds."""
        processes = [p for p in [self.web, self.reaper, *self.workers] if p is not None and p.poll() is None]
        for process in processes:
            process.terminate()
        deadline = time.monotonic() + 10
        for process in processes:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# -- a dedicated PostgreSQL database -------------------------------------------------------------------


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@contextlib.contextmanager
def postgres_database(server_url: str, prefix: str) -> Iterator[str]:
    """Create an empty database on the server, yield its URL, drop it (and its connections) after."""
    import psycopg

    from tests.services import postgres_conninfo

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = postgres_conninfo(server_url, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_database(server_url, name)
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name]
            )
            connection.execute(f'DROP DATABASE IF EXISTS "{name}"')


# -- reading forms and using the site over HTTP --------------------------------------------------------


@dataclass
class Form:
    """A form's attributes and the fields a browser would submit (checked boxes and radios only; selects
    are left out, so set them yourself)."""

    attrs: dict[str, str]
    fields: dict[str, str] = field(default_factory=dict)
    radios: dict[str, list[str]] = field(default_factory=dict)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.forms.append(Form(attrs=values))
        if not self.forms or "name" not in values:
            return
        form, name = self.forms[-1], values["name"]
        if tag == "input":
            kind = values.get("type", "text").lower()
            if kind == "radio":
                form.radios.setdefault(name, []).append(values.get("value", "on"))
            if kind in {"checkbox", "radio"} and "checked" not in values:
                return
            if kind not in {"submit", "button", "file", "image", "reset"}:
                form.fields[name] = values.get("value", "on" if kind in {"checkbox", "radio"} else "")
        elif tag == "textarea":
            self._textarea = name
            form.fields[name] = ""

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_data(self, data: str) -> None:
        if self._textarea is not None and self.forms:
            self.forms[-1].fields[self._textarea] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea" and self._textarea is not None and self.forms:
            # A browser drops the one newline that follows <textarea>.
            text = self.forms[-1].fields[self._textarea]
            self.forms[-1].fields[self._textarea] = text[1:] if text.startswith("\n") else text
            self._textarea = None


def forms_in(html: str) -> list[Form]:
    """Return the page's forms with the values a browser would submit."""
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


def form_with(html: str, field_name: str) -> Form:
    """Return the first form on the page that has a field called `field_name`."""
    for form in forms_in(html):
        if field_name in form.fields or field_name in form.radios:
            return form
    raise AssertionError(f"no form with a {field_name!r} field on the page:\n{html[:3000]}")


def session_path(session_id: str, suffix: str = "") -> str:
    """Return a session's page path, encoded as the site's SessionIdConverter expects."""
    segment = session_id.replace("%", "%25").replace("/", "%2F")
    if segment in {".", ".."}:
        segment = segment.replace(".", "%2E")
    return f"/sessions/{quote(segment, safe='')}/{suffix}"


def run_status(html: str) -> str:
    """Return the status a run page's badge shows."""
    found = re.search(r'<span class="badge badge-(\w+)">', html)
    assert found, f"no status badge on the run page:\n{html[:2000]}"
    return found.group(1)


class SiteClient:
    """A logged-in person using the site over HTTP: a session cookie and the CSRF token."""

    def __init__(self, base_url: str, username: str, password: str, *, timeout: float = 30) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=timeout, follow_redirects=False)
        page = self.http.get("/accounts/login/")
        form = form_with(page.text, "csrfmiddlewaretoken")
        response = self.post("/accounts/login/", {**form.fields, "username": username, "password": password})
        assert response.status_code == 302, f"login failed: {response.status_code} {response.text[:500]}"

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(path, **kwargs)

    def post(self, path: str, data: dict[str, str], **kwargs: Any) -> httpx.Response:
        headers = {"Referer": str(self.http.base_url).rstrip("/") + path, **kwargs.pop("headers", {})}
        return self.http.post(path, data=data, headers=headers, **kwargs)

    def create_session(self, session_id: str, workflow: str = "BlogPostGenerator", name: str = "") -> None:
        """Create a session with the session list's form."""
        form = form_with(self.get("/sessions/").text, "session_id")
        data = {**form.fields, "session_id": session_id, "workflow": workflow, "name": name}
        response = self.post("/sessions/", data)
        assert response.status_code == 302, f"session refused: {response.status_code} {response.text[:800]}"

    def start_run(self, session_id: str, topic: str, **inputs: str) -> str:
        """Start a run from the session page's form; return its run id."""
        form = form_with(self.get(session_path(session_id)).text, "topic")
        response = self.post(form.attrs["action"], {**form.fields, "topic": topic, **inputs})
        assert response.status_code == 302, f"run start refused: {response.status_code} {response.text[:800]}"
        location = response.headers["location"]
        assert location.startswith("/runs/"), location
        return location.split("/")[2]

    def run_status(self, run_id: str) -> str:
        return run_status(self.get(f"/runs/{run_id}/").text)

    def wait_for_run(self, run_id: str, *, timeout: float = 60, site: SiteProcesses | None = None) -> str:
        """Wait until the run's page says it ended; return its status."""

        def ended() -> str | None:
            if site is not None:
                site.check_alive()
            status = self.run_status(run_id)
            return None if status in {"queued", "running"} else status

        return wait_for(ended, timeout=timeout, what=f"run {run_id} to end", every=0.2)

    def close(self) -> None:
        self.http.close()
