"""The SQLite side of SqliteWorkflowStorage: JSON codecs, per-thread connections, write transactions."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import orjson

from sessions_app.workflow.errors import StorageBusyError, StorageError
from sessions_app.workflow.sqlite_read_cache import ReadCache
from sessions_app.workflow.sqlite_schema import ensure_schema, runs_table

T = TypeVar("T")

CACHE_KIB = 32 * 1024
READ_CACHE_BYTES = 64 * 1024 * 1024
_TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def dumps(value: Any) -> str:
    """Encode JSON fast; fall back to the stdlib for what orjson refuses (integers over 64 bits)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return stdlib_dumps(value)


def stdlib_dumps(value: Any) -> str:
    """Encode JSON with the stdlib; lone surrogates (not UTF-8) are written as \\u escapes, as upstream does."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    try:
        text.encode()
    except UnicodeEncodeError:
        return json.dumps(value, allow_nan=False)
    return text


def loads(text: str | bytes | None) -> Any:
    """Decode a JSON column; SQL NULL and upstream's 'null' text both mean None."""
    if text is None:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        # Upstream wrote with json.dumps, which allows NaN and Infinity; orjson does not read them.
        return json.loads(text)


def _is_busy(error: sqlite3.OperationalError) -> bool:
    message = str(error).lower()
    return "locked" in message or "busy" in message


class SqliteConnections:
    """Open per-thread (and per-process) connections to the file and run bounded-retry write transactions."""

    def __init__(
        self,
        table_name: str,
        db_url: str | None = None,
        db_file: str | os.PathLike[str] | None = None,
        *,
        busy_timeout: float = 5.0,
        busy_retries: int = 3,
    ) -> None:
        if not _TABLE_NAME.match(table_name):
            raise ValueError(
                f"table_name must be a plain SQL identifier (letters, digits, _), not {table_name!r}"
            )
        self.table_name = table_name
        self.busy_timeout = busy_timeout
        self.busy_retries = busy_retries
        self.db_file, self._target, self._uri = self._resolve_target(db_url, db_file)
        self._local = threading.local()
        self._schema_lock = threading.Lock()
        self._columns: frozenset[str] | None = None
        self._extras: dict[tuple[str, int], dict[str, Any]] = {}

    @staticmethod
    def _resolve_target(db_url: str | None, db_file: Any) -> tuple[Path | None, str, bool]:
        if db_file is None and db_url is not None:
            if not db_url.startswith("sqlite:///"):
                raise ValueError(f"db_url must be a sqlite:/// URL, not {db_url!r}")
            db_file = db_url.removeprefix("sqlite:///")
        if db_file is None:
            # Shared-cache memory so every thread's connection sees the same database.
            return None, f"file:wfsite-{uuid.uuid4().hex}?mode=memory&cache=shared", True
        path = Path(db_file).resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        return path, str(path), False

    # -- connections and transactions -------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():
            conn = sqlite3.connect(
                self._target, timeout=self.busy_timeout, isolation_level=None, uri=self._uri
            )
            if self.db_file is not None:
                conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            # Room for a large state's pages, so rewriting its row in place compares them in memory.
            conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
            self._local.conn, self._local.pid = conn, os.getpid()
            # In shared-cache memory databases data_version misses other connections' writes: no cache.
            self._local.cache = ReadCache(max_bytes=0 if self._uri else READ_CACHE_BYTES)
        if self._columns is None:
            with self._schema_lock:
                if self._columns is None:
                    self._columns = self._transaction(lambda c: ensure_schema(c, self.table_name), conn)
        return conn

    def _transaction(
        self, body: Callable[[sqlite3.Connection], T], conn: sqlite3.Connection | None = None
    ) -> T:
        """Run `body(conn)` in a write transaction, retrying a bounded number of times while locked."""
        for attempt in range(self.busy_retries + 1):
            conn = conn or self._conn()
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    result = body(conn)
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
                return result
            except sqlite3.OperationalError as error:
                if not _is_busy(error):
                    raise StorageError(f"SQLite error on {self.table_name!r}: {error}") from error
                if attempt == self.busy_retries:
                    raise StorageBusyError(
                        f"{self._target} stayed locked by other writers after {attempt + 1} tries "
                        f"of {self.busy_timeout:g} s; nothing was written"
                    ) from error
                time.sleep(0.05 * 2**attempt)
        raise AssertionError("unreachable")

    @property
    def columns(self) -> frozenset[str]:
        """Return the columns the table has (phidata's and agno's layouts differ)."""
        self._conn()
        assert self._columns is not None
        return self._columns

    def _q(self, sql: str) -> str:
        return sql.replace("{t}", f'"{self.table_name}"').replace(
            "{runs}", f'"{runs_table(self.table_name)}"'
        )
