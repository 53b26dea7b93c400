"""The workflow engine: `from sessions_app.workflow import Workflow, RunResponse, ...`.

It imports nothing from Django, so it runs in a plain Python script.
"""

from __future__ import annotations

from sessions_app.workflow.base import Workflow
from sessions_app.workflow.blog_post_generator import BlogEvent, BlogPostGenerator
from sessions_app.workflow.blog_post_pipeline import BlogPostPipeline
from sessions_app.workflow.cache import Cache, CacheEntry
from sessions_app.workflow.errors import (
    InputError,
    StateConflictError,
    StateNotSerializableError,
    StorageBusyError,
    StorageError,
    WorkflowError,
)
from sessions_app.workflow.events import RunEvent, RunResponse
from sessions_app.workflow.log import logger
from sessions_app.workflow.run_record import WorkflowMemory
from sessions_app.workflow.sqlite_storage import SqliteWorkflowStorage
from sessions_app.workflow.storage import RunRecord, WorkflowSession, WorkflowStorage

# phidata calls it SqlWorkflowStorage, agno SqliteWorkflowStorage; the seeds use both names.
SqlWorkflowStorage = SqliteWorkflowStorage

__all__ = [
    "BlogEvent",
    "BlogPostGenerator",
    "BlogPostPipeline",
    "Cache",
    "CacheEntry",
    "InputError",
    "RunEvent",
    "RunRecord",
    "RunResponse",
    "SqlWorkflowStorage",
    "SqliteWorkflowStorage",
    "StateConflictError",
    "StateNotSerializableError",
    "StorageBusyError",
    "StorageError",
    "Workflow",
    "WorkflowError",
    "WorkflowMemory",
    "WorkflowSession",
    "WorkflowStorage",
    "logger",
]
