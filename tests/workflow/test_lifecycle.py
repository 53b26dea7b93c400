"""The run lifecycle: what is saved when a run ends, fails, is abandoned, or clears its state."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sessions_app.workflow import (
    RunEvent,
    RunResponse,
    SqliteWorkflowStorage,
    StateNotSerializableError,
    Workflow,
)
from tests.workflow.conftest import Cacher


def test_session_id_is_generated_when_not_given(storage: SqliteWorkflowStorage) -> None:
    a, b = Cacher(storage=storage), Cacher(storage=storage)
    assert a.session_id
    assert b.session_id
    assert a.session_id != b.session_id


def test_abandoned_generator_is_saved_when_collected(storage: SqliteWorkflowStorage) -> None:
    stream = Cacher(session_id="s", storage=storage).run(topic="t")
    next(stream)
    next(stream)
    del stream

    assert storage.read("s").session_state["blog_posts"][0]["topic"] == "t"
    assert storage.get_runs("s")[0].status == "cancelled"


class Raising(Workflow):
    def run(self, value: str) -> RunResponse:
        self.session_state["value"] = value
        raise ValueError("boom")


def test_non_generator_run_that_raises_keeps_state(storage: SqliteWorkflowStorage) -> None:
    with pytest.raises(ValueError, match="boom"):
        Raising(session_id="s", storage=storage).run(value="kept")
    assert storage.read("s").session_state == {"value": "kept"}
    assert storage.get_runs("s")[0].status == "failed"


class Returning(Workflow):
    def run(self, topic: str) -> RunResponse:
        self.session_state["last"] = topic
        return RunResponse(content=f"about {topic}", event=RunEvent.workflow_completed)


def test_run_returning_a_response(storage: SqliteWorkflowStorage) -> None:
    workflow = Returning(session_id="s", storage=storage)
    response = workflow.run(topic="x")
    assert response.content == "about x"
    assert response.run_id == workflow.run_id
    assert storage.read("s").session_state == {"last": "x"}
    assert storage.get_runs("s")[0].output == "about x"


class Storing(Workflow):
    value: object = None

    def run(self) -> Iterator[RunResponse]:
        self.session_state["ok"] = "fine"
        self.session_state["nested"] = {"items": [1, {"when": self.value}]}
        yield RunResponse(content="done")


def test_non_string_keys_are_refused(storage: SqliteWorkflowStorage) -> None:
    workflow = Cacher(session_id="s", storage=storage)
    workflow.session_state[1] = "one"  # type: ignore[index]
    with pytest.raises(StateNotSerializableError, match=r"session_state\[1\]: keys must be strings"):
        workflow.write_to_storage()


def nested_dicts(levels: int) -> dict[str, object]:
    value: dict[str, object] = {"leaf": True}
    for _ in range(levels - 1):
        value = {"k": value}
    return value


@pytest.mark.parametrize("levels", [65, 900])
def test_a_state_nested_too_deep_fails_loudly_and_keeps_the_run(
    storage: SqliteWorkflowStorage, levels: int
) -> None:
    list(Storing(session_id="s", storage=storage, value="2026-01-01").run())
    before = storage.read("s")
    workflow = Cacher(session_id="s", storage=storage)
    workflow.session_state["deep"] = nested_dicts(levels)

    with pytest.raises(StateNotSerializableError, match="more than 64 levels deep"):
        workflow.write_to_storage()

    assert storage.read("s").session_state == before.session_state
    with pytest.raises(StateNotSerializableError, match="more than 64 levels deep"):
        list(workflow.run(topic="t"))
    failed = storage.get_runs("s")[-1]
    assert failed.status == "failed"
    assert "levels deep" in failed.error
    assert failed.unsaved_state  # summarised, not lost to a RecursionError


def test_a_circular_state_fails_loudly(storage: SqliteWorkflowStorage) -> None:
    workflow = Cacher(session_id="s", storage=storage)
    workflow.session_state["me"] = workflow.session_state
    with pytest.raises(StateNotSerializableError, match="levels deep"):
        list(workflow.run(topic="t"))
    assert storage.get_runs("s")[-1].status == "failed"


def test_a_storage_may_allow_a_different_depth(storage: SqliteWorkflowStorage) -> None:
    storage.max_depth = 3  # type: ignore[attr-defined]
    workflow = Cacher(session_id="s", storage=storage)
    workflow.session_state["a"] = {"b": 1}
    workflow.write_to_storage()
    workflow.session_state["a"] = {"b": {"c": {}}}
    with pytest.raises(StateNotSerializableError, match="more than 3 levels deep"):
        workflow.write_to_storage()


def test_write_to_storage_saves_at_once_and_read_from_storage_reloads(storage: SqliteWorkflowStorage) -> None:
    workflow = Cacher(session_id="s", storage=storage)
    workflow.session_state["draft"] = "half"
    workflow.write_to_storage()
    assert storage.read("s").session_state == {"draft": "half"}

    other = Cacher(session_id="s", storage=storage)
    other.read_from_storage()
    other.session_state["draft"] = "whole"
    other.write_to_storage()
    workflow.read_from_storage()
    assert workflow.session_state == {"draft": "whole"}


def test_constructor_state_wins_over_stored_values_as_upstream(storage: SqliteWorkflowStorage) -> None:
    list(Cacher(session_id="s", storage=storage).run(topic="a"))
    workflow = Cacher(session_id="s", storage=storage, session_state={"mode": "fast"})
    list(workflow.run(topic="a"))
    assert storage.read("s").session_state["mode"] == "fast"
    assert storage.read("s").session_state["blog_posts"][0]["topic"] == "a"


def test_unknown_constructor_argument_is_an_error() -> None:
    with pytest.raises(TypeError, match="unexpected keyword argument 'sesion_id'"):
        Cacher(sesion_id="typo")


def test_workflow_without_storage_runs_in_memory() -> None:
    workflow = Cacher()
    list(workflow.run(topic="a"))
    assert next(iter(workflow.run(topic="a"))).event == "WorkflowCompleted"


def test_use_run_id_names_the_next_run_only(storage: SqliteWorkflowStorage) -> None:
    workflow = Cacher(session_id="s", storage=storage)
    workflow.use_run_id("run-made-by-the-dashboard")
    list(workflow.run(topic="a"))
    assert workflow.run_id == "run-made-by-the-dashboard"
    list(workflow.run(topic="a"))
    assert workflow.run_id != "run-made-by-the-dashboard"
    assert storage.get_runs("s")[0].run_id == "run-made-by-the-dashboard"
