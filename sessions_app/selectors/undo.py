"""What undoing one recorded change would do: the ops that take it back on top of what came after.

`services.state.state_change_undo` writes them; the undo page shows them before it asks.

A change is what turned the state at version N-1 (*before*) into the state at N (*after*), both
rebuilt from history by `state.versions`. Its inverse is `edit_diff(after, before)`: every "set"
and "delete" there carries the value the change left (its `base`), so the engine's `apply`
replays it onto the latest state and refuses, naming each path, where a later change left a
different value there. Undoing a cached post deletes just that item; undoing a delete from a list
puts the item back. Two cases are moved to where the values are now, since a later run that only
appended to the same list did not touch them: a list item to delete that a later delete shifted
(found again when the latest list holds it exactly once), and a list to put back that later
changes only appended to (their items are kept after it).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError

from sessions_app.models import StateChange, WorkflowSession
from sessions_app.selectors.diffs import edit_diff
from sessions_app.state.changes import place_text
from sessions_app.state.layout import session_caches
from sessions_app.state.versions import VersionUnavailableError, history_floor, states_at_versions
from sessions_app.workflow.errors import StateConflictError
from sessions_app.workflow.state import MISSING, Op, Path, apply, copy_json, get_at, json_equal


class UndoConflictError(StateConflictError):
    """A later change touched what the change to undo changed; nothing was written."""

    def __init__(self, paths: list[Path], *, version: int, names: list[str]) -> None:
        super().__init__(paths)
        self.version, self.names = version, names
        shown = ", ".join(names[:5]) + (" …" if len(names) > 5 else "")
        self.args = (
            f"Version {version} cannot be undone on its own: a later change also changed {shown}. "
            f"Nothing was changed. Restoring version {version - 1} undoes it together with the later changes.",
        )


def _list_grown(op: Op, latest: dict[str, Any]) -> Op:
    """Put a whole list back with the items later changes appended to it kept at its end."""
    current = get_at(latest, op.path)
    base = op.base
    if not (isinstance(base, list) and isinstance(op.value, list) and isinstance(current, list)):
        return op
    if len(current) > len(base) and json_equal(current[: len(base)], base):
        return Op("set", op.path, [*op.value, *current[len(base) :]], current)
    return op


def _item_moved(op: Op, latest: dict[str, Any]) -> Op:
    """Find a list item to delete where it is now, when it moved and is there exactly once."""
    if json_equal(get_at(latest, op.path), op.base):
        return op
    parent = get_at(latest, op.path[:-1])
    if not isinstance(parent, list):
        return op
    found = [index for index, item in enumerate(parent) if json_equal(item, op.base)]
    return Op("delete", (*op.path[:-1], found[0]), None, op.base) if len(found) == 1 else op


def _rebased(ops: list[Op], latest: dict[str, Any]) -> list[Op]:
    out: list[Op] = []
    for op in ops:
        if op.kind == "set" and isinstance(op.base, list):
            out.append(_list_grown(op, latest))
        elif op.kind == "delete" and op.path and isinstance(op.path[-1], int) and op.base is not MISSING:
            out.append(_item_moved(op, latest))
        else:
            out.append(op)
    return _highest_first(out)


def _highest_first(ops: list[Op]) -> list[Op]:
    """Order the items deleted from one list highest index first, where the first of them was, so each keeps its place."""
    groups: dict[Path, int] = {}
    keys = []
    for position, op in enumerate(ops):
        if op.kind == "delete" and op.path and isinstance(op.path[-1], int):
            keys.append((groups.setdefault(op.path[:-1], position), -op.path[-1]))
        else:
            keys.append((position, 0))
    return [op for _, op in sorted(zip(keys, ops, strict=True), key=lambda pair: pair[0])]


def undo_ops(*, before: dict[str, Any], after: dict[str, Any], latest: dict[str, Any]) -> list[Op]:
    """Return the ops that take back the change from `before` to `after` on `latest` ([] when nothing is left to undo).

    Raises StateConflictError naming each path a later change set to something else.
    """
    inverse = _rebased(edit_diff(after, before), latest)
    result = apply(copy_json(latest), inverse)
    return edit_diff(latest, result)


def undo_plan(*, session: WorkflowSession, version: int, latest: dict[str, Any]) -> list[Op]:
    """Return the ops that undo the change that made `version`, on `latest` (the session's state now).

    Raises VersionUnavailableError when no kept change made `version`, ValidationError when the
    state before it is no longer in the history, UndoConflictError (naming the values) when a
    later change set them to something else. `session` must be freshly read (or locked).
    """
    floor = history_floor(session=session)
    if version < 1 or not StateChange.objects.filter(session=session, version=version).exists():
        raise VersionUnavailableError(version, floor, session.version)
    if floor is None or version - 1 < floor:
        raise ValidationError(
            f"Version {version} cannot be undone: the history kept begins with it, so the state before "
            "it is not known."
        )
    states = states_at_versions(session=session, versions=[version - 1, version])
    try:
        return undo_ops(before=states[version - 1], after=states[version], latest=latest)
    except StateConflictError as error:
        caches = session_caches(session)
        names = [place_text(path, caches, get_at(states[version], path)) for path in error.paths]
        raise UndoConflictError(error.paths, version=version, names=names) from None
