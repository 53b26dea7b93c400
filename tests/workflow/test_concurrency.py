"""No lost updates: runs that overlap on one session keep each other's writes."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sessions_app.workflow import RunResponse, SqliteWorkflowStorage, StateConflictError, Workflow
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


def test_two_threads_on_one_session_keep_both_posts(make_storage) -> None:
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(topic: str) -> None:
        try:
            list(Overlapping(session_id="s", storage=make_storage(), barrier=barrier).run(topic=topic))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(t,)) for t in ("alpha", "beta")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    assert errors == []
    assert topics(make_storage()) == ["alpha", "beta"]
    assert make_storage().read("s").version == 2


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


def test_reused_instance_does_not_erase_another_instances_write(storage: SqliteWorkflowStorage) -> None:
    first = Cacher(session_id="s", storage=storage)
    list(first.run(topic="a"))
    list(Cacher(session_id="s", storage=storage).run(topic="b"))
    list(first.run(topic="c"))  # upstream: first's stale list overwrites, and "b" is gone

    assert topics(storage) == ["a", "b", "c"]


def test_instance_that_loaded_before_another_wrote_merges_its_write(storage: SqliteWorkflowStorage) -> None:
    first = Cacher(session_id="s", storage=storage)
    first.read_from_storage()
    list(Cacher(session_id="s", storage=storage).run(topic="b"))
    first.session_state.setdefault("blog_posts", []).append({"topic": "a", "blog_post": "post a"})
    first.write_to_storage()

    assert topics(storage) == ["a", "b"]
    assert [p["topic"] for p in first.session_state["blog_posts"]] == ["b", "a"]


def test_true_conflict_raises_naming_the_key_and_keeps_unsaved_state(storage: SqliteWorkflowStorage) -> None:
    storage_state = Cacher(session_id="s", storage=storage)
    storage_state.session_state["tone"] = "neutral"
    storage_state.write_to_storage()

    mine = Cacher(session_id="s", storage=storage)
    mine.read_from_storage()
    theirs = Cacher(session_id="s", storage=storage)
    theirs.read_from_storage()
    theirs.session_state["tone"] = "formal"
    theirs.write_to_storage()

    mine.session_state["tone"] = "playful"
    mine.session_state["other"] = 1
    with pytest.raises(StateConflictError, match=r"session_state\['tone'\]") as caught:
        mine.write_to_storage()

    assert caught.value.paths == [("tone",)]
    assert storage.read("s").session_state == {"tone": "formal"}  # nothing overwritten, nothing half-applied
    assert mine.session_state == {"tone": "playful", "other": 1}  # the run's work is still in hand


class Toning(Workflow):
    barrier: Any = None

    def run(self, tone: str) -> Iterator[RunResponse]:
        self.barrier.wait(timeout=30)
        self.session_state["tone"] = tone
        yield RunResponse(content=tone)


def test_conflicting_run_is_recorded_failed_with_its_unsaved_state(make_storage) -> None:
    barrier = threading.Barrier(2)
    outcomes: dict[str, BaseException | None] = {}

    def run(tone: str) -> None:
        try:
            list(Toning(session_id="s", storage=make_storage(), barrier=barrier).run(tone=tone))
            outcomes[tone] = None
        except BaseException as error:
            outcomes[tone] = error

    threads = [threading.Thread(target=run, args=(t,)) for t in ("formal", "playful")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    [loser] = [tone for tone, error in outcomes.items() if isinstance(error, StateConflictError)]
    [winner] = [tone for tone, error in outcomes.items() if error is None]
    assert make_storage().read("s").session_state == {"tone": winner}
    failed = next(r for r in make_storage().get_runs("s") if r.status == "failed")
    assert "session_state['tone']" in failed.error
    assert f'"tone": "{loser}"' in failed.unsaved_state


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
