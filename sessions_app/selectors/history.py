"""Reads of a session's change history for its pages: changes, diffs between versions, what each did.

Past versions are rebuilt by `sessions_app.state.versions`.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from sessions_app.models import StateChange, WorkflowSession
from sessions_app.selectors.diffs import DiffRow, diff_rows, state_diff_rows
from sessions_app.state.changes import ops_decode
from sessions_app.state.versions import is_baseline, states_at_versions


def history_list(*, session: WorkflowSession) -> QuerySet[StateChange]:
    """Return the session's changes, newest first, with who or what made each."""
    return StateChange.objects.filter(session=session).select_related("actor", "run").order_by("-version")


def history_get(*, session: WorkflowSession, version: int) -> StateChange | None:
    """Return the change that made `version`, or None."""
    return history_list(session=session).filter(version=version).first()


@dataclass(frozen=True)
class VersionDiff:
    """What changed between two versions of a session's state."""

    before: int
    after: int
    rows: list[DiffRow]


def version_diff(*, session: WorkflowSession, before: int, after: int) -> VersionDiff:
    """Return a readable diff from version `before` to version `after` (either may be the older)."""
    states = states_at_versions(session=session, versions=[before, after])
    return VersionDiff(before, after, state_diff_rows(states[before], states[after]))


def change_rows(change: StateChange) -> list[DiffRow]:
    """Describe one recorded change from its ops (a baseline is described as such)."""
    if is_baseline(change.ops):
        count = len(change.ops[0][2])
        return [DiffRow("the whole state", "baseline", after=f"{count} top-level key{'s' * (count != 1)}")]
    return diff_rows(ops_decode(change.ops), recorded=True)


def changes_since(*, session: WorkflowSession, version: int) -> list[StateChange]:
    """Return the changes made after `version`, oldest first."""
    return list(history_list(session=session).filter(version__gt=version).order_by("version"))
