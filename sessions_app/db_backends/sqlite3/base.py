"""Django's SQLite backend, with writers queueing for the write lock at a gate instead of in SQLite.

Under ASGI requests run in threads with connections of their own, and every web process has
its own too, so ten concurrent POSTs are ten connections asking SQLite for its one write lock at
`BEGIN IMMEDIATE`. SQLite does not queue them: each loser sleeps in its busy handler and tries
again (gate.py says how), which was the cache-hit POST's p99 of about 900 ms at ten clients
(10-20 ms at one). Here a transaction first passes the database's write gate (`gate.py`), where
threads and processes wait their turn and wake as soon as it is free.

The gate waits at most the connection's busy timeout (`OPTIONS["timeout"]`) and then fails as
SQLite would, with "database is locked".
"""

from __future__ import annotations

from typing import Any

from django.db import OperationalError
from django.db.backends.sqlite3 import base

from sessions_app.db_backends.sqlite3.gate import WriteGate, write_gate

__all__ = ["DatabaseWrapper", "write_gate"]

DEFAULT_TIMEOUT = 5.0  # sqlite3.connect's own default


class DatabaseWrapper(base.DatabaseWrapper):
    """SQLite whose transactions pass the database's write gate before `BEGIN`, until commit or rollback."""

    _held_gate: WriteGate | None = None

    def _start_transaction_under_autocommit(self) -> None:
        gate = write_gate(str(self.settings_dict["NAME"]))
        timeout = float(self.settings_dict["OPTIONS"].get("timeout", DEFAULT_TIMEOUT))
        if not gate.acquire(timeout=timeout):
            raise OperationalError(f"database is locked (other writers held it for {timeout:g} s)")
        self._held_gate = gate
        try:
            super()._start_transaction_under_autocommit()  # type: ignore[misc]  # a private hook django-stubs leaves out
        except BaseException:
            self._release_gate()
            raise

    def _commit(self) -> Any:
        try:
            return super()._commit()  # type: ignore[misc]  # a private hook django-stubs leaves out
        finally:
            self._release_gate()

    def _rollback(self) -> Any:
        try:
            return super()._rollback()  # type: ignore[misc]  # a private hook django-stubs leaves out
        finally:
            self._release_gate()

    def _close(self) -> Any:
        try:
            return super()._close()  # type: ignore[misc]  # a private hook django-stubs leaves out
        finally:
            self._release_gate()

    def _release_gate(self) -> None:
        gate, self._held_gate = self._held_gate, None
        if gate is not None:
            gate.release()
