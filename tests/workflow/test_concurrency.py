"""No lost updates: runs that overlap on one session keep each other's writes."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sessions_app.workflow import RunResponse, SqliteWorkflowStorage, Workflow
from tests.workflow.conftest import Cacher


class Overlapping(Workflow):
    """Loads, waits until every other run has loaded too, then caches its topic."""

    barrier: Any = None

    def run(self, topic: str) -> Iterator[RunResponse]:
        self.barrier.wait(timeout=30)
        self.session_state.setdefault("blog_posts", []).append({"topic": topic, "blog_post": f"post {topic}"})
        yield RunResponse(content=f"post {topic}")


def topics(storage: SqliteWorkflowStorage) -> list[str]:
    return sorted(p["topic"] for p in storage.read("s").session_state["blog_posts"])


def _process_run(db_file: str, topic: str, barrier: Any) -> None:
    storage = SqliteWorkflowStorage(table_name="generate_blog_post_workflows", db_file=db_file)
    list(Overlapping(session_id="s", storage=storage, barrier=barrier).run(topic=topic))


def test_separate_processes_on_one_session_keep_every_post(db_file: Path, make_storage) -> None:
    context = multiprocessing.get_context("spawn")
    names = [f"topic-{i}" for i in range(4)]
    barrier = context.Barrier(len(names))
    processes = [context.Process(target=_process_run, args=(str(db_file), n, barrier)) for n in names]
    for p in processes:
        p.start()
    for p in processes:
        p.join(60)

    assert [p.exitcode for p in processes] == [0] * len(names)
    assert topics(make_storage()) == names
    runs = make_storage().get_runs("s")
    assert sorted(r.state_version for r in runs) == [1, 2, 3, 4]


def test_upstream_writer_that_does_not_know_versions_is_not_overwritten(
    storage: SqliteWorkflowStorage,
) -> None:
    list(Cacher(session_id="s", storage=storage).run(topic="a"))
    mine = Cacher(session_id="s", storage=storage)
    mine.read_from_storage()
    # What phidata's upsert does: rewrite session_data without touching wfsite_version.
    conn = storage._conn()
    conn.execute(
        "UPDATE generate_blog_post_workflows SET session_data = ? WHERE session_id = 's'",
        (
            '{"session_state": {"blog_posts": [{"topic": "a", "blog_post": "post a"}, '
            '{"topic": "u", "blog_post": "by upstream"}]}}',
        ),
    )
    mine.session_state["blog_posts"].append({"topic": "m", "blog_post": "mine"})
    mine.write_to_storage()

    assert topics(storage) == ["a", "m", "u"]
