"""The SQLite backend's write gate: a process's transactions queue in Python for SQLite's write lock."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import OperationalError, connection, transaction

from sessions_app.db_backends.sqlite3 import base
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
    monkeypatch.setitem(base._gates, sqlite_name, WatchedGate(log))
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
    gate = base.write_gate(sqlite_name)

    def rolls_back() -> None:
        try:
            with transaction.atomic():
                make_session("rolled back")
                assert gate.locked()
                raise RuntimeError("give up")
        except RuntimeError:
            pass

    def closes_mid_transaction() -> None:
        atomic = transaction.atomic()
        atomic.__enter__()
        make_session("never committed")
        assert gate.locked()
        connection.close()
        connection.in_atomic_block = False

    for call in (rolls_back, closes_mid_transaction):
        assert in_threads(call) == [None]
        assert not gate.locked(), call.__name__
    assert not WorkflowSession.objects.exists()
