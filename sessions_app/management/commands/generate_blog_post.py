"""`manage.py generate_blog_post --session-id ID "TOPIC" [--no-cache]`: write a post in the terminal."""

from __future__ import annotations

from typing import Any, TextIO, cast

from django.core.management.base import BaseCommand, CommandError, CommandParser

from sessions_app.state.storage import DjangoWorkflowStorage
from sessions_app.workflow import BlogPostGenerator, WorkflowError
from sessions_app.workflow.console import stream_to_console
from sessions_app.workflow.llm import ModelError


class Command(BaseCommand):
    help = "Generate a blog post on TOPIC in a session, streaming it as it is written; cached topics return at once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("topic", help="What the post is about.")
        parser.add_argument("--session-id", required=True, help="The session whose cache to use.")
        parser.add_argument(
            "--no-cache", action="store_true", help="Write the post anew and replace the cached one."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        workflow = BlogPostGenerator(
            session_id=options["session_id"],
            storage=DjangoWorkflowStorage(workflow=BlogPostGenerator.__name__),
        )
        try:
            final, from_cache = stream_to_console(
                workflow.run(topic=options["topic"], use_cache=not options["no_cache"]),
                out=cast(TextIO, self.stdout._out),
                err=cast(TextIO, self.stderr._out),
            )
        except (ModelError, WorkflowError, ValueError) as error:
            raise CommandError(str(error)) from error
        if final is None:
            raise CommandError("The run ended without a post.")
        where = "served from the cache" if from_cache else "written now and cached"
        self.stderr.write(f"Done: {where} (session {workflow.session_id!r}, run {workflow.run_id}).")
