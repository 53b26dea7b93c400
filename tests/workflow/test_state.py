"""The merge: diff a run's changes, replay them onto newer state, and report true conflicts."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sessions_app.workflow.errors import StateConflictError, StateNotSerializableError
from sessions_app.workflow.state import (
    MAX_DEPTH,
    MISSING,
    Op,
    apply,
    check_json,
    copy_json,
    diff,
    get_at,
    json_equal,
)


def merge(base: dict[str, Any], mine: dict[str, Any], theirs: dict[str, Any]) -> dict[str, Any]:
    return apply(copy_json(theirs), diff(base, mine))


def test_appends_on_both_sides_are_concatenated() -> None:
    base = {"posts": [1]}
    assert merge(base, {"posts": [1, 2]}, {"posts": [1, 3]}) == {"posts": [1, 3, 2]}


def test_lists_created_on_both_sides_are_concatenated() -> None:
    assert merge({}, {"posts": ["mine"]}, {"posts": ["theirs"]}) == {"posts": ["theirs", "mine"]}


def test_new_dicts_on_both_sides_merge_by_key() -> None:
    assert merge({}, {"cfg": {"a": 1}}, {"cfg": {"b": 2}}) == {"cfg": {"a": 1, "b": 2}}


def test_disjoint_keys_merge() -> None:
    assert merge({"a": 1, "b": 1}, {"a": 2, "b": 1}, {"a": 1, "b": 3}) == {"a": 2, "b": 3}


def test_same_change_on_both_sides_is_not_a_conflict() -> None:
    assert merge({"a": 1}, {"a": 2}, {"a": 2}) == {"a": 2}


def test_changing_a_value_the_other_side_changed_is_a_conflict() -> None:
    with pytest.raises(StateConflictError) as caught:
        merge({"a": {"b": 1}}, {"a": {"b": 2}}, {"a": {"b": 3}})
    assert caught.value.paths == [("a", "b")]
    assert "session_state['a']['b']" in str(caught.value)


def test_changing_a_value_the_other_side_deleted_is_a_conflict() -> None:
    with pytest.raises(StateConflictError):
        merge({"a": 1}, {"a": 2}, {})


def test_deleting_a_value_the_other_side_changed_is_a_conflict() -> None:
    with pytest.raises(StateConflictError):
        merge({"a": 1}, {}, {"a": 2})


def test_deleting_what_the_other_side_deleted_is_fine() -> None:
    assert merge({"a": 1, "b": 2}, {"b": 2}, {"b": 2}) == {"b": 2}


def test_appending_to_a_list_the_other_side_cleared_keeps_only_the_new_items() -> None:
    assert merge({"posts": [1, 2]}, {"posts": [1, 2, 3]}, {}) == {"posts": [3]}


def test_element_edit_lands_on_the_same_element_after_their_append() -> None:
    base = {"posts": [{"t": "a", "p": "old"}]}
    mine = {"posts": [{"t": "a", "p": "new"}]}
    theirs = {"posts": [{"t": "a", "p": "old"}, {"t": "b", "p": "b"}]}
    assert merge(base, mine, theirs) == {"posts": [{"t": "a", "p": "new"}, {"t": "b", "p": "b"}]}


def test_nothing_is_applied_when_any_op_conflicts() -> None:
    theirs = {"a": 9, "b": 1}
    with pytest.raises(StateConflictError):
        apply(theirs, diff({"a": 1, "b": 1}, {"a": 2, "b": 2}))
    assert theirs == {"a": 9, "b": 1}


def test_diff_kinds() -> None:
    assert diff({"l": [1]}, {"l": [1, 2]}) == [Op("append", ("l",), [2])]
    assert diff({"x": 1}, {}) == [Op("delete", ("x",))]
    assert diff({"x": True}, {"x": 1}) == [Op("set", ("x",), 1)]  # JSON true is not 1
    assert diff({"l": [1, 2]}, {"l": [2]}) == [Op("set", ("l",), [2])]
    assert diff({}, {"l": []})[0].base is MISSING


@pytest.mark.parametrize(
    ("state", "where"),
    [
        ({"a": {1: "x"}}, "session_state['a'][1]"),
        ({"a": [0, float("inf")]}, "session_state['a'][1]"),
        ({"a": b"bytes"}, "session_state['a']"),
    ],
)
def test_check_json_names_the_path(state: dict[str, Any], where: str) -> None:
    with pytest.raises(StateNotSerializableError, match=__import__("re").escape(where)):
        check_json(state)


def nested(levels: int, leaf: Any = 1) -> Any:
    """Return `leaf` inside `levels` dicts (and every other level a list)."""
    value = leaf
    for level in range(levels):
        value = {"k": value} if level % 2 else [value]
    return value


def test_check_json_allows_the_limit_and_refuses_one_level_more() -> None:
    check_json({"a": nested(MAX_DEPTH - 1)})  # the state is the first level
    with pytest.raises(StateNotSerializableError, match=f"more than {MAX_DEPTH} levels deep") as caught:
        check_json({"a": nested(MAX_DEPTH)})
    assert len(caught.value.path) == MAX_DEPTH
    assert "…" in str(caught.value)  # a long path is shortened in the message
    assert "Store deeply nested data flatter" in str(caught.value)


def test_check_json_counts_depth_from_where_a_value_sits() -> None:
    check_json(nested(3), ("a", "b"), max_depth=5)
    with pytest.raises(StateNotSerializableError):
        check_json(nested(4), ("a", "b"), max_depth=5)


def test_check_json_refuses_a_circular_state_without_recursing_forever() -> None:
    state: dict[str, Any] = {"a": []}
    state["a"].append(state)
    with pytest.raises(StateNotSerializableError, match="levels deep"):
        check_json(state)


def test_check_json_refuses_integers_json_cannot_read_back() -> None:
    check_json({"n": 2**70, "m": -(10**4299)})
    for value in (10**4300, -(10**4300), [10**5000]):
        with pytest.raises(StateNotSerializableError, match="more than 4300 digits"):
            check_json({"n": value})


# -- property: random concurrent edits never lose a write ------------------------------------------

keys = st.sampled_from(["a", "b", "c", "posts"])
scalars = st.one_of(st.integers(-3, 3), st.text("xyz", max_size=2), st.booleans(), st.none())


@st.composite
def edits(draw: st.DrawFn, state: dict[str, Any]) -> dict[str, Any]:
    """One writer's edit of `state`: appends to posts, sets or deletes keys."""
    new = copy_json(state)
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["append", "set", "delete"]))
        key = draw(keys)
        if kind == "append":
            items = new.get("posts")
            if isinstance(items, list):
                items.append(draw(scalars))
            elif "posts" not in new:
                new["posts"] = [draw(scalars)]
        elif kind == "set" and key != "posts":
            new[key] = draw(scalars)
        elif kind == "delete":
            new.pop(key, None)
    return new


@st.composite
def interleavings(draw: st.DrawFn) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    base = {"a": 0, "posts": [0]}
    writers = [draw(edits(base)) for _ in range(draw(st.integers(2, 4)))]
    return base, writers


def is_true_conflict(stored: dict[str, Any], op: Op) -> bool:
    """The oracle: the other writers left this op's target neither as this writer found it nor wants it."""
    current = get_at(stored, op.path)
    if op.kind == "append":
        return current is not MISSING and not isinstance(current, list)
    if current is MISSING:
        return op.kind == "set" and op.base is not MISSING
    if op.kind == "set" and (json_equal(current, op.value) or (op.base is MISSING and op.value in ([], {}))):
        return False
    return not json_equal(current, op.base)


@settings(max_examples=500, deadline=None)
@given(interleavings())
def test_random_concurrent_edits_never_lose_a_write(
    case: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    base, writers = case
    stored = copy.deepcopy(base)
    for local in writers:  # every writer loaded `base`; they commit one after another
        ops = diff(base, local)
        conflicts = [op.path for op in ops if is_true_conflict(stored, op)]
        try:
            merged = apply(copy_json(stored), ops)
        except StateConflictError as error:
            assert error.paths == conflicts  # noqa: PT017 -- refused exactly where a true conflict is
            continue
        assert conflicts == []  # and never silently past one
        for op in ops:
            if op.kind == "append":
                before = get_at(stored, op.path)
                kept = before if isinstance(before, list) else []
                assert get_at(merged, op.path) == kept + op.value  # nobody's items lost, order kept
            elif op.kind == "set":
                assert json_equal(get_at(merged, op.path), op.value) or op.value in ([], {})
            else:
                assert get_at(merged, op.path) is MISSING
        untouched = {k for k in stored if not any(op.path[0] == k for op in ops)}
        assert all(json_equal(merged[k], stored[k]) for k in untouched)  # others' writes kept
        stored = merged
