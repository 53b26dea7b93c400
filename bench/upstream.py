"""The baselines from their real packages: phidata 2.7.10, agno 2.x `SqliteDb`, LangGraph's `SqliteSaver`.

Each is used the way its own workflow code uses it: read the whole session, change the state,
write the whole session back (phidata and agno upsert one row; LangGraph puts a new checkpoint).
Every class raises `Unavailable` when its package is missing (the main venv has phidata but not
agno 2.x or LangGraph; `make bench` installs all of them in `.venv-bench`).
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from bench.stores import TABLE, WORKFLOW, Loaded, VersionedStore
from sessions_app.workflow import SqliteWorkflowStorage

BENCH_VENV = "needs the bench environment (`make bench` installs agno 2.x and langgraph-checkpoint-sqlite)"


class Unavailable(RuntimeError):
    """A baseline's package is not installed here."""


class Phidata:
    """phidata 2.7.10's `SqlWorkflowStorage`: SQLAlchemy, JSON columns, read and upsert a whole session."""

    label = "phidata SqlWorkflowStorage"

    def __init__(self, path: Path, table: str = TABLE) -> None:
        try:
            from phi.storage.workflow.sqlite import SqlWorkflowStorage
            from phi.workflow.session import WorkflowSession
        except ImportError as error:
            raise Unavailable(f"phidata is not installed ({error})") from error
        self.session_class, self.path = WorkflowSession, path
        self.storage = SqlWorkflowStorage(table_name=table, db_file=str(path))
        self.storage.create()

    def seed(self, session_id: str, state: dict[str, Any]) -> None:
        session = self.session_class(
            session_id=session_id, workflow_id=WORKFLOW, session_data={"session_state": state}
        )
        if self.storage.upsert(session) is None:
            raise RuntimeError(f"phidata could not write {session_id!r}")

    def load(self, session_id: str) -> Loaded:
        session = self.storage.read(session_id)
        return Loaded(session_id, session.session_data["session_state"], session)

    def write_append(self, loaded: Loaded, entry: dict[str, Any]) -> None:
        loaded.state.setdefault("blog_posts", []).append(entry)
        loaded.handle.session_data["session_state"] = loaded.state
        if self.storage.upsert(loaded.handle) is None:
            raise RuntimeError(f"phidata could not write {loaded.session_id!r}")

    def list_recent(self, limit: int) -> list[Any]:
        # phidata lists every whole session by creation; the newest updates need a sort of them all.
        sessions = self.storage.get_all_sessions()
        return sorted(sessions, key=lambda s: s.updated_at or s.created_at or 0, reverse=True)[:limit]

    def close(self) -> None:
        self.storage.db_engine.dispose()


class PhidataPg(Phidata):
    """phidata 2.7.10's `PgWorkflowStorage` (SQLAlchemy on psycopg), on the PostgreSQL lane's database."""

    label = "phidata PgWorkflowStorage"

    def __init__(self, database_url: str, table: str = TABLE) -> None:
        try:
            from phi.storage.workflow.postgres import PgWorkflowStorage
            from phi.workflow.session import WorkflowSession
        except ImportError as error:
            raise Unavailable(f"phidata is not installed ({error})") from error
        self.session_class, self.path = WorkflowSession, None
        url = "postgresql+psycopg://" + database_url.split("://", 1)[1]
        self.storage = PgWorkflowStorage(table_name=table, schema="phidata_bench", db_url=url)
        self.storage.create()


class WfsiteOnPhidataFile(VersionedStore):
    """wfsite's `SqliteWorkflowStorage` appending to sessions that phidata wrote, in phidata's file."""

    label = "wfsite SqliteWorkflowStorage on phidata's file"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.phidata = Phidata(path)  # phidata makes the file and the table
        self.storage = SqliteWorkflowStorage(table_name=TABLE, db_file=path)

    def seed(self, session_id: str, state: dict[str, Any]) -> None:
        self.phidata.seed(session_id, state)

    def close(self) -> None:
        self.phidata.close()


class Agno:
    """agno 2.x's `SqliteDb`: one sessions table for agents, teams and workflows, read and upsert whole."""

    label = "agno 2 SqliteDb"

    def __init__(self, path: Path) -> None:
        try:
            from agno.db.base import SessionType
            from agno.db.sqlite import SqliteDb
            from agno.session.workflow import WorkflowSession
        except ImportError as error:
            raise Unavailable(f"{BENCH_VENV}: {error}") from error
        self.session_type, self.session_class, self.path = SessionType.WORKFLOW, WorkflowSession, path
        self.db = SqliteDb(db_file=str(path), session_table="agno_sessions")

    def seed(self, session_id: str, state: dict[str, Any]) -> None:
        now = int(time.time())
        session = self.session_class(
            session_id=session_id,
            workflow_id=WORKFLOW,
            workflow_name=WORKFLOW,
            session_data={"session_state": state},
            created_at=now,
            updated_at=now,
        )
        self.db.upsert_session(session)

    def load(self, session_id: str) -> Loaded:
        session = self.db.get_session(session_id, self.session_type)
        return Loaded(session_id, session.session_data["session_state"], session)

    def write_append(self, loaded: Loaded, entry: dict[str, Any]) -> None:
        loaded.state.setdefault("blog_posts", []).append(entry)
        loaded.handle.session_data["session_state"] = loaded.state
        self.db.upsert_session(loaded.handle)

    def list_recent(self, limit: int) -> list[Any]:
        return self.db.get_sessions(
            session_type=self.session_type, limit=limit, page=1, sort_by="updated_at", sort_order="desc"
        )

    def close(self) -> None:
        self.db.db_engine.dispose()


class LangGraph:
    """langgraph-checkpoint-sqlite's `SqliteSaver`: every write puts a new checkpoint of the whole state."""

    label = "LangGraph SqliteSaver"

    def __init__(self, path: Path) -> None:
        try:
            from langgraph.checkpoint.base import create_checkpoint, empty_checkpoint
            from langgraph.checkpoint.sqlite import SqliteSaver
        except ImportError as error:
            raise Unavailable(f"{BENCH_VENV}: {error}") from error
        self.create_checkpoint, self.empty_checkpoint, self.path = create_checkpoint, empty_checkpoint, path
        # As its docs connect: one connection shared across threads.
        self.conn = sqlite3.connect(str(path), check_same_thread=False)
        self.saver = SqliteSaver(self.conn)
        self.saver.setup()

    @staticmethod
    def config(session_id: str) -> dict[str, Any]:
        return {"configurable": {"thread_id": session_id, "checkpoint_ns": ""}}

    def _put(
        self, config: dict[str, Any], previous: dict[str, Any], state: dict[str, Any], step: int
    ) -> None:
        versions = {
            "blog_posts": self.saver.get_next_version(previous["channel_versions"].get("blog_posts"), None)
        }
        checkpoint = self.create_checkpoint(previous, None, step)
        checkpoint["channel_values"] = dict(state)
        checkpoint["channel_versions"] = {**previous["channel_versions"], **versions}
        metadata = {"source": "loop", "step": step, "parents": {}}
        self.saver.put(config, checkpoint, metadata, versions)

    def seed(self, session_id: str, state: dict[str, Any]) -> None:
        self._put(self.config(session_id), self.empty_checkpoint(), state, 0)

    def load(self, session_id: str) -> Loaded:
        found = self.saver.get_tuple(self.config(session_id))
        return Loaded(session_id, found.checkpoint["channel_values"], found)

    def write_append(self, loaded: Loaded, entry: dict[str, Any]) -> None:
        loaded.state.setdefault("blog_posts", []).append(entry)
        found = loaded.handle
        step = found.metadata.get("step", 0) + 1
        self._put(found.config, found.checkpoint, loaded.state, step)

    def list_recent(self, limit: int) -> list[Any]:
        # No sessions table: the newest checkpoints across threads are the closest thing.
        return list(self.saver.list(None, limit=limit))

    def close(self) -> None:
        self.conn.close()
