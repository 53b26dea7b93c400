"""The Django admin: sessions with their editable state, and read-only runs, events and history."""

from __future__ import annotations

from sessions_app.admin.records import RunEventAdmin, StateChangeAdmin, WorkflowRunAdmin
from sessions_app.admin.sessions import WorkflowSessionAdmin

__all__ = ["RunEventAdmin", "StateChangeAdmin", "WorkflowRunAdmin", "WorkflowSessionAdmin"]
