from __future__ import annotations

import enum
from collections.abc import Iterator
from typing import Literal

import pytest

from sessions_app.registry import UnknownWorkflowError, get_workflow_class, run_parameters, workflow_classes
from sessions_app.workflow import BlogPostGenerator, RunResponse, Workflow


class Tone(enum.Enum):
    calm = "calm"
    loud = "loud"


class Everything(Workflow):
    def run(
        self,
        topic: str,
        count: int = 3,
        ratio: float = 0.5,
        loud: bool = False,
        tone: Tone = Tone.calm,
        size: Literal["s", "m"] = "m",
        note: str | None = None,
        *args: str,
        **kwargs: str,
    ) -> Iterator[RunResponse]:
        yield RunResponse(content=topic)


def test_blog_post_generator_is_built_in() -> None:
    assert workflow_classes() == {"BlogPostGenerator": BlogPostGenerator}
    assert get_workflow_class("BlogPostGenerator") is BlogPostGenerator
    with pytest.raises(UnknownWorkflowError, match="No workflow named 'Nope'"):
        get_workflow_class("Nope")


def test_blog_post_generator_parameters() -> None:
    params = {p.name: (p.kind, p.default, p.required) for p in run_parameters(BlogPostGenerator)}
    assert params == {"topic": (str, None, True), "use_cache": (bool, True, False)}


def test_parameters_of_any_signature() -> None:
    params = {p.name: p for p in run_parameters(Everything)}
    assert list(params) == ["topic", "count", "ratio", "loud", "tone", "size", "note"]
    assert (params["count"].kind, params["count"].default) == (int, 3)
    assert params["ratio"].kind is float
    assert params["loud"].kind is bool
    assert params["tone"].kind is Tone
    assert params["tone"].choices == (Tone.calm, Tone.loud)
    assert params["size"].choices == ("s", "m")
    assert (params["note"].kind, params["note"].required) == (str, False)
