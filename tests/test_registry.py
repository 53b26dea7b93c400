from __future__ import annotations

import enum
from collections.abc import Iterator
from typing import Any, Literal

import pytest

from sessions_app.registry import (
    UnknownWorkflowError,
    get_workflow_class,
    run_parameters,
    workflow_caches,
    workflow_classes,
)
from sessions_app.workflow import BlogPostGenerator, BlogPostPipeline, RunResponse, Workflow


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


def test_both_built_in_workflows_are_registered_by_default() -> None:
    assert workflow_classes() == {
        "BlogPostGenerator": BlogPostGenerator,
        "BlogPostPipeline": BlogPostPipeline,
    }
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


def test_a_setting_overrides_a_cache_ttl_on_the_registered_class(settings: Any) -> None:
    settings.WFSITE_CACHE_TTL = {"BlogPostGenerator.blog_posts": 60.0}
    registered = get_workflow_class("BlogPostGenerator")
    assert registered.__name__ == "BlogPostGenerator"
    assert issubclass(registered, BlogPostGenerator)
    assert registered.blog_posts.ttl == 60.0  # what a worker's run reads
    assert workflow_caches("BlogPostGenerator")["blog_posts"].ttl == 60.0
    assert BlogPostGenerator.blog_posts.ttl is None  # the declaration itself is unchanged
    settings.WFSITE_CACHE_TTL = {}
    assert get_workflow_class("BlogPostGenerator") is BlogPostGenerator


def test_caches_of_unknown_workflows_are_none() -> None:
    assert workflow_caches("Nope") == {}
    assert list(workflow_caches("BlogPostPipeline")) == ["search_results", "scraped_articles", "blog_posts"]
