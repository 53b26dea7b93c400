"""SqliteWorkflowStorage: upstream's methods, the file's settings, and files shared with phidata and agno."""

from __future__ import annotations

import json
import sqlite3
import threading
from contextlib import closing
from pathlib import Path

import pytest

from sessions_app.workflow import (
    RunEvent,
    SqliteWorkflowStorage,
    SqlWorkflowStorage,
    StorageBusyError,
    WorkflowSession,
)
from tests.upstream import raw_tables as raw
from tests.upstream import upstream_dbs as up
from tests.workflow.conftest import Cacher, FakeWriter
from tests.workflow.seeds import seed_001

TABLE = "generate_blog_post_workflows"


def test_creates_the_folder_and_uses_wal_with_a_busy_timeout(tmp_path: Path) -> None:
    db_file = tmp_path / "deep" / "er" / "workflows.db"
    storage = SqliteWorkflowStorage(table_name=TABLE, db_file=str(db_file), busy_timeout=7.5)
    storage.create()

    assert db_file.exists()
    conn = storage._conn()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 7500
    indexes = {row[1] for row in conn.execute(f"PRAGMA index_list({TABLE})")}
    assert f"{TABLE}_wfsite_last_update" in indexes
    plan = " ".join(
        str(row)
        for row in conn.execute(
            f"EXPLAIN QUERY PLAN SELECT session_id FROM {TABLE} ORDER BY coalesce(updated_at, created_at) DESC LIMIT 50"
        )
    )
    assert "wfsite_last_update" in plan


def test_db_url_and_alias(tmp_path: Path) -> None:
    assert SqlWorkflowStorage is SqliteWorkflowStorage
    storage = SqliteWorkflowStorage(table_name=TABLE, db_url=f"sqlite:///{tmp_path}/x.db")
    storage.create()
    assert (tmp_path / "x.db").exists()
    with pytest.raises(ValueError, match="sqlite:///"):
        SqliteWorkflowStorage(table_name=TABLE, db_url="postgres://x")
    with pytest.raises(ValueError, match="plain SQL identifier"):
        SqliteWorkflowStorage(table_name='x"; DROP TABLE y; --', db_file=tmp_path / "y.db")


def test_upstream_methods(storage: SqliteWorkflowStorage) -> None:
    for sid, user in [("a", "u1"), ("b", "u2"), ("c", "u1")]:
        storage.upsert(
            WorkflowSession(
                session_id=sid, workflow_id="wf", user_id=user, session_data={"session_state": {"n": sid}}
            )
        )

    assert storage.read("a").session_state == {"n": "a"}
    assert storage.read("a", user_id="u2") is None
    assert storage.read("missing") is None
    assert sorted(storage.get_all_session_ids()) == ["a", "b", "c"]
    assert sorted(storage.get_all_session_ids(user_id="u1")) == ["a", "c"]
    assert storage.get_all_session_ids(workflow_id="other") == []
    assert sorted(s.session_id for s in storage.get_all_sessions(user_id="u1")) == ["a", "c"]

    again = storage.upsert(
        WorkflowSession(session_id="a", workflow_id="wf", session_data={"session_state": {"n": 2}})
    )
    assert again.version == 2
    assert again.session_state == {"n": 2}

    storage.delete_session("b")
    assert storage.read("b") is None
    storage.drop()
    assert storage.read("a") is None  # the table is made again on use, as upstream does


def test_list_sessions_newest_first_without_loading_state(storage: SqliteWorkflowStorage) -> None:
    for sid in ["old", "mid", "new"]:
        list(Cacher(session_id=sid, storage=storage).run(topic=sid))
        storage._conn().execute(
            f"UPDATE {TABLE} SET updated_at = ? WHERE session_id = ?",
            ({"old": 1, "mid": 2, "new": 3}[sid], sid),
        )
    rows = storage.list_sessions(limit=2)
    assert [r["session_id"] for r in rows] == ["new", "mid"]
    assert rows[0]["size"] > 0
    assert "session_data" not in rows[0]


def test_locked_database_is_retried_then_reported_with_nothing_written(db_file: Path) -> None:
    storage = SqliteWorkflowStorage(table_name=TABLE, db_file=db_file, busy_timeout=0.05, busy_retries=2)
    storage.create()
    blocker = sqlite3.connect(db_file, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")
    workflow = Cacher(session_id="s", storage=storage)
    workflow.session_state["x"] = 1
    with pytest.raises(StorageBusyError, match="stayed locked by other writers after 3 tries"):
        workflow.write_to_storage()
    blocker.execute("ROLLBACK")
    assert storage.read("s") is None

    # Released within the retries: the write goes through.
    blocker.execute("BEGIN IMMEDIATE")
    threading.Timer(0.1, lambda: blocker.execute("ROLLBACK")).start()
    workflow.storage = SqliteWorkflowStorage(
        table_name=TABLE, db_file=db_file, busy_timeout=0.05, busy_retries=5
    )
    workflow.write_to_storage()
    assert storage.read("s").session_state == {"x": 1}


# -- files shared with upstream ------------------------------------------------------------------


def test_opens_a_phidata_table_in_place_and_phidata_reads_what_we_write(
    db_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    up.run_phidata_workflow(db_file, TABLE, "my-session-id", "AI agents", "post by phidata")
    up.set_updated_at_null(db_file, TABLE, "my-session-id")
    up.set_column_json_null_text(db_file, TABLE, "my-session-id", "user_data")

    monkeypatch.chdir(db_file.parent.parent)  # the seed's db_file is tmp/workflows.db
    seed_001.BlogPostGenerator.writer = FakeWriter("post by wfsite")
    events = list(seed_001.create_workflow().run(topic="AI agents"))
    assert [(e.event, e.content) for e in events] == [(RunEvent.workflow_completed, "post by phidata")]
    list(seed_001.create_workflow().run(topic="Rust"))

    state = up.read_state_with_phidata(db_file, TABLE, "my-session-id")
    assert state == {
        "blog_posts": [
            {"topic": "AI agents", "blog_post": "post by phidata"},
            {"topic": "Rust", "blog_post": "post by wfsite"},
        ]
    }
    # phidata's own run on our file sees our post as cached.
    again = up.run_phidata_workflow(db_file, TABLE, "my-session-id", "Rust", "unused")
    assert [(e.event, e.content) for e in again] == [("WorkflowCompleted", "post by wfsite")]
    assert "my-session-id" in up.list_session_ids_with_phidata(db_file, TABLE)


def test_a_file_we_create_is_readable_by_phidata_and_agno(
    storage: SqliteWorkflowStorage, db_file: Path
) -> None:
    workflow = Cacher(session_id="ours", storage=storage, user_id="u", session_name="Mine")
    list(workflow.run(topic="é unicode ✓"))

    assert up.read_state_with_phidata(db_file, TABLE, "ours") == workflow.session_state
    assert up.read_session_with_phidata(db_file, TABLE, "ours")["session_data"]["session_name"] == "Mine"
    assert up.read_state_with_agno(db_file, TABLE, "ours") == workflow.session_state
    assert up.list_session_ids_with_phidata(db_file, TABLE) == ["ours"]


def test_lone_surrogates_and_big_integers_are_stored_as_upstream_stores_them(
    storage: SqliteWorkflowStorage, db_file: Path
) -> None:
    # Escaped in the JSON text (as phidata's json.dumps writes them), so the file stays valid UTF-8.
    workflow = Cacher(session_id="odd", storage=storage)
    workflow.session_state.update(lone="a\ud800b", big=2**70, fine="é ✓")
    workflow.write_to_storage()
    list(workflow.run(topic="t\udfff"))

    fresh = SqliteWorkflowStorage(table_name=TABLE, db_file=db_file)
    assert fresh.read("odd").session_state == workflow.session_state
    assert up.read_state_with_phidata(db_file, TABLE, "odd") == workflow.session_state
    with closing(sqlite3.connect(db_file)) as conn:
        text = conn.execute(f"SELECT session_data FROM {TABLE}").fetchone()[0]
    assert "\\ud800" in text


def test_our_side_table_cannot_collide_with_another_librarys_runs_table(db_file: Path) -> None:
    up.make_phidata_db(db_file, TABLE, [up.UpstreamSession("s", "wf", None, {})])
    raw.add_foreign_runs_table(db_file, TABLE)
    theirs = raw.tables(db_file)[f"{TABLE}_runs"]

    storage = SqliteWorkflowStorage(table_name=TABLE, db_file=db_file)
    list(Cacher(session_id="s", storage=storage).run(topic="t"))

    assert [run.status for run in storage.get_runs("s")] == ["succeeded"]
    found = raw.tables(db_file)
    assert found[f"{TABLE}_runs"] == theirs  # left as it was, row and all
    with closing(sqlite3.connect(db_file)) as conn:
        assert conn.execute(f"SELECT count(*) FROM {TABLE}_runs").fetchone() == (1,)
    assert f"{TABLE}_wfsite_runs" in found
    assert f"{TABLE}_wfsite_runs_session" in raw.indexes(db_file)


def test_a_run_history_under_the_old_name_is_renamed_in_place(db_file: Path) -> None:
    up.make_phidata_db(db_file, TABLE, [up.UpstreamSession("s", "wf", None, {"k": 1})])
    old_run = ("7f0e8a8e-3c1a-4b7e-9d2f-0a1b2c3d4e5f", "s", "wf", "succeeded", '{"args": [], "kwargs": {}}')
    raw.add_old_runs_table(db_file, TABLE, [(*old_run, "old output", None, 0, 1.0, 2.0, 3, 1, None)])

    storage = SqliteWorkflowStorage(table_name=TABLE, db_file=db_file)
    list(Cacher(session_id="s", storage=storage).run(topic="t"))

    assert [run.output for run in storage.get_runs("s")] == ["old output", "post t"]
    assert f"{TABLE}_runs" not in raw.tables(db_file)
    assert f"{TABLE}_runs_session" not in raw.indexes(db_file)
    assert f"{TABLE}_wfsite_runs_session" in raw.indexes(db_file)
    # Opening it again (another process, say) finds nothing left to rename.
    assert len(SqliteWorkflowStorage(table_name=TABLE, db_file=db_file).get_runs("s")) == 2


def test_phidata_writes_after_ours_are_not_lost_by_our_next_run(
    storage: SqliteWorkflowStorage, db_file: Path
) -> None:
    ours = Cacher(session_id="s", storage=storage)
    list(ours.run(topic="a"))
    up.run_phidata_workflow(db_file, TABLE, "s", "b", "post b by phidata")
    ours.session_state["blog_posts"].append({"topic": "c", "blog_post": "post c"})
    ours.write_to_storage()  # loaded before phidata wrote; the version trigger saw phidata's write

    topics = [p["topic"] for p in storage.read("s").session_state["blog_posts"]]
    assert topics == ["a", "b", "c"]


@pytest.mark.parametrize("shape", ["list", "dict"])
def test_opens_agno_tables_and_both_cache_shapes(db_file: Path, shape: str) -> None:
    cache = (
        up.blog_posts_list_cache([("x", "old"), ("y", "post y"), ("X", "newest x")])
        if shape == "list"
        else up.blog_posts_dict_cache({"x": "newest x", "y": "post y"})
    )
    up.make_agno_db(db_file, TABLE, [up.UpstreamSession("s", "wf", "u", cache)])
    storage = SqliteWorkflowStorage(table_name=TABLE, db_file=db_file)

    assert storage.read("s").session_state == cache
    assert "user_data" not in storage.columns
    from sessions_app.workflow import BlogPostGenerator

    events = list(BlogPostGenerator(session_id="s", storage=storage, searcher=None).run("x"))
    assert [(e.event, e.content) for e in events] == [("WorkflowCompleted", "newest x")]
    assert up.read_state_with_agno(db_file, TABLE, "s") == cache


def test_null_and_null_text_columns_read_as_empty(db_file: Path) -> None:
    up.make_phidata_db(db_file, TABLE, [up.UpstreamSession("s", "wf", None, {"k": 1})])
    up.set_column_json_null_text(db_file, TABLE, "s", "session_data")
    up.set_column_json_null_text(db_file, TABLE, "s", "memory")
    up.set_updated_at_null(db_file, TABLE, "s")
    storage = SqliteWorkflowStorage(table_name=TABLE, db_file=db_file)

    session = storage.read("s")
    assert session.session_state == {}
    assert session.memory is None
    workflow = Cacher(session_id="s", storage=storage)
    list(workflow.run(topic="t"))
    assert up.read_state_with_phidata(db_file, TABLE, "s") == workflow.session_state
    assert storage.list_sessions()[0]["updated_at"] is not None


def test_a_large_state_is_padded_in_place_and_still_read_by_phidata_and_agno(
    storage: SqliteWorkflowStorage, db_file: Path
) -> None:
    def size() -> int:
        return len(up.read_row_raw(db_file, TABLE, "big")["session_data"].encode())

    workflow = Cacher(session_id="big", storage=storage, session_name="Big")
    workflow.session_state["blog_posts"] = [{"topic": f"t{i}", "blog_post": "é" * 3000} for i in range(40)]
    workflow.write_to_storage()
    padded = size()
    list(workflow.run(topic="one more"))

    # The append went into the padding: the text kept its size, less the bytes the version grew by.
    assert 0 <= padded - size() <= 8
    text = up.read_row_raw(db_file, TABLE, "big")["session_data"]
    assert text.endswith(" ")
    assert text.rstrip().endswith("]}}")
    assert up.read_state_with_phidata(db_file, TABLE, "big") == workflow.session_state
    assert up.read_session_with_phidata(db_file, TABLE, "big")["session_data"]["session_name"] == "Big"
    assert up.read_state_with_agno(db_file, TABLE, "big") == workflow.session_state
    up.run_phidata_workflow(db_file, TABLE, "big", "by phidata", "post by phidata")
    assert storage.read("big").session_state["blog_posts"][-1]["topic"] == "by phidata"


def test_read_cache_never_serves_a_stale_or_shared_state(
    storage: SqliteWorkflowStorage, make_storage, db_file: Path
) -> None:
    def posts(store: SqliteWorkflowStorage) -> list[str]:
        return [p["topic"] for p in store.read("s").session_state["blog_posts"]]

    list(Cacher(session_id="s", storage=storage).run(topic="a"))
    assert posts(storage) == ["a"]  # read once: now cached

    mine = storage.read("s")
    mine.session_state["blog_posts"].append({"topic": "not saved", "blog_post": "x"})
    assert posts(storage) == ["a"]  # what a caller changes is its own copy

    other = make_storage()  # another connection
    list(Cacher(session_id="s", storage=other).run(topic="b"))
    assert posts(storage) == ["a", "b"]

    with closing(sqlite3.connect(db_file)) as conn, conn:  # an upstream writer, no version
        up_state = {"session_state": {"blog_posts": [{"topic": "u", "blog_post": "by upstream"}]}}
        conn.execute(f"UPDATE {TABLE} SET session_data = ? WHERE session_id = 's'", (json.dumps(up_state),))
    assert posts(storage) == ["u"]

    storage._conn().execute(  # the same connection, without our methods: the trigger moves the version
        f"UPDATE {TABLE} SET session_data = ? WHERE session_id = 's'",
        ('{"session_state": {"blog_posts": [{"topic": "raw", "blog_post": "p"}]}}',),
    )
    assert posts(storage) == ["raw"]

    version = storage.read("s").version
    other.delete_session("s")  # deleted and made again elsewhere, up to the same version
    for topic in "xyz"[: max(1, version)]:
        list(Cacher(session_id="s", storage=other).run(topic=topic))
    assert posts(storage) == posts(other)
