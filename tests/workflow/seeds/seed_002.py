"""Seed 002 (../shared/seeds/002_*.txt), its code as written; only the import lines are ours.

The seed shows the workflow's creation before its class; a module must define the class first,
so the creation snippet stands, unchanged, in `create_workflow()` below the class.
"""

from __future__ import annotations

from collections.abc import Iterator

from sessions_app.workflow import RunEvent, RunResponse, SqliteWorkflowStorage, Workflow, logger


class BlogPostGenerator(Workflow):
    # ... agents
    def run(self, topic: str, use_cache: bool = True) -> Iterator[RunResponse]:
        # Read from the session state cache
        if use_cache and "blog_posts" in self.session_state:
            logger.info("Checking if cached blog post exists")
            for cached_blog_post in self.session_state["blog_posts"]:
                if cached_blog_post["topic"] == topic:
                    logger.info("Found cached blog post")
                    yield RunResponse(
                        run_id=self.run_id,
                        event=RunEvent.workflow_completed,
                        content=cached_blog_post["blog_post"],
                    )
                    return

        # ... generate the blog post

        # Save to session state for future runs
        if "blog_posts" not in self.session_state:
            self.session_state["blog_posts"] = []
        self.session_state["blog_posts"].append({"topic": topic, "blog_post": self.writer.run_response.content})


def create_workflow() -> Workflow:
    # Create the workflow
    generate_blog_post = BlogPostGenerator(
        # Fix the session_id for this demo
        session_id="my-session-id",
        storage=SqliteWorkflowStorage(
            table_name="generate_blog_post_workflows",
            db_file="tmp/workflows.db",
        ),
    )
    return generate_blog_post
