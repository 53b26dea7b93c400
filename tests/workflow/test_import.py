from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_public_import_line_works_without_django() -> None:
    code = (
        "import sys\n"
        "from sessions_app.workflow import Workflow, RunResponse, RunEvent, SqliteWorkflowStorage, "
        "SqlWorkflowStorage, logger\n"
        "assert SqlWorkflowStorage is SqliteWorkflowStorage\n"
        "loaded = sorted(m for m in sys.modules if m == 'django' or m.startswith('django.'))\n"
        "print(loaded)\n"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}  # no DJANGO_SETTINGS_MODULE
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_run_event_has_upstream_values() -> None:
    from sessions_app.workflow import RunEvent

    assert {e.value for e in RunEvent} == {
        "RunStarted",
        "RunResponse",
        "RunCompleted",
        "ToolCallStarted",
        "ToolCallCompleted",
        "ReasoningStarted",
        "ReasoningStep",
        "ReasoningCompleted",
        "UpdatingMemory",
        "WorkflowStarted",
        "WorkflowCompleted",
    }
    assert RunEvent.workflow_completed == "WorkflowCompleted"


def test_run_response_fields() -> None:
    from sessions_app.workflow import RunEvent, RunResponse

    response = RunResponse(content="hi", event=RunEvent.workflow_completed, metrics={"time": 1.0})
    assert response.event == RunEvent.workflow_completed
    assert response.content_type == "str"
    assert isinstance(response.created_at, int)
    assert response.to_dict()["event"] == "WorkflowCompleted"
    for name in (
        "run_id",
        "session_id",
        "workflow_id",
        "event",
        "content",
        "content_type",
        "created_at",
        "metrics",
    ):
        assert hasattr(response, name)
