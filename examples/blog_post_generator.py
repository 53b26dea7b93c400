"""The seeds' BlogPostGenerator, runnable on its own: no Django, the cache in tmp/workflows.db.

    .venv/bin/python examples/blog_post_generator.py "AI agents"     # writes the post
    .venv/bin/python examples/blog_post_generator.py "AI agents"     # served from the cache

With no settings the offline demo model writes the post; see the README to use a real model.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sessions_app.workflow import BlogPostGenerator, SqliteWorkflowStorage
from sessions_app.workflow.console import stream_to_console


def main(argv: list[str]) -> int:
    topic = " ".join(argv) or "How AI agents use tools"
    # Create the workflow
    generate_blog_post = BlogPostGenerator(
        # Fix the session_id for this demo
        session_id="my-session-id",
        storage=SqliteWorkflowStorage(
            table_name="generate_blog_post_workflows",
            db_file="tmp/workflows.db",
        ),
    )
    try:
        _, from_cache = stream_to_console(generate_blog_post.run(topic=topic), out=sys.stdout, err=sys.stderr)
    except Exception as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print("(served from the cache)" if from_cache else "(written now and cached)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
