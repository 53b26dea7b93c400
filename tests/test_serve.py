"""`manage.py serve`: its port, its web processes and workers, restarts of what dies, and stopping all."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from django.contrib.auth import get_user_model

from sessions_app.management.commands.serve import Command
from tests.conftest import run_manage
from tests.waiting import wait_for

if TYPE_CHECKING:
    from tests.conftest import ServeStack

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/stat").exists(), reason="reads the process tree from /proc"
)

BASE_DIR = Path(__file__).resolve().parent.parent
GONE_WITHIN_SECONDS = 5
RESTART_WITHIN_SECONDS = 60
KINDS = {"web": "sessions_app.serving.web", "worker": "task_worker", "reaper": "reap_runs"}


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
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            children[int(entry.name)] = cmdline.replace(b"\0", b" ").decode(errors="replace")
    return children


def is_running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def assert_gone(pids: list[int]) -> None:
    wait_for(
        lambda: not any(is_running(pid) for pid in pids),
        timeout=GONE_WITHIN_SECONDS,
        what=f"processes {pids} to be gone",
    )


def site_children(stack: ServeStack) -> dict[str, list[int]]:
    """serve's children by kind (web, worker, reaper); fail on any other child."""
    children = children_of(stack.process.pid)
    kinds = {
        kind: sorted(pid for pid, cmd in children.items() if marker in cmd) for kind, marker in KINDS.items()
    }
    assert sum(len(pids) for pids in kinds.values()) == len(children), children
    return kinds


def environ_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode(errors="replace").split("=", 1) for item in raw if b"=" in item)


def cores() -> int:
    return len(os.sched_getaffinity(0))


def get_status(url: str) -> int:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status


def test_serve_runs_web_processes_and_workers_and_sigint_stops_all(
    start_serve: Callable[..., ServeStack],
) -> None:
    stack = start_serve("--workers-count", "2", "--web-processes", "3")
    kinds = site_children(stack)
    assert (len(kinds["web"]), len(kinds["worker"]), len(kinds["reaper"])) == (3, 2, 1)
    # DEBUG: the static files come from serve's wrapper, in every web process.
    for _ in range(6):
        assert get_status(stack.url("/static/vendor/htmx/htmx.min.js")) == 200

    assert stack.stop(signal.SIGINT) == 0

    assert_gone([pid for pids in kinds.values() for pid in pids])
    assert "make user" in stack.log()
    assert "Stopped." in stack.log()


def test_web_processes_default_to_one_per_core_and_share_a_fresh_metrics_folder(
    start_serve: Callable[..., ServeStack],
) -> None:
    stack = start_serve("--no-worker")
    kinds = site_children(stack)
    assert len(kinds["web"]) == cores()
    assert kinds["worker"] == kinds["reaper"] == []
    folders = {environ_of(pid).get("PROMETHEUS_MULTIPROC_DIR") for pid in kinds["web"]}
    assert len(folders) == 1, folders
    folder = Path(folders.pop() or "")
    assert folder.is_dir()
    assert folder != Path()

    assert stack.stop(signal.SIGTERM) == 0

    assert_gone(kinds["web"])
    assert not folder.exists(), "serve removes the metrics folder it made"


def test_the_web_process_setting_and_a_named_metrics_folder(
    start_serve: Callable[..., ServeStack], tmp_path: Path
) -> None:
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    (metrics / "counter_123.db").write_bytes(b"from an earlier run")
    (metrics / "notes.txt").write_text("not prometheus_client's")
    stack = start_serve(env={"WFSITE_WEB_PROCESSES": "3", "PROMETHEUS_MULTIPROC_DIR": str(metrics)})
    kinds = site_children(stack)

    assert len(kinds["web"]) == 3
    assert {environ_of(pid)["PROMETHEUS_MULTIPROC_DIR"] for pid in kinds["web"]} == {str(metrics)}
    # The web processes write their own metrics files at once; the earlier run's are gone.
    names = {path.name for path in metrics.iterdir()}
    assert "counter_123.db" not in names, "stale metrics are emptied"
    assert "notes.txt" in names
    stack.stop()
    assert metrics.is_dir(), "a folder the environment named is kept"


@pytest.fixture(scope="module")
def migrated_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An environment pointing at a migrated SQLite file of this module's own, as `make run` has."""
    database = tmp_path_factory.mktemp("serve") / "db.sqlite3"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}", "PYTHONUNBUFFERED": "1"}
    run_manage("migrate", "--no-input", env=env)
    return env


def test_serving_is_said_only_once_a_visit_is_answered(migrated_env: dict[str, str]) -> None:
    env = migrated_env
    process = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--port", "0", "--no-worker"],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("Serving "):
                break
        else:
            pytest.fail(f"serve exited with {process.wait()} without saying it was serving")
        url = re.match(r"Serving (\S+) ", line)
        assert url, line
        # No retry: the first visit after the line is answered.
        assert get_status(url.group(1) + "accounts/login/") == 200
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(30)


def test_a_port_in_use_is_one_clear_line(migrated_env: dict[str, str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "manage.py", "serve", "--port", str(port), "--skip-checks"],
            cwd=BASE_DIR,
            env=migrated_env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"Port {port} on 127.0.0.1 is already in use" in lines[0]
    assert f"make run PORT={port + 1}" in lines[0]


def test_make_run_takes_the_port() -> None:
    done = subprocess.run(
        ["make", "-n", "run", "PORT=8137"], cwd=BASE_DIR, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "manage.py serve --port 8137" in done.stdout


def test_a_dead_worker_is_restarted_with_a_line_saying_so(start_serve: Callable[..., ServeStack]) -> None:
    stack = start_serve("--web-processes", "1")
    before = site_children(stack)
    (worker,) = before["worker"]

    os.kill(worker, signal.SIGKILL)

    wait_for(
        lambda: "Restarted the task worker" in stack.log(), timeout=RESTART_WITHIN_SECONDS, what="a restart"
    )
    assert f"The task worker (pid {worker}) was killed by SIGKILL; restarting it in 1 s." in stack.log()
    after = site_children(stack)
    assert len(after["worker"]) == 1
    assert after["worker"] != [worker]
    assert f"Restarted the task worker (pid {after['worker'][0]})." in stack.log()
    assert after["web"] == before["web"]
    assert after["reaper"] == before["reaper"]
    assert stack.process.poll() is None
    assert get_status(stack.url("/accounts/login/")) == 200


def test_a_dead_web_process_is_restarted_while_the_other_serves(
    start_serve: Callable[..., ServeStack],
) -> None:
    stack = start_serve("--no-worker", "--web-processes", "2")
    first, second = site_children(stack)["web"]

    os.kill(first, signal.SIGKILL)
    # While it is down the port stays bound and the other process answers every visit.
    assert all(get_status(stack.url("/accounts/login/")) == 200 for _ in range(5))

    wait_for(lambda: "is serving again" in stack.log(), timeout=RESTART_WITHIN_SECONDS, what="a restart")
    web = site_children(stack)["web"]
    assert second in web
    assert first not in web
    assert len(web) == 2
    assert re.search(r"The web server \d \(pid \d+\) is serving again\.", stack.log())
    assert stack.process.poll() is None


@pytest.mark.django_db
def test_first_user_hint_is_shown_only_while_there_is_no_user(capsys: pytest.CaptureFixture[str]) -> None:
    Command().warn_if_no_users()
    assert "make user" in capsys.readouterr().out

    get_user_model().objects.create_user(username="someone", password="unused-in-this-test")
    Command().warn_if_no_users()
    assert capsys.readouterr().out == ""
