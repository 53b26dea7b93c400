"""Create and read workflow SQLite files with the real upstream packages.

Plain functions with no pytest dependency, so benchmark scripts can reuse them. Every writer and
reader goes through phidata 2.7.10 (``phi``) or agno 1.x (``agno``) itself, so a file made here is
laid out exactly as upstream lays it out; only the edge-case writers use raw ``sqlite3``, and they
edit tables that phidata created.

Upstream facts these helpers rely on (asserted in ``test_upstream_dbs.py``):

- JSON columns are declared ``JSON`` and hold TEXT made by SQLAlchemy's default serializer, plain
  ``json.dumps`` (``", "`` / ``": "`` separators, ``ensure_ascii=True``); a Python ``None`` is stored
  as the 4-character text ``'null'``, not SQL NULL.
- ``created_at`` / ``updated_at`` are epoch-second INTEGERs; the first insert leaves ``updated_at``
  NULL, only the ``ON CONFLICT DO UPDATE`` branch sets it.
- ``session_data["session_state"]`` is omitted when the state is empty.
- Like upstream, the phidata and agno readers create the table when it is missing.
"""

from __future__ import annotations

import copy
import json
import sqlite3
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agno.memory.v2.memory import Memory as AgnoMemory
from agno.run.response import RunResponse as AgnoRunResponse
from agno.storage.sqlite import SqliteStorage
from agno.workflow import Workflow as AgnoWorkflow
from phi.memory.workflow import WorkflowMemory, WorkflowRun
from phi.run.response import RunEvent, RunResponse
from phi.storage.workflow.sqlite import SqlWorkflowStorage
from phi.utils.log import logger
from phi.workflow import Workflow

StateEdit = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass
class UpstreamSession:
    """One session to write; each run is ``(run() keyword arguments, output text)``."""

    session_id: str
    workflow_id: str
    user_id: str | None
    session_state: dict[str, Any]
    session_name: str | None = None
    runs: list[tuple[dict[str, Any], str]] = field(default_factory=list)
    workflow_name: str = "BlogPostGenerator"


class PhidataWorkflow(Workflow):
    """A phidata Workflow without run(): phidata's own code writes and reads its sessions."""


class PhidataBlogPostGenerator(Workflow):
    """The seed's BlogPostGenerator on real phidata; ``draft`` stands in for the writer agent."""

    name: str | None = "BlogPostGenerator"
    draft: str = ""

    def run(self, topic: str, use_cache: bool = True) -> Iterator[RunResponse]:
        if use_cache and "blog_posts" in self.session_state:
            logger.info("Checking if cached blog post exists")
            for cached_blog_post in self.session_state["blog_posts"]:
                if cached_blog_post["topic"] == topic:
                    logger.info("Found cached blog post")
                    yield RunResponse(
                        run_id=self.run_id,
                        event=RunEvent.workflow_completed,
                        content=cached_blog_post["blog_post"],
                    )
                    return

        yield RunResponse(run_id=self.run_id, event=RunEvent.workflow_completed, content=self.draft)

        if "blog_posts" not in self.session_state:
            self.session_state["blog_posts"] = []
        self.session_state["blog_posts"].append({"topic": topic, "blog_post": self.draft})


class PhidataStateEditor(Workflow):
    """A phidata Workflow whose run() sets ``self.session_state`` to what ``edit`` returns."""

    edit: StateEdit | None = None

    def run(self) -> Iterator[RunResponse]:
        if self.edit is not None:
            self.session_state = self.edit(self.session_state)
        yield RunResponse(run_id=self.run_id, event=RunEvent.workflow_completed, content="edited")


class AgnoPlainWorkflow(AgnoWorkflow):
    """An agno 1.x Workflow without run(): agno's own code writes and reads its sessions."""


def sqlalchemy_json_text(value: Any) -> str:
    """Return the exact TEXT upstream's SQLAlchemy ``JSON`` column stores for ``value``."""
    return json.dumps(value)


def blog_posts_list_cache(entries: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Build the seed's list-shaped cache; repeated topics are kept, as upstream keeps them."""
    return {"blog_posts": [{"topic": topic, "blog_post": post} for topic, post in entries]}


def blog_posts_dict_cache(entries: Mapping[str, str]) -> dict[str, Any]:
    """Build a dict-shaped cache, ``{"blog_posts": {topic: post}}``, that some apps use instead."""
    return {"blog_posts": dict(entries)}


def phidata_storage(db_file: Path, table: str) -> SqlWorkflowStorage:
    return SqlWorkflowStorage(table_name=table, db_file=str(db_file))


def agno_storage(db_file: Path, table: str) -> SqliteStorage:
    return SqliteStorage(table_name=table, db_file=str(db_file), mode="workflow")


def _phidata_memory(session: UpstreamSession) -> WorkflowMemory:
    # Mirrors Workflow.run_workflow: input is {"args": (), "kwargs": ...}, content the joined output.
    return WorkflowMemory(
        runs=[
            WorkflowRun(
                input={"args": (), "kwargs": kwargs},
                response=RunResponse(
                    run_id=str(uuid.uuid4()),
                    session_id=session.session_id,
                    workflow_id=session.workflow_id,
                    content=output,
                ),
            )
            for kwargs, output in session.runs
        ]
    )


def make_phidata_db(db_file: Path, table: str, sessions: Iterable[UpstreamSession]) -> None:
    """Write ``sessions`` with phidata's ``SqlWorkflowStorage.upsert``, laid out by phidata's Workflow."""
    storage = phidata_storage(db_file, table)
    try:
        for session in sessions:
            workflow = PhidataWorkflow(
                name=session.workflow_name,
                workflow_id=session.workflow_id,
                user_id=session.user_id,
                session_id=session.session_id,
                session_name=session.session_name,
                session_state=copy.deepcopy(session.session_state),
                memory=_phidata_memory(session),
                storage=storage,
            )
            if storage.upsert(workflow.get_workflow_session()) is None:
                raise RuntimeError(f"phidata could not write session {session.session_id!r}")
    finally:
        storage.db_engine.dispose()


def phidata_blog_post_generator(
    db_file: Path, table: str, session_id: str, post: str
) -> PhidataBlogPostGenerator:
    """Build the seed's workflow on phidata; a cache miss "generates" ``post``."""
    return PhidataBlogPostGenerator(
        session_id=session_id, storage=phidata_storage(db_file, table), draft=post
    )


def run_phidata_workflow(
    db_file: Path, table: str, session_id: str, topic: str, post: str, use_cache: bool = True
) -> list[RunResponse]:
    """Run the seed's BlogPostGenerator through phidata's real ``Workflow.run`` and return its events."""
    workflow = phidata_blog_post_generator(db_file, table, session_id, post)
    try:
        return list(workflow.run(topic=topic, use_cache=use_cache))
    finally:
        phidata_storage_of(workflow).db_engine.dispose()


def phidata_state_editor(
    db_file: Path, table: str, session_id: str, edit: StateEdit, debug_mode: bool = False
) -> PhidataStateEditor:
    return PhidataStateEditor(
        session_id=session_id, storage=phidata_storage(db_file, table), edit=edit, debug_mode=debug_mode
    )


def edit_phidata_state(db_file: Path, table: str, session_id: str, edit: StateEdit) -> list[RunResponse]:
    """Run a phidata workflow whose run() replaces the session state with ``edit(state)``."""
    workflow = phidata_state_editor(db_file, table, session_id, edit)
    try:
        return list(workflow.run())
    finally:
        phidata_storage_of(workflow).db_engine.dispose()


def phidata_storage_of(workflow: Workflow) -> SqlWorkflowStorage:
    if not isinstance(workflow.storage, SqlWorkflowStorage):
        raise TypeError("workflow has no SqlWorkflowStorage")
    return workflow.storage


def read_state_with_phidata(db_file: Path, table: str, session_id: str) -> dict[str, Any] | None:
    """Return what a phidata Workflow on this session loads into ``session_state``; None if no row."""
    storage = phidata_storage(db_file, table)
    try:
        workflow = PhidataWorkflow(session_id=session_id, storage=storage)
        if workflow.read_from_storage() is None:
            return None
        return workflow.session_state
    finally:
        storage.db_engine.dispose()


def read_session_with_phidata(db_file: Path, table: str, session_id: str) -> dict[str, Any] | None:
    """Return phidata's ``WorkflowSession.model_dump()`` for the row, or None if there is none."""
    storage = phidata_storage(db_file, table)
    try:
        session = storage.read(session_id=session_id)
        return None if session is None else session.model_dump()
    finally:
        storage.db_engine.dispose()


def list_session_ids_with_phidata(
    db_file: Path, table: str, user_id: str | None = None, workflow_id: str | None = None
) -> list[str]:
    """Return phidata's ``get_all_session_ids``: newest ``created_at`` first."""
    storage = phidata_storage(db_file, table)
    try:
        return storage.get_all_session_ids(user_id=user_id, workflow_id=workflow_id)
    finally:
        storage.db_engine.dispose()


def _agno_memory(session: UpstreamSession) -> AgnoMemory | None:
    # agno's default Workflow memory (Memory v2) persists run responses only, not run inputs.
    if not session.runs:
        return None
    memory = AgnoMemory()
    for _kwargs, output in session.runs:
        response = AgnoRunResponse(
            run_id=str(uuid.uuid4()),
            session_id=session.session_id,
            workflow_id=session.workflow_id,
            content=output,
        )
        memory.add_run(session_id=session.session_id, run=response)
    return memory


def make_agno_db(db_file: Path, table: str, sessions: Iterable[UpstreamSession]) -> None:
    """Write ``sessions`` with agno 1.x's ``SqliteStorage(mode="workflow")`` via ``write_to_storage``."""
    storage = agno_storage(db_file, table)
    try:
        for session in sessions:
            workflow = AgnoPlainWorkflow(
                name=session.workflow_name,
                workflow_id=session.workflow_id,
                user_id=session.user_id,
                session_id=session.session_id,
                session_name=session.session_name,
                session_state=copy.deepcopy(session.session_state),
                memory=_agno_memory(session),
                storage=storage,
                telemetry=False,
            )
            if workflow.write_to_storage() is None:
                raise RuntimeError(f"agno could not write session {session.session_id!r}")
    finally:
        storage.db_engine.dispose()


def read_state_with_agno(db_file: Path, table: str, session_id: str) -> dict[str, Any] | None:
    """Return what an agno 1.x Workflow on this session loads into ``session_state``; None if no row."""
    storage = agno_storage(db_file, table)
    try:
        workflow = AgnoPlainWorkflow(session_id=session_id, storage=storage, telemetry=False)
        if workflow.read_from_storage() is None:
            return None
        return workflow.session_state
    finally:
        storage.db_engine.dispose()


def read_session_with_agno(db_file: Path, table: str, session_id: str) -> dict[str, Any] | None:
    """Return agno's ``WorkflowSession.to_dict()`` for the row, or None if there is none."""
    storage = agno_storage(db_file, table)
    try:
        session = storage.read(session_id=session_id)
        return None if session is None else session.to_dict()
    finally:
        storage.db_engine.dispose()


def list_session_ids_with_agno(db_file: Path, table: str, user_id: str | None = None) -> list[str]:
    storage = agno_storage(db_file, table)
    try:
        return storage.get_all_session_ids(user_id=user_id)
    finally:
        storage.db_engine.dispose()


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _set_column(db_file: Path, table: str, session_id: str, column: str, value: str | int | None) -> None:
    sql = f"UPDATE {_quote(table)} SET {_quote(column)} = ? WHERE session_id = ?"
    with closing(sqlite3.connect(db_file)) as conn, conn:
        changed = conn.execute(sql, (value, session_id)).rowcount
    if changed != 1:
        raise LookupError(f"no row {session_id!r} in {table!r}")


def set_updated_at_null(db_file: Path, table: str, session_id: str) -> None:
    """Set ``updated_at`` to SQL NULL, as a row phidata inserted but never updated has it."""
    _set_column(db_file, table, session_id, "updated_at", None)


def set_column_json_null_text(db_file: Path, table: str, session_id: str, column: str) -> None:
    """Store the text ``'null'`` in ``column``: what upstream's SQLAlchemy JSON writes for None."""
    _set_column(db_file, table, session_id, column, "null")


def set_column_sql_null(db_file: Path, table: str, session_id: str, column: str) -> None:
    _set_column(db_file, table, session_id, column, None)


def set_column_raw_text(db_file: Path, table: str, session_id: str, column: str, text: str) -> None:
    """Store ``text`` verbatim, e.g. malformed JSON that no upstream writer would produce."""
    _set_column(db_file, table, session_id, column, text)


def set_session_state_raw(db_file: Path, table: str, session_id: str, state: Any) -> None:
    """Replace ``session_data["session_state"]`` in upstream's JSON format, even with a non-dict."""
    row = read_row_raw(db_file, table, session_id)
    if row is None:
        raise LookupError(f"no row {session_id!r} in {table!r}")
    session_data = json.loads(row["session_data"] or "null") or {}
    session_data["session_state"] = state
    _set_column(db_file, table, session_id, "session_data", sqlalchemy_json_text(session_data))


def read_row_raw(db_file: Path, table: str, session_id: str) -> dict[str, Any] | None:
    """Return the row's stored column values as sqlite3 sees them (JSON columns as TEXT)."""
    with closing(sqlite3.connect(db_file)) as conn:
        conn.row_factory = sqlite3.Row
        row = conn.execute(f"SELECT * FROM {_quote(table)} WHERE session_id = ?", (session_id,)).fetchone()
    return None if row is None else dict(row)


def describe_upstream_schema(db_file: Path, table: str) -> list[tuple[str, str]]:
    """Return ``(column name, declared type)`` pairs from ``PRAGMA table_info``, in table order."""
    with closing(sqlite3.connect(db_file)) as conn:
        rows = conn.execute(f"PRAGMA table_info({_quote(table)})").fetchall()
    return [(row[1], row[2]) for row in rows]
