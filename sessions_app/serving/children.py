"""The processes `serve` runs: how each is started, told to stop, and restarted with back-off.

A child that dies on its own is started again after a delay that doubles with each quick death
(1 s, 2 s, 4 s, ... at most 30 s) and starts over once the child has stayed up a minute. A
child that keeps dying (more than `max_restarts` deaths in `window` seconds) is a crash loop:
the supervisor gives up instead of restarting it forever.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class RestartPolicy:
    """How soon a dead child is restarted, and how many deaths in a window make a crash loop."""

    first_delay: float = 1.0
    max_delay: float = 30.0
    stable_after: float = 60.0
    max_restarts: int = 5
    window: float = 600.0

    def window_text(self) -> str:
        return f"{self.window / 60:g} minutes" if self.window >= 120 else f"{self.window:g} s"


@dataclass(frozen=True)
class ChildSpec:
    """What to run for one child, and whether it reports readiness on a pipe (`--ready-fd`)."""

    name: str
    command: list[str]
    env: dict[str, str] | None = None
    pass_fds: tuple[int, ...] = ()
    reports_ready: bool = False


@dataclass
class Child:
    """One supervised child: its current process, its deaths, and when it is due to start again."""

    spec: ChildSpec
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    ready: bool = False
    due_at: float | None = None
    quick_deaths: int = 0
    deaths: deque[float] = field(default_factory=deque)
    _ready_pipe: int | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def exit_description(self) -> str:
        code = None if self.process is None else self.process.returncode
        if code is not None and code < 0:
            return f"was killed by {signal.Signals(-code).name}"
        return f"exited with status {code}"

    def start(self, cwd: Path) -> None:
        """Start the process (again); a child that reports readiness gets a fresh pipe for it."""
        command, fds = list(self.spec.command), self.spec.pass_fds
        self.close_pipe()
        write_end = None
        if self.spec.reports_ready:
            self._ready_pipe, write_end = os.pipe()
            os.set_blocking(self._ready_pipe, False)
            command += ["--ready-fd", str(write_end)]
            fds = (*fds, write_end)
        try:
            self.process = subprocess.Popen(
                command,
                cwd=cwd,
                env=self.spec.env,
                pass_fds=fds,
                # Own process group: a terminal Ctrl-C reaches only serve, which then signals each
                # child exactly once; a second signal would make a worker abandon its task.
                process_group=0,
                preexec_fn=die_with_parent(),
            )
        finally:
            if write_end is not None:
                os.close(write_end)
        self.started_at, self.ready, self.due_at = time.monotonic(), not self.spec.reports_ready, None

    def poll_ready(self) -> bool:
        """Return True once, when the child has just said it is ready."""
        if self.ready or self._ready_pipe is None:
            return False
        try:
            said = os.read(self._ready_pipe, 64)
        except BlockingIOError:
            return False
        self.close_pipe()
        self.ready = bool(said)
        return self.ready

    def close_pipe(self) -> None:
        if self._ready_pipe is not None:
            os.close(self._ready_pipe)
            self._ready_pipe = None

    def schedule_restart(self, policy: RestartPolicy, now: float) -> bool:
        """Record a death at `now`; set when to start again, or return False for a crash loop."""
        self.deaths.append(now)
        while self.deaths and self.deaths[0] < now - policy.window:
            self.deaths.popleft()
        if len(self.deaths) > policy.max_restarts:
            return False
        lived = now - self.started_at
        self.quick_deaths = 1 if lived >= policy.stable_after else self.quick_deaths + 1
        delay = min(policy.max_delay, policy.first_delay * 2 ** (self.quick_deaths - 1))
        self.due_at = now + delay
        return True

    def signal(self, signum: int) -> None:
        if self.alive():
            assert self.process is not None
            self.process.send_signal(signum)


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
