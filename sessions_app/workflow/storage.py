"""The storage contract the engine writes through, and the records it stores.

Upstream's storages (phidata, agno) offer `read` and `upsert` of a whole session; a run that
upserts what it loaded overwrites whatever another writer stored meanwhile. Here every session
row carries a version, and the engine writes through `commit`, which takes the version the run
loaded and the changes it made (`Op`s): if the row moved on, the changes are merged onto the
latest state, or refused as a conflict, inside the same transaction. `upsert` stays for
compatibility and is last-writer-wins, like upstream's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from sessions_app.workflow.cache import Cache
from sessions_app.workflow.state import Op


@dataclass
class WorkflowSession:
    """A stored session: upstream's columns plus the version that guards against lost updates."""

    session_id: str
    workflow_id: str | None = None
    user_id: str | None = None
    memory: dict[str, Any] | None = None
    workflow_data: dict[str, Any] | None = None
    user_data: dict[str, Any] | None = None
    session_data: dict[str, Any] | None = None
    extra_data: dict[str, Any] | None = None
    created_at: int | None = None
    updated_at: int | None = None
    version: int = 0

    @property
    def session_state(self) -> dict[str, Any]:
        """Return the stored session_state (empty when none is stored)."""
        state = (self.session_data or {}).get("session_state")
        return state if isinstance(state, dict) else {}

    @property
    def session_name(self) -> str | None:
        """Return the stored session name, if any."""
        return (self.session_data or {}).get("session_name")

    def model_dump(self) -> dict[str, Any]:
        """Return the fields as a dict (upstream's pydantic name)."""
        return dict(self.__dict__)


@dataclass
class SessionMeta:
    """What a commit records about the session besides its state, and the caches its workflow declares."""

    session_id: str
    workflow_id: str | None = None
    user_id: str | None = None
    workflow_name: str | None = None
    session_name: str | None = None
    caches: tuple[Cache, ...] = ()


@dataclass
class RunRecord:
    """One run in a session's history, cache hits included."""

    run_id: str
    session_id: str
    workflow_id: str | None
    input: dict[str, Any]
    status: str = "running"
    output: str | None = None
    error: str | None = None
    cache_hit: bool = False
    started_at: float = 0.0
    ended_at: float | None = None
    events: int = 0
    state_version: int | None = None
    unsaved_state: str | None = None
    # [cache's state key, entry key] of each cached entry the run was answered from.
    cache_hits: list[list[str]] = field(default_factory=list)
    # {"prompt_tokens", "completion_tokens", "estimated"} when the run's model calls reported them.
    usage: dict[str, Any] | None = None

    @property
    def duration(self) -> float | None:
        """Return the run's wall time in seconds, once it has ended."""
        return None if self.ended_at is None else self.ended_at - self.started_at


@dataclass
class Commit:
    """The outcome of a commit: the new version, and the merged state when others had written."""

    version: int
    merged_state: dict[str, Any] | None = None
    wrote_state: bool = False
    ops: list[Op] = field(default_factory=list)


@runtime_checkable
class WorkflowStorage(Protocol):
    """What a workflow needs from its storage; SqliteWorkflowStorage and DjangoWorkflowStorage fit it."""

    def create(self) -> None: ...

    def read(self, session_id: str, user_id: str | None = None) -> WorkflowSession | None: ...

    def upsert(self, session: WorkflowSession) -> WorkflowSession | None: ...

    def commit(
        self,
        *,
        meta: SessionMeta,
        base_version: int,
        ops: list[Op],
        state: dict[str, Any],
        run: RunRecord | None = None,
    ) -> Commit: ...

    def record_run(self, run: RunRecord) -> None: ...

    def get_runs(self, session_id: str) -> list[RunRecord]: ...

    def delete_session(self, session_id: str | None = None) -> None: ...

    def get_all_session_ids(
        self, user_id: str | None = None, workflow_id: str | None = None
    ) -> list[str]: ...

    def get_all_sessions(
        self, user_id: str | None = None, workflow_id: str | None = None
    ) -> list[WorkflowSession]: ...

    def drop(self) -> None: ...
