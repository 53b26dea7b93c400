"""Fail runs whose worker died: once, or every few seconds with --loop (as `serve` runs it).

The loop also prunes old records (`manage.py prune`) every WFSITE_PRUNE_INTERVAL seconds (0:
never), starting with its first pass, so one process on one node keeps the database bounded.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from argparse import ArgumentTypeError
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import DatabaseError, close_old_connections

from sessions_app.services.retention import data_prune
from sessions_app.services.run_failures import runs_reap_stale


def seconds(raw: str) -> float:
    value = float(raw)
    if not (math.isfinite(value) and value > 0):
        raise ArgumentTypeError("must be a number of seconds greater than 0")
    return value


class Command(BaseCommand):
    help = (
        "Mark running runs whose worker stopped sending heartbeats (WFSITE_HEARTBEAT_TIMEOUT) as "
        "failed. Runs once, or forever with --loop."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--loop",
            type=seconds,
            metavar="SECONDS",
            help="Check again every SECONDS until stopped (SIGINT or SIGTERM).",
        )

    def handle(self, *args: Any, loop: float | None, verbosity: int, **options: Any) -> None:
        self.verbosity = verbosity
        if loop is None:
            self.reap()
            return
        stop = threading.Event()

        def request_stop(signum: int, frame: FrameType | None) -> None:
            stop.set()

        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, request_stop)
        self.stdout.write(
            f"Checking for runs with no heartbeat for {settings.WFSITE_HEARTBEAT_TIMEOUT:g} s "
            f"every {loop:g} s."
        )
        pruned_at: float | None = None
        while not stop.is_set():
            close_old_connections()
            try:
                self.reap()
                if self.prune_due(pruned_at):
                    pruned_at = time.monotonic()
                    self.prune()
            except DatabaseError as error:
                # A locked or restarting database must not end the loop; the next pass retries.
                self.stderr.write(f"Could not check for stale runs or prune: {error}")
            stop.wait(loop)

    @staticmethod
    def prune_due(pruned_at: float | None) -> bool:
        interval = settings.WFSITE_PRUNE_INTERVAL
        return interval > 0 and (pruned_at is None or time.monotonic() - pruned_at >= interval)

    def prune(self) -> None:
        result = data_prune(actor=None)
        self.stdout.write(f"Pruned {result.text()}.")

    def reap(self) -> None:
        count = runs_reap_stale()
        if count or self.verbosity > 1:
            self.stdout.write(f"Marked {count} run{'' if count == 1 else 's'} with no heartbeat as failed.")
