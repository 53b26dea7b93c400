"""Watch `serve`'s children: restart one that died (with back-off, saying so), stop all on request.

A site whose worker died once (a database locked past its timeout, an out-of-memory kill) is
better restarted than taken down, so a death is reported in one line and the child comes back
after its back-off. Only a crash loop (children.RestartPolicy) stops the whole site, since a
child that cannot stay up is a fault a person must look at.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from sessions_app.serving.children import Child, RestartPolicy

# A worker finishes its current task before exiting; past this, it is told a second time, which
# makes django-tasks-db record the task as failed instead of leaving it claimed forever.
WORKER_GRACE_SECONDS = 10.0
# After the second signal, whatever is still alive is killed.
KILL_AFTER_SECONDS = 5.0
POLL_SECONDS = 0.1


class StopRequests:
    """Count SIGINT/SIGTERM/SIGHUP so the supervisor loop, not the handler, does the work."""

    def __init__(self) -> None:
        self.count = 0
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1


class CrashLoopError(Exception):
    """A child died more often than the restart policy allows; everything else was stopped."""


@dataclass
class Supervisor:
    """Start, restart and stop a set of children; `say` prints one line for a person."""

    children: list[Child]
    cwd: Path
    say: Callable[[str], None]
    policy: RestartPolicy = field(default_factory=RestartPolicy)

    def start(self) -> None:
        for child in self.children:
            child.start(self.cwd)

    def wait_ready(self, stop: StopRequests) -> bool:
        """Keep the children up until every one that reports readiness is ready; False on a stop."""
        while not stop.count:
            self.tick()
            if all(child.ready for child in self.children):
                return True
            time.sleep(POLL_SECONDS)
        return False

    def run(self, stop: StopRequests) -> None:
        """Keep the children up until a stop is requested; raise CrashLoopError on a crash loop."""
        while not stop.count:
            self.tick()
            time.sleep(POLL_SECONDS)

    def tick(self, now: float | None = None) -> None:
        """Restart children that are due, note the dead, notice the ready."""
        now = time.monotonic() if now is None else now
        for child in self.children:
            if child.due_at is not None:
                if now >= child.due_at:
                    child.start(self.cwd)
                    self.say(f"Restarted the {child.name} (pid {child.pid}).")
            elif not child.alive():
                self._died(child, now)
            elif child.poll_ready() and child.deaths:
                self.say(f"The {child.name} (pid {child.pid}) is serving again.")

    def _died(self, child: Child, now: float) -> None:
        what = f"The {child.name} (pid {child.pid}) {child.exit_description()}"
        child.close_pipe()
        if not child.schedule_restart(self.policy, now):
            raise CrashLoopError(
                f"{what}: it died {len(child.deaths)} times in {self.policy.window_text()}, so serve "
                "gave up restarting it and stopped everything. See its output above."
            )
        assert child.due_at is not None
        self.say(f"{what}; restarting it in {child.due_at - now:g} s.")

    def stop(self, stop: StopRequests) -> None:
        """Ask politely, then insist, then kill, so Ctrl-C never hangs."""
        asked_at = stop.count
        running = [child for child in self.children if child.alive()]
        for child in running:
            child.signal(signal.SIGTERM)
        if not wait_exited(running, WORKER_GRACE_SECONDS, until=lambda: stop.count > asked_at):
            # A second SIGINT is the force-quit for both uvicorn and db_worker.
            for child in running:
                child.signal(signal.SIGINT)
            if not wait_exited(running, KILL_AFTER_SECONDS):
                for child in running:
                    child.signal(signal.SIGKILL)
        for child in running:
            assert child.process is not None
            child.process.wait()
            child.close_pipe()


def wait_exited(children: Iterable[Child], seconds: float, until: Callable[[], bool] | None = None) -> bool:
    """Wait until every child exited (True), or time or `until` ran out (False)."""
    children = list(children)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not (until and until()):
        if not any(child.alive() for child in children):
            return True
        time.sleep(POLL_SECONDS)
    return not any(child.alive() for child in children)
