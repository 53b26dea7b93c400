"""BlogPostGenerator: the seeds' behaviour, a normalised cache, progress events, pluggable research."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from sessions_app.workflow import BlogEvent, BlogPostGenerator, RunEvent, SqliteWorkflowStorage
from sessions_app.workflow.blog_post_generator import MAX_TOPIC_LENGTH, find_cached, store_post, topic_key
from sessions_app.workflow.llm import ModelError, OfflineModel, OpenAICompatibleModel
from sessions_app.workflow.search import SearchResult
from tests.workflow.fake_openai_server import FakeOpenAIServer, Script


class FakeModel:
    id = "fake"

    def __init__(self, chunks: list[str] | None = None, fail_after: int | None = None) -> None:
        self.chunks = chunks or ["# Title\n\n", "Body ", "text."]
        self.fail_after = fail_after
        self.prompts: list[str] = []

    def stream(self, *, system: str, prompt: str, topic: str | None = None) -> Iterator[str]:
        self.prompts.append(prompt)
        for index, chunk in enumerate(self.chunks):
            if self.fail_after is not None and index == self.fail_after:
                raise ModelError("The model server at http://127.0.0.1:1/v1 timed out.")
            yield chunk


class FlakySearcher:
    def __init__(self, failures: int, results: list[SearchResult]) -> None:
        self.failures, self.results, self.calls = failures, results, 0

    def search(self, topic: str) -> list[SearchResult]:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError("search engine down")
        return self.results


def generator(storage: SqliteWorkflowStorage, **fields: Any) -> BlogPostGenerator:
    fields.setdefault("model", FakeModel())
    fields.setdefault("searcher", None)
    return BlogPostGenerator(session_id="s", storage=storage, **fields)


def test_generates_streams_and_caches_then_serves_from_cache(storage: SqliteWorkflowStorage) -> None:
    events = list(generator(storage).run("AI agents"))

    names = [e.event for e in events]
    assert names == [
        BlogEvent.research_started,
        BlogEvent.research_done,
        BlogEvent.writing_started,
        RunEvent.run_response,
        RunEvent.run_response,
        RunEvent.run_response,
        BlogEvent.post_cached,
        RunEvent.workflow_completed,
    ]
    assert "no searcher configured" in events[1].content
    assert events[-1].content == "# Title\n\nBody text."
    assert storage.read("s").session_state == {
        "blog_posts": [{"topic": "AI agents", "blog_post": "# Title\n\nBody text."}]
    }

    cached = list(generator(storage, model=FakeModel(["other"])).run("AI agents"))
    assert [(e.event, e.content) for e in cached] == [(RunEvent.workflow_completed, "# Title\n\nBody text.")]
    runs = storage.get_runs("s")
    assert [(r.status, r.cache_hit, r.output) for r in runs] == [
        ("succeeded", False, "# Title\n\nBody text."),
        ("succeeded", True, "# Title\n\nBody text."),
    ]


@pytest.mark.parametrize("asked", ["ai agents", "AI Agents ", "  ai\tAGENTS", "Ai  agents"])
def test_cache_key_ignores_case_and_whitespace(storage: SqliteWorkflowStorage, asked: str) -> None:
    list(generator(storage).run("AI agents"))
    events = list(generator(storage, model=FakeModel(["new"])).run(asked))
    assert [e.event for e in events] == [RunEvent.workflow_completed]


def test_use_cache_false_replaces_the_entry_instead_of_appending(storage: SqliteWorkflowStorage) -> None:
    list(generator(storage).run("AI agents"))
    list(generator(storage, model=FakeModel(["fresh"])).run("ai agents ", use_cache=False))

    posts = storage.read("s").session_state["blog_posts"]
    assert posts == [{"topic": "ai agents", "blog_post": "fresh"}]


def test_dict_shaped_cache_is_read_and_kept_in_its_shape(storage: SqliteWorkflowStorage) -> None:
    seeded = generator(storage, session_state={"blog_posts": {"Rust": "rust post"}})
    events = list(seeded.run("rust"))
    assert [(e.event, e.content) for e in events] == [(RunEvent.workflow_completed, "rust post")]

    list(generator(storage, model=FakeModel(["go post"])).run("Go"))
    list(generator(storage, model=FakeModel(["rust again"])).run("RUST", use_cache=False))
    assert storage.read("s").session_state["blog_posts"] == {"Go": "go post", "RUST": "rust again"}


def test_duplicates_in_a_list_resolve_to_the_newest() -> None:
    state = {"blog_posts": [{"topic": "x", "blog_post": "old"}, {"topic": "X ", "blog_post": "new"}]}
    assert find_cached(state, "x") == "new"
    store_post(state, "x", "newer")
    assert state["blog_posts"] == [{"topic": "x", "blog_post": "old"}, {"topic": "x", "blog_post": "newer"}]


def test_cache_of_the_wrong_type_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"session_state\['blog_posts'\] holds a str"):
        store_post({"blog_posts": "oops"}, "x", "post")


def test_topic_key() -> None:
    assert topic_key("  AI \n Agents ") == "ai agents"
    assert topic_key("Straße") == topic_key("STRASSE")


def test_research_retries_a_failing_searcher_and_passes_sources_to_the_writer(
    storage: SqliteWorkflowStorage,
) -> None:
    sources = [SearchResult(title="Agents 101", url="https://example.com/a", summary="intro")]
    searcher, model = FlakySearcher(2, sources), FakeModel()
    events = list(generator(storage, searcher=searcher, model=model).run("agents"))

    research = [(e.event, e.content) for e in events if e.event.startswith("Research")]
    assert research[0] == (BlogEvent.research_started, "Research started.")
    assert "try 1 of 3" in research[1][1]
    assert "failed: ConnectionError" in research[2][1] or "search engine down" in research[2][1]
    assert research[-1] == (BlogEvent.research_done, "Found 1 source.")
    assert searcher.calls == 3
    assert "[Agents 101](https://example.com/a)" in model.prompts[0]
    done = next(e for e in events if e.event == BlogEvent.research_done)
    assert done.extra_data["sources"][0]["url"] == "https://example.com/a"


def test_searcher_that_finds_nothing_ends_with_upstreams_apology_and_caches_nothing(
    storage: SqliteWorkflowStorage,
) -> None:
    searcher = FlakySearcher(0, [])
    events = list(generator(storage, searcher=searcher).run("obscure"))

    assert searcher.calls == 3
    assert events[-1].event == RunEvent.workflow_completed
    assert events[-1].content == "Sorry, could not find any articles on the topic: obscure"
    assert storage.read("s").session_state == {}


@pytest.mark.parametrize("topic", ["", "   ", "x" * (MAX_TOPIC_LENGTH + 1)])
def test_bad_topics_are_refused_with_a_clear_error(storage: SqliteWorkflowStorage, topic: str) -> None:
    with pytest.raises(ValueError, match="topic"):
        list(generator(storage).run(topic))
    assert storage.get_runs("s")[0].status == "failed"


def test_model_failure_mid_post_fails_the_run_and_caches_nothing(storage: SqliteWorkflowStorage) -> None:
    list(generator(storage).run("kept"))
    with pytest.raises(ModelError, match="timed out"):
        list(generator(storage, model=FakeModel(fail_after=2)).run("lost"))

    assert [p["topic"] for p in storage.read("s").session_state["blog_posts"]] == ["kept"]
    failed = storage.get_runs("s")[-1]
    assert failed.status == "failed"
    assert "timed out" in failed.error


def test_offline_model_writes_a_real_post(storage: SqliteWorkflowStorage) -> None:
    events = list(generator(storage, model=OfflineModel(delay=0)).run("Vector databases"))
    post = events[-1].content
    assert post.startswith("# ")
    assert "Key takeaways" in post
    assert "offline demo model" in post
    assert 3000 <= len(post) <= 6000
    assert sum(e.event == RunEvent.run_response for e in events) > 10  # it streams


def test_streams_through_an_openai_compatible_server(storage: SqliteWorkflowStorage) -> None:
    with FakeOpenAIServer(Script(chunks=["# Served", "\n\nby the ", "fake server."])) as server:
        model = OpenAICompatibleModel(base_url=server.base_url, model="demo", timeout=5, max_retries=0)
        events = list(generator(storage, model=model).run("servers"))

    assert [e.content for e in events if e.event == RunEvent.run_response] == [
        "# Served",
        "\n\nby the ",
        "fake server.",
    ]
    assert storage.read("s").session_state["blog_posts"][0]["blog_post"] == "# Served\n\nby the fake server."


def test_model_is_chosen_from_the_environment(
    storage: SqliteWorkflowStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WFSITE_MODEL_PROVIDER", "offline")
    monkeypatch.setenv("WFSITE_OFFLINE_DELAY", "0")
    events = list(BlogPostGenerator(session_id="s", storage=storage, searcher=None).run("env"))
    assert events[2].content == "Writing the post with offline."
