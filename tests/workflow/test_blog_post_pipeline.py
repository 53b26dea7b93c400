"""BlogPostPipeline: three dict-shaped caches by topic, each with its own flag, filled offline."""

from __future__ import annotations

from pathlib import Path

import pytest

from sessions_app.workflow import BlogPostPipeline, RunEvent, SqliteWorkflowStorage
from sessions_app.workflow.demo_sources import DEMO_SITE, DemoScraper, DemoSearcher
from sessions_app.workflow.search import SearchResult

CACHES = ["search_results", "scraped_articles", "blog_posts"]


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("WFSITE_SEARCHER", "WFSITE_SCRAPER", "WFSITE_MODEL_PROVIDER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WFSITE_OFFLINE_DELAY", "0")


@pytest.fixture
def storage(tmp_path: Path) -> SqliteWorkflowStorage:
    return SqliteWorkflowStorage(table_name="pipeline", db_file=str(tmp_path / "p.db"))


def events(storage: SqliteWorkflowStorage, topic: str, **flags: bool) -> list[str]:
    return [str(e.event) for e in BlogPostPipeline(session_id="s", storage=storage).run(topic, **flags)]


def test_all_three_caches_fill_with_no_network_and_no_key(storage: SqliteWorkflowStorage) -> None:
    names = events(storage, "AI agents")

    state = storage.read("s").session_state  # type: ignore[union-attr]
    assert list(state) == CACHES
    assert all(list(state[cache]) == ["AI agents"] for cache in CACHES)
    sources = state["search_results"]["AI agents"]
    assert len(sources) == 3
    assert all(source["url"].startswith(DEMO_SITE) for source in sources)
    assert all("Demo data" in source["summary"] for source in sources)
    articles = state["scraped_articles"]["AI agents"]
    assert all("demo data" in article["content"] for article in articles.values())
    assert state["blog_posts"]["AI agents"].startswith("# ")
    assert names[:2] == ["SearchStarted", "SearchCompleted"]
    assert names[-1] == RunEvent.workflow_completed
    assert [run.cache_hit for run in storage.get_runs("s")] == [False]


def test_a_cached_post_answers_at_once(storage: SqliteWorkflowStorage) -> None:
    events(storage, "AI agents")
    assert events(storage, "  ai AGENTS ") == [RunEvent.workflow_completed]
    assert [run.cache_hit for run in storage.get_runs("s")] == [False, True]


def test_each_flag_turns_off_its_own_stage(storage: SqliteWorkflowStorage) -> None:
    events(storage, "Rust")
    rewritten = events(storage, "rust", use_cached_report=False)
    assert "SearchCached" in rewritten
    assert "ScrapeCached" in rewritten
    assert "WritingStarted" in rewritten
    researched = events(
        storage, "Rust", use_cached_report=False, use_search_cache=False, use_scrape_cache=False
    )
    assert "SearchStarted" in researched
    assert "ScrapeStep" in researched
    state = storage.read("s").session_state  # type: ignore[union-attr]
    assert all(len(state[cache]) == 1 for cache in CACHES)  # replaced, never duplicated


def test_no_sources_means_upstreams_apology_and_no_cached_post(storage: SqliteWorkflowStorage) -> None:
    class Nothing:
        def search(self, topic: str) -> list[SearchResult]:
            return []

    run = BlogPostPipeline(session_id="s", storage=storage, searcher=Nothing())
    final = list(run.run("Obscure"))[-1]
    assert final.content == "Sorry, could not find any articles on the topic: Obscure"
    assert "blog_posts" not in storage.read("s").session_state  # type: ignore[union-attr]


def test_demo_sources_are_deterministic_and_say_they_are_demo_data() -> None:
    first, again = DemoSearcher().search("Go"), DemoSearcher().search("Go")
    assert first == again
    assert first != DemoSearcher().search("Rust")
    article = DemoScraper().scrape(first[0])
    assert article.url == first[0].url
    assert "demo data" in article.content


def test_a_configured_scraper_is_used(
    storage: SqliteWorkflowStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WFSITE_SCRAPER", f"{__name__}:shout")
    events(storage, "Go")
    articles = storage.read("s").session_state["scraped_articles"]["Go"]  # type: ignore[union-attr]
    assert {article["content"] for article in articles.values()} == {"SHOUTED"}


def shout(result: SearchResult) -> dict[str, str]:
    return {"title": result.title, "content": "SHOUTED"}
