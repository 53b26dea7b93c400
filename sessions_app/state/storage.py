"""DjangoWorkflowStorage: the engine's `WorkflowStorage` on the dashboard's models.

It keeps SqliteWorkflowStorage's guarantees on SQLite and PostgreSQL: a commit locks the session
row, writes the run's ops straight to the rows when nobody wrote since the run loaded the state,
and otherwise merges them onto the latest state (or refuses a true conflict, writing nothing).
Every state change leaves a `StateChange` row whose `ops` are `ops_encode`d, and every run a
`WorkflowRun` row (the dashboard's own, when the run started there).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import Count
from django.db.models.functions import Coalesce

from sessions_app.limits import max_state_depth
from sessions_app.models import StateChange, WorkflowRun, WorkflowSession, field_max_length
from sessions_app.registry import workflow_caches
from sessions_app.state.cache_stats import cache_stats_stored_at
from sessions_app.state.changes import ops_encode, ops_summary
from sessions_app.state.history import history_keep, history_prune
from sessions_app.state.hot_path import RunSaved, StoredRow, appended_key, commit_append, read_state
from sessions_app.state.layout import session_caches
from sessions_app.state.runs import run_credit_hits, run_record, run_save
from sessions_app.state.store import (
    EMPTY_STATE_SIZE,
    STATE_FIELDS,
    check_storable,
    state_load,
    state_load_many,
    state_replace,
    state_write_ops,
)
from sessions_app.workflow.errors import StorageBusyError
from sessions_app.workflow.state import Op, apply, copy_json, diff
from sessions_app.workflow.storage import Commit, RunRecord, SessionMeta
from sessions_app.workflow.storage import WorkflowSession as SessionRecord
from sessions_app.workflow.text import first_surrogate, has_surrogates

MAX_SESSION_ID = field_max_length(WorkflowSession, "session_id")
MAX_NAME = field_max_length(WorkflowSession, "name")
_ABOUT_FIELDS = ["name", "user_id", "run_count", "last_run_status"]
_SESSION_FIELDS = [*STATE_FIELDS, "version", *_ABOUT_FIELDS]


def check_session_id(session_id: str) -> None:
    """Raise ValueError for a session id these tables cannot hold."""
    if not isinstance(session_id, str) or not session_id:
        raise ValueError(f"session_id must be a non-empty string, not {session_id!r}")
    if len(session_id) > MAX_SESSION_ID:
        raise ValueError(
            f"session_id is {len(session_id)} characters long; at most {MAX_SESSION_ID} can be stored"
        )
    if "\x00" in session_id and connection.vendor == "postgresql":
        raise ValueError("session_id contains the NUL character, which PostgreSQL cannot store")
    if has_surrogates(session_id):
        raise ValueError(
            f"session_id contains a lone surrogate ({first_surrogate(session_id)}), which is not text "
            "any database stores"
        )


# -- the storage ----------------------------------------------------------------------------------------


class DjangoWorkflowStorage:
    """Workflow sessions in the Django database, safe for concurrent runs in threads and processes."""

    def __init__(self, workflow: str | None = None) -> None:
        self.workflow = workflow

    @property
    def max_depth(self) -> int:
        """Return how deeply a state's containers may nest (WFSITE_MAX_STATE_DEPTH); the engine checks it."""
        return max_state_depth()

    def create(self) -> None:
        """Do nothing: migrations create the tables."""

    def read(self, session_id: str, user_id: str | None = None) -> SessionRecord | None:
        """Return the stored session with its whole state, or None."""
        check_session_id(session_id)
        found = read_state(session_id)  # one statement (see state.hot_path)
        if found is None or (user_id and found[0].user_id != user_id):
            return None
        return self._record(*found)

    @staticmethod
    def _record(row: WorkflowSession | StoredRow, state: dict[str, Any]) -> SessionRecord:
        return SessionRecord(
            session_id=row.session_id,
            workflow_id=row.workflow or None,
            user_id=row.user_id or None,
            session_data={"session_state": state, "session_name": row.name or None},
            created_at=int(row.created_at.timestamp()),
            updated_at=int(row.updated_at.timestamp()),
            version=row.version,
        )

    def upsert(self, session: SessionRecord) -> SessionRecord | None:
        """Write the whole session, last writer wins (upstream's semantics; the engine uses commit)."""
        check_session_id(session.session_id)
        state = session.session_state
        check_storable(state)
        meta = SessionMeta(
            session.session_id, session.workflow_id, session.user_id, None, session.session_name
        )
        with transaction.atomic():
            row, created = self._lock(meta, version=0)
            latest = {} if created else state_load(row)
            ops = diff(latest, state)
            state_write_ops(row, ops, latest=latest, save=False)
            row.version += 1
            self._describe(row, meta)
            row.save(update_fields=_SESSION_FIELDS)
            if ops:
                self._log_change(row, ops, run=None, summary=ops_summary(ops, caches=session_caches(row)))
        return self.read(session.session_id)

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
        check_session_id(meta.session_id)
        try:
            if appended_key(ops) is not None:
                with transaction.atomic():
                    done = self._append(meta, base_version, ops[0], run)
                if done is not None:
                    return done
            with transaction.atomic():
                return self._commit(meta, base_version, ops, state, run)
        except OperationalError as error:
            if "locked" not in str(error).lower():
                raise
            raise StorageBusyError(
                f"the database stayed locked by other writers; nothing was written ({error})"
            ) from error

    def _commit(
        self,
        meta: SessionMeta,
        base_version: int,
        ops: list[Op],
        state: dict[str, Any],
        run: RunRecord | None,
    ) -> Commit:
        row, created = self._lock(meta, version=base_version + 1)
        caches = {cache.state_key: cache for cache in meta.caches} or session_caches(row)
        commit = Commit(version=base_version, ops=ops)
        touched: Iterable[tuple[str, Any, int | str]] = []
        if created:
            # Deleted since the run loaded it: only the run's own changes survive the deletion.
            new_state = state if base_version == 0 else apply({}, list(ops))
            commit.merged_state = None if base_version == 0 else new_state
            touched = state_replace(row, new_state, save=False, caches=caches, producer=run)
            ops = diff({}, new_state)
        elif row.version == base_version:
            if ops:  # the fast path: no whole state is read
                touched = state_write_ops(row, ops, save=False, caches=caches, producer=run)
        else:
            latest = state_load(row)
            commit.merged_state = apply(copy_json(latest), ops)  # raises on a true conflict
            if ops:
                touched = state_write_ops(row, ops, latest=latest, save=False, caches=caches, producer=run)
        commit.wrote_state = created or bool(ops)
        if ops and not created:
            row.version += 1
        commit.version = row.version
        renamed = self._describe(row, meta)
        run_row = None
        if run is not None:
            run.state_version = commit.version
            run_row = run_save(row, run, self._workflow(meta.workflow_id))
            run_credit_hits(run_row, run.cache_hits)
        if commit.wrote_state:
            row.save(update_fields=_SESSION_FIELDS)
        elif renamed or run is not None:
            row.save(update_fields=_ABOUT_FIELDS)
        if commit.wrote_state and ops:
            self._log_change(row, ops, run=run_row, summary=ops_summary(ops, caches=caches, touched=touched))
        return commit

    def _append(self, meta: SessionMeta, base_version: int, op: Op, run: RunRecord | None) -> Commit | None:
        """The commonest write, one append to a row-held list at the version read, in raw SQL; None otherwise."""
        workflow = self._workflow(meta.workflow_id)
        caches = {cache.state_key: cache for cache in meta.caches} or workflow_caches(workflow)

        def record_run(pk: int) -> RunSaved:
            assert run is not None
            session = WorkflowSession(pk=pk, session_id=meta.session_id)
            run.state_version = base_version + 1
            row = run_save(session, run, workflow)
            run_credit_hits(row, run.cache_hits)
            return RunSaved(row.pk, session.run_count, session.last_run_status)

        appended = commit_append(
            session_id=meta.session_id,
            base_version=base_version,
            op=op,
            user_id=meta.user_id or "",
            session_name=None if meta.session_name is None else meta.session_name[:MAX_NAME],
            caches=caches,
            run=run,
            record_run=record_run,
        )
        if appended is None:
            return None
        if appended.version % max(1, history_keep() // 10) == 0:
            history_prune(session=WorkflowSession(pk=appended.pk))
        return Commit(version=appended.version, ops=[op], wrote_state=True)

    def _workflow(self, workflow_id: str | None) -> str:
        return self.workflow or workflow_id or ""

    def _lock(self, meta: SessionMeta, *, version: int) -> tuple[WorkflowSession, bool]:
        """Lock the session's row, or create it (locked by the insert); say whether it was created."""
        rows = WorkflowSession.objects.select_for_update(no_key=True)
        row = rows.filter(session_id=meta.session_id).first()
        if row is not None:
            return row, False
        try:
            with transaction.atomic():  # a savepoint: losing a race to create must not end the commit
                row = WorkflowSession.objects.create(
                    session_id=meta.session_id,
                    workflow=self._workflow(meta.workflow_id),
                    user_id=meta.user_id or "",
                    name=(meta.session_name or "")[:MAX_NAME],
                    version=version,
                    state_size=EMPTY_STATE_SIZE,
                )
        except IntegrityError:
            # Another writer created it first (PostgreSQL; SQLite's IMMEDIATE transactions queue).
            return rows.get(session_id=meta.session_id), False
        return row, True

    @staticmethod
    def _describe(row: WorkflowSession, meta: SessionMeta) -> bool:
        """Take the session's name and user from the commit; return whether the name changed."""
        if not row.user_id and meta.user_id:
            row.user_id = meta.user_id
        name = row.name if meta.session_name is None else meta.session_name[:MAX_NAME]
        renamed, row.name = name != row.name, name
        return renamed

    def _log_change(
        self, row: WorkflowSession, ops: list[Op], *, run: WorkflowRun | None, summary: str
    ) -> None:
        StateChange.objects.create(
            session=row,
            version=row.version,
            source=StateChange.Source.RUN if run is not None else StateChange.Source.EDIT,
            ops=ops_encode(ops),
            summary=summary,
            run=run,
        )
        # Retention: check the history's length only every so many versions (a COUNT), not per write.
        if row.version % max(1, history_keep() // 10) == 0:
            history_prune(session=row)

    def cache_entry_stored_at(self, session_id: str, state_key: str, key: str) -> float | None:
        """Return since when (epoch seconds) an entry's content is cached, for the engine's ttl checks."""
        stored = cache_stats_stored_at(session_id=session_id, cache=state_key, key=key)
        return None if stored is None else stored.timestamp()

    def record_run(self, run: RunRecord) -> None:
        """Record a run that did not commit state (its write failed)."""
        check_session_id(run.session_id)
        meta = SessionMeta(session_id=run.session_id, workflow_id=run.workflow_id)
        with transaction.atomic():
            # A first run whose save failed still needs a session to belong to: an empty one.
            row, _ = self._lock(meta, version=0)
            run_save(row, run, self._workflow(run.workflow_id))
            row.save(update_fields=["run_count", "last_run_status"])

    def get_runs(self, session_id: str) -> list[RunRecord]:
        """Return a session's runs, oldest first."""
        rows = (
            WorkflowRun.objects.filter(session__session_id=session_id)
            .annotate(event_count=Count("events"))
            .order_by(Coalesce("started_at", "created_at"), "id")
        )
        return [run_record(row, session_id) for row in rows]

    def delete_session(self, session_id: str | None = None) -> None:
        """Delete a session with its entries, runs and history."""
        if session_id is not None:
            WorkflowSession.objects.filter(session_id=session_id).delete()

    def _sessions(self, user_id: str | None, workflow_id: str | None) -> Any:
        rows = WorkflowSession.objects.order_by("-created_at", "-id")
        if user_id:
            rows = rows.filter(user_id=user_id)
        workflow = workflow_id if workflow_id is not None else self.workflow
        return rows if workflow is None else rows.filter(workflow=workflow)

    def get_all_session_ids(self, user_id: str | None = None, workflow_id: str | None = None) -> list[str]:
        """Return session ids, newest created first; `workflow_id` defaults to this storage's workflow."""
        return list(self._sessions(user_id, workflow_id).values_list("session_id", flat=True))

    def get_all_sessions(
        self, user_id: str | None = None, workflow_id: str | None = None
    ) -> list[SessionRecord]:
        """Return whole sessions, newest created first."""
        rows = list(self._sessions(user_id, workflow_id))
        states = state_load_many(rows)
        return [self._record(row, states[row.pk]) for row in rows]

    def drop(self) -> None:
        """Delete every session of this storage's workflow (of every workflow when it has none)."""
        rows = WorkflowSession.objects.all()
        (rows if self.workflow is None else rows.filter(workflow=self.workflow)).delete()
