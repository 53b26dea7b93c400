"""The JSON fields' codec: rows stored before the checks read as valid text, and depth never breaks them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import DataError, connection, transaction
from hypothesis import given
from hypothesis import strategies as st

from sessions_app.models import StateChange, WorkflowSession
from sessions_app.state.codec import StoredJSONDecoder, StoredJSONEncoder, json_text
from sessions_app.workflow.errors import StateNotSerializableError
from sessions_app.workflow.state import copy_json

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=30,
)


def nested(levels: int) -> Any:
    value: Any = 0
    for _ in range(levels):
        value = [value]
    return value


def below(levels: int, call: Any) -> Any:
    """Call `call` from `levels` frames deeper than here, as a page deep in a stack would."""
    return call() if levels == 0 else below(levels - 1, call)


@given(json_values)
def test_json_text_writes_what_json_dumps_writes(value: Any) -> None:
    assert json_text(value) == json.dumps(value)


def test_json_text_and_the_encoder_write_any_depth() -> None:
    deep = nested(20_000)
    assert json_text(deep) == "[" * 20_000 + "0" + "]" * 20_000
    assert json.dumps(deep, cls=StoredJSONEncoder) == json_text(deep)


@pytest.mark.parametrize(
    ("text", "read"),
    [
        (
            '{"a": "x\\ud800y", "\\udfffk": ["\\ud83d\\ude00", "\\udc80"]}',
            {"a": "x\ufffdy", "\ufffdk": ["😀", "\ufffd"]},
        ),
        ('"\\ud800"', "\ufffd"),
        ('"a \\\\ud800 typed as text"', "a \\ud800 typed as text"),
        ('["\\ud83d\\ude00 only pairs"]', ["😀 only pairs"]),
    ],
    ids=["nested", "bare", "escaped-backslash", "pair"],
)
def test_the_decoder_reads_lone_surrogates_as_the_replacement_character(text: str, read: Any) -> None:
    assert json.loads(text, cls=StoredJSONDecoder) == read


def test_the_decoder_reads_json_too_deep_for_the_stdlib_from_deep_in_a_stack() -> None:
    text = json.dumps(nested(900))
    with pytest.raises(RecursionError):
        below(300, lambda: json.loads(text))
    assert below(300, lambda: json.loads(text, cls=StoredJSONDecoder)) == nested(900)


def test_copy_json_copies_any_depth_and_refuses_a_circular_value() -> None:
    deep = nested(5_000)
    copied = copy_json(deep)
    assert copied is not deep
    assert json_text(copied) == json_text(deep)
    circular: list[Any] = []
    circular.append(circular)
    with pytest.raises(StateNotSerializableError, match="levels deep"):
        copy_json(circular)


@pytest.mark.django_db
def test_a_lone_surrogate_stored_before_is_read_as_the_replacement_character() -> None:
    if connection.vendor == "postgresql":  # jsonb refuses it: no such row exists there
        with pytest.raises(DataError), transaction.atomic():
            WorkflowSession.objects.create(session_id="s", workflow="w", session_state={"t": "a\ud800"})
        return
    session = WorkflowSession.objects.create(session_id="s", workflow="w", session_state={"t": "a\ud800"})
    assert WorkflowSession.objects.get(pk=session.pk).session_state == {"t": "a\ufffd"}


@pytest.mark.django_db
def test_values_deeper_than_the_stdlib_reads_round_trip_through_the_fields() -> None:
    session = WorkflowSession.objects.create(session_id="s", workflow="w")
    # Deeper than the stdlib reads from here; as deep as an import before the limit could store.
    ops = [["set", ["d"], nested(995)]]
    below(300, lambda: StateChange.objects.create(session=session, version=1, source="edit", ops=ops))

    assert json_text(below(300, lambda: StateChange.objects.get().ops)) == json_text(ops)


@pytest.mark.django_db
def test_sqlite_json_functions_on_a_stored_lone_surrogate_read_as_the_replacement_character() -> None:
    stored = '{"a": "x\\ud800y"}'  # as Django's JSONField writes it on SQLite
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with pytest.raises(DataError), transaction.atomic():
                cursor.execute("SELECT (%s::jsonb)->>'a'", [stored])
            return
        cursor.execute("SELECT json_extract(%s, '$.a')", [stored])
        assert cursor.fetchone() == ("x\ufffd\ufffd\ufffdy",)  # each byte that is not UTF-8
