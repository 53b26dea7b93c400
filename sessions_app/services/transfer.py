"""Importing a session file (see `transfer_format`); exporting one is `selectors.transfer`.

A file for a session that does not exist yet creates it with the file's runs and change history
(same versions, sources, summaries and times; people matched by username), and records the import
as one more change: a baseline holding the file's state, so the imported state is exact even if
the file's history was incomplete. A file for an existing session changes its state through one
recorded import change (nothing when the states are equal) and adds the runs it does not have;
the file's history is then left out, since it cannot be spliced into the session's own. Importing
the same file twice therefore changes nothing the second time.

A new session keeps the file's fork origin (`forked_from`): its source's id and version always,
and the link to the source when a session with that id is here. Forks of it that lost their link
(their source was deleted, or they were imported first) are linked to it again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from sessions_app.limits import StateTooLargeError
from sessions_app.models import StateChange, WorkflowRun, WorkflowSession
from sessions_app.roles import CAN_CREATE_SESSION, CAN_EDIT_STATE
from sessions_app.services.permissions import Actor, actor_require
from sessions_app.services.state import edit_diff, state_change_write
from sessions_app.services.transfer_format import SessionFile
from sessions_app.state.history import history_record
from sessions_app.state.store import EMPTY_STATE_SIZE, STATE_FIELDS, state_load, state_replace
from sessions_app.workflow.state import Op

Source = StateChange.Source


@dataclass
class ImportResult:
    """What an import did."""

    session: WorkflowSession
    created: bool
    change: StateChange | None = None
    runs_added: int = 0
    runs_skipped: int = 0
    history_imported: int = 0
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """Say what happened in a sentence or two."""
        what = "Created" if self.created else "Updated" if self.change else "Nothing changed in"
        parts = [f"{what} session {self.session.session_id!r} (state version {self.session.version})."]
        if self.runs_added or self.runs_skipped:
            parts.append(f"{self.runs_added} runs added, {self.runs_skipped} already there.")
        if self.history_imported:
            parts.append(f"{self.history_imported} history entries imported.")
        return " ".join(parts + self.notes)


def _users(names: set[str]) -> dict[str, Any]:
    model = get_user_model()
    return {
        user.get_username(): user for user in model.objects.filter(**{f"{model.USERNAME_FIELD}__in": names})
    }


def _add_runs(
    session: WorkflowSession, runs: list[dict[str, Any]], result: ImportResult
) -> dict[Any, WorkflowRun]:
    ids = [run["run_id"] for run in runs]
    existing = {row.run_id: row for row in WorkflowRun.objects.filter(run_id__in=ids)}
    users = _users({run["started_by"] for run in runs if run["started_by"]})
    new: list[WorkflowRun] = []
    for run in runs:
        if run["run_id"] in existing or run["run_id"] in {row.run_id for row in new}:
            result.runs_skipped += 1
            continue
        fields = {k: v for k, v in run.items() if k not in ("started_by", "created_at")}
        new.append(
            WorkflowRun(
                session=session,
                **{**fields, "workflow": run["workflow"] or session.workflow},
                created_at=run["created_at"] or timezone.now(),
                started_by=users.get(run["started_by"]),
            )
        )
    WorkflowRun.objects.bulk_create(new)
    result.runs_added = len(new)
    if new:
        session.run_count = WorkflowRun.objects.filter(session=session).count()
        last = WorkflowRun.objects.filter(session=session).order_by("-created_at", "-id").first()
        session.last_run_status = last.status if last else ""
        session.save(update_fields=["run_count", "last_run_status"])
    return {**existing, **{row.run_id: row for row in new}}


def _recreate_history(session: WorkflowSession, data: SessionFile, runs: dict[Any, WorkflowRun]) -> None:
    users = _users({change["actor"] for change in data.changes if change["actor"]})
    StateChange.objects.bulk_create(
        StateChange(
            session=session,
            version=change["version"],
            source=change["source"],
            ops=change["ops"],
            summary=change["summary"],
            actor=users.get(change["actor"]),
            run=runs.get(change["run_id"]),
            created_at=change["created_at"] or session.created_at,
        )
        for change in data.changes
    )


def _keep_origin(session: WorkflowSession, origin: dict[str, Any] | None) -> None:
    if origin is not None:
        session.forked_from_session_id = origin["session_id"]
        session.forked_from_version = origin["version"]
        session.forked_from = WorkflowSession.objects.filter(session_id=origin["session_id"]).first()
        session.save(update_fields=["forked_from", "forked_from_session_id", "forked_from_version"])
    WorkflowSession.objects.filter(
        forked_from__isnull=True, forked_from_session_id=session.session_id
    ).exclude(pk=session.pk).update(forked_from=session)


def _create(data: SessionFile, actor: Actor, result: ImportResult) -> None:
    about = data.session
    now = timezone.now()
    session = result.session = WorkflowSession.objects.create(
        session_id=about["session_id"],
        workflow=about["workflow"],
        name=about["name"],
        user_id=about["user_id"],
        created_at=about["created_at"] or now,
        state_size=EMPTY_STATE_SIZE,
    )
    _keep_origin(session, about.get("forked_from"))
    _recreate_history(session, data, _add_runs(session, data.runs, result))
    result.history_imported = len(data.changes)
    try:
        state_replace(session, data.state, save=False)
    except StateTooLargeError as error:
        raise ValidationError(str(error)) from error
    top = max([about["version"], *(change["version"] for change in data.changes)])
    # A baseline: exact whatever the file's history holds, and the oldest version kept without one.
    ops = [Op("set", (), data.state)] if data.changes or data.state else []
    session.version = top + 1 if ops else top
    session.save(update_fields=[*STATE_FIELDS, "version"])
    if ops:
        result.change = history_record(
            session=session,
            ops=ops,
            source=Source.IMPORT,
            actor=actor,
            summary="Imported from a session file",
        )


@transaction.atomic
def session_import(*, data: SessionFile, actor: Actor, into: WorkflowSession | None = None) -> ImportResult:
    """Import a session file, creating its session or updating it; `into` insists on one session."""
    actor_require(actor, CAN_EDIT_STATE)
    if into is not None and into.session_id != data.session_id:
        raise ValidationError(
            f"This file holds session {data.session_id!r}, not {into.session_id!r}; nothing was imported."
        )
    row = WorkflowSession.objects.select_for_update(no_key=True).filter(session_id=data.session_id).first()
    if row is None:
        actor_require(actor, CAN_CREATE_SESSION)
        result = ImportResult(session=WorkflowSession(), created=True)
        _create(data, actor, result)
        return result
    result = ImportResult(session=row, created=False)
    latest = state_load(row)
    result.change = state_change_write(
        session=row,
        locked=row,
        latest=latest,
        ops=edit_diff(latest, data.state),
        source=Source.IMPORT,
        actor=actor,
        summary="Imported from a session file",
    )
    _add_runs(row, data.runs, result)
    if data.changes:
        result.notes.append("The file's change history was left out: this session keeps its own.")
    return result
