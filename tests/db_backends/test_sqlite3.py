"""The SQLite backend's write gate: transactions queue for SQLite's write lock there, not in SQLite."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import OperationalError, connection, transaction

from sessions_app.db_backends.sqlite3 import base, gate
from sessions_app.models import WorkflowSession
from tests.django_fixtures import in_threads
from tests.site_processes import wait_for
from tests.test_faults import busy_timeout

WAIT = 30.0


class WatchedGate:
    """The real gate, noting who reached it and when it was released, in one ordered log."""

    def __init__(self, log: list[str]) -> None:
        self.lock = threading.Lock()
        self.log = log

    def acquire(self, timeout: float = -1) -> bool:
        self.log.append(f"{threading.current_thread().name} at the gate")
        return self.lock.acquire(timeout=timeout)

    def release(self) -> None:
        self.log.append(f"{threading.current_thread().name} released the gate")
        self.lock.release()

    def locked(self) -> bool:
        return self.lock.locked()


@pytest.fixture
def sqlite_name(transactional_db: None) -> str:
    if connection.vendor != "sqlite":
        pytest.skip("the gate is SQLite's; PostgreSQL queues writers on its row locks")
    return str(connection.settings_dict["NAME"])


@pytest.fixture
def gate_log(sqlite_name: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    log: list[str] = []
    monkeypatch.setitem(gate._gates, sqlite_name, WatchedGate(log))
    return log


def recording_begins(log: list[str]) -> Any:
    """An execute wrapper that logs each BEGIN the connection sends to SQLite."""

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if sql.startswith("BEGIN"):
            log.append(f"{threading.current_thread().name} sent {sql}")
        return execute(sql, params, many, context)

    return wrapper


def make_session(session_id: str) -> None:
    WorkflowSession.objects.create(session_id=session_id, workflow="BlogPostGenerator")


def test_a_second_writer_waits_at_the_gate_and_begins_only_after_the_first_commits(
    gate_log: list[str],
) -> None:
    holding, finish = threading.Event(), threading.Event()

    def first() -> None:
        threading.current_thread().name = "first"
        with connection.execute_wrapper(recording_begins(gate_log)), transaction.atomic():
            make_session("first")
            holding.set()
            assert finish.wait(WAIT)

    def second() -> None:
        assert holding.wait(WAIT)
        threading.current_thread().name = "second"
        with connection.execute_wrapper(recording_begins(gate_log)), transaction.atomic():
            make_session("second")

    def release_when_second_waits() -> None:
        wait_for(lambda: "second at the gate" in gate_log, timeout=WAIT, what="the second writer at the gate")
        # It waits in Python: it has not asked SQLite for the lock (where it would sleep and poll).
        assert "second sent BEGIN IMMEDIATE" not in gate_log
        finish.set()

    assert in_threads(first, second, release_when_second_waits) == [None, None, None]
    assert gate_log.index("first released the gate") < gate_log.index("second sent BEGIN IMMEDIATE")
    assert set(WorkflowSession.objects.values_list("session_id", flat=True)) == {"first", "second"}


def test_a_writer_that_waits_past_the_busy_timeout_fails_as_sqlite_would(sqlite_name: str) -> None:
    holding, finish = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def first() -> None:
        with transaction.atomic():
            make_session("holder")
            holding.set()
            assert finish.wait(WAIT)

    def second() -> None:
        assert holding.wait(WAIT)
        try:
            with transaction.atomic():
                make_session("too late")
        except OperationalError as error:
            errors.append(error)
        finish.set()

    with busy_timeout(0.2):
        assert in_threads(first, second) == [None, None]
    assert len(errors) == 1
    assert "database is locked" in str(errors[0])
    assert not base.write_gate(sqlite_name).locked(), "the failed writer did not keep the gate"
    make_session("after")  # and the next writer gets it at once
    assert sorted(WorkflowSession.objects.values_list("session_id", flat=True)) == ["after", "holder"]


def test_a_rollback_or_a_closed_connection_gives_the_gate_back(sqlite_name: str) -> None:
    the_gate = base.write_gate(sqlite_name)

    def rolls_back() -> None:
        try:
            with transaction.atomic():
                make_session("rolled back")
                assert the_gate.locked()
                raise RuntimeError("give up")
        except RuntimeError:
            pass

    def closes_mid_transaction() -> None:
        atomic = transaction.atomic()
        atomic.__enter__()
        make_session("never committed")
        assert the_gate.locked()
        connection.close()
        connection.in_atomic_block = False

    for call in (rolls_back, closes_mid_transaction):
        assert in_threads(call) == [None]
        assert not the_gate.locked(), call.__name__
    assert not WorkflowSession.objects.exists()


@contextmanager
def held_by_another_process(sqlite_name: str) -> Iterator[None]:
    """Hold the gate's file lock and SQLite's write lock as another web process in a transaction would."""
    fd = os.open(sqlite_name + gate.LOCK_SUFFIX, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    other = sqlite3.connect(sqlite_name, timeout=0, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        other.execute("ROLLBACK")
        other.close()
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def test_a_writer_in_another_process_is_waited_for_at_the_gate_not_in_sqlite(sqlite_name: str) -> None:
    log: list[str] = []
    the_gate = base.write_gate(sqlite_name)

    def writer() -> None:
        threading.current_thread().name = "writer"
        with connection.execute_wrapper(recording_begins(log)), transaction.atomic():
            make_session("after the other process")

    with held_by_another_process(sqlite_name):
        thread = threading.Thread(target=in_threads, args=(writer,))
        thread.start()
        # It waits for the file lock through the gatekeeper, in the kernel, before asking SQLite.
        wait_for(lambda: the_gate._asked != 0, timeout=WAIT, what="the writer to wait at the gate")
        assert log == []
        log.append("the other process let go")
    thread.join(WAIT)
    assert log == ["the other process let go", "writer sent BEGIN IMMEDIATE"]
    assert WorkflowSession.objects.filter(session_id="after the other process").exists()


def test_a_writer_gives_up_after_the_timeout_and_the_late_grab_is_dropped(sqlite_name: str) -> None:
    the_gate = base.write_gate(sqlite_name)
    with busy_timeout(0.3), held_by_another_process(sqlite_name):
        assert in_threads(lambda: make_locked_write("too late")) == [None]
    # The gatekeeper gets the file lock after the writer has gone, and lets go of it at once.
    wait_for(lambda: not the_gate._keeper_busy, timeout=WAIT, what="the gatekeeper's late grab")
    probe = os.open(sqlite_name + gate.LOCK_SUFFIX, os.O_RDWR)
    try:
        fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises if anyone still holds it
        fcntl.flock(probe, fcntl.LOCK_UN)
    finally:
        os.close(probe)
    with transaction.atomic():
        make_session("next")
    assert list(WorkflowSession.objects.values_list("session_id", flat=True)) == ["next"]


def make_locked_write(session_id: str) -> None:
    with pytest.raises(OperationalError, match="database is locked"), transaction.atomic():
        make_session(session_id)
