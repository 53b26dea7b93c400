"""Run a database task worker that outlasts a locked database: django-tasks-db's `db_worker`, kept polling.

`db_worker` exits when the database stays locked past the busy timeout as it claims a task (a
long write by another process, a backup holding SQLite's lock), and a site whose worker is gone
runs nothing. `task_worker` takes every `db_worker` option; when the database is locked it says
so, waits (1 s, doubling to 10 s; from 1 s again after a minute without a lock) and polls again.
A queued task is never lost by this: it stays queued until a poll can claim it. Other errors
still end the worker (and `serve` restarts it with back-off).
"""

from __future__ import annotations

import time
from typing import Any

from django.db import OperationalError, connections
from django_tasks_db.management.commands import db_worker
from django_tasks_db.utils import is_locked_database_exception

FIRST_DELAY = 1.0
MAX_DELAY = 10.0
# A lock this long after the last one is a new episode: its back-off starts over.
CALM_SECONDS = 60.0


class LockBackoff:
    """The wait before the next poll: doubling while the database stays locked, reset once it is calm."""

    def __init__(self) -> None:
        self.delay = 0.0
        self.last_lock = float("-inf")

    def next_delay(self, now: float) -> float:
        calm = now - self.last_lock > CALM_SECONDS
        self.delay = FIRST_DELAY if calm or not self.delay else min(MAX_DELAY, self.delay * 2)
        self.last_lock = now
        return self.delay


class Command(db_worker.Command):
    help = "Run a database task worker (db_worker's options) that backs off and keeps polling while the database is locked."

    def handle(self, **options: Any) -> None:
        backoff = LockBackoff()
        while True:
            try:
                super().handle(**options)
                return
            except OperationalError as error:
                if not is_locked_database_exception(error):
                    raise
                delay, reason = backoff.next_delay(time.monotonic()), str(error)
            # A connection that failed mid-transaction is not reused; the next poll opens a new one.
            connections.close_all()
            self.stderr.write(
                f"The database stayed locked by another process past the busy timeout ({reason}); "
                f"polling again in {delay:g} s."
            )
            # The worker's signal handlers stay installed, so Ctrl-C or SIGTERM still exits here.
            time.sleep(delay)
            options["startup_delay"] = False
