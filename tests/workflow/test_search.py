from __future__ import annotations

import sys
import types
from collections.abc import Iterator

import pytest

from sessions_app.workflow.search import (
    ResearchStep,
    Searcher,
    SearcherConfigError,
    SearchResult,
    load_searcher,
    research,
    searcher_from_env,
)

SOURCES = [SearchResult(title="Tea", url="https://example.org/tea", summary="All about tea.")]


class FlakySearcher:
    """Raise a number of times, then return SOURCES."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls: list[str] = []

    def search(self, topic: str) -> list[SearchResult]:
        self.calls.append(topic)
        if len(self.calls) <= self.failures:
            raise ConnectionError(f"search backend down (call {len(self.calls)})")
        return list(SOURCES)


class EmptySearcher:
    def __init__(self) -> None:
        self.calls = 0

    def search(self, topic: str) -> list[SearchResult]:
        self.calls += 1
        return []


def kinds(steps: list[ResearchStep]) -> list[tuple[str, int]]:
    return [(step.kind, step.attempt) for step in steps]


def test_no_searcher_skips_with_a_clear_message() -> None:
    steps = list(research(None, "tea"))

    assert kinds(steps) == [("skipped", 0)]
    assert steps[0].final
    assert "no searcher configured" in steps[0].message
    assert "WFSITE_SEARCHER" in steps[0].message


def test_searcher_that_raises_twice_then_succeeds_finds_sources_on_the_third_try() -> None:
    searcher = FlakySearcher(failures=2)

    steps = list(research(searcher, "tea"))

    assert kinds(steps) == [("try", 1), ("error", 1), ("try", 2), ("error", 2), ("try", 3), ("found", 3)]
    assert steps[0].message == "Searching for sources, try 1 of 3."
    assert "ConnectionError: search backend down (call 1)" in steps[1].message
    assert steps[-1].sources == tuple(SOURCES)
    assert steps[-1].message == "Found 1 source."
    assert searcher.calls == ["tea", "tea", "tea"]
    assert [step.final for step in steps] == [False] * 5 + [True]


def test_searcher_that_returns_nothing_gives_up_after_three_tries() -> None:
    searcher = EmptySearcher()

    steps = list(research(searcher, "tea"))

    tries = [("try", 1), ("empty", 1), ("try", 2), ("empty", 2), ("try", 3), ("empty", 3)]
    assert kinds(steps) == [*tries, ("gave_up", 3)]
    assert searcher.calls == 3
    assert steps[-1].sources == ()
    assert "after 3 tries" in steps[-1].message


def test_searcher_that_always_raises_gives_up_after_three_tries_with_a_message() -> None:
    searcher = FlakySearcher(failures=99)

    steps = list(research(searcher, "tea"))

    assert [step.kind for step in steps].count("error") == 3
    assert steps[-1].kind == "gave_up"
    assert steps[-1].final
    assert steps[-1].message == "Gave up on research after 3 tries without sources."
    assert len(searcher.calls) == 3


def test_tries_is_configurable_and_validated() -> None:
    searcher = EmptySearcher()

    assert list(research(searcher, "tea", tries=1))[-1] == ResearchStep(
        "gave_up", 1, 1, "Gave up on research after 1 try without sources."
    )
    with pytest.raises(ValueError, match="tries"):
        list(research(searcher, "tea", tries=0))


def test_mappings_are_normalised_and_results_without_url_dropped() -> None:
    def search(topic: str) -> list[dict[str, str]]:
        return [
            {"title": "A", "link": "https://a.example", "snippet": "short"},
            {"title": "no url"},
            {"url": "https://b.example"},
        ]

    steps = list(research(load_searcher_from(search), "tea"))

    assert steps[-1].sources == (
        SearchResult("A", "https://a.example", "short"),
        SearchResult("https://b.example", "https://b.example", ""),
    )
    assert steps[-1].sources[0].as_dict() == {"title": "A", "url": "https://a.example", "summary": "short"}


def test_a_searcher_returning_the_wrong_type_counts_as_an_error() -> None:
    class Wrong:
        def search(self, topic: str) -> str:
            return "not a list"

    steps = list(research(Wrong(), "tea"))  # type: ignore[arg-type]

    assert steps[1].kind == "error"
    assert "not str" in steps[1].message
    assert steps[-1].kind == "gave_up"


@pytest.fixture
def searchers_module() -> Iterator[str]:
    """Provide an importable module holding a class, an instance, a function and a non-searcher."""
    module = types.ModuleType("wfsite_test_searchers")

    class ClassSearcher:
        def search(self, topic: str) -> list[SearchResult]:
            return list(SOURCES)

    module.ClassSearcher = ClassSearcher  # type: ignore[attr-defined]
    module.instance = ClassSearcher()  # type: ignore[attr-defined]
    module.function = lambda topic: list(SOURCES)  # type: ignore[attr-defined]
    module.number = 42  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module
    yield module.__name__
    del sys.modules[module.__name__]


@pytest.mark.parametrize("name", ["ClassSearcher", "instance", "function"])
def test_searcher_from_env_loads_a_class_instance_or_function(searchers_module: str, name: str) -> None:
    searcher = searcher_from_env({"WFSITE_SEARCHER": f"{searchers_module}:{name}"})

    assert isinstance(searcher, Searcher)
    assert searcher.search("tea") == SOURCES


def test_searcher_from_env_defaults_to_none() -> None:
    assert searcher_from_env({}) is None
    assert searcher_from_env({"WFSITE_SEARCHER": "  "}) is None


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("no_colon_here", "must look like 'package.module:name'"),
        ("wfsite_no_such_module_xyz:thing", "cannot be loaded"),
        ("{module}:missing", "cannot be loaded"),
        ("{module}:number", "neither a searcher class"),
    ],
)
def test_invalid_searcher_setting_names_the_variable(searchers_module: str, value: str, reason: str) -> None:
    with pytest.raises(SearcherConfigError, match=reason) as caught:
        searcher_from_env({"WFSITE_SEARCHER": value.format(module=searchers_module)})

    assert "WFSITE_SEARCHER=" in str(caught.value)


def load_searcher_from(function: object) -> Searcher:
    """Load a function through the same path WFSITE_SEARCHER uses."""
    module = types.ModuleType("wfsite_test_one_searcher")
    module.search = function  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module
    try:
        return load_searcher(f"{module.__name__}:search")
    finally:
        del sys.modules[module.__name__]
