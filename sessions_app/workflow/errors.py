"""Errors the engine raises; each message says what went wrong and where, for a person to act on."""

from __future__ import annotations

from typing import Any

Path = tuple[str | int, ...]


# A path longer than this is shown by its ends (a state nested hundreds of levels deep is refused
# by a message that still fits a line).
SHOWN_PATH_PARTS = 12


def format_path(path: Path) -> str:
    """Render a path the way a person would index into session_state."""
    parts = [f"[{part!r}]" for part in path]
    if len(parts) > SHOWN_PATH_PARTS:
        half = SHOWN_PATH_PARTS // 2
        parts = [*parts[:half], f"…{len(parts) - 2 * half} more…", *parts[-half:]]
    return "session_state" + "".join(parts)


class WorkflowError(Exception):
    """Base class of the engine's errors."""


class StateNotSerializableError(WorkflowError, TypeError):
    """A value in session_state cannot be stored as JSON; nothing was written."""

    HINT = (
        "Store JSON values only (dict, list, str, int, float, bool, None), e.g. a datetime as an ISO string."
    )

    def __init__(
        self, path: tuple[str | int, ...], value: Any, reason: str | None = None, *, hint: str | None = None
    ) -> None:
        self.path = path
        self.value_type = type(value).__name__
        self.reason = (
            reason or f"{type(value).__module__}.{type(value).__qualname__} is not JSON serializable"
        )
        super().__init__(
            f"{format_path(path)}: {self.reason}. The state was not saved; the stored state is unchanged. "
            + (self.HINT if hint is None else hint)
        )


class StateTooDeepError(StateNotSerializableError):
    """Containers in session_state nest deeper than the storage allows; nothing was written."""

    def __init__(self, path: Path, value: Any, limit: int, *, hint: str | None = None) -> None:
        self.limit = limit
        super().__init__(
            path,
            value,
            f"containers are nested more than {limit} levels deep (the state itself is the first level)",
            hint=hint or "Store deeply nested data flatter, or as text.",
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
