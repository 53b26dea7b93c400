"""What a run yields: RunResponse events, with upstream's (phidata 2.7.10) event names and fields."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from enum import Enum, StrEnum
from typing import Any


class RunEvent(StrEnum):
    """Events that can be sent by the run() functions."""

    run_started = "RunStarted"
    run_response = "RunResponse"
    run_completed = "RunCompleted"
    tool_call_started = "ToolCallStarted"
    tool_call_completed = "ToolCallCompleted"
    reasoning_started = "ReasoningStarted"
    reasoning_step = "ReasoningStep"
    reasoning_completed = "ReasoningCompleted"
    updating_memory = "UpdatingMemory"
    workflow_started = "WorkflowStarted"
    workflow_completed = "WorkflowCompleted"


@dataclass
class RunResponse:
    """One event of a run; `run_id`, `session_id` and `workflow_id` are stamped by the workflow."""

    content: Any = None
    content_type: str = "str"
    event: str = RunEvent.run_response.value
    messages: list[Any] | None = None
    metrics: dict[str, Any] | None = None
    model: str | None = None
    run_id: str | None = None
    agent_id: str | None = None
    session_id: str | None = None
    workflow_id: str | None = None
    tools: list[dict[str, Any]] | None = None
    extra_data: dict[str, Any] | None = None
    created_at: int = field(default_factory=lambda: int(time.time()))

    def __post_init__(self) -> None:
        if isinstance(self.event, Enum):
            # Keep the plain string, as upstream does; RunEvent compares equal to it either way.
            self.event = self.event.value

    def get_content_as_string(self, **kwargs: Any) -> str:
        """Return the content as text, JSON-encoding anything that is not a string."""
        if isinstance(self.content, str):
            return self.content
        return json.dumps(self.content, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        """Return the fields that are set, as upstream's `to_dict` does."""
        return {key: value for key, value in asdict(self).items() if value is not None}

    def to_json(self) -> str:
        """Return the fields that are set as indented JSON."""
        return json.dumps(self.to_dict(), indent=2, default=str)
