"""The state stores under test, behind one small interface: seed, load, append-and-write, find.

`load` returns a `Loaded` (the state as the run holds it, plus what the store needs to write it
back); `write_append` appends one post to that state and writes it the way the store writes; a
run cycle is the two in a row. This module holds raw sqlite3 and wfsite's two storages; the
upstream libraries are in `bench.upstream`.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import orjson

from sessions_app.workflow import SqliteWorkflowStorage
from sessions_app.workflow.state import Op, diff
from sessions_app.workflow.storage import SessionMeta

WORKFLOW = "BlogPostGenerator"
TABLE = "generate_blog_post_workflows"


@dataclass
class Loaded:
    """A session's state as a run holds it after reading, and the store's handle to write it back."""

    session_id: str
    state: dict[str, Any]
    handle: Any = None


class Store(Protocol):
    label: str

    def seed(self, session_id: str, state: dict[str, Any]) -> None: ...

    def load(self, session_id: str) -> Loaded: ...

    def write_append(self, loaded: Loaded, entry: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


def cycle(store: Store, session_id: str, entry: dict[str, Any]) -> None:
    """One run cycle: read the state, append one post, write."""
    store.write_append(store.load(session_id), entry)


def warm_up(store: Store, session_id: str) -> None:
    """Make a store's first connection, schema check and code paths happen before anything is timed."""
    from bench.common import state_with

    store.seed(session_id, state_with(2, start=999_000))
    cycle(store, session_id, {"topic": f"{session_id} warm", "blog_post": "warm"})
    store.load(session_id)


def settle(store: Any) -> None:
    """Checkpoint the store's WAL, so what seeding wrote is not paid for by the first timed write."""
    if isinstance(store, WfsiteDjango):
        from django.db import connection

        if connection.vendor != "sqlite":
            return
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return
    path = getattr(store, "path", None)
    if path is None:
        return
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def find(store: Store, session_id: str, topic: str) -> str | None:
    """Load the state and scan its cache for `topic`, as the seeds' workflow does."""
    for entry in store.load(session_id).state.get("blog_posts", []):
        if entry["topic"] == topic:
            return entry["blog_post"]
    return None


class RawSqlite:
    """The floor for a whole-state rewrite: stdlib sqlite3, WAL, synchronous=NORMAL, one upsert per write."""

    def __init__(self, path: Path, *, fast_json: bool = False, label: str = "raw sqlite3") -> None:
        self.label, self.path = label, path
        self.dumps = (lambda value: orjson.dumps(value).decode()) if fast_json else json.dumps
        self.loads = orjson.loads if fast_json else json.loads
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS sessions (session_id TEXT PRIMARY KEY, state TEXT NOT NULL, "
            "updated_at REAL NOT NULL)"
        )
        self.conn.execute("CREATE INDEX IF NOT EXISTS sessions_updated ON sessions (updated_at)")

    def seed(self, session_id: str, state: dict[str, Any]) -> None:
        self._write(session_id, state)

    def _write(self, session_id: str, state: dict[str, Any]) -> None:
        self.conn.execute(
            "INSERT INTO sessions (session_id, state, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (session_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
            (session_id, self.dumps(state), time.time()),
        )

    def load(self, session_id: str) -> Loaded:
        row = self.conn.execute("SELECT state FROM sessions WHERE session_id = ?", (session_id,)).fetchone()
        return Loaded(session_id, self.loads(row[0]) if row else {})

    def write_append(self, loaded: Loaded, entry: dict[str, Any]) -> None:
        loaded.state.setdefault("blog_posts", []).append(entry)
        self._write(loaded.session_id, loaded.state)

    def list_recent(self, limit: int) -> list[tuple[Any, ...]]:
        sql = "SELECT session_id, updated_at FROM sessions ORDER BY updated_at DESC LIMIT ?"
        return self.conn.execute(sql, (limit,)).fetchall()

    def close(self) -> None:
        self.conn.close()


def append_op(state: dict[str, Any], entry: dict[str, Any]) -> list[Op]:
    """Append `entry` to the state's cache and return the op the engine's diff would find."""
    posts = state.setdefault("blog_posts", [])
    if not posts:
        posts.append(entry)
        return diff({}, {"blog_posts": posts})
    op = Op("append", ("blog_posts",), [entry], posts)
    posts.append(entry)
    return [op]


class VersionedStore:
    """Shared by wfsite's two storages: read the version with the state, commit the append as an op."""

    label = ""
    path: Path | None = None
    storage: Any

    def seed(self, session_id: str, state: dict[str, Any]) -> None:
        self.storage.commit(meta=self.meta(session_id), base_version=0, ops=diff({}, state), state=state)

    def meta(self, session_id: str) -> SessionMeta:
        return SessionMeta(session_id=session_id, workflow_id=WORKFLOW, workflow_name=WORKFLOW)

    def load(self, session_id: str) -> Loaded:
        session = self.storage.read(session_id)
        return Loaded(session_id, session.session_state, session.version)

    def write_append(self, loaded: Loaded, entry: dict[str, Any]) -> None:
        ops = append_op(loaded.state, entry)
        result = self.storage.commit(
            meta=self.meta(loaded.session_id), base_version=loaded.handle, ops=ops, state=loaded.state
        )
        loaded.handle = result.version

    def close(self) -> None:
        """Nothing to close: connections live with the storage."""


class WfsiteSqlite(VersionedStore):
    """wfsite's engine storage, `SqliteWorkflowStorage`, on a file it creates."""

    def __init__(self, path: Path, label: str = "wfsite SqliteWorkflowStorage") -> None:
        self.label, self.path = label, path
        self.storage = SqliteWorkflowStorage(table_name=TABLE, db_file=path)

    def list_recent(self, limit: int) -> list[dict[str, Any]]:
        return self.storage.list_sessions(limit=limit)


class WfsiteDjango(VersionedStore):
    """The dashboard's storage, `DjangoWorkflowStorage`, on the Django database (the lane's)."""

    def __init__(self, label: str = "wfsite DjangoWorkflowStorage") -> None:
        from sessions_app.state.storage import DjangoWorkflowStorage

        self.label = label
        self.storage = DjangoWorkflowStorage(workflow=WORKFLOW)
