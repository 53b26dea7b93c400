"""The seeds' BlogPostGenerator body, once on wfsite's engine and once on phidata's, for end-to-end runs.

Both classes run the same code (the seed's cache check, a completed event, the append); `draft`
stands in for the writer agent's post, so a run measures the engine and its storage, not a model.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.stores import TABLE
from bench.upstream import Phidata, Unavailable
from sessions_app.workflow import RunEvent, RunResponse, Workflow


class SeedBlogPostGenerator(Workflow):
    """The seed's workflow on wfsite's engine."""

    name = "BlogPostGenerator"
    draft: str = ""

    def run(self, topic: str, use_cache: bool = True) -> Iterator[RunResponse]:
        if use_cache and "blog_posts" in self.session_state:
            for cached_blog_post in self.session_state["blog_posts"]:
                if cached_blog_post["topic"] == topic:
                    yield RunResponse(
                        run_id=self.run_id,
                        event=RunEvent.workflow_completed,
                        content=cached_blog_post["blog_post"],
                    )
                    return
        yield RunResponse(run_id=self.run_id, event=RunEvent.workflow_completed, content=self.draft)
        if "blog_posts" not in self.session_state:
            self.session_state["blog_posts"] = []
        self.session_state["blog_posts"].append({"topic": topic, "blog_post": self.draft})


def run_wfsite(storage: Any, session_id: str, topic: str, draft: str) -> None:
    """Run the seed's workflow once on wfsite's engine, consuming every event."""
    for _ in SeedBlogPostGenerator(session_id=session_id, storage=storage, draft=draft).run(topic=topic):
        pass


class PhidataRunner:
    """Run the seed's workflow through phidata's real `Workflow.run` on one shared storage."""

    label = "phidata Workflow.run"

    def __init__(self, path: Path) -> None:
        try:
            from phi.run.response import RunEvent as PhiRunEvent
            from phi.run.response import RunResponse as PhiRunResponse
            from phi.storage.workflow.sqlite import SqlWorkflowStorage
            from phi.workflow import Workflow as PhiWorkflow
        except ImportError as error:
            raise Unavailable(f"phidata is not installed ({error})") from error

        class PhidataBlogPostGenerator(PhiWorkflow):
            name: str | None = "BlogPostGenerator"
            draft: str = ""

            def run(self, topic: str, use_cache: bool = True) -> Iterator[PhiRunResponse]:
                if use_cache and "blog_posts" in self.session_state:
                    for cached_blog_post in self.session_state["blog_posts"]:
                        if cached_blog_post["topic"] == topic:
                            yield PhiRunResponse(
                                run_id=self.run_id,
                                event=PhiRunEvent.workflow_completed,
                                content=cached_blog_post["blog_post"],
                            )
                            return
                yield PhiRunResponse(
                    run_id=self.run_id, event=PhiRunEvent.workflow_completed, content=self.draft
                )
                if "blog_posts" not in self.session_state:
                    self.session_state["blog_posts"] = []
                self.session_state["blog_posts"].append({"topic": topic, "blog_post": self.draft})

        self.workflow_class = PhidataBlogPostGenerator
        self.seeder, self.path = Phidata(path), path
        self.storage = SqlWorkflowStorage(table_name=TABLE, db_file=str(path))

    def seed(self, session_id: str, state: dict[str, Any]) -> None:
        self.seeder.seed(session_id, state)

    def run(self, session_id: str, topic: str, draft: str) -> None:
        workflow = self.workflow_class(session_id=session_id, storage=self.storage, draft=draft)
        for _ in workflow.run(topic=topic):
            pass

    def close(self) -> None:
        self.seeder.close()
        self.storage.db_engine.dispose()
