"""A run as a person reads it: title, inputs in order and in words, durations."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from sessions_app.models import WorkflowRun
from sessions_app.selectors.run_facts import (
    duration_text,
    input_text,
    run_first_input,
    run_input_facts,
    run_title,
)


def run_of(inputs: Any, workflow: str = "BlogPostGenerator") -> WorkflowRun:
    return WorkflowRun(workflow=workflow, inputs=inputs)


def test_inputs_follow_the_workflows_run_signature() -> None:
    run = run_of({"use_cache": True, "topic": "Rivers"})

    assert [(f.label, f.value) for f in run_input_facts(run)] == [("Topic", "Rivers"), ("Use cache", "Yes")]
    assert run_first_input(run) == "Rivers"


def test_an_unregistered_workflow_keeps_the_stored_order() -> None:
    run = run_of({"count": 3, "name": "  two\n words ", "extra": [1, 2]}, workflow="Gone")

    assert [f.value for f in run_input_facts(run)] == ["3", "  two\n words ", "[1, 2]"]
    assert run_first_input(run) == "3"
    assert run_title(run) == "two words"  # the first text input, not the first input


@pytest.mark.parametrize(
    ("inputs", "title"),
    [
        ({}, "Gone run"),
        ({"flag": True, "blank": "   "}, "Gone run"),
        ({"text": "x" * 200}, "x" * 119 + "…"),
        ("not a mapping", "Gone run"),
    ],
)
def test_a_title_falls_back_to_the_workflow(inputs: Any, title: str) -> None:
    assert run_title(run_of(inputs, workflow="Gone")) == title


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (True, "Yes"),
        (False, "No"),
        (None, "—"),
        (1234567, "1,234,567"),
        (0.25, "0.25"),
        ({"a": "é"}, '{"a": "é"}'),
    ],
)
def test_values_are_said_in_words(value: Any, text: str) -> None:
    assert input_text(value) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.04, "0.0 s"),
        (12.34, "12.3 s"),
        (60, "1 min"),
        (125, "2 min 5 s"),
        (3600, "1 h"),
        (3840, "1 h 4 min"),
    ],
)
def test_durations_are_said_in_units(seconds: float, text: str) -> None:
    assert duration_text(timedelta(seconds=seconds)) == text
    assert duration_text(None) == ""
