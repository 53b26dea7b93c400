"""Run the whole site: web processes on one port, task workers and the run reaper, as children.

`make run` migrates and then runs this, so a newcomer gets pages, live event streams and the
workers that execute runs from one command. serve binds the port itself (a port in use is one
clear line), starts one web process per core (`WFSITE_WEB_PROCESSES`, `--web-processes`) on it,
and prints "Serving ..." once they answer. A child that dies is restarted with back-off
and a line saying so; only a crash loop stops the site. Ctrl-C or SIGTERM stops every child.

Why N processes on sockets serve binds rather than `uvicorn --workers N`: serve then owns the
port across restarts (a restarted web process never finds it taken, and connections wait instead
of being refused), gives each process a socket of its own so the kernel spreads connections
over them (`serving/listen.py` says why one shared socket does not), knows each web process's
pid and readiness, and supervises web processes and workers with the same restart rules.
"""

from __future__ import annotations

import os
import sys
from argparse import ArgumentTypeError
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, connections

from sessions_app.serving.children import Child, ChildSpec
from sessions_app.serving.listen import ListenError, display_url, listen
from sessions_app.serving.metrics_dir import ENV_NAME, metrics_directory
from sessions_app.serving.supervisor import CrashLoopError, StopRequests, Supervisor

if TYPE_CHECKING:
    from pathlib import Path

    from sessions_app.live.asgi import ASGIApp


def asgi_application() -> ASGIApp:
    """Build the app uvicorn serves: the project's, plus static files while DEBUG is on."""
    from wfsite.asgi import application

    if not settings.DEBUG:
        return application
    # uvicorn serves no files itself; runserver would do this in DEBUG, so we do the same.
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    return ASGIStaticFilesHandler(application)  # type: ignore[arg-type]  # wraps any ASGI app


def positive_int(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise ArgumentTypeError("must be 1 or more")
    return value


def port_number(raw: str) -> int:
    value = int(raw)
    if not 0 <= value <= 65535:
        raise ArgumentTypeError("must be 0 (any free port) to 65535")
    return value


def default_web_processes() -> int:
    """WFSITE_WEB_PROCESSES, or one web process per core this process may run on."""
    configured = getattr(settings, "WFSITE_WEB_PROCESSES", 0)
    if configured:
        return int(configured)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class Command(BaseCommand):
    help = (
        "Serve the site with web processes on one port and run the task worker(s); Ctrl-C stops everything."
    )
    requires_migrations_checks = True

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="Address to listen on (default: %(default)s)")
        parser.add_argument(
            "--port",
            type=port_number,
            default=8000,
            help="Port to listen on; 0 picks a free one (default: %(default)s)",
        )
        parser.add_argument(
            "--web-processes",
            type=positive_int,
            default=None,
            help="How many web processes serve the port (default: WFSITE_WEB_PROCESSES, else one per core)",
        )
        parser.add_argument(
            "--workers-count",
            type=positive_int,
            default=1,
            help="How many task worker processes run tasks (default: %(default)s)",
        )
        parser.add_argument(
            "--no-worker", action="store_true", help="Start no task worker (e.g. when workers run elsewhere)"
        )
        parser.add_argument("--no-access-log", action="store_true", help="Do not log every request")

    def handle(self, *args: Any, host: str, port: int, web_processes: int | None, **options: Any) -> None:
        web_count = web_processes or default_web_processes()
        try:
            listeners = listen(host, port, count=web_count)
        except ListenError as error:
            raise CommandError(str(error)) from None
        self.warn_if_no_users()
        # The children open their own connections; serve keeps none open while it waits.
        connections.close_all()
        failure: CrashLoopError | None = None
        with ExitStack() as held:
            for listener in listeners:
                held.enter_context(listener)
            metrics_dir = held.enter_context(metrics_directory())
            stop = StopRequests()
            children = self.children([sock.fileno() for sock in listeners], metrics_dir, **options)
            supervisor = Supervisor(children, settings.BASE_DIR, self.say)
            supervisor.start()
            try:
                if supervisor.wait_ready(stop):
                    url = display_url(host, listeners[0].getsockname()[1])
                    self.say(f"Serving {url} ({self.describe(children)}). Press Ctrl-C to stop.")
                    supervisor.run(stop)
                self.say("Stopping (press Ctrl-C again to force)...")
            except CrashLoopError as error:
                failure = error
            supervisor.stop(stop)
        if failure is not None:
            raise CommandError(str(failure))
        self.say("Stopped.")

    def say(self, line: str) -> None:
        self.stdout.write(line)
        self.stdout.flush()

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

    def children(
        self,
        fds: list[int],
        metrics_dir: Path,
        *,
        workers_count: int,
        no_worker: bool,
        no_access_log: bool,
        **options: Any,
    ) -> list[Child]:
        """One web process per listening socket, then the task workers and the reaper."""
        web = [sys.executable, "-m", "sessions_app.serving.web"] + (
            ["--no-access-log"] if no_access_log else []
        )
        web_env = {**os.environ, ENV_NAME: str(metrics_dir)}
        specs = [
            ChildSpec(
                numbered("web server", n, len(fds)),
                [*web, "--fd", str(fd)],
                web_env,
                pass_fds=(fd,),
                reports_ready=True,
            )
            for n, fd in enumerate(fds, 1)
        ]
        workers = 0 if no_worker else workers_count
        manage_py = str(settings.BASE_DIR / "manage.py")
        # Autoreload would put the real worker in a grandchild that our signals never reach.
        worker = [sys.executable, manage_py, "task_worker", "--no-reload"]
        if settings.WFSITE_TASK_BACKEND == "rq":
            worker = [sys.executable, manage_py, "rq_worker"]
        specs += [ChildSpec(numbered("task worker", n, workers), worker) for n in range(1, workers + 1)]
        if workers:
            # Fails runs whose worker died (no heartbeat), so none stays "running" forever.
            specs.append(ChildSpec("run reaper", [sys.executable, manage_py, "reap_runs", "--loop", "10"]))
        return [Child(spec) for spec in specs]

    def describe(self, children: list[Child]) -> str:
        return ", ".join(f"{child.name} pid {child.pid}" for child in children)


def numbered(name: str, number: int, count: int) -> str:
    return f"{name} {number}" if count > 1 else name
