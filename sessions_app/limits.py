"""Limits the dashboard's storage enforces (size, nesting), with messages that say which limit and by how much."""

from __future__ import annotations

from django.conf import settings

from sessions_app.workflow.errors import WorkflowError


def size_text(size: int) -> str:
    """Return a byte count for people: "512 bytes", "2.5 MB"."""
    if size < 1024:
        return f"{size} bytes"
    value, unit = size / 1024, "KB"
    for bigger in ("MB", "GB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{value:.1f}".removesuffix(".0") + f" {unit}"


class StateTooLargeError(WorkflowError, ValueError):
    """A write would make a session's state larger than WFSITE_MAX_STATE_BYTES; nothing was written."""

    def __init__(self, size: int, limit: int) -> None:
        self.size, self.limit = size, limit
        super().__init__(
            f"The session's state would be {size_text(size)} ({size} bytes as JSON); the limit is "
            f"{size_text(limit)} (WFSITE_MAX_STATE_BYTES). The state was not saved; the stored state "
            "is unchanged. Clear cached entries the session no longer needs, or raise the limit."
        )


def state_size_check(size: int, *, previous: int | None = None) -> None:
    """Raise StateTooLargeError when `size` is over the limit and the write does not shrink the state.

    A write that makes an oversized state smaller (`size <= previous`) is allowed, so a session
    left over a lowered limit can still be cleaned up.
    """
    limit = settings.WFSITE_MAX_STATE_BYTES
    if not limit or size <= limit:
        return
    if previous is not None and size <= previous:
        return
    raise StateTooLargeError(size, limit)


def max_state_depth() -> int:
    """Return how deeply containers may nest in a state (WFSITE_MAX_STATE_DEPTH; the state is level 1)."""
    return int(settings.WFSITE_MAX_STATE_DEPTH)
