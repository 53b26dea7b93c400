"""Past versions of a session's state, rebuilt from its recorded changes.

History holds ops, not snapshots, so a past version is rebuilt by replaying, oldest first, the ops
of every change up to it onto an empty state. That works because a session's first change is
recorded as `diff({}, state)` (the storage does so when a run creates the session; the import
and edit services do so too). A change whose ops are a single `set` of the whole state is a
*baseline*: replay restarts from it. Baselines are written where older history was folded away
(`state.history.history_prune`) and where a session was imported with its history, so the
oldest version that can be rebuilt is the oldest baseline's, or the one before the oldest change
when that was made from {} (`history_floor`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models.fields.json import KeyTransform

from sessions_app.models import StateChange, WorkflowSession
from sessions_app.state.changes import ops_decode
from sessions_app.state.store import state_load
from sessions_app.workflow.state import apply, copy_json


class VersionUnavailableError(LookupError):
    """A version that is not in the kept history (pruned, or never existed)."""

    def __init__(self, version: int, floor: int | None, latest: int) -> None:
        self.version, self.floor, self.latest = version, floor, latest
        if version > latest or version < 0:
            text = f"There is no version {version}; the latest is {latest}."
        elif floor is None or version < floor:
            kept = "no earlier versions are kept" if floor is None else f"the oldest kept is {floor}"
            text = f"Version {version} is no longer in the history ({kept})."
        else:
            text = f"Version {version} cannot be rebuilt from the recorded history."
        super().__init__(text)


def is_baseline(encoded_ops: list[Any]) -> bool:
    """Whether recorded ops are one `set` of the whole state (a baseline)."""
    return (
        len(encoded_ops) == 1
        and encoded_ops[0][0] == "set"
        and encoded_ops[0][1] == []
        and isinstance(encoded_ops[0][2], dict)
    )


def history_floor(*, session: WorkflowSession) -> int | None:
    """Return the oldest version that can be rebuilt, or None when no history is kept.

    That is a baseline's own version, or the version just before a first change made from {}.
    """
    oldest = (
        StateChange.objects.filter(session=session)
        .order_by("version")
        .annotate(first_path=KeyTransform("1", KeyTransform("0", "ops")))
        .values_list("version", "first_path")
        .first()
    )
    if oldest is None:
        return None
    version, first_path = oldest
    return version if first_path == [] else max(0, version - 1)


def states_at_versions(*, session: WorkflowSession, versions: Iterable[int]) -> dict[int, dict[str, Any]]:
    """Rebuild the state at each version, in one replay; `session` must be freshly read.

    The session's current version is read from its rows, not replayed.
    """
    wanted = sorted(set(versions))
    result: dict[int, dict[str, Any]] = {}
    if session.version in wanted:
        result[session.version] = state_load(session)
        wanted.remove(session.version)
    if not wanted:
        return result
    floor = history_floor(session=session)
    for version in wanted:
        if version > session.version or floor is None or version < floor:
            raise VersionUnavailableError(version, floor, session.version)
    assert floor is not None  # checked for each wanted version above
    rows = (
        StateChange.objects.filter(session=session, version__lte=wanted[-1])
        .order_by("version")
        .values_list("version", "ops")
    )
    state: dict[str, Any] = {}
    pending = list(wanted)
    for version, encoded in rows:
        while pending and pending[0] < version:
            result[pending.pop(0)] = copy_json(state)
        state = _replay(state, encoded, version, floor, session.version)
    for version in pending:
        result[version] = copy_json(state)
    return result


def _replay(
    state: dict[str, Any], encoded: list[Any], version: int, floor: int, latest: int
) -> dict[str, Any]:
    try:
        return apply(state, ops_decode(encoded), force=True)
    except (AttributeError, TypeError, IndexError, KeyError, ValueError):
        # Ops that do not fit the state they follow: the history was changed by hand.
        raise VersionUnavailableError(version, floor, latest) from None


def state_at_version(*, session: WorkflowSession, version: int) -> dict[str, Any]:
    """Rebuild the whole state as it was at `version`."""
    return states_at_versions(session=session, versions=[version])[version]
