"""Changing a session's state by hand: edit, clear, delete one entry, restore a version.

Every write is a compare-and-swap against the version the person saw (`base_version`), made
under the session's row lock, so a run or another person's write in between is never silently
overwritten. An edit made on an older version is refused with `StateStaleError` unless asked to
go `on_top`: then the person's own changes (`diff(state at base_version, their state)`) are
replayed onto the latest state with the engine's `apply`, which refuses a true conflict
(`StateConflictError`, naming each path). Clearing a container or deleting one entry removes
exactly the value that was shown, so it merges the same way; clearing everything and restoring
a version need the latest version. Each write records a `StateChange` and may prune history.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from sessions_app.limits import StateTooLargeError
from sessions_app.models import StateChange, WorkflowSession
from sessions_app.roles import CAN_EDIT_STATE
from sessions_app.selectors.diffs import edit_diff
from sessions_app.selectors.undo import UndoConflictError, undo_plan
from sessions_app.services.permissions import Actor, actor_require
from sessions_app.state.changes import ops_summary, path_text, place_text
from sessions_app.state.history import history_baseline_ensure, history_prune, history_record
from sessions_app.state.layout import session_caches
from sessions_app.state.store import STATE_FIELDS, check_storable, state_load, state_write_ops
from sessions_app.state.versions import state_at_version
from sessions_app.workflow.errors import StateConflictError, StateNotSerializableError
from sessions_app.workflow.state import MISSING, Op, Path, apply, copy_json, get_at

__all__ = [
    "StateConflictError",
    "StateStaleError",
    "UndoConflictError",
    "edit_diff",
    "session_state_clear",
    "session_state_delete",
    "session_state_edit",
    "session_state_restore",
    "state_change_undo",
    "state_change_write",
    "state_edit_ops",
]

Source = StateChange.Source


class StateStaleError(Exception):
    """The state moved on since the version the person saw; nothing was written."""

    def __init__(self, *, base_version: int, latest_version: int) -> None:
        self.base_version, self.latest_version = base_version, latest_version
        super().__init__(
            f"The state changed since you saw it (you saw version {base_version}; it is now version "
            f"{latest_version}). Nothing was saved."
        )


def _check_state(state: Any) -> None:
    if not isinstance(state, dict):
        raise ValidationError(f"The state must be a JSON object ({{…}}), not {type(state).__name__}.")
    try:
        check_storable(state)
    except StateNotSerializableError as error:
        raise ValidationError(str(error)) from None


def _lock(session: WorkflowSession) -> WorkflowSession:
    return WorkflowSession.objects.select_for_update(no_key=True).get(pk=session.pk)


def _seen(locked: WorkflowSession, latest: dict[str, Any], base_version: int) -> dict[str, Any]:
    """Return the state at the version the person saw."""
    if base_version == locked.version:
        return latest
    return state_at_version(session=locked, version=base_version)


def state_change_write(
    *,
    session: WorkflowSession,
    locked: WorkflowSession,
    latest: dict[str, Any],
    ops: list[Op],
    source: str,
    actor: Actor,
    summary: str = "",
) -> StateChange | None:
    """Write `ops` to the locked session, bump its version and record the change; None when no ops.

    `latest` is the locked session's state (updated in place); `session` is the caller's copy of
    the row, updated to match.
    """
    if not ops:
        return None
    history_baseline_ensure(session=locked, state=latest)
    caches = session_caches(locked)
    try:
        touched = state_write_ops(locked, ops, latest=latest, save=False, caches=caches)
    except StateTooLargeError as error:
        raise ValidationError(str(error)) from error
    locked.version += 1
    locked.save(update_fields=[*STATE_FIELDS, "version"])
    summary = summary or ops_summary(ops, caches=caches, touched=touched)
    change = history_record(session=locked, ops=ops, source=source, actor=actor, summary=summary)
    history_prune(session=locked)
    for name in [*STATE_FIELDS, "version"]:  # the caller's object shows what was written
        setattr(session, name, getattr(locked, name))
    return change


def state_edit_ops(
    *,
    session: WorkflowSession,
    latest: dict[str, Any],
    new_state: dict[str, Any],
    base_version: int,
    on_top: bool = False,
) -> list[Op]:
    """Return the ops that make the edit on the latest state, or raise why they cannot be made.

    `session` is locked (or freshly read) and `latest` its state. Raises StateStaleError when the
    state moved on since `base_version` and not `on_top`, StateConflictError when on top but a
    path changed differently on both sides, VersionUnavailableError when the base is pruned.
    """
    if base_version == session.version:
        return edit_diff(latest, new_state)
    if base_version > session.version or not on_top:
        raise StateStaleError(base_version=base_version, latest_version=session.version)
    ops = edit_diff(state_at_version(session=session, version=base_version), new_state)
    apply(copy_json(latest), ops)
    return ops


@transaction.atomic
def session_state_edit(
    *,
    session: WorkflowSession,
    new_state: dict[str, Any],
    base_version: int,
    actor: Actor,
    on_top: bool = False,
) -> StateChange | None:
    """Replace the state with `new_state` as edited at `base_version`; return the change, None if none."""
    actor_require(actor, CAN_EDIT_STATE)
    _check_state(new_state)
    locked = _lock(session)
    latest = state_load(locked)
    ops = state_edit_ops(
        session=locked, latest=latest, new_state=new_state, base_version=base_version, on_top=on_top
    )
    return state_change_write(
        session=session, locked=locked, latest=latest, ops=ops, source=Source.EDIT, actor=actor
    )


@transaction.atomic
def session_state_clear(
    *, session: WorkflowSession, base_version: int, actor: Actor, path: Path = ()
) -> StateChange | None:
    """Empty the list or object at `path` (the whole state when empty), as seen at `base_version`."""
    actor_require(actor, CAN_EDIT_STATE)
    locked = _lock(session)
    latest = state_load(locked)
    if not path:
        if base_version != locked.version:
            raise StateStaleError(base_version=base_version, latest_version=locked.version)
        ops = [Op("delete", (key,), None, value) for key, value in latest.items()]
        return state_change_write(
            session=session,
            locked=locked,
            latest=latest,
            ops=ops,
            source=Source.CLEAR,
            actor=actor,
            summary=f"Cleared the state ({len(ops)} keys)",
        )
    seen = _value_at(_seen(locked, latest, base_version), path)
    empty: Any = [] if isinstance(seen, list) else {} if isinstance(seen, dict) else MISSING
    op = Op("delete", path, None, seen) if empty is MISSING else Op("set", path, empty, seen)
    return _clear_one(session, locked, latest, op, actor, f"Cleared {path_text(path)}")


@transaction.atomic
def session_state_delete(
    *, session: WorkflowSession, path: Path, base_version: int, actor: Actor
) -> StateChange | None:
    """Delete the value at `path` (one cached entry, say) as it was at `base_version`."""
    actor_require(actor, CAN_EDIT_STATE)
    if not path:
        raise ValidationError("Name what to delete; clearing the whole state is a clear.")
    locked = _lock(session)
    latest = state_load(locked)
    seen = _value_at(_seen(locked, latest, base_version), path)
    op = Op("delete", path, None, seen)
    return _clear_one(
        session, locked, latest, op, actor, f"Deleted {place_text(path, session_caches(locked), seen)}"
    )


def _clear_one(
    session: WorkflowSession,
    locked: WorkflowSession,
    latest: dict[str, Any],
    op: Op,
    actor: Actor,
    summary: str,
) -> StateChange | None:
    """Write one clearing op, refused as a conflict when the value moved on since it was seen."""
    apply(copy_json(latest), [op])
    return state_change_write(
        session=session,
        locked=locked,
        latest=latest,
        ops=[op],
        source=Source.CLEAR,
        actor=actor,
        summary=summary,
    )


@transaction.atomic
def session_state_restore(
    *, session: WorkflowSession, version: int, base_version: int, actor: Actor
) -> StateChange | None:
    """Make the state what it was at `version`; the person saw the latest as `base_version`."""
    actor_require(actor, CAN_EDIT_STATE)
    locked = _lock(session)
    if base_version != locked.version:
        raise StateStaleError(base_version=base_version, latest_version=locked.version)
    latest = state_load(locked)
    target = state_at_version(session=locked, version=version)
    ops = edit_diff(latest, target)
    return state_change_write(
        session=session,
        locked=locked,
        latest=latest,
        ops=ops,
        source=Source.RESTORE,
        actor=actor,
        summary=f"Restored version {version}: {ops_summary(ops, caches=session_caches(locked))}",
    )


@transaction.atomic
def state_change_undo(*, session: WorkflowSession, version: int, actor: Actor) -> StateChange | None:
    """Take back the change that made `version`, keeping every later change; None when nothing is left to undo.

    Raises VersionUnavailableError when no kept change made `version`, ValidationError when the
    state before it is no longer in the history, UndoConflictError (naming the values) when a
    later change set them to something else.
    """
    actor_require(actor, CAN_EDIT_STATE)
    locked = _lock(session)
    latest = state_load(locked)
    ops = undo_plan(session=locked, version=version, latest=latest)
    caches = session_caches(locked)
    return state_change_write(
        session=session,
        locked=locked,
        latest=latest,
        ops=ops,
        source=Source.UNDO,
        actor=actor,
        summary=f"Undid version {version}: {ops_summary(ops, caches=caches)}",
    )


def _value_at(state: dict[str, Any], path: Path) -> Any:
    value = get_at(state, path)
    if value is MISSING:
        raise ValidationError(f"There is nothing at {path_text(path)}; it may have been removed already.")
    return value
