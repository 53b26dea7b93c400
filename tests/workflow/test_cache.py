"""The cache declaration: keys from run inputs, both shapes, newest wins, helpers, expiry, hits recorded."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from sessions_app.workflow import BlogPostGenerator, Cache, RunResponse, SqliteWorkflowStorage, Workflow
from sessions_app.workflow.cache import normalize_key
from sessions_app.workflow.offline_model import OfflineModel


class Translator(Workflow):
    """A workflow keyed by two inputs, caching in a list, with a ttl and a stamp for the engine's storage."""

    translations = Cache(key=("text", "language"), value="translation", ttl=60, stamp="cached_at")

    def run(self, text: str, language: str = "fr", use_cache: bool = True) -> Iterator[RunResponse]:
        if use_cache and (found := self.translations.get(text, language)) is not None:
            yield RunResponse(content=found)
            return
        translated = f"{text} ({language})"
        self.translations.store(translated, text=text, language=language)
        yield RunResponse(content=translated)


class Notes(Workflow):
    """Two caches: the first is the result by default; `result=True` picks another."""

    drafts = Cache(key="title", shape="dict")
    finals = Cache(key="title", shape="dict", use_cache="use_finals", result=True)

    def run(self, title: str, use_finals: bool = True) -> Iterator[RunResponse]:
        yield RunResponse(content=title)


def test_the_seeds_case_needs_one_line() -> None:
    cache = Cache(key="topic", value="blog_post")

    class Seeds(Workflow):
        blog_posts = cache

    assert Seeds.caches() == (cache,)
    assert (cache.state_key, cache.key_inputs, cache.shape, cache.use_cache, cache.ttl) == (
        "blog_posts",
        ("topic",),
        "list",
        "use_cache",
        None,
    )
    state = {"blog_posts": [{"topic": "AI Agents", "blog_post": "post"}]}
    assert cache.find(state, "ai agents").value == "post"  # type: ignore[union-attr]


def test_keys_are_normalised_and_the_newest_duplicate_wins() -> None:
    cache = BlogPostGenerator.blog_posts
    state = {
        "blog_posts": [
            {"topic": "Rust", "blog_post": "old"},
            {"topic": "other", "blog_post": "x"},
            "not an entry",
            {"topic": " RUST ", "blog_post": "new"},
        ]
    }
    assert normalize_key("  AI\tAgents ") == "ai agents"
    assert cache.key_of({"topic": "  RUST"}) == "rust"
    found = cache.find(state, "rust")
    assert (found.value, found.index, found.path, found.display_key) == ("new", 3, ("blog_posts", 3), "RUST")  # type: ignore[union-attr]
    assert found.name == "the post on 'RUST'"  # type: ignore[union-attr]
    assert [entry.key for entry in cache.entries(state)] == ["rust", "other", "rust"]


def test_store_replaces_the_newest_entry_in_either_shape_and_delete_removes_all_for_a_key() -> None:
    cache = BlogPostGenerator.blog_posts
    listed = {
        "blog_posts": [{"topic": "a", "blog_post": "1", "note": "kept"}, {"topic": "A", "blog_post": "2"}]
    }
    cache.store(listed, "3", {"topic": "a "})
    assert listed["blog_posts"] == [
        {"topic": "a", "blog_post": "1", "note": "kept"},
        {"topic": "a ", "blog_post": "3"},
    ]
    shaped = {"blog_posts": {"Go": "g", "GO ": "g2"}}
    cache.store(shaped, "g3", {"topic": "go"})
    assert shaped == {"blog_posts": {"go": "g3"}}
    assert cache.delete(listed, "a") == 2
    assert listed == {"blog_posts": []}
    fresh: dict = {}
    Notes.drafts.store(fresh, {"v": 1}, {"title": "T"})
    assert fresh == {"drafts": {"T": {"v": 1}}}


def test_a_cache_holding_something_else_says_what_to_fix() -> None:
    with pytest.raises(ValueError, match=r"session_state\['blog_posts'\] holds a str"):
        BlogPostGenerator.blog_posts.store({"blog_posts": "oops"}, "p", {"topic": "x"})


def test_declarations_are_checked() -> None:
    with pytest.raises(ValueError, match="exactly one input"):
        Cache(key=("a", "b"), shape="dict")
    with pytest.raises(ValueError, match="shape"):
        Cache(shape="tree")  # type: ignore[arg-type]
    assert Cache(ttl=timedelta(hours=1)).ttl == 3600


def test_result_cache_and_flags() -> None:
    assert Notes.result_cache() is Notes.finals
    assert BlogPostGenerator.result_cache() is BlogPostGenerator.blog_posts
    assert Notes.finals.enabled({"use_finals": False}) is False
    assert Notes.drafts.enabled({"use_finals": False}) is True
    assert Workflow.caches() == ()
    assert Workflow.result_cache() is None


def test_a_cache_is_not_a_constructor_argument_nor_assignable(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="unexpected keyword argument 'blog_posts'"):
        BlogPostGenerator(blog_posts=[])
    generator = BlogPostGenerator(session_id="s")
    with pytest.raises(AttributeError, match="cache declaration"):
        generator.blog_posts = []  # type: ignore[misc]


def test_bound_helpers_read_and_write_the_run_state(tmp_path: Path) -> None:
    storage = SqliteWorkflowStorage(table_name="t", db_file=str(tmp_path / "w.db"))
    first = Translator(session_id="s", storage=storage)
    assert [r.content for r in first.run("Hello")] == ["Hello (fr)"]
    second = Translator(session_id="s", storage=storage)
    assert [r.content for r in second.run("  hello ", language="FR")] == ["Hello (fr)"]
    runs = storage.get_runs("s")
    assert [run.cache_hit for run in runs] == [False, True]
    assert second._cache_hits == [("translations", '["hello","fr"]')]
    record = storage.read("s").session_state["translations"][0]  # type: ignore[union-attr]
    assert set(record) == {"text", "language", "translation", "cached_at"}
    assert second.translations.entries()[0].display_key == "Hello, fr"
    assert "Hello" not in second.translations  # keyed by two inputs: a bare text is not a key


def test_an_entry_older_than_its_ttl_is_stale_and_regenerated_unless_stale_is_accepted(
    tmp_path: Path,
) -> None:
    storage = SqliteWorkflowStorage(table_name="t", db_file=str(tmp_path / "w.db"))
    list(Translator(session_id="s", storage=storage).run("Hi"))
    writer = Translator(session_id="s", storage=storage)
    writer.read_from_storage()
    writer.session_state["translations"][0].update(cached_at="2000-01-01T00:00:00+00:00", translation="old")
    writer.write_to_storage()

    accepting = Translator(session_id="s", storage=storage, accept_stale=True)
    assert [r.content for r in accepting.run("Hi")] == ["old"]
    regenerating = Translator(session_id="s", storage=storage)
    assert [r.content for r in regenerating.run("Hi")] == ["Hi (fr)"]
    state = storage.read("s").session_state  # type: ignore[union-attr]
    assert len(state["translations"]) == 1  # replaced, not duplicated
    assert not Translator.translations.is_stale(Translator.translations.find(state, '["hi","fr"]').stored_at)  # type: ignore[union-attr]


def test_usage_is_recorded_on_the_run(tmp_path: Path) -> None:
    class Counting(Workflow):
        def run(self) -> Iterator[RunResponse]:
            self.record_usage(prompt_tokens=3, completion_tokens=4)
            self.record_usage(prompt_tokens=1, completion_tokens=1, estimated=True)
            yield RunResponse(content="x")

    workflow = Counting(
        session_id="s", storage=SqliteWorkflowStorage(table_name="t", db_file=str(tmp_path / "w.db"))
    )
    list(workflow.run())
    assert workflow.run_usage == {"prompt_tokens": 4, "completion_tokens": 5, "estimated": True}


def test_the_blog_post_generator_reports_the_offline_models_estimate(tmp_path: Path) -> None:
    generator = BlogPostGenerator(
        session_id="s",
        storage=SqliteWorkflowStorage(table_name="t", db_file=str(tmp_path / "w.db")),
        model=OfflineModel(delay=0),  # the estimate, not the pace, is under test
    )
    list(generator.run("AI agents"))
    usage = generator.run_usage
    assert usage is not None
    assert usage["estimated"] is True
    assert usage["completion_tokens"] > 100
