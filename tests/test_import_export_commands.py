from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from sessions_app.models import StateChange, WorkflowRun, WorkflowSession
from tests.django_fixtures import assert_rows_consistent, stored_state
from tests.test_services_state import posts, run_commit
from tests.upstream.raw_tables import (
    Agno2Session,
    add_foreign_runs_table,
    add_old_runs_table,
    agno2_run,
    make_agno2_db,
    make_raw_table,
    tables,
)
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


# -- bad rows: each reported in one line, the rows after it imported ----------------------------------------

COLUMNS = (
    "session_id",
    "workflow_id",
    "user_id",
    "memory",
    "workflow_data",
    "session_data",
    "created_at",
    "updated_at",
)


def phidata_row(session_id: str, state: Any = None, **columns: Any) -> tuple[Any, ...]:
    """A row as phidata writes it, with `columns` (raw column values) overriding."""
    data = json.dumps({"session_state": state if state is not None else {"n": session_id}})
    values = {"session_id": session_id, "session_data": data, "created_at": 1_700_000_000, **columns}
    return tuple(values.get(column) for column in COLUMNS)


def nested_text(levels: int) -> str:
    return '{"k":' * levels + "1" + "}" * levels


def test_each_bad_row_is_one_line_and_every_good_row_is_imported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], settings: Any
) -> None:
    settings.WFSITE_MAX_STATE_BYTES = 2_000
    db = tmp_path / "bad.db"
    rows = [
        phidata_row("good 1"),
        phidata_row("far future", created_at=2**62),
        phidata_row("good 2"),
        phidata_row("infinite", updated_at=float("inf")),
        phidata_row("deep", session_data=f'{{"session_state": {{"d": {nested_text(900)}}}}}'),
        phidata_row("too deep to parse", session_data=f'{{"session_state": {nested_text(50_000)}}}'),
        phidata_row("huge", {"post": "x" * 5_000}),
        phidata_row("surrogate", session_data='{"session_state": {"t": "\\ud800"}}'),
        phidata_row("named", session_data='{"session_name": "a\\udfffb"}'),
        phidata_row("bad run time", memory=json.dumps({"runs": [{"response": {"created_at": 1e300}}]})),
        phidata_row(
            "bad run",
            memory=json.dumps({"runs": [{"response": {"content": "\\ud800"}}]}).replace("\\\\", "\\"),
        ),
        phidata_row("long user", user_id="u" * 300),
        phidata_row("good 3"),
    ]
    make_raw_table(db, TABLE, COLUMNS, rows)

    with pytest.raises(CommandError, match="10 rows could not be imported"):
        import_(db)

    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 10, lines  # one line per bad row, no traceback
    expected = [
        f"row 'far future': created_at is {2**62}, not a time this site can store",
        "row 'infinite': updated_at is inf, not a time",
        "row 'deep': session_state['d']['k']",
        "more than 64 levels deep",
        "row 'too deep to parse': the session_data column nests JSON too deeply to be read",
        "row 'huge': The session's state would be",
        "row 'surrogate': session_state['t']: the text holds a lone surrogate (U+D800)",
        "row 'named': the session name holds a lone surrogate (U+DFFF)",
        "row 'bad run time': run 0's created_at is 1e+300",
        "row 'bad run': run 0's output holds a lone surrogate (U+D800)",
        "row 'long user': user_id is 300 characters long; at most 255",
    ]
    for text in expected:
        assert text in captured.err, text
    assert sorted(WorkflowSession.objects.values_list("session_id", flat=True)) == [
        "good 1",
        "good 2",
        "good 3",
    ]
    assert "Done: 3 created, 0 updated, 0 unchanged, 10 skipped." in captured.out


def test_text_that_is_not_utf8_refuses_its_row_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "bytes.db"
    make_raw_table(db, TABLE, COLUMNS, [phidata_row("good")])
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute(f"INSERT INTO {TABLE} (session_id, created_at) VALUES (CAST(x'6bff' AS TEXT), 1)")

    with pytest.raises(CommandError, match="1 rows could not be imported"):
        import_(db)

    assert "lone surrogate (U+DCFF)" in capsys.readouterr().err
    assert list(WorkflowSession.objects.values_list("session_id", flat=True)) == ["good"]


def test_a_table_missing_columns_is_read_with_what_it_has(tmp_path: Path) -> None:
    db = tmp_path / "thin.db"
    make_raw_table(
        db, TABLE, ("session_id", "session_data"), [("b", '{"session_state": {"x": 1}}'), ("a", None)]
    )

    import_(db)

    assert stored_state("a") == {}
    assert stored_state("b") == {"x": 1}


def test_a_table_without_session_ids_is_one_clear_error(tmp_path: Path) -> None:
    db = tmp_path / "other.db"
    make_raw_table(db, TABLE, ("id", "payload"), [(1, "x")])
    with pytest.raises(CommandError, match=f"table '{TABLE}' has no session_id column"):
        import_(db)


# -- side tables: ours under the old name, and other libraries' ----------------------------------------------


def test_another_librarys_runs_table_beside_the_table_is_left_out(tmp_path: Path) -> None:
    db = tmp_path / "up.db"
    make_phidata_db(db, TABLE, sessions())
    add_foreign_runs_table(db, TABLE)

    import_(db)

    assert WorkflowSession.objects.count() == 3
    assert WorkflowRun.objects.count() == 1  # phidata's memory run; none from the other table


def test_our_old_named_run_history_is_imported(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    make_phidata_db(db, TABLE, [UpstreamSession("s", "wf", None, {"k": 1})])
    run_id = "7f0e8a8e-3c1a-4b7e-9d2f-0a1b2c3d4e5f"
    add_old_runs_table(
        db, TABLE, [(run_id, "s", "wf", "failed", '{"topic": "x"}', "out", "boom", 0, 1.0, 2.0, 3, 1, None)]
    )

    import_(db)
    import_(db)

    run = WorkflowRun.objects.get()
    assert (str(run.run_id), run.status, run.error, run.inputs) == (run_id, "failed", "boom", {"topic": "x"})
    assert f"{TABLE}_runs" in tables(db)  # the file was opened read-only: nothing renamed


# -- agno 2.x/3.x SqliteDb ---------------------------------------------------------------------------------


def test_import_reads_the_workflow_sessions_of_an_agno2_sessions_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "agno.db"
    cache = blog_posts_list_cache([("AI", "one"), ("Rust", "two")])
    make_agno2_db(
        db,
        [
            Agno2Session(
                "wf-1",
                state=cache,
                session_name="Mine",
                workflow_name="Blog Post Generator",
                user_id="ann",
                runs=[agno2_run("r-1", "wf-1", "AI", "one"), agno2_run("r-2", "wf-1", "Go", "", "ERROR")],
            ),
            Agno2Session("wf-empty"),
            Agno2Session("an-agent", session_type="agent", state={"x": 1}),
        ],
    )

    call_command("import_sessions", str(db), "--table", "agno_sessions", "--workflow", "BlogPostGenerator")
    call_command("import_sessions", str(db), "--table", "agno_sessions", "--workflow", "BlogPostGenerator")

    assert sorted(WorkflowSession.objects.values_list("session_id", flat=True)) == ["wf-1", "wf-empty"]
    assert stored_state("wf-1") == cache
    assert stored_state("wf-empty") == {}
    session = WorkflowSession.objects.get(session_id="wf-1")
    assert (session.name, session.user_id, session.workflow) == ("Mine", "ann", "BlogPostGenerator")
    assert session.created_at.timestamp() == 1_700_000_000
    assert session.updated_at.timestamp() == 1_700_000_100
    runs = WorkflowRun.objects.filter(session=session).order_by("output")
    assert [(r.inputs, r.output, r.status) for r in runs] == [
        ({"topic": "Go"}, "", "failed"),
        ({"topic": "AI"}, "one", "succeeded"),
    ]
    assert "Done: 0 created, 0 updated, 2 unchanged, 0 skipped." in capsys.readouterr().out
