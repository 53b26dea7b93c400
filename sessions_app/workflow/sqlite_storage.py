"""SqliteWorkflowStorage: sessions in one SQLite table, in phidata's and agno's layout.

The table keeps upstream's columns (JSON as TEXT, epoch-second timestamps, the state under
`session_data["session_state"]`), so phidata 2.7.10 reads files we write and we open tables
phidata or agno wrote in place. We add one column, `wfsite_version`, bumped on every write; a
trigger bumps it when an upstream library (which does not know the column) updates a row, so a
version check also notices their writes. Runs are recorded in a side table `<table>_wfsite_runs`
instead of upstream's ever-growing `memory["runs"]`, so a session row holds only its state.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from sessions_app.workflow.sqlite_connections import dumps, loads
from sessions_app.workflow.sqlite_padding import padded_json
from sessions_app.workflow.sqlite_read_cache import Entry, ReadCache, copy_row
from sessions_app.workflow.sqlite_runs import SqliteRunHistory
from sessions_app.workflow.sqlite_schema import JSON_COLUMNS
from sessions_app.workflow.state import Op, apply, copy_json
from sessions_app.workflow.storage import Commit, RunRecord, SessionMeta, WorkflowSession

__all__ = ["SqliteWorkflowStorage", "dumps", "loads"]


class SqliteWorkflowStorage(SqliteRunHistory):
    """Workflow sessions in a SQLite table, safe for concurrent runs in threads and processes."""

    # -- upstream's API -----------------------------------------------------------------------------

    def create(self) -> None:
        """Create the table, or bring an upstream table up to date in place."""
        self._conn()

    def read(self, session_id: str, user_id: str | None = None) -> WorkflowSession | None:
        """Return the stored session, or None."""
        conn = self._conn()
        cache: ReadCache = self._local.cache
        # Taken before the row is read: a write committed in between then fails the check next time.
        data_version = conn.execute("PRAGMA data_version").fetchone()[0]
        entry = cache.get(session_id, data_version)
        if entry is not None:
            found = conn.execute(
                self._q("SELECT wfsite_version FROM {t} WHERE session_id = ?"), (session_id,)
            ).fetchone()
            if found is not None and found[0] == entry.version:
                row = copy_row(entry.row)
                return None if user_id and row.get("user_id") != user_id else self._session(row)
        cols = sorted(self.columns)
        sql = self._q(f"SELECT {', '.join(cols)} FROM {{t}} WHERE session_id = ?")
        params: list[Any] = [session_id]
        if user_id:
            sql += " AND user_id = ?"
            params.append(user_id)
        found_row = conn.execute(sql, params).fetchone()
        if found_row is None:
            return None
        raw = dict(zip(cols, found_row, strict=True))
        row = self._parse(raw)
        size = len(raw.get("session_data") or "")
        cache.put(session_id, Entry(data_version, row.get("wfsite_version") or 0, row, size))
        return self._session(copy_row(row))

    @staticmethod
    def _parse(row: dict[str, Any]) -> dict[str, Any]:
        return {k: (loads(v) if k in JSON_COLUMNS else v) for k, v in row.items()}

    def _session(self, values: dict[str, Any]) -> WorkflowSession:
        """Build a session from a row whose JSON columns are parsed (and owned by the session)."""
        values = dict(values)
        values["version"] = values.pop("wfsite_version", 0) or 0
        session = WorkflowSession(
            **{k: v for k, v in values.items() if k in WorkflowSession.__dataclass_fields__}
        )
        self._remember_extras(session.session_id, session.version, session.session_data)
        return session

    def _remember_extras(self, session_id: str, version: int, session_data: dict[str, Any] | None) -> None:
        # What session_data holds besides the state is unchanged while the version is, so a commit
        # at that version can rebuild session_data without reading and parsing the whole row again.
        if len(self._extras) > 1024:
            self._extras.clear()
        extras = {k: v for k, v in (session_data or {}).items() if k != "session_state"}
        self._extras[(session_id, version)] = extras

    def upsert(self, session: WorkflowSession) -> WorkflowSession | None:
        """Write the whole session, last writer wins (upstream's semantics; the engine uses commit)."""

        def body(conn: sqlite3.Connection) -> None:
            row = conn.execute(
                self._q("SELECT wfsite_version FROM {t} WHERE session_id = ?"), (session.session_id,)
            )
            found = row.fetchone()
            version = (found[0] if found else 0) + 1
            values = {
                k: getattr(session, k) for k in WorkflowSession.__dataclass_fields__ if k in self.columns
            }
            values.update(wfsite_version=version, updated_at=int(time.time()) if found else None)
            values["created_at"] = values.get("created_at") or int(time.time())
            self._write_row(conn, values, insert=found is None)

        self._transaction(body)
        self._local.cache.forget(session.session_id)
        return self.read(session.session_id)

    def _write_row(
        self,
        conn: sqlite3.Connection,
        values: dict[str, Any],
        *,
        insert: bool,
        encoded: tuple[str, ...] = (),
    ) -> None:
        values = {
            k: (dumps(v) if k in JSON_COLUMNS and k not in encoded and v is not None else v)
            for k, v in values.items()
        }
        if insert:
            names = ", ".join(values)
            marks = ", ".join("?" * len(values))
            conn.execute(self._q(f"INSERT INTO {{t}} ({names}) VALUES ({marks})"), list(values.values()))
            return
        session_id = values.pop("session_id")
        assignments = ", ".join(f"{k} = ?" for k in values)
        conn.execute(
            self._q(f"UPDATE {{t}} SET {assignments} WHERE session_id = ?"), [*values.values(), session_id]
        )

    def delete_session(self, session_id: str | None = None) -> None:
        """Delete a session and its run history."""
        if session_id is None:
            return

        def body(conn: sqlite3.Connection) -> None:
            conn.execute(self._q("DELETE FROM {t} WHERE session_id = ?"), (session_id,))
            conn.execute(self._q("DELETE FROM {runs} WHERE session_id = ?"), (session_id,))

        self._transaction(body)
        self._local.cache.forget(session_id)

    def get_all_session_ids(self, user_id: str | None = None, workflow_id: str | None = None) -> list[str]:
        """Return session ids, newest created first, as upstream orders them."""
        where, params = self._filters(user_id, workflow_id)
        sql = self._q(f"SELECT session_id FROM {{t}}{where} ORDER BY created_at DESC")
        return [row[0] for row in self._conn().execute(sql, params)]

    def get_all_sessions(
        self, user_id: str | None = None, workflow_id: str | None = None
    ) -> list[WorkflowSession]:
        """Return whole sessions, newest created first."""
        cols = sorted(self.columns)
        where, params = self._filters(user_id, workflow_id)
        sql = self._q(f"SELECT {', '.join(cols)} FROM {{t}}{where} ORDER BY created_at DESC")
        rows = self._conn().execute(sql, params)
        return [self._session(self._parse(dict(zip(cols, row, strict=True)))) for row in rows]

    def list_sessions(self, *, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
        """Return the most recently updated sessions without loading their state."""
        sql = self._q(
            "SELECT session_id, workflow_id, user_id, created_at, coalesce(updated_at, created_at), "
            "wfsite_version, length(session_data) FROM {t} "
            "ORDER BY coalesce(updated_at, created_at) DESC LIMIT ? OFFSET ?"
        )
        keys = ("session_id", "workflow_id", "user_id", "created_at", "updated_at", "version", "size")
        return [dict(zip(keys, row, strict=True)) for row in self._conn().execute(sql, (limit, offset))]

    def _filters(self, user_id: str | None, workflow_id: str | None) -> tuple[str, list[Any]]:
        clauses, params = [], []
        if user_id:
            clauses.append("user_id = ?")
            params.append(user_id)
        if workflow_id is not None:
            clauses.append("workflow_id = ?")
            params.append(workflow_id)
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params

    def drop(self) -> None:
        """Drop the table and its run history."""

        def body(conn: sqlite3.Connection) -> None:
            conn.execute(self._q("DROP TABLE IF EXISTS {t}"))
            conn.execute(self._q("DROP TABLE IF EXISTS {runs}"))

        self._transaction(body)
        self._local.cache.forget()
        self._columns = None

    # -- the engine's API ---------------------------------------------------------------------------

    def commit(
        self,
        *,
        meta: SessionMeta,
        base_version: int,
        ops: list[Op],
        state: dict[str, Any],
        run: RunRecord | None = None,
    ) -> Commit:
        """Write a run's changes made at `base_version`, merging them onto newer writes if any."""
        return self._transaction(lambda conn: self._commit(conn, meta, base_version, ops, state, run))

    def _commit(
        self,
        conn: sqlite3.Connection,
        meta: SessionMeta,
        base_version: int,
        ops: list[Op],
        state: dict[str, Any],
        run: RunRecord | None,
    ) -> Commit:
        sid = meta.session_id
        found = conn.execute(
            self._q("SELECT wfsite_version FROM {t} WHERE session_id = ?"), (sid,)
        ).fetchone()
        commit = Commit(version=base_version, ops=ops)
        if found is None:
            # Deleted since the run loaded it: only the run's own changes survive the deletion.
            new_state = state if base_version == 0 else apply({}, ops)
            commit.merged_state = None if base_version == 0 else new_state
            commit.version = base_version + 1
            self._insert(conn, meta, new_state, commit.version)
            self._local.cache.forget(sid)
            commit.wrote_state = True
        elif found[0] == base_version:
            extras = self._extras.get((sid, base_version))
            if extras is None and (ops or meta.session_name is not None):
                extras = self._read_session_data(conn, sid)
                extras.pop("session_state", None)
            # A run that passes the name it read back changes nothing: no write, no new version.
            renamed = meta.session_name is not None and meta.session_name != (extras or {}).get(
                "session_name"
            )
            if ops or renamed:
                assert extras is not None  # read above: ops or a name given
                commit.version = base_version + 1
                written = self._update(conn, meta, extras, state, commit.version)
                self._cache_written(conn, meta, base_version, commit.version, *written)
                commit.wrote_state = True
        else:
            session_data = self._read_session_data(conn, sid)
            latest = session_data.pop("session_state", None)
            merged = apply(latest if isinstance(latest, dict) else {}, ops)
            commit.merged_state, commit.version = merged, found[0]
            if ops:
                commit.version = found[0] + 1
                self._update(conn, meta, session_data, merged, commit.version)
                self._local.cache.forget(sid)
                commit.wrote_state = True
        if run is not None:
            run.state_version = commit.version
            self._insert_run(conn, run)
        return commit

    def _read_session_data(self, conn: sqlite3.Connection, sid: str) -> dict[str, Any]:
        row = conn.execute(self._q("SELECT session_data FROM {t} WHERE session_id = ?"), (sid,)).fetchone()
        data = loads(row[0]) if row else None
        return data if isinstance(data, dict) else {}

    def _session_data(
        self, meta: SessionMeta, extras: dict[str, Any], state: dict[str, Any]
    ) -> dict[str, Any]:
        # session_state last: appending to its last list then changes only the end of the text.
        data = {key: value for key, value in extras.items() if key != "session_state"}
        if meta.session_name is not None:
            data["session_name"] = meta.session_name
        data["session_state"] = state
        return data

    def _insert(
        self, conn: sqlite3.Connection, meta: SessionMeta, state: dict[str, Any], version: int
    ) -> None:
        now = int(time.time())
        data = self._session_data(meta, {}, state)
        values: dict[str, Any] = {
            "session_id": meta.session_id,
            "workflow_id": meta.workflow_id,
            "user_id": meta.user_id,
            "workflow_data": {"name": meta.workflow_name} if meta.workflow_name else None,
            "session_data": padded_json(data, version=version),
            "created_at": now,
            "updated_at": now,
            "wfsite_version": version,
        }
        values = {k: v for k, v in values.items() if k in self.columns}
        self._write_row(conn, values, insert=True, encoded=("session_data",))
        self._remember_extras(meta.session_id, version, data)

    def _update(
        self,
        conn: sqlite3.Connection,
        meta: SessionMeta,
        extras: dict[str, Any],
        state: dict[str, Any],
        version: int,
    ) -> tuple[dict[str, Any], int, int]:
        """Rewrite the row's session_data; return what was written, its text's length and the time."""
        data = self._session_data(meta, extras, state)
        text, now = padded_json(data, version=version), int(time.time())
        conn.execute(
            self._q(
                "UPDATE {t} SET session_data = ?, wfsite_version = ?, updated_at = ?, "
                "user_id = coalesce(user_id, ?) WHERE session_id = ?"
            ),
            (text, version, now, meta.user_id, meta.session_id),
        )
        self._remember_extras(meta.session_id, version, data)
        return data, len(text), now

    def _cache_written(
        self,
        conn: sqlite3.Connection,
        meta: SessionMeta,
        base_version: int,
        version: int,
        data: dict[str, Any],
        size: int,
        now: int,
    ) -> None:
        """Bring the read cache's entry to what was just written, if it held the row this write was based on."""
        cache: ReadCache = self._local.cache
        data_version = conn.execute("PRAGMA data_version").fetchone()[0]
        entry = cache.get(meta.session_id, data_version)
        if entry is None or entry.version != base_version:
            cache.forget(meta.session_id)
            return
        row = {**entry.row, "session_data": copy_json(data), "wfsite_version": version, "updated_at": now}
        row["user_id"] = row.get("user_id") or meta.user_id
        cache.put(meta.session_id, Entry(data_version, version, row, size))
