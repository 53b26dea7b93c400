"""`manage.py serve` runs uvicorn and the task worker together and never leaves either behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from django.contrib.auth import get_user_model

from sessions_app.management.commands import serve
from sessions_app.management.commands.serve import Child, Command, StopRequests

if TYPE_CHECKING:
    from tests.conftest import ServeStack

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/stat").exists(), reason="reads the process tree from /proc"
)

GONE_WITHIN_SECONDS = 5


def children_of(pid: int) -> dict[int, str]:
    """Map each child pid of `pid` to its command line, read from /proc."""
    children: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        # The command name in parentheses may itself contain spaces and parentheses.
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == pid:
            children[int(entry.name)] = cmdline.replace(b"\0", b" ").decode(errors="replace")
    return children


def is_running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def assert_gone(pids: list[int]) -> None:
    deadline = time.monotonic() + GONE_WITHIN_SECONDS
    while any(is_running(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [pid for pid in pids if is_running(pid)] == []


def web_and_workers(stack: ServeStack) -> tuple[int, list[int], list[int]]:
    children = children_of(stack.process.pid)
    web = [pid for pid, cmd in children.items() if "uvicorn" in cmd]
    workers = [pid for pid, cmd in children.items() if "db_worker" in cmd]
    reapers = [pid for pid, cmd in children.items() if "reap_runs" in cmd]
    assert len(web) == 1, children
    assert len(reapers) == (1 if workers else 0), children
    assert len(web) + len(workers) + len(reapers) == len(children), children
    return web[0], workers, reapers


def test_serve_runs_web_and_workers_and_sigint_stops_all(start_serve: Callable[..., ServeStack]) -> None:
    stack = start_serve("--workers-count", "2")
    web, workers, reapers = web_and_workers(stack)
    assert len(workers) == 2
    with urllib.request.urlopen(stack.url("/static/vendor/htmx/htmx.min.js"), timeout=5) as response:
        assert response.status == 200

    assert stack.stop(signal.SIGINT) == 0

    assert_gone([web, *workers, *reapers])
    assert "make user" in stack.log()
    assert "Stopped." in stack.log()


def test_serve_without_worker_stops_on_sigterm(start_serve: Callable[..., ServeStack]) -> None:
    stack = start_serve("--no-worker")
    web, workers, reapers = web_and_workers(stack)
    assert workers == reapers == []

    assert stack.stop(signal.SIGTERM) == 0

    assert_gone([web])


def test_serve_stops_the_web_server_when_the_worker_dies(start_serve: Callable[..., ServeStack]) -> None:
    stack = start_serve()
    web, workers, reapers = web_and_workers(stack)
    assert len(workers) == 1

    os.kill(workers[0], signal.SIGKILL)

    assert stack.process.wait(15) == 1
    assert_gone([web, *reapers])
    assert "task worker" in stack.log()
    assert "was killed by SIGKILL unexpectedly" in stack.log()


@pytest.mark.django_db
def test_first_user_hint_is_shown_only_while_there_is_no_user(capsys: pytest.CaptureFixture[str]) -> None:
    Command().warn_if_no_users()
    assert "make user" in capsys.readouterr().out

    get_user_model().objects.create_user(username="someone", password="unused-in-this-test")
    Command().warn_if_no_users()
    assert capsys.readouterr().out == ""


def test_children_that_ignore_sigterm_are_forced_then_killed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(serve, "WORKER_GRACE_SECONDS", 0.5)
    monkeypatch.setattr(serve, "KILL_AFTER_SECONDS", 0.5)
    ignore = "import signal, time\nfor name in {}: signal.signal(getattr(signal, name), signal.SIG_IGN)\ntime.sleep(60)"
    ignores_term, ignores_both = ignore.format("['SIGTERM']"), ignore.format("['SIGTERM', 'SIGINT']")
    children = [
        Child(name, subprocess.Popen([sys.executable, "-c", code]))
        for name, code in (("stubborn", ignores_term), ("deaf", ignores_both))
    ]
    time.sleep(0.5)  # Let both install their handlers before they are signalled.
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        Command().stop_children(children, StopRequests())
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

    assert children[0].process.returncode != 0  # KeyboardInterrupt from the second signal
    assert children[0].process.returncode != -signal.SIGKILL
    assert children[1].process.returncode == -signal.SIGKILL
