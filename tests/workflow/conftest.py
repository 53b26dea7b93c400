from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sessions_app.workflow import RunResponse, SqliteWorkflowStorage, Workflow


class FakeWriter:
    """Stands in for the seeds' `# ... agents`: an agent whose last run produced a post."""

    def __init__(self, content: str) -> None:
        self.run_response = RunResponse(content=content)


class Cacher(Workflow):
    """Caches one post per topic, the seeds' way, with hooks to fail or pause half-way."""

    def run(self, topic: str, fail: bool = False) -> Iterator[RunResponse]:
        for entry in self.session_state.get("blog_posts", []):
            if entry["topic"] == topic:
                yield RunResponse(event="WorkflowCompleted", content=entry["blog_post"])
                return
        yield RunResponse(content=f"writing {topic}")
        self.session_state.setdefault("blog_posts", []).append({"topic": topic, "blog_post": f"post {topic}"})
        yield RunResponse(content=" ...")
        if fail:
            raise RuntimeError(f"model failed on {topic}")
        yield RunResponse(event="WorkflowCompleted", content=f"post {topic}")


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    return tmp_path / "tmp" / "workflows.db"


@pytest.fixture
def storage(db_file: Path) -> SqliteWorkflowStorage:
    return SqliteWorkflowStorage(table_name="generate_blog_post_workflows", db_file=db_file)


@pytest.fixture
def make_storage(db_file: Path):
    def make() -> SqliteWorkflowStorage:
        return SqliteWorkflowStorage(table_name="generate_blog_post_workflows", db_file=db_file)

    return make
