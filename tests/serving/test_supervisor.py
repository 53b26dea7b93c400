"""The supervisor's restart rules: back-off that doubles and starts over, and a bounded crash loop."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from sessions_app.serving import supervisor as supervisor_module
from sessions_app.serving.children import Child, ChildSpec, RestartPolicy
from sessions_app.serving.supervisor import CrashLoopError, StopRequests, Supervisor
from tests.waiting import wait_for

BASE_DIR = Path(__file__).resolve().parent.parent.parent
EXITS_AT_ONCE = [sys.executable, "-c", "raise SystemExit(3)"]
SLEEPS = [sys.executable, "-c", "import time; time.sleep(60)"]


class NoStop:
    """A stop request that never comes, in place of StopRequests' signal handlers."""

    count = 0


def test_back_off_doubles_to_its_cap_and_starts_over_after_a_stable_run() -> None:
    policy = RestartPolicy(first_delay=1, max_delay=8, stable_after=60, max_restarts=100, window=600)
    child = Child(ChildSpec("worker", EXITS_AT_ONCE))
    delays = []
    for now in range(0, 50, 5):  # dying 5 s after each start: never stable
        child.started_at = float(now)
        assert child.schedule_restart(policy, float(now) + 0.5)
        delays.append(child.due_at - (now + 0.5))
    assert delays[:5] == [1, 2, 4, 8, 8]

    child.started_at = 100.0
    assert child.schedule_restart(policy, 100.0 + 61)  # it had stayed up past stable_after
    assert child.due_at == pytest.approx(100.0 + 61 + 1)


def test_only_deaths_inside_the_window_count_towards_a_crash_loop() -> None:
    policy = RestartPolicy(max_restarts=2, window=100)
    child = Child(ChildSpec("worker", EXITS_AT_ONCE))
    assert child.schedule_restart(policy, 0)
    assert child.schedule_restart(policy, 10)
    assert not child.schedule_restart(policy, 20), "a third death in 100 s is a crash loop"

    rare = Child(ChildSpec("worker", EXITS_AT_ONCE))
    assert all(rare.schedule_restart(policy, float(now)) for now in range(0, 1000, 150))


def test_a_crash_loop_stops_the_supervisor_and_says_which_child(tmp_path: Path) -> None:
    said: list[str] = []
    crashing = Child(ChildSpec("task worker", EXITS_AT_ONCE))
    steady = Child(ChildSpec("web server", SLEEPS))
    policy = RestartPolicy(first_delay=0.01, max_delay=0.05, max_restarts=2, window=60)
    watcher = Supervisor([crashing, steady], BASE_DIR, said.append, policy)
    watcher.start()
    try:
        with pytest.raises(
            CrashLoopError, match=r"The task worker \(pid \d+\) exited with status 3: it died 3 times"
        ):
            watcher.run(NoStop())  # type: ignore[arg-type]
    finally:
        watcher.stop(NoStop())  # type: ignore[arg-type]
    restarting = [line for line in said if "restarting it in" in line]
    assert len(restarting) == 2
    assert all(line.startswith("The task worker") and "exited with status 3" in line for line in restarting)
    assert len([line for line in said if line.startswith("Restarted the task worker")]) == 2
    assert steady.process is not None
    assert steady.process.returncode == -signal.SIGTERM, "the rest is stopped"


def test_children_that_ignore_sigterm_are_forced_then_killed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(supervisor_module, "WORKER_GRACE_SECONDS", 0.5)
    monkeypatch.setattr(supervisor_module, "KILL_AFTER_SECONDS", 0.5)
    ignore = "import signal, time\nfor name in {}: signal.signal(getattr(signal, name), signal.SIG_IGN)\nprint(flush=True)\ntime.sleep(60)"
    ignores_term, ignores_both = ignore.format("['SIGTERM']"), ignore.format("['SIGTERM', 'SIGINT']")
    children = [
        Child(ChildSpec(name, [sys.executable, "-c", code]))
        for name, code in (("stubborn", ignores_term), ("deaf", ignores_both))
    ]
    for child in children:
        child.process = subprocess.Popen(child.spec.command, stdout=subprocess.PIPE)
    for child in children:  # the blank line says its handlers are installed
        assert child.process is not None
        assert child.process.stdout is not None
        child.process.stdout.readline()
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        Supervisor(children, BASE_DIR, print).stop(StopRequests())
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

    assert children[0].process is not None
    assert children[1].process is not None
    assert children[0].process.returncode != 0  # KeyboardInterrupt from the second signal
    assert children[0].process.returncode != -signal.SIGKILL
    assert children[1].process.returncode == -signal.SIGKILL


def test_a_child_that_reports_readiness_is_ready_only_once_it_says_so(tmp_path: Path) -> None:
    gate, started = tmp_path / "go", tmp_path / "started"
    waits_then_says = (
        "import os, sys, time, pathlib\n"
        f"pathlib.Path({str(started)!r}).touch()\n"
        f"while not pathlib.Path({str(gate)!r}).exists(): time.sleep(0.02)\n"
        "os.write(int(sys.argv[-1]), b'ready\\n')\ntime.sleep(60)"
    )
    child = Child(
        ChildSpec("web server", [sys.executable, "-c", waits_then_says, "--ready-fd"], reports_ready=True)
    )
    # The child gets "--ready-fd N" appended; this script reads N from its last argument.
    child.spec.command.pop()
    child.start(BASE_DIR)
    try:
        wait_for(started.exists, what="the child to start")
        assert not child.poll_ready()
        assert not child.ready
        gate.touch()
        wait_for(child.poll_ready, what="the child to say it is ready", every=0.02)
        assert child.ready
    finally:
        child.signal(signal.SIGKILL)
        assert child.process is not None
        child.process.wait()
        child.close_pipe()
