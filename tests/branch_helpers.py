"""Sessions with a history for the fork and undo tests: written as runs write them, and by people."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from sessions_app.models import WorkflowSession
from sessions_app.state.storage import DjangoWorkflowStorage
from sessions_app.workflow.state import copy_json, diff
from sessions_app.workflow.storage import RunRecord, SessionMeta

WORKFLOW = "BlogPostGenerator"  # its `blog_posts` list is a declared cache


def posts(*topics: str) -> list[dict[str, str]]:
    return [{"topic": topic, "blog_post": f"# {topic}\n\nText."} for topic in topics]


def run_commit(session_id: str, edit: Callable[[dict[str, Any]], None]) -> WorkflowSession:
    """Write like a run does: load, change a copy, commit the ops at the loaded version."""
    storage = DjangoWorkflowStorage(WORKFLOW)
    record = storage.read(session_id)
    base = record.session_state if record else {}
    local = copy_json(base)
    edit(local)
    storage.commit(
        meta=SessionMeta(session_id=session_id, workflow_id=WORKFLOW),
        base_version=record.version if record else 0,
        ops=diff(base, local),
        state=local,
        run=RunRecord(
            run_id=str(uuid.uuid4()),
            session_id=session_id,
            workflow_id=WORKFLOW,
            input={},
            status="succeeded",
        ),
    )
    return WorkflowSession.objects.get(session_id=session_id)
