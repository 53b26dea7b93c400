from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from sessions_app.models import StateChange, WorkflowRun, WorkflowSession
from tests.django_fixtures import assert_rows_consistent, stored_state
from tests.test_services_state import posts, run_commit
from tests.upstream.upstream_dbs import (
    UpstreamSession,
    blog_posts_dict_cache,
    blog_posts_list_cache,
    edit_phidata_state,
    make_agno_db,
    make_phidata_db,
    read_session_with_phidata,
    read_state_with_phidata,
    set_column_json_null_text,
    set_column_raw_text,
    set_session_state_raw,
    set_updated_at_null,
)

pytestmark = pytest.mark.django_db

TABLE = "blog_post_generator_workflows"


def sessions() -> list[UpstreamSession]:
    return [
        UpstreamSession(
            "list",
            "wf-1",
            "ann",
            blog_posts_list_cache([("AI", "one"), ("AI", "two"), ("Rust", "three")]),
            session_name="Listed",
            runs=[({"topic": "AI"}, "one")],
        ),
        UpstreamSession("dict", "wf-1", None, blog_posts_dict_cache({"AI": "one", "Go": "two"})),
        UpstreamSession("empty", "wf-1", "bob", {}),
    ]


def import_(path: Path, *extra: str) -> None:
    call_command("import_sessions", str(path), "--table", TABLE, *extra)


@pytest.mark.parametrize("maker", [make_phidata_db, make_agno_db])
def test_import_reads_both_cache_shapes_and_runs(tmp_path: Path, maker: object) -> None:
    db = tmp_path / "up.db"
    maker(db, TABLE, sessions())

    import_(db)

    assert stored_state("list") == blog_posts_list_cache([("AI", "one"), ("AI", "two"), ("Rust", "three")])
    assert stored_state("dict") == {"blog_posts": {"AI": "one", "Go": "two"}}
    assert stored_state("empty") == {}
    listed = WorkflowSession.objects.get(session_id="list")
    assert (listed.name, listed.user_id, listed.workflow, listed.version) == (
        "Listed",
        "ann",
        "BlogPostGenerator",
        1,
    )
    run = WorkflowRun.objects.get(session=listed)
    assert run.output == "one"
    if maker is make_phidata_db:
        assert run.inputs == {"topic": "AI"}
    change = StateChange.objects.get(session=listed)
    assert (change.source, change.version) == ("import", 1)
    assert_rows_consistent(listed)


def test_import_is_idempotent_and_updates_changed_rows_through_a_recorded_change(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "up.db"
    make_phidata_db(db, TABLE, sessions())
    import_(db)
    import_(db)

    assert "Done: 0 created, 0 updated, 3 unchanged, 0 skipped." in capsys.readouterr().out
    assert WorkflowRun.objects.count() == 1
    assert StateChange.objects.count() == 2

    edit_phidata_state(db, TABLE, "list", lambda state: {**state, "blog_posts": state["blog_posts"][:1]})
    import_(db)

    assert [p["blog_post"] for p in stored_state("list")["blog_posts"]] == ["one"]
    change = StateChange.objects.filter(session__session_id="list").latest("version")
    assert (change.source, change.version, change.summary) == (
        "import",
        2,
        f"Imported from up.db table {TABLE}",
    )


def test_import_reads_null_updated_at_and_null_json_text(tmp_path: Path) -> None:
    db = tmp_path / "up.db"
    make_phidata_db(db, TABLE, sessions())
    set_updated_at_null(db, TABLE, "list")
    set_column_json_null_text(db, TABLE, "dict", "memory")
    set_column_json_null_text(db, TABLE, "empty", "session_data")

    import_(db)

    listed = WorkflowSession.objects.get(session_id="list")
    assert listed.updated_at == listed.created_at
    assert stored_state("dict")["blog_posts"] == {"AI": "one", "Go": "two"}
    assert stored_state("empty") == {}


def test_a_bad_row_is_reported_and_the_others_imported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "up.db"
    make_phidata_db(db, TABLE, sessions())
    set_column_raw_text(db, TABLE, "dict", "session_data", "{broken")
    set_session_state_raw(db, TABLE, "empty", ["not", "an", "object"])

    with pytest.raises(CommandError, match="2 rows could not be imported"):
        import_(db)

    err = capsys.readouterr().err
    assert "row 'dict': the session_data column is not valid JSON" in err
    assert "row 'empty': session_state is list, not an object" in err
    assert list(WorkflowSession.objects.values_list("session_id", flat=True)) == ["list"]


def test_import_explains_a_missing_file_or_table(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="does not exist"):
        import_(tmp_path / "nope.db")
    make_phidata_db(tmp_path / "up.db", TABLE, [])
    with pytest.raises(CommandError, match="has no table 'other'"):
        call_command("import_sessions", str(tmp_path / "up.db"), "--table", "other")


def test_export_writes_a_file_phidata_reads(tmp_path: Path) -> None:
    run_commit("a b/ü", lambda state: state.update(blog_posts=posts("AI", "AI"), tone="dry"))
    run_commit("dict", lambda state: state.update(blog_posts={"Go": "post"}))
    WorkflowSession.objects.update(workflow="BlogPostGenerator", name="Named")
    out = tmp_path / "out.db"

    call_command("export_sessions", "--out", str(out), "--table", TABLE)
    call_command("export_sessions", "--out", str(out), "--table", TABLE)

    assert read_state_with_phidata(out, TABLE, "a b/ü") == stored_state("a b/ü")
    assert read_state_with_phidata(out, TABLE, "dict") == {"blog_posts": {"Go": "post"}}
    read = read_session_with_phidata(out, TABLE, "dict")
    assert (read["workflow_id"], read["workflow_data"]) == (
        "BlogPostGenerator",
        {"name": "BlogPostGenerator"},
    )
    assert read["session_data"]["session_name"] == "Named"


def test_export_then_import_round_trips(tmp_path: Path) -> None:
    run_commit("r", lambda state: state.update(blog_posts=posts("A"), n=1))
    out = tmp_path / "out.db"
    call_command("export_sessions", "--out", str(out), "--table", TABLE, "--session", "r")
    WorkflowSession.objects.all().delete()

    import_(out)

    assert stored_state("r") == {"blog_posts": posts("A"), "n": 1}
    assert WorkflowRun.objects.filter(session__session_id="r").count() == 1
