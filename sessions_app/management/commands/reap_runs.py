"""Fail runs whose worker died: once, or every few seconds with --loop (as `serve` runs it)."""

from __future__ import annotations

import math
import signal
import threading
from argparse import ArgumentTypeError
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import DatabaseError, close_old_connections

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
        while not stop.is_set():
            close_old_connections()
            try:
                self.reap()
            except DatabaseError as error:
                # A locked or restarting database must not end the loop; the next pass retries.
                self.stderr.write(f"Could not check for stale runs: {error}")
            stop.wait(loop)

    def reap(self) -> None:
        count = runs_reap_stale()
        if count or self.verbosity > 1:
            self.stdout.write(f"Marked {count} run{'' if count == 1 else 's'} with no heartbeat as failed.")
