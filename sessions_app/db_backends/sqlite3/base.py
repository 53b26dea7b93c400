"""Django's SQLite backend, with the threads of one process queueing for the write lock in Python.

Under ASGI every request runs its view in a thread of its own, with its own connection, so ten
concurrent POSTs are ten connections asking SQLite for its one write lock at `BEGIN IMMEDIATE`.
SQLite does not queue them: each loser sleeps in its busy handler (1, 2, 5, ... then 100 ms at a
time) and retries, so a lock freed a moment after a retry sits idle while the losers sleep, and
a request can lose round after round. That was the cache-hit POST's p99 of about 900 ms at ten
clients (10-20 ms at one). Here a transaction first takes a per-process gate (threads wait on
it and wake as soon as it is free), so only one connection per process contends in SQLite.

The gate waits at most the connection's busy timeout (`OPTIONS["timeout"]`) and then fails as
SQLite would, with "database is locked".
"""

from __future__ import annotations

import threading
from typing import Any

from django.db import OperationalError
from django.db.backends.sqlite3 import base

DEFAULT_TIMEOUT = 5.0  # sqlite3.connect's own default

_gates: dict[str, threading.Lock] = {}
_gates_lock = threading.Lock()


def write_gate(name: str) -> threading.Lock:
    """Return the gate of the database file `name`, shared by every connection in this process."""
    with _gates_lock:
        return _gates.setdefault(name, threading.Lock())


class DatabaseWrapper(base.DatabaseWrapper):
    """SQLite whose transactions take the process's write gate before `BEGIN`, until commit or rollback."""

    _held_gate: threading.Lock | None = None

    def _start_transaction_under_autocommit(self) -> None:
        gate = write_gate(str(self.settings_dict["NAME"]))
        timeout = float(self.settings_dict["OPTIONS"].get("timeout", DEFAULT_TIMEOUT))
        if not gate.acquire(timeout=timeout):
            raise OperationalError(
                f"database is locked (other transactions in this process held it for {timeout:g} s)"
            )
        self._held_gate = gate
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            self._release_gate()
            raise

    def _commit(self) -> Any:
        try:
            return super()._commit()
        finally:
            self._release_gate()

    def _rollback(self) -> Any:
        try:
            return super()._rollback()
        finally:
            self._release_gate()

    def _close(self) -> Any:
        try:
            return super()._close()
        finally:
            self._release_gate()

    def _release_gate(self) -> None:
        gate, self._held_gate = self._held_gate, None
        if gate is not None:
            gate.release()
