"""Errors the engine raises; each message says what went wrong and where, for a person to act on."""

from __future__ import annotations

from typing import Any

Path = tuple[str | int, ...]


def format_path(path: Path) -> str:
    """Render a path the way a person would index into session_state."""
    return "session_state" + "".join(f"[{part!r}]" for part in path)


class WorkflowError(Exception):
    """Base class of the engine's errors."""


class StateNotSerializableError(WorkflowError, TypeError):
    """A value in session_state cannot be stored as JSON; nothing was written."""

    def __init__(self, path: tuple[str | int, ...], value: Any, reason: str | None = None) -> None:
        self.path = path
        self.value_type = type(value).__name__
        self.reason = (
            reason or f"{type(value).__module__}.{type(value).__qualname__} is not JSON serializable"
        )
        super().__init__(
            f"{format_path(path)}: {self.reason}. The state was not saved; the stored state is unchanged. "
            "Store JSON values only (dict, list, str, int, float, bool, None), e.g. a datetime as "
            "an ISO string."
        )


class StateConflictError(WorkflowError):
    """The run changed a value that someone else changed differently since the run loaded it."""

    def __init__(self, paths: list[tuple[str | int, ...]], unsaved_state: Any = None) -> None:
        self.paths = paths
        self.unsaved_state = unsaved_state
        where = ", ".join(format_path(p) for p in paths[:5]) + (" ..." if len(paths) > 5 else "")
        super().__init__(
            f"Conflicting change to {where}: it was changed by another writer since this run loaded "
            "the state. The stored state was not overwritten; this run's unsaved state is kept "
            "with its run record."
        )


class InputError(WorkflowError, ValueError):
    """A run input is not acceptable; `field` names it and the message says why."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


class StorageError(WorkflowError):
    """The storage could not complete an operation."""


class StorageBusyError(StorageError):
    """The database stayed locked by other writers after bounded retries; nothing was written."""
