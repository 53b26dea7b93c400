"""Prove the upstream helpers against the real phidata 2.7.10 and agno 1.x packages.

``test_upstream_bug_*`` tests are characterization tests: they pass because upstream really
behaves wrongly, so the engine's tests can show the contrast.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from .upstream_dbs import (
    UpstreamSession,
    blog_posts_dict_cache,
    blog_posts_list_cache,
    describe_upstream_schema,
    edit_phidata_state,
    list_session_ids_with_agno,
    list_session_ids_with_phidata,
    make_agno_db,
    make_phidata_db,
    phidata_blog_post_generator,
    phidata_state_editor,
    read_row_raw,
    read_session_with_agno,
    read_session_with_phidata,
    read_state_with_agno,
    read_state_with_phidata,
    run_phidata_workflow,
    set_column_json_null_text,
    set_column_raw_text,
    set_column_sql_null,
    set_session_state_raw,
    set_updated_at_null,
    sqlalchemy_json_text,
)

pytestmark = [
    pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecatedSince20"),
    pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SADeprecationWarning"),
]

TABLE = "generate_blog_post_workflows"
SEEDED = blog_posts_list_cache([("seed", "Seed post")])


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "tmp" / "workflows.db"


class _ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def phi_records() -> Iterator[list[logging.LogRecord]]:
    """Collect what phidata's own logger emits (it does not propagate to the root logger)."""
    handler = _ListHandler()
    phi_logger = logging.getLogger("phi")
    level = phi_logger.level
    phi_logger.addHandler(handler)
    yield handler.records
    phi_logger.removeHandler(handler)
    phi_logger.setLevel(level)


def _seed_phidata(db: Path, session_id: str = "s", state: dict[str, Any] | None = None) -> None:
    make_phidata_db(db, TABLE, [UpstreamSession(session_id, "wf", None, SEEDED if state is None else state)])


def _topics(db: Path, session_id: str = "s") -> list[str]:
    state = read_state_with_phidata(db, TABLE, session_id) or {}
    return [entry["topic"] for entry in state.get("blog_posts", [])]


def _row(db: Path, session_id: str) -> dict[str, Any]:
    row = read_row_raw(db, TABLE, session_id)
    assert row is not None
    return row


def _sql(db: Path, query: str, *params: str) -> tuple[Any, ...]:
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute(query, params).fetchone()


def test_phidata_db_round_trips_through_phidata(db: Path) -> None:
    state = blog_posts_list_cache([("Ünïcode", "Post é"), ("Ünïcode", "Duplicate"), ("b", "B")])
    sessions = [
        UpstreamSession("one", "wf-1", "alice", state, "Named", [({"topic": "b"}, "B")]),
        UpstreamSession("two words/ü", "wf-2", None, blog_posts_dict_cache({"x": "X"})),
    ]
    make_phidata_db(db, TABLE, sessions)

    assert read_state_with_phidata(db, TABLE, "one") == state
    assert read_state_with_phidata(db, TABLE, "two words/ü") == {"blog_posts": {"x": "X"}}
    assert read_state_with_phidata(db, TABLE, "missing") is None
    assert sorted(list_session_ids_with_phidata(db, TABLE)) == ["one", "two words/ü"]
    assert list_session_ids_with_phidata(db, TABLE, user_id="alice") == ["one"]
    session = read_session_with_phidata(db, TABLE, "one")
    assert session is not None
    assert session["workflow_data"] == {"name": "BlogPostGenerator"}
    assert session["session_data"] == {"session_name": "Named", "session_state": state}
    [run] = session["memory"]["runs"]
    assert run["input"] == {"args": [], "kwargs": {"topic": "b"}}
    assert run["response"]["content"] == "B"
    assert run["response"]["event"] == "RunResponse"
    assert set(run["response"]) == {
        "content", "content_type", "event", "run_id", "session_id", "workflow_id", "created_at",
    }  # fmt: skip


def test_phidata_layout(db: Path) -> None:
    state = {"blog_posts": [{"topic": "é", "blog_post": "ü"}]}
    make_phidata_db(db, TABLE, [UpstreamSession("s", "wf", None, state)])

    assert describe_upstream_schema(db, TABLE) == [
        ("session_id", "VARCHAR"),
        ("workflow_id", "VARCHAR"),
        ("user_id", "VARCHAR"),
        ("memory", "JSON"),
        ("workflow_data", "JSON"),
        ("user_data", "JSON"),
        ("session_data", "JSON"),
        ("created_at", "INTEGER"),
        ("updated_at", "INTEGER"),
    ]
    row = _row(db, "s")
    assert (
        row["session_data"]
        == '{"session_state": {"blog_posts": [{"topic": "\\u00e9", "blog_post": "\\u00fc"}]}}'
    )
    assert row["session_data"] == sqlalchemy_json_text({"session_state": state})
    assert row["user_data"] == "null"
    assert row["memory"] == '{"runs": []}'
    assert row["updated_at"] is None
    assert abs(row["created_at"] - time.time()) < 60
    assert _sql(db, f"SELECT typeof(created_at), typeof(session_data) FROM {TABLE}") == ("integer", "text")

    make_phidata_db(db, TABLE, [UpstreamSession("s", "wf", None, {})])
    row = _row(db, "s")
    assert row["session_data"] == "{}"
    assert isinstance(row["updated_at"], int)


def test_run_phidata_workflow_returns_cached_post_on_second_run(db: Path) -> None:
    first = run_phidata_workflow(db, TABLE, "my-session-id", "Llamas", "Fresh post")
    second = run_phidata_workflow(db, TABLE, "my-session-id", "Llamas", "Should not be generated")

    assert [(e.event, e.content) for e in first] == [("WorkflowCompleted", "Fresh post")]
    assert [(e.event, e.content) for e in second] == [("WorkflowCompleted", "Fresh post")]
    assert read_state_with_phidata(db, TABLE, "my-session-id") == blog_posts_list_cache(
        [("Llamas", "Fresh post")]
    )
    session = read_session_with_phidata(db, TABLE, "my-session-id")
    assert session is not None
    assert [r["input"] for r in session["memory"]["runs"]] == [
        {"args": [], "kwargs": {"topic": "Llamas", "use_cache": True}}
    ] * 2


def test_upstream_layout_workflow_id_is_rewritten_by_every_instance(db: Path) -> None:
    run_phidata_workflow(db, TABLE, "s", "a", "A")
    first = _row(db, "s")
    run_phidata_workflow(db, TABLE, "s", "a", "A")
    second = _row(db, "s")

    assert first["workflow_id"] != second["workflow_id"]


def test_seed_run_returns_first_of_duplicate_topics(db: Path) -> None:
    _seed_phidata(db, state=blog_posts_list_cache([("t", "first"), ("t", "second")]))

    assert [e.content for e in run_phidata_workflow(db, TABLE, "s", "t", "new")] == ["first"]


def test_agno_db_round_trips_through_agno(db: Path) -> None:
    sessions = [
        UpstreamSession("one", "wf", "alice", {"blog_posts": {"é": "ü"}}, "Named", [({"topic": "é"}, "ü")]),
        UpstreamSession("two", "wf", None, {}),
    ]
    make_agno_db(db, TABLE, sessions)

    assert describe_upstream_schema(db, TABLE) == [
        ("session_id", "VARCHAR"),
        ("user_id", "VARCHAR"),
        ("memory", "JSON"),
        ("session_data", "JSON"),
        ("extra_data", "JSON"),
        ("created_at", "INTEGER"),
        ("updated_at", "INTEGER"),
        ("workflow_id", "VARCHAR"),
        ("workflow_data", "JSON"),
    ]
    assert read_state_with_agno(db, TABLE, "one") == {"blog_posts": {"é": "ü"}}
    assert read_state_with_agno(db, TABLE, "two") == {}
    assert read_state_with_agno(db, TABLE, "missing") is None
    assert sorted(list_session_ids_with_agno(db, TABLE)) == ["one", "two"]
    session = read_session_with_agno(db, TABLE, "one")
    assert session is not None
    assert session["workflow_data"] == {"name": "BlogPostGenerator", "workflow_id": "wf"}
    assert session["session_data"] == {"session_name": "Named", "session_state": {"blog_posts": {"é": "ü"}}}
    assert set(session["memory"]) == {"summaries", "memories", "runs"}
    [run] = session["memory"]["runs"]
    assert (run["content"], run["session_id"], "input" in run) == ("ü", "one", False)
    row = _row(db, "two")
    assert (row["memory"], row["extra_data"], row["updated_at"]) == ("null", "null", None)


def test_set_updated_at_null(db: Path) -> None:
    _seed_phidata(db)
    _seed_phidata(db)
    assert _sql(db, f"SELECT updated_at IS NULL FROM {TABLE}") == (0,)

    set_updated_at_null(db, TABLE, "s")

    assert _sql(db, f"SELECT updated_at IS NULL FROM {TABLE} WHERE session_id = ?", "s") == (1,)
    assert read_state_with_phidata(db, TABLE, "s") == SEEDED


def test_set_column_json_null_text(db: Path) -> None:
    _seed_phidata(db)

    set_column_json_null_text(db, TABLE, "s", "session_data")

    assert _sql(db, f"SELECT session_data, typeof(session_data) FROM {TABLE}") == ("null", "text")
    assert read_state_with_phidata(db, TABLE, "s") == {}
    session = read_session_with_phidata(db, TABLE, "s")
    assert session is not None
    assert session["session_data"] is None


def test_set_column_sql_null(db: Path) -> None:
    _seed_phidata(db)

    set_column_sql_null(db, TABLE, "s", "memory")

    assert _sql(db, f"SELECT typeof(memory) FROM {TABLE}") == ("null",)
    assert read_state_with_phidata(db, TABLE, "s") == SEEDED


def test_set_session_state_raw_writes_non_dict_state_phidata_ignores(db: Path) -> None:
    _seed_phidata(db)

    set_session_state_raw(db, TABLE, "s", ["not", "a", "dict"])

    row = _row(db, "s")
    assert row["session_data"] == '{"session_state": ["not", "a", "dict"]}'
    assert read_state_with_phidata(db, TABLE, "s") == {}


def test_upstream_phidata_reads_malformed_json_row_as_missing(db: Path) -> None:
    _seed_phidata(db)

    set_column_raw_text(db, TABLE, "s", "session_data", "{not json")

    assert read_state_with_phidata(db, TABLE, "s") is None


def test_raw_writers_reject_unknown_session(db: Path) -> None:
    _seed_phidata(db)

    with pytest.raises(LookupError):
        set_updated_at_null(db, TABLE, "missing")
    with pytest.raises(LookupError):
        set_session_state_raw(db, TABLE, "missing", {})


def test_upstream_bug_second_instance_loses_other_instances_write(db: Path) -> None:
    _seed_phidata(db)
    instance_a = phidata_blog_post_generator(db, TABLE, "s", "Post A")
    instance_a.read_from_storage()

    run_phidata_workflow(db, TABLE, "s", "B", "Post B")
    assert _topics(db) == ["seed", "B"]
    list(instance_a.run(topic="A"))

    assert _topics(db) == ["seed", "A"]


def test_upstream_bug_interleaved_runs_lose_a_write(db: Path) -> None:
    run_a = phidata_blog_post_generator(db, TABLE, "s", "Post A").run(topic="A")

    run_phidata_workflow(db, TABLE, "s", "B", "Post B")
    list(run_a)

    assert _topics(db) == ["A"]


def test_upstream_bug_reassigning_empty_state_does_not_clear_storage(db: Path) -> None:
    _seed_phidata(db)

    edit_phidata_state(db, TABLE, "s", lambda state: {})

    assert read_state_with_phidata(db, TABLE, "s") == SEEDED


def test_upstream_clearing_state_in_place_does_clear_storage(db: Path) -> None:
    """phidata's loaded session_data aliases session_state, so ``.clear()`` reaches storage."""
    _seed_phidata(db)

    def clear(state: dict[str, Any]) -> dict[str, Any]:
        state.clear()
        return state

    edit_phidata_state(db, TABLE, "s", clear)

    assert read_state_with_phidata(db, TABLE, "s") == {}
    row = _row(db, "s")
    assert json.loads(row["session_data"]) == {"session_state": {}}


def _add_datetime(state: dict[str, Any]) -> dict[str, Any]:
    return {**state, "when": datetime(2024, 1, 2, 3, 4, 5)}


def test_upstream_bug_datetime_in_state_fails_silently(
    db: Path, phi_records: list[logging.LogRecord]
) -> None:
    _seed_phidata(db)
    before = read_row_raw(db, TABLE, "s")
    workflow = phidata_state_editor(db, TABLE, "s", _add_datetime)

    events = list(workflow.run())

    assert [(e.event, e.content) for e in events] == [("WorkflowCompleted", "edited")]
    assert workflow.write_to_storage() is None
    assert read_row_raw(db, TABLE, "s") == before
    assert not [r for r in phi_records if "upsert" in r.getMessage()]


def test_upstream_bug_datetime_failure_is_logged_only_at_debug(
    db: Path, phi_records: list[logging.LogRecord]
) -> None:
    _seed_phidata(db)
    workflow = phidata_state_editor(db, TABLE, "s", _add_datetime, debug_mode=True)

    list(workflow.run())

    [record] = [r for r in phi_records if "Exception upserting" in r.getMessage()]
    assert record.levelno == logging.DEBUG
    assert "Object of type datetime is not JSON serializable" in record.getMessage()


def test_upstream_bug_run_that_raises_loses_state_changes(db: Path) -> None:
    _seed_phidata(db)

    def fail_midway(state: dict[str, Any]) -> dict[str, Any]:
        state["blog_posts"].append({"topic": "partial", "blog_post": "Half done"})
        raise RuntimeError("model timed out")

    with pytest.raises(RuntimeError, match="model timed out"):
        edit_phidata_state(db, TABLE, "s", fail_midway)

    assert _topics(db) == ["seed"]


def test_upstream_bug_consumer_that_stops_reading_loses_the_post(db: Path) -> None:
    _seed_phidata(db)
    events = phidata_blog_post_generator(db, TABLE, "s", "Fresh post").run(topic="Llamas")

    assert next(events).content == "Fresh post"
    events.close()

    assert _topics(db) == ["seed"]


def test_upstream_bug_seed_code_crashes_on_dict_shaped_cache(db: Path) -> None:
    _seed_phidata(db, state=blog_posts_dict_cache({"Llamas": "Cached"}))

    with pytest.raises(TypeError, match="string indices must be integers"):
        run_phidata_workflow(db, TABLE, "s", "Llamas", "Fresh post")
