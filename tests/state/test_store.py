"""The row layout: whole states round-trip, and ops change only the rows they touch."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from sessions_app.models import StateEntry
from sessions_app.registry import workflow_caches
from sessions_app.state.layout import entry_keyer, index_key
from sessions_app.state.store import (
    json_size,
    state_load,
    state_load_many,
    state_replace,
    state_snapshot,
    state_write_ops,
)
from sessions_app.workflow import StateNotSerializableError
from sessions_app.workflow.state import Op, copy_json, diff
from tests.django_fixtures import assert_rows_consistent

POSTS = [{"topic": f"topic {i}", "blog_post": f"post {i}"} for i in range(3)]
LONG_KEY = "k" * 300

STATES: list[dict[str, Any]] = [
    {},
    {"blog_posts": POSTS},
    {"blog_posts": []},
    {"blog_posts": POSTS, "tone": "formal", "count": 3, "ratio": 0.5, "on": True, "none": None},
    {"nested": {"a": [1, {"b": [2, 3]}], "c": {}}, "empty": {}},
    {"mixed": [None, 1, 2.5, "x", [1, [2]], {"a": None}, True, False, ""]},
    {"ключ": ["значение", "🦜"], "空": {"é": "ü"}, "with space, and 'quotes'": [1]},
    {LONG_KEY: [1, 2, 3]},
    {"a": [], "b": [1], "c": [[]], "d": [{}]},
]


@pytest.mark.django_db
@pytest.mark.parametrize("state", STATES)
def test_whole_states_round_trip(make_session, state: dict[str, Any]) -> None:
    session = make_session(state)
    assert state_load(session) == state
    assert_rows_consistent(session)


@pytest.mark.django_db
def test_top_level_lists_are_rows_and_the_rest_stays_in_session_state(make_session) -> None:
    session = make_session({"blog_posts": POSTS, "tone": "formal", "drafts": [], LONG_KEY: [1]})
    assert session.list_keys == ["blog_posts", "drafts"]
    assert session.session_state == {"tone": "formal", LONG_KEY: [1]}
    assert list(StateEntry.objects.values_list("key", "position", "lookup_key")) == [
        ("blog_posts", 0, "topic 0"),
        ("blog_posts", 1, "topic 1"),
        ("blog_posts", 2, "topic 2"),
    ]
    assert session.cache_entries == 3


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"topic": "  AI\tAgents \n now ", "blog_post": "p"}, "ai agents now"),
        ({"topic": "STRASSE", "blog_post": "p"}, "strasse"),
        ({"topic": None, "blog_post": "p"}, ""),
        ({"topic": "no post"}, ""),
        ("topic", ""),
        ({"topic": "x" * 600, "blog_post": "p"}, index_key("x" * 600)),
    ],
)
def test_lookup_key_is_the_key_its_cache_declares(value: Any, expected: str) -> None:
    assert entry_keyer(workflow_caches("BlogPostGenerator"), "blog_posts")(value) == expected
    assert index_key("x" * 600).startswith("sha256:")
    assert len(index_key("x" * 600)) <= 500


def test_a_list_no_cache_declares_has_no_lookup_keys() -> None:
    assert entry_keyer(workflow_caches("BlogPostGenerator"), "drafts")({"topic": "a", "blog_post": "p"}) == ""
    assert entry_keyer(workflow_caches("NotRegistered"), "blog_posts")({"topic": "a", "blog_post": "p"}) == ""


# Each pair is (stored state, the state a run ends with); the ops are diff(stored, ended).
CHANGES: list[tuple[dict[str, Any], dict[str, Any]]] = [
    ({"blog_posts": POSTS}, {"blog_posts": [*POSTS, {"topic": "new", "blog_post": "n"}]}),
    ({"blog_posts": []}, {"blog_posts": [{"topic": "first", "blog_post": "f"}]}),
    ({}, {"blog_posts": [{"topic": "first", "blog_post": "f"}]}),
    ({"blog_posts": POSTS}, {"blog_posts": POSTS[:1]}),
    ({"blog_posts": POSTS}, {"blog_posts": []}),
    ({"blog_posts": POSTS}, {}),
    ({"blog_posts": POSTS}, {"blog_posts": {"as": "dict now"}}),
    ({"blog_posts": {"as": "dict"}}, {"blog_posts": [1, 2]}),
    ({"blog_posts": "text"}, {"blog_posts": ["x"]}),
    ({"blog_posts": POSTS}, {"blog_posts": [POSTS[0], {**POSTS[1], "topic": "Edited  Topic"}, POSTS[2]]}),
    ({"blog_posts": POSTS}, {"blog_posts": [POSTS[0], "replaced", POSTS[2]]}),
    ({"blog_posts": [{"tags": ["a"]}]}, {"blog_posts": [{"tags": ["a", "b"]}]}),
    ({"blog_posts": [{"meta": {"x": 1}}]}, {"blog_posts": [{"meta": {}}]}),
    ({"tone": "formal"}, {"tone": "playful", "count": 1}),
    ({"cfg": {"a": {"b": 1}}}, {"cfg": {"a": {"b": 2, "c": [1]}, "d": {"e": True}}}),
    ({"cfg": {"a": 1}}, {}),
    ({"ключ": [1]}, {"ключ": [1, 2], "空": ["ü"]}),
    ({LONG_KEY: [1]}, {LONG_KEY: [1, 2]}),
    ({"a": [1], "b": 2}, {"a": 2, "b": [1]}),
    ({"xs": [1, 2]}, {"xs": [1, None], "n": None}),
]


@pytest.mark.django_db
@pytest.mark.parametrize("with_latest", [False, True], ids=["rows", "latest"])
@pytest.mark.parametrize(("stored", "ended"), CHANGES)
def test_ops_write_the_state_they_describe(
    make_session, stored: dict[str, Any], ended: dict[str, Any], with_latest: bool
) -> None:
    session = make_session(stored)
    latest = copy_json(stored) if with_latest else None
    state_write_ops(session, diff(stored, ended), latest=latest)

    assert state_load(session) == ended
    assert_rows_consistent(session)
    if with_latest:
        assert latest == ended


@pytest.mark.django_db
def test_deleting_an_element_closes_the_gap(make_session) -> None:
    session = make_session({"blog_posts": POSTS})
    state_write_ops(session, [Op("delete", ("blog_posts", 0))])
    assert state_load(session) == {"blog_posts": POSTS[1:]}
    assert_rows_consistent(session)


@pytest.mark.django_db
def test_setting_the_root_replaces_everything(make_session) -> None:
    session = make_session({"blog_posts": POSTS, "tone": "x"})
    state_write_ops(session, [Op("set", (), {"other": [1], "tone": "y"})])
    assert state_load(session) == {"other": [1], "tone": "y"}
    assert_rows_consistent(session)


@pytest.mark.django_db
def test_editing_one_entry_touches_only_that_row(make_session) -> None:
    session = make_session({"blog_posts": POSTS})
    before = dict(StateEntry.objects.values_list("position", "updated_at"))
    state_write_ops(session, [Op("set", ("blog_posts", 1, "topic"), "Renamed", "topic 1")])

    after = dict(StateEntry.objects.values_list("position", "updated_at"))
    assert after[0] == before[0]
    assert after[2] == before[2]
    assert after[1] > before[1]
    assert StateEntry.objects.get(position=1).lookup_key == "renamed"


@pytest.mark.django_db
def test_appending_queries_do_not_grow_with_the_list(make_session) -> None:
    counts = []
    for n in (10, 1000):
        session = make_session({"blog_posts": [{"topic": str(i)} for i in range(n)]}, session_id=f"s{n}")
        with CaptureQueriesContext(connection) as queries:
            state_write_ops(session, [Op("append", ("blog_posts",), [{"topic": "new"}])])
        counts.append(len(queries))
        assert session.cache_entries == n + 1
        assert_rows_consistent(session)
    assert counts[0] == counts[1] == 5  # savepoint, last position, insert, release, session update


@pytest.mark.django_db
def test_non_json_values_are_refused_before_anything_is_written(make_session) -> None:
    session = make_session({"blog_posts": POSTS})
    with pytest.raises(StateNotSerializableError, match=r"session_state\['blog_posts'\]\[4\]"):
        state_write_ops(session, [Op("append", ("blog_posts",), [{"ok": 1}, {1, 2}])])
    with pytest.raises(StateNotSerializableError, match=r"keys must be strings"):
        state_write_ops(session, [Op("set", ("cfg",), {1: "x"})])
    with pytest.raises(StateNotSerializableError, match=r"session_state\['later'\]\[0\]"):
        state_write_ops(
            session,
            [Op("append", ("blog_posts",), [{"topic": "fine"}]), Op("append", ("later",), [object()])],
        )
    with pytest.raises(StateNotSerializableError, match="NaN"):
        state_replace(session, {"x": float("nan")})

    session.refresh_from_db()
    assert state_load(session) == {"blog_posts": POSTS}


@pytest.mark.django_db
def test_nul_characters_are_stored_on_sqlite_and_refused_clearly_on_postgresql(make_session) -> None:
    session = make_session({"blog_posts": POSTS})
    ops = [Op("append", ("blog_posts",), [{"topic": "a\x00b"}])]
    if connection.vendor == "postgresql":
        with pytest.raises(StateNotSerializableError, match=r"\['blog_posts'\]\[3\]\['topic'\]: PostgreSQL"):
            state_write_ops(session, ops)
        with pytest.raises(StateNotSerializableError, match=r"session_state\['\\x00'\]"):
            state_replace(session, {"\x00": 1})
        session.refresh_from_db()
        assert state_load(session) == {"blog_posts": POSTS}
    else:
        state_write_ops(session, ops)
        assert state_load(session)["blog_posts"][-1] == {"topic": "a\x00b"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("write", "where"),
    [
        (lambda s: state_replace(s, {"tone": "a\ud800"}), "session_state['tone']"),
        (lambda s: state_replace(s, {"k\udfff": 1}), "session_state['k\\udfff']"),
        (
            lambda s: state_write_ops(
                s, [Op("append", ("blog_posts",), [{"topic": "t", "blog_post": "\udc80"}])]
            ),
            "session_state['blog_posts'][3]['blog_post']",
        ),
        (
            lambda s: state_write_ops(s, [Op("set", ("cfg", "x\ud83d"), 1)]),
            "session_state['cfg']['x\\ud83d']",
        ),
        (lambda s: state_write_ops(s, [Op("set", ("blog_posts", 0, "topic"), "\ud800")]), "[0]['topic']"),
    ],
    ids=["value", "key", "appended", "path", "element"],
)
def test_lone_surrogates_are_refused_on_every_database(make_session, write, where: str) -> None:
    session = make_session({"blog_posts": POSTS})

    with pytest.raises(StateNotSerializableError, match="lone surrogate") as caught:
        write(session)

    assert where in str(caught.value)
    session.refresh_from_db()
    assert state_load(session) == {"blog_posts": POSTS}


@pytest.mark.django_db
def test_nesting_deeper_than_the_setting_is_refused_on_every_write(make_session, settings: Any) -> None:
    session = make_session({"blog_posts": POSTS})
    settings.WFSITE_MAX_STATE_DEPTH = 4
    state_replace(session, {"a": {"b": [{}]}})  # four levels, the state included

    for write in (
        lambda: state_replace(session, {"a": {"b": [{"c": []}]}}),
        lambda: state_write_ops(session, [Op("set", ("a", "b", 0, "c"), [])]),
        lambda: state_write_ops(session, [Op("append", ("xs",), [[[[1]]]])]),
    ):
        with pytest.raises(StateNotSerializableError, match="more than 4 levels deep") as caught:
            write()
        assert "WFSITE_MAX_STATE_DEPTH" in str(caught.value)
    session.refresh_from_db()
    assert state_load(session) == {"a": {"b": [{}]}}


@pytest.mark.django_db
def test_a_state_nested_900_levels_is_refused_without_recursing(make_session) -> None:
    deep: Any = 1
    for _ in range(900):
        deep = {"k": deep}
    session = make_session({})
    with pytest.raises(StateNotSerializableError, match="more than 64 levels deep"):
        state_replace(session, {"deep": deep})


@pytest.mark.django_db
def test_loading_many_sessions_is_one_query(make_session) -> None:
    sessions = [make_session({"xs": [i, i + 1], "n": i}, session_id=f"s{i}") for i in range(5)]
    sessions.append(make_session({"plain": True}, session_id="plain"))
    with CaptureQueriesContext(connection) as queries:
        states = state_load_many(sessions)
    assert len(queries) == 1
    assert states[sessions[2].pk] == {"xs": [2, 3], "n": 2}
    assert states[sessions[-1].pk] == {"plain": True}


@pytest.mark.django_db
def test_snapshot_reads_row_and_state_together(make_session) -> None:
    make_session({"blog_posts": POSTS, "tone": "x"}, session_id="snap")
    session, state = state_snapshot("snap")
    assert state == {"blog_posts": POSTS, "tone": "x"}
    assert session.session_id == "snap"
    assert state_snapshot("absent") is None


def test_json_size_is_the_compact_length() -> None:
    assert json_size({"a": [1, "é"]}) == len('{"a":[1,"é"]}'.encode())
