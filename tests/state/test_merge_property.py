"""Property: DjangoWorkflowStorage.commit, under any interleaving of concurrent writers, loses no write
and reports every true conflict.

Each writer reads the session (its base version), changes its copy (set or delete keys at the top
level and one level down, append to a list), and commits `diff(base, copy)` later, in an order
hypothesis picks. A plain model says what must happen, without the engine's merge code: a writer's
change to a path conflicts when someone else changed that path since the writer read it; appends
never conflict. A commit without conflicts must give exactly the model's next state (every write
of every accepted writer kept, and nothing else); one with conflicts must raise StateConflictError
naming exactly those paths and write nothing. The history must then hold one change per accepted
commit, versions without gaps, and replay to every version the model went through.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from sessions_app.models import StateChange, WorkflowRun, WorkflowSession
from sessions_app.state.storage import DjangoWorkflowStorage
from sessions_app.state.versions import state_at_version
from sessions_app.workflow.errors import StateConflictError
from sessions_app.workflow.state import MISSING, copy_json, diff, get_at
from sessions_app.workflow.storage import RunRecord, SessionMeta

pytestmark = pytest.mark.django_db

SESSION = "merge property"
PATHS = [("a",), ("b",), ("c",), ("cfg", "x"), ("cfg", "y")]
INITIAL = {"a": "a0", "b": "b0", "cfg": {"x": "x0"}, "posts": ["p0"]}
Path = tuple[str, ...]

edit = st.one_of(
    st.tuples(st.sampled_from(["set", "delete"]), st.sampled_from(PATHS)),
    st.just(("append", ("posts",))),
)
writer_edits = st.lists(edit, min_size=1, max_size=3, unique_by=lambda e: e[1] if e[0] != "append" else e)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[list[tuple[str, Path]]], list[int]]:
    """Draw each writer's edits and an interleaving: each writer's index twice, read then commit."""
    writers = draw(st.lists(writer_edits, min_size=2, max_size=4))
    order = draw(st.permutations([n for n in range(len(writers)) for _ in range(2)]))
    return writers, order


@dataclass
class Writer:
    number: int
    edits: list[tuple[str, Path]]
    base_version: int = 0
    base: dict[str, Any] | None = None
    local: dict[str, Any] | None = None


def set_at(state: dict[str, Any], path: Path, value: Any) -> None:
    for part in path[:-1]:
        state = state.setdefault(part, {})
    state[path[-1]] = value


def delete_at(state: dict[str, Any], path: Path) -> None:
    parent = get_at(state, path[:-1])
    if isinstance(parent, dict):
        parent.pop(path[-1], None)


def edited(writer: Writer, state: dict[str, Any]) -> dict[str, Any]:
    """Return the writer's copy of `state` with its edits made; values are unique to the writer."""
    local = copy_json(state)
    for index, (kind, path) in enumerate(writer.edits):
        if kind == "set":
            set_at(local, path, f"w{writer.number}-{index}")
        elif kind == "delete":
            delete_at(local, path)
        else:
            local.setdefault("posts", []).append(f"post w{writer.number}-{index}")
    return local


def model_conflicts(writer: Writer, latest: dict[str, Any]) -> set[Path]:
    """Paths the writer changed that someone else changed since it read them."""
    assert writer.base is not None
    assert writer.local is not None
    found = set()
    for kind, path in writer.edits:
        if kind == "append":
            continue
        mine, seen, now = get_at(writer.local, path), get_at(writer.base, path), get_at(latest, path)
        if mine is MISSING and seen is MISSING:
            continue  # deleting what was not there changes nothing
        if now is not MISSING and now != seen and now != mine:
            found.add(path)
        elif now is MISSING and seen is not MISSING and mine is not MISSING:
            found.add(path)  # setting what someone else removed
    return found


def model_apply(writer: Writer, latest: dict[str, Any]) -> dict[str, Any]:
    """Return `latest` with the writer's changes made: what it changed from its base, nothing else."""
    assert writer.base is not None
    assert writer.local is not None
    result = copy_json(latest)
    for index, (kind, path) in enumerate(writer.edits):
        if kind == "append":
            result.setdefault("posts", []).append(f"post w{writer.number}-{index}")
        elif get_at(writer.local, path) is get_at(writer.base, path) is MISSING:
            continue  # it deleted what it never saw: no change
        elif get_at(writer.local, path) is MISSING:
            delete_at(result, path)
        else:
            set_at(result, path, get_at(writer.local, path))
    return result


def commit(storage: DjangoWorkflowStorage, writer: Writer) -> Any:
    assert writer.base is not None
    assert writer.local is not None
    run = None
    if writer.number % 2:
        now = time.time()
        run = RunRecord(str(uuid.uuid4()), SESSION, "Prop", {}, "succeeded", started_at=now, ended_at=now)
    return storage.commit(
        meta=SessionMeta(session_id=SESSION, workflow_id="Prop"),
        base_version=writer.base_version,
        ops=diff(writer.base, writer.local),
        state=writer.local,
        run=run,
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scenario=scenarios())
def test_interleaved_commits_lose_nothing_and_report_every_conflict(
    scenario: tuple[list[list[tuple[str, Path]]], list[int]],
) -> None:
    WorkflowSession.objects.all().delete()  # a fresh database for each example
    storage = DjangoWorkflowStorage()
    storage.commit(
        meta=SessionMeta(session_id=SESSION, workflow_id="Prop"),
        base_version=0,
        ops=diff({}, INITIAL),
        state=copy_json(INITIAL),
    )
    versions = {1: copy_json(INITIAL)}
    latest, version = copy_json(INITIAL), 1
    edits, order = scenario
    writers = [Writer(number, edits[number]) for number in range(len(edits))]
    accepted_runs = 0
    for number in order:
        writer = writers[number]
        if writer.base is None:
            stored = storage.read(SESSION)
            assert stored is not None
            assert (stored.version, stored.session_state) == (version, latest)
            writer.base_version, writer.base = stored.version, stored.session_state
            writer.local = edited(writer, writer.base)
            continue
        conflicts = model_conflicts(writer, latest)
        event(
            "a commit conflicted"
            if conflicts
            else "a commit merged"
            if writer.base_version < version
            else "a commit was first"
        )
        if conflicts:
            with pytest.raises(StateConflictError) as refused:
                commit(storage, writer)
            assert set(map(tuple, refused.value.paths)) == conflicts
        else:
            result = commit(storage, writer)
            accepted_runs += writer.number % 2
            if diff(writer.base, writer.local):
                # A write is a new version even where others already did the same (both deleted b).
                version += 1
                latest = versions[version] = model_apply(writer, latest)
            assert result.version == version
        stored = storage.read(SESSION)
        assert stored is not None
        assert (stored.version, stored.session_state) == (version, latest), "a write was lost or half-made"

    session = WorkflowSession.objects.get(session_id=SESSION)
    changes = list(StateChange.objects.filter(session=session).order_by("version"))
    assert [change.version for change in changes] == list(range(1, version + 1))
    for number, state in versions.items():
        assert state_at_version(session=session, version=number) == state
    assert WorkflowRun.objects.filter(session=session).count() == accepted_runs
