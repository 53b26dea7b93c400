"""The real site for the HTTP workloads: `manage.py serve` (uvicorn and task workers) on the bench's database.

It is what the README's `make run` starts, on a free port, with DEBUG off (plain HTTP on
localhost, so the HTTPS-only cookie and redirect settings are turned off). The database is
the one `bench.django_env` set up, so rows made in the bench's process are what the pages show.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import django_env

ROOT = Path(__file__).resolve().parent.parent
READY_PATH = "/accounts/login/"
USERNAME = "bench"
PASSWORD = "bench-" + os.urandom(8).hex()
# A dozen processes importing Django at once on a shared two-core machine can take a minute or more.
START_SECONDS = 180
_PIDS = re.compile(r"web server(?: \d+)? pid (\d+)")
_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


class NotAvailable(RuntimeError):
    """The site, or the piece of it a workload needs, does not answer here."""


@dataclass
class Stack:
    """A running `manage.py serve` and what is needed to talk to it."""

    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path
    web_pid: int | None = None
    web_pids: list[int] = field(default_factory=list)
    clients: list[Any] = field(default_factory=list)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        for client in self.clients:
            client.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {
        **os.environ,
        **django_env.server_env(),
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
        "SECURE_SSL_REDIRECT": "false",
        "SESSION_COOKIE_SECURE": "false",
        "CSRF_COOKIE_SECURE": "false",
        "WFSITE_RUN_RATE_LIMIT": "",
        "WFSITE_LOG_LEVEL": "WARNING",
        **(extra or {}),
    }


def start(
    workdir: Path, *, workers: int = 1, extra_env: dict[str, str] | None = None, args: tuple[str, ...] = ()
) -> Stack:
    """Start serve (with `args` added) and wait until its login page answers."""
    import httpx

    port = free_port()
    log_path = workdir / f"serve-{port}.log"
    command = [sys.executable, str(ROOT / "manage.py"), "serve", "--port", str(port)]
    command += ["--workers-count", str(workers)] if workers else ["--no-worker"]
    command += args
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, env=server_env(extra_env), stdout=log, stderr=subprocess.STDOUT
        )
    stack = Stack(process=process, base_url=f"http://127.0.0.1:{port}", log_path=log_path)
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise NotAvailable(f"manage.py serve exited with {process.returncode}: {stack.log()}")
        try:
            # serve prints its children's pids once every web process is ready.
            ready = "Serving " in stack.log()
            if ready and httpx.get(stack.base_url + READY_PATH, timeout=2).status_code == 200:
                stack.web_pids = [int(pid) for pid in _PIDS.findall(stack.log())]
                stack.web_pid = stack.web_pids[0] if stack.web_pids else None
                return stack
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    stack.stop()
    raise NotAvailable(f"manage.py serve did not answer {READY_PATH} within {START_SECONDS} s: {stack.log()}")


def shared(ctx: Any) -> Stack:
    """Return the server the HTTP workloads share, starting it on first use (run.py stops it).

    It has one task worker per W6 run, so those runs stream at the same time; its offline model
    writes at the default pace (20 ms a chunk), as `make run` does.
    """
    if ctx.stack is None:
        if ctx.django_error:
            raise NotAvailable(ctx.django_error)
        # --quick: a fast model, so runs (and the CI check) end in a second or two.
        pace = {"WFSITE_OFFLINE_DELAY": "0.002"} if ctx.sizes.quick else None
        ctx.stack = start(ctx.workdir, workers=max(1, ctx.sizes.w6_runs), extra_env=pace)
    if ctx.stack.process.poll() is not None:
        raise NotAvailable(f"the server exited with {ctx.stack.process.returncode}: {ctx.stack.log()}")
    return ctx.stack


def ensure_user() -> None:
    """Create the bench's superuser in the shared database (in this process)."""
    from django.contrib.auth import get_user_model

    users = get_user_model()
    user = users.objects.filter(username=USERNAME).first() or users(username=USERNAME)
    user.is_staff = user.is_superuser = True
    user.set_password(PASSWORD)
    user.save()


def login(stack: Stack, **client_options: Any) -> Any:
    """Return an httpx client logged in to the site."""
    import httpx

    ensure_user()
    client = httpx.Client(base_url=stack.base_url, timeout=30, **client_options)
    stack.clients.append(client)
    page = client.get(READY_PATH)
    token = _CSRF.search(page.text)
    if page.status_code != 200 or token is None:
        raise NotAvailable(f"the login page answered {page.status_code} without a CSRF token")
    answer = client.post(
        READY_PATH,
        data={"username": USERNAME, "password": PASSWORD, "csrfmiddlewaretoken": token.group(1)},
        headers={"Referer": stack.base_url + READY_PATH},
    )
    if answer.status_code != 302:
        raise NotAvailable(f"logging in answered {answer.status_code}, not a redirect")
    return client


def csrf_token(client: Any) -> str:
    return client.cookies.get("csrftoken") or ""


def timed_get(client: Any, path: str, count: int, *, warm: bool = True) -> list[float]:
    """GET `path` `count` times (after one untimed warm-up GET, unless `warm` is off); return the seconds."""
    if warm:
        first = client.get(path)
        if first.status_code != 200:
            raise NotAvailable(f"GET {path} answered {first.status_code}")
    times = []
    for _ in range(count):
        began = time.perf_counter()
        response = client.get(path)
        response.read()
        times.append(time.perf_counter() - began)
        if response.status_code != 200:
            raise NotAvailable(f"GET {path} answered {response.status_code}")
    return times


def process_stats(pid: int) -> tuple[float, int]:
    """Return a process's CPU seconds (user + system) and resident memory in bytes, from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    rss = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) * 1024
    return cpu, rss


def descendants(pid: int) -> list[int]:
    """Return `pid` and every process below it (uvicorn's workers, when it runs several)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += children.get(current, [])
    return found


def web_stats(stack: Stack) -> tuple[float, int]:
    """Return the CPU seconds and resident bytes of every web process of the stack, added up."""
    if not stack.web_pid:
        return 0.0, 0
    cpu, rss = 0.0, 0
    for pid in descendants(stack.web_pid):
        try:
            one_cpu, one_rss = process_stats(pid)
        except (OSError, IndexError, ValueError):
            continue  # it exited meanwhile
        cpu, rss = cpu + one_cpu, rss + one_rss
    return cpu, rss


def session_path(session_id: str) -> str:
    """The session page's path, encoded as the site's URL converter expects."""
    from urllib.parse import quote

    encoded = session_id.replace("%", "%25").replace("/", "%2F")
    return f"/sessions/{quote(encoded, safe='%')}/"


def start_run(client: Any, session_id: str, topic: str) -> Any:
    """POST the run form for `topic` (cache allowed) and return the response (a redirect to the run)."""
    response = client.post(
        session_path(session_id) + "runs/",
        data={"topic": topic, "use_cache": "on"},
        headers={
            "X-CSRFToken": csrf_token(client),
            "Referer": str(client.base_url) + session_path(session_id),
        },
    )
    if response.status_code not in (302, 303):
        raise NotAvailable(f"starting a run answered {response.status_code}: {response.text[:300]}")
    return response


def run_id_of(response: Any) -> str:
    location = response.headers.get("location", "")
    found = re.search(r"/runs/([0-9a-f-]{36})/", location)
    if found is None:
        raise NotAvailable(f"starting a run did not lead to a run page ({location!r})")
    return found.group(1)


def wait_finished(run_id: str, timeout: float = 120) -> Any:
    """Wait (reading the shared database) until the run has ended; return its row."""
    from sessions_app.models import WorkflowRun

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = WorkflowRun.objects.get(run_id=run_id)
        if run.is_finished:
            return run
        time.sleep(0.1)
    raise NotAvailable(f"run {run_id} did not finish within {timeout:g} s")
