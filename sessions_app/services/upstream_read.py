"""Reading sessions from SQLite workflow tables, for `services.upstream` to import.

Three layouts are read, told apart by their columns:

- phidata 2.7.10's, agno 1.x's and ours: a row per session with `session_id`, `workflow_id`,
  `user_id`, `memory`, `workflow_data`, `session_data`, `created_at`, `updated_at`; runs in
  `memory["runs"]` (phidata, agno 1.x) or in our side table `<table>_wfsite_runs` (`<table>_runs`
  in files written before that name, recognised by its exact columns);
- agno 2.x/3.x `SqliteDb`'s sessions table (`agno_sessions` unless renamed): agent, team and
  workflow sessions told apart by `session_type` (only workflow sessions are read), each JSON
  column written as a JSON string holding the JSON text, runs in the `runs` column.

The file is opened read-only; text that is not UTF-8 is read with `surrogateescape`, so it is
refused as a lone surrogate instead of stopping the read. Any column may be missing. Each row is
yielded as an UpstreamRow or as the UpstreamError that says, in one line, why it cannot be
imported; a bad row never stops the rows after it.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.utils import timezone

from sessions_app.models import WorkflowRun, WorkflowSession, field_max_length
from sessions_app.registry import workflow_classes
from sessions_app.state.storage import check_session_id
from sessions_app.state.store import check_storable
from sessions_app.workflow.errors import StateNotSerializableError, format_path
from sessions_app.workflow.sqlite_connections import loads
from sessions_app.workflow.sqlite_schema import RUN_COLUMNS, old_runs_table, runs_table
from sessions_app.workflow.text import first_surrogate, has_surrogates

MAX_NAME = field_max_length(WorkflowSession, "name")
MAX_WORKFLOW = field_max_length(WorkflowSession, "workflow")
MAX_USER = field_max_length(WorkflowSession, "user_id")


class UpstreamError(ValueError):
    """A table or row that cannot be imported; the message says which and why."""


@dataclass
class UpstreamRow:
    """One session read from an upstream table."""

    session_id: str
    workflow: str
    user_id: str
    name: str
    state: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    runs: list[dict[str, Any]] = field(default_factory=list)


def quote(name: str) -> str:
    """Quote an SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def moment(value: Any, what: str) -> datetime | None:
    """Read upstream's epoch seconds; None when absent; UpstreamError when no datetime can hold it."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        return None
    try:
        return datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise UpstreamError(
            f"{what} is {value!r}, not a time this site can store (seconds since 1970, before the year 10000)"
        ) from None


def decoded(raw: dict[str, Any], column: str) -> Any:
    """Decode a JSON column: SQL NULL and 'null' are None, and agno 2.x's JSON-in-a-string is unwrapped."""
    try:
        value = loads(raw.get(column))
        if isinstance(value, str) and value[:1] in ("{", "["):
            value = loads(value)
    except ValueError:
        raise UpstreamError(f"the {column} column is not valid JSON") from None
    except RecursionError:
        raise UpstreamError(f"the {column} column nests JSON too deeply to be read") from None
    return value


def text(value: Any, what: str, limit: int | None = None) -> str:
    """Return a text column's value for a CharField, or raise UpstreamError saying why it cannot be one."""
    if value is None:
        return ""
    value = value if isinstance(value, str) else str(value)
    if has_surrogates(value):
        raise UpstreamError(
            f"{what} holds a lone surrogate ({first_surrogate(value)}), which is not text "
            "(bytes that are not UTF-8, or an escape like \\ud800)"
        )
    if "\x00" in value:
        raise UpstreamError(f"{what} holds the NUL character")
    if limit is not None and len(value) > limit:
        raise UpstreamError(f"{what} is {len(value)} characters long; at most {limit} can be stored")
    return value


def storable(value: Any, what: str) -> None:
    """Raise UpstreamError naming where `value` cannot be stored."""
    try:
        check_storable(value)
    except StateNotSerializableError as error:
        raise UpstreamError(f"{what}: {format_path(error.path)}: {error.reason}") from None


# -- runs -------------------------------------------------------------------------------------------

# Run ids upstream did not give (or gave in a shape we cannot use) are derived, so re-imports match.
RUN_NAMESPACE = uuid.UUID("0f6c43d5-8c0f-4a43-9f6e-6f1d53a3e1a7")
# agno 2.x's RunStatus values that are not a success.
AGNO_STATUS = {"ERROR": WorkflowRun.Status.FAILED, "CANCELLED": WorkflowRun.Status.CANCELLED}


def _run_id(raw: Any, session_id: str, index: int) -> uuid.UUID:
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        return uuid.uuid5(RUN_NAMESPACE, f"{session_id}\x00{index}")


def _inputs(run: dict[str, Any]) -> dict[str, Any]:
    """phidata's input is {"args", "kwargs"}; agno 2.x's is what run() was given, text or an object."""
    given = run.get("input")
    if isinstance(given, dict):
        return given["kwargs"] if isinstance(given.get("kwargs"), dict) else given
    return {"input": given} if isinstance(given, str) else {}


def memory_runs(memory: Any, session_id: str, created: datetime) -> list[dict[str, Any]]:
    """Read phidata's `{"runs": [{"input", "response"}]}`, agno 1.x's `{"runs": [response]}` and agno 2.x's runs."""
    runs = memory.get("runs") if isinstance(memory, dict) else None
    out = []
    for index, run in enumerate(runs if isinstance(runs, list) else []):
        if not isinstance(run, dict):
            continue
        response = run.get("response")
        response = response if isinstance(response, dict) else run
        content = response.get("content")
        out.append(
            {
                "run_id": _run_id(response.get("run_id"), session_id, index),
                "inputs": _inputs(run),
                "status": AGNO_STATUS.get(str(response.get("status")), WorkflowRun.Status.SUCCEEDED),
                "output": content if isinstance(content, str) else "" if content is None else str(content),
                "created_at": moment(response.get("created_at"), f"run {index}'s created_at") or created,
            }
        )
    return out


def _side_table(conn: sqlite3.Connection, table: str) -> str | None:
    for name in (runs_table(table), old_runs_table(table)):
        columns = {row[1] for row in conn.execute(f"PRAGMA table_info({quote(name)})")}
        if columns == RUN_COLUMNS:  # ours; a table another library keeps under the old name is not
            return name
    return None


def side_runs(conn: sqlite3.Connection, table: str, session_id: str) -> list[dict[str, Any]]:
    """Read the run history SqliteWorkflowStorage keeps beside the table, if the file has one."""
    name = _side_table(conn, table)
    if name is None:
        return []
    sql = (
        "SELECT run_id, input, status, output, error, cache_hit, started_at, ended_at "
        f"FROM {quote(name)} WHERE session_id = ? ORDER BY started_at, rowid"
    )
    out = []
    for index, (run_id, given, status, output, error, hit, started, ended) in enumerate(
        conn.execute(sql, (session_id,))
    ):
        inputs = decoded({"input": given}, "input") or {}
        out.append(
            {
                "run_id": _run_id(run_id, session_id, index),
                "inputs": inputs if isinstance(inputs, dict) else {},
                "status": status if status in WorkflowRun.Status.values else WorkflowRun.Status.SUCCEEDED,
                "output": output or "",
                "error": error or "",
                "cache_hit": bool(hit),
                "created_at": moment(started, f"run {run_id!r}'s started_at"),
                "started_at": moment(started, f"run {run_id!r}'s started_at"),
                "finished_at": moment(ended, f"run {run_id!r}'s ended_at"),
            }
        )
    return out


# -- sessions ---------------------------------------------------------------------------------------


def _state(data: Any) -> dict[str, Any]:
    state = data.get("session_state") if isinstance(data, dict) else None
    if state is None:
        return {}
    if not isinstance(state, dict):
        raise UpstreamError(f"session_state is {type(state).__name__}, not an object")
    try:
        check_storable(state)
    except StateNotSerializableError as error:
        raise UpstreamError(f"{format_path(error.path)}: {error.reason}") from None
    return state


def _row(raw: dict[str, Any], workflow: str | None, default_workflow: str) -> UpstreamRow:
    session_id: Any = raw.get("session_id")  # checked below
    try:
        check_session_id(session_id)
    except ValueError as error:
        raise UpstreamError(str(error)) from None
    data = decoded(raw, "session_data")
    about = decoded(raw, "workflow_data")
    name = about.get("name") if isinstance(about, dict) else None
    created = moment(raw.get("created_at"), "created_at") or timezone.now()
    name_text = data.get("session_name") if isinstance(data, dict) else None
    runs = decoded(raw, "runs") if "session_type" in raw else None
    return UpstreamRow(
        session_id=session_id,
        workflow=workflow or text(name, "workflow_data's name", MAX_WORKFLOW) or default_workflow,
        user_id=text(raw.get("user_id"), "user_id", MAX_USER),
        name=text(name_text, "the session name")[:MAX_NAME],
        state=_state(data),
        created_at=created,
        updated_at=moment(raw.get("updated_at"), "updated_at") or created,
        runs=memory_runs({"runs": runs} if runs is not None else decoded(raw, "memory"), session_id, created),
    )


def _select(conn: sqlite3.Connection, table: str) -> tuple[str, tuple[Any, ...]]:
    """Return the query for the table's rows (workflow sessions only, in agno 2.x's table)."""
    columns = {row[1] for row in conn.execute(f"PRAGMA table_info({quote(table)})")}
    if "session_id" not in columns:
        raise UpstreamError(f"table {table!r} has no session_id column, so it holds no workflow sessions")
    where, params = ("WHERE session_type = ?", ("workflow",)) if "session_type" in columns else ("", ())
    order = ", ".join(c for c in ("created_at", "session_id") if c in columns)
    return f"SELECT * FROM {quote(table)} {where} ORDER BY {order}", params


def _open(db_file: Path) -> sqlite3.Connection:
    if not Path(db_file).is_file():
        raise UpstreamError(f"{db_file} does not exist")
    conn = sqlite3.connect(Path(db_file).resolve().as_uri() + "?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    conn.text_factory = lambda data: data.decode("utf-8", "surrogateescape")
    return conn


def upstream_rows(
    *, db_file: Path, table: str, workflow: str | None = None
) -> Iterator[UpstreamRow | UpstreamError]:
    """Yield each row of a workflow table as an UpstreamRow, or the UpstreamError that stops it."""
    default_workflow = next(iter(workflow_classes()), "")
    with closing(_open(db_file)) as conn:
        try:
            found = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (table,)
            ).fetchone()
        except sqlite3.DatabaseError as error:
            raise UpstreamError(f"{db_file} is not a SQLite database ({error})") from None
        if not found:
            raise UpstreamError(f"{db_file} has no table {table!r}")
        sql, params = _select(conn, table)
        for raw in conn.execute(sql, params):
            yield _read_one(conn, table, dict(raw), workflow, default_workflow)


def _read_one(
    conn: sqlite3.Connection, table: str, raw: dict[str, Any], workflow: str | None, default_workflow: str
) -> UpstreamRow | UpstreamError:
    where = f"row {raw.get('session_id')!r}"
    try:
        row = _row(raw, workflow, default_workflow)
        row.runs += side_runs(conn, table, row.session_id)
        for index, run in enumerate(row.runs):
            storable(run["inputs"], f"run {index}'s inputs")
            for key in ("output", "error"):
                text(run.get(key), f"run {index}'s {key}")
    except UpstreamError as error:
        return UpstreamError(f"{where}: {error}")
    except RecursionError:
        return UpstreamError(f"{where}: its values nest too deeply to be read")
    return row
