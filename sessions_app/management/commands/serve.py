"""Run the whole site: uvicorn for HTTP and django-tasks database workers, as child processes.

`make run` migrates and then runs this, so a newcomer gets pages, live event streams and the
workers that execute runs from one command. Ctrl-C or SIGTERM stops every child; if one child
dies on its own, the others are stopped too and the command exits non-zero, because a site
whose runs never start (or whose pages never answer) is worse than one that is visibly down.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from argparse import ArgumentTypeError
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, connections

if TYPE_CHECKING:
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
    from django.core.handlers.asgi import ASGIHandler

# uvicorn waits for open connections before it exits, and an event stream never closes on its
# own; this bounds that wait.
HTTP_GRACE_SECONDS = 5
# A worker finishes its current task before exiting; past this, it is told a second time, which
# makes django-tasks-db record the task as failed instead of leaving it claimed forever.
WORKER_GRACE_SECONDS = 10
# After the second signal, whatever is still alive is killed.
KILL_AFTER_SECONDS = 5
POLL_SECONDS = 0.1
PR_SET_PDEATHSIG = 1
APP_FACTORY = "sessions_app.management.commands.serve:asgi_application"


def asgi_application() -> ASGIHandler | ASGIStaticFilesHandler:
    """Build the app uvicorn serves: the project's, plus static files while DEBUG is on."""
    from wfsite.asgi import application

    if not settings.DEBUG:
        return application
    # uvicorn serves no files itself; runserver would do this in DEBUG, so we do the same.
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    return ASGIStaticFilesHandler(application)


def positive_int(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise ArgumentTypeError("must be 1 or more (use --no-worker for none)")
    return value


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]

    def exit_description(self) -> str:
        code = self.process.returncode
        if code is not None and code < 0:
            return f"was killed by {signal.Signals(-code).name}"
        return f"exited with status {code}"

    def alive(self) -> bool:
        return self.process.poll() is None

    def signal(self, signum: int) -> None:
        if self.alive():
            self.process.send_signal(signum)


class StopRequests:
    """Count SIGINT/SIGTERM/SIGHUP so the supervisor loop, not the handler, does the work."""

    def __init__(self) -> None:
        self.count = 0
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1


def die_with_parent() -> Callable[[], None] | None:
    """Return a pre-exec hook that makes a child get SIGTERM if serve itself is killed."""
    if not sys.platform.startswith("linux"):
        return None
    # Loaded before fork: after fork only async-signal-safe work belongs in the child.
    libc = ctypes.CDLL(None, use_errno=True)
    parent = os.getpid()

    def hook() -> None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:
            os._exit(1)

    return hook


class Command(BaseCommand):
    help = "Serve the site with uvicorn and run the task worker(s); Ctrl-C stops everything."
    requires_migrations_checks = True

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="Address to listen on (default: %(default)s)")
        parser.add_argument("--port", type=int, default=8000, help="Port to listen on (default: %(default)s)")
        parser.add_argument(
            "--workers-count",
            type=positive_int,
            default=1,
            help="How many db_worker processes run tasks (default: %(default)s)",
        )
        parser.add_argument(
            "--no-worker",
            action="store_true",
            help="Start no task worker (e.g. when workers run elsewhere)",
        )

    def handle(
        self, *args: Any, host: str, port: int, workers_count: int, no_worker: bool, **options: Any
    ) -> None:
        self.warn_if_no_users()
        # The children open their own connections; serve keeps none open while it waits.
        connections.close_all()
        stop = StopRequests()
        children = self.start_children(host=host, port=port, workers=0 if no_worker else workers_count)
        url = f"http://{f'[{host}]' if ':' in host else host}:{port}/"
        pids = ", ".join(f"{child.name} pid {child.process.pid}" for child in children)
        self.stdout.write(f"Serving {url} ({pids}). Press Ctrl-C to stop.")
        died = self.supervise(children, stop)
        self.stop_children(children, stop)
        if died is not None:
            raise CommandError(
                f"The {died.name} (pid {died.process.pid}) {died.exit_description()} unexpectedly; "
                "stopped everything else. See its output above."
            )
        self.stdout.write("Stopped.")

    def warn_if_no_users(self) -> None:
        try:
            has_user = get_user_model().objects.exists()
        except DatabaseError:
            # Not migrated yet: the unapplied-migrations warning above already says what to do.
            return
        if not has_user:
            self.stdout.write(
                self.style.WARNING(
                    "There is no user yet, so nobody can log in. Create your account with:\n\n"
                    "    make user\n\n"
                    "(it runs `python manage.py createsuperuser`; there is no default password)."
                )
            )

    def start_children(self, *, host: str, port: int, workers: int) -> list[Child]:
        manage_py = str(settings.BASE_DIR / "manage.py")
        uvicorn = [sys.executable, "-m", "uvicorn", "--factory", APP_FACTORY]
        uvicorn += ["--host", host, "--port", str(port), "--lifespan", "off"]
        uvicorn += ["--timeout-graceful-shutdown", str(HTTP_GRACE_SECONDS)]
        commands = [("web server", uvicorn)]
        # Autoreload would put the real worker in a grandchild that our signals never reach.
        worker = [sys.executable, manage_py, "db_worker", "--no-reload"]
        if settings.WFSITE_TASK_BACKEND == "rq":
            worker = [sys.executable, manage_py, "rq_worker"]
        for number in range(1, workers + 1):
            commands.append((f"task worker {number}" if workers > 1 else "task worker", worker))
        if workers:
            # Fails runs whose worker died (no heartbeat), so none stays "running" forever.
            commands.append(("run reaper", [sys.executable, manage_py, "reap_runs", "--loop", "10"]))
        children: list[Child] = []
        for name, command in commands:
            process = subprocess.Popen(
                command,
                cwd=settings.BASE_DIR,
                # Own process group: a terminal Ctrl-C reaches only serve, which then signals each
                # child exactly once; a second signal would make the worker abandon its task.
                process_group=0,
                preexec_fn=die_with_parent(),
            )
            children.append(Child(name, process))
        return children

    def supervise(self, children: list[Child], stop: StopRequests) -> Child | None:
        """Wait for a stop request or a child's death; return the child that died, if any."""
        while not stop.count:
            for child in children:
                if not child.alive():
                    return child
            time.sleep(POLL_SECONDS)
        self.stdout.write("Stopping (press Ctrl-C again to force)...")
        return None

    def stop_children(self, children: list[Child], stop: StopRequests) -> None:
        """Ask politely, then insist, then kill, so Ctrl-C never hangs."""
        asked_at = stop.count
        for child in children:
            child.signal(signal.SIGTERM)
        if not self.wait(children, WORKER_GRACE_SECONDS, until=lambda: stop.count > asked_at):
            # A second SIGINT is the force-quit for both uvicorn and db_worker.
            for child in children:
                child.signal(signal.SIGINT)
            if not self.wait(children, KILL_AFTER_SECONDS):
                for child in children:
                    child.signal(signal.SIGKILL)
        for child in children:
            child.process.wait()

    def wait(self, children: list[Child], seconds: float, until: Callable[[], bool] | None = None) -> bool:
        """Wait until every child exited (True), or time or `until` ran out (False)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not (until and until()):
            if not any(child.alive() for child in children):
                return True
            time.sleep(POLL_SECONDS)
        return not any(child.alive() for child in children)
