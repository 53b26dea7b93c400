"""BlogPostPipeline: upstream's cookbook blog post generator, caching each of its three stages per topic.

Modelled on agno's cookbook workflow: it searches for sources, scrapes them, and writes a post
from what it read, and it caches each stage in its own dict-shaped cache keyed by topic
(`search_results`, `scraped_articles`, `blog_posts`), each with its own `use_*` flag, as the
cookbook does. The searcher is `WFSITE_SEARCHER`'s and the scraper `WFSITE_SCRAPER`'s
(`package.module:name`, with a `scrape(result)` method or a function); without them it uses the
offline demo sources (`demo_sources`), so that all three caches fill with no network and no key.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from typing import Any

from sessions_app.workflow.base import Workflow
from sessions_app.workflow.blog_post_generator import MAX_TOPIC_LENGTH, WRITER_INSTRUCTIONS, clean_topic
from sessions_app.workflow.cache import Cache
from sessions_app.workflow.demo_sources import DemoScraper, DemoSearcher, ScrapedArticle
from sessions_app.workflow.errors import InputError
from sessions_app.workflow.events import RunEvent, RunResponse
from sessions_app.workflow.llm import Model, model_from_env
from sessions_app.workflow.search import SearchResult, load_plugin, normalise_results, searcher_from_env

SCRAPER_VARIABLE = "WFSITE_SCRAPER"
FROM_ENVIRONMENT: Any = object()


def scraper_from_env() -> Any:
    """Return the scraper WFSITE_SCRAPER names, or the offline demo scraper when it is unset."""
    path = (os.environ.get(SCRAPER_VARIABLE) or "").strip()
    if not path:
        return DemoScraper()
    found = load_plugin(path, variable=SCRAPER_VARIABLE, method="scrape", noun="scraper")
    return found if hasattr(found, "scrape") else _FunctionScraper(found)


class _FunctionScraper:
    """Adapt a plain `scrape(result)` function to the scraper's method."""

    def __init__(self, function: Any) -> None:
        self.function = function

    def scrape(self, result: SearchResult) -> Any:
        """Call the function."""
        return self.function(result)


def _article(found: Any, result: SearchResult) -> dict[str, str]:
    if isinstance(found, ScrapedArticle):
        return found.as_dict()
    if isinstance(found, dict):
        return {
            "title": str(found.get("title") or result.title),
            "url": result.url,
            "content": str(found.get("content") or ""),
        }
    return {"title": result.title, "url": result.url, "content": str(found or "")}


def pipeline_prompt(topic: str, articles: dict[str, dict[str, str]]) -> str:
    """Build the writer's prompt from the scraped articles."""
    listed = "\n\n".join(f"[{a['title']}]({url}):\n{a['content']}" for url, a in articles.items())
    return f"Topic: {topic}\n\nArticles:\n{listed}"


class BlogPostPipeline(Workflow):
    """Search, scrape and write a blog post on a topic, caching each stage per topic."""

    description = "Search, scrape, then write a post on a topic; each stage is cached per topic."
    search_results = Cache(
        key="topic", shape="dict", use_cache="use_search_cache", label="search results for {key}"
    )
    scraped_articles = Cache(
        key="topic", shape="dict", use_cache="use_scrape_cache", label="scraped articles for {key}"
    )
    blog_posts = Cache(
        key="topic",
        shape="dict",
        use_cache="use_cached_report",
        label="post on {key}",
        markdown=True,
        result=True,
    )
    input_limits = {"topic": MAX_TOPIC_LENGTH}
    model: Model | None = None
    searcher: Any = FROM_ENVIRONMENT
    scraper: Any = FROM_ENVIRONMENT

    @classmethod
    def clean_run_inputs(cls, inputs: dict[str, Any]) -> dict[str, Any]:
        """Check the topic before a run is queued, so a bad one is refused at once."""
        try:
            return {**inputs, "topic": clean_topic(inputs.get("topic"))}
        except ValueError as error:
            raise InputError("topic", str(error)) from None

    def run(
        self,
        topic: str,
        use_search_cache: bool = True,
        use_scrape_cache: bool = True,
        use_cached_report: bool = True,
    ) -> Iterator[RunResponse]:
        """Yield the cached post, or search, scrape and write one, caching every stage."""
        topic = clean_topic(topic)
        if use_cached_report and isinstance(post := self.blog_posts.get(topic), str):
            self.cache_hit = True
            yield RunResponse(run_id=self.run_id, event=RunEvent.workflow_completed, content=post)
            return
        self.cache_hit = False
        sources = yield from self._search(topic, use_search_cache)
        if not sources:
            yield RunResponse(
                run_id=self.run_id,
                event=RunEvent.workflow_completed,
                content=f"Sorry, could not find any articles on the topic: {topic}",
            )
            return
        articles = yield from self._scrape(topic, sources, use_scrape_cache)
        yield from self._write(topic, articles)

    def _step(self, event: str, content: str, **extra: Any) -> RunResponse:
        return RunResponse(run_id=self.run_id, event=event, content=content, extra_data=extra or None)

    def _search(self, topic: str, use_cache: bool) -> Generator[RunResponse, None, tuple[SearchResult, ...]]:
        cached = self.search_results.get(topic) if use_cache else None
        if isinstance(cached, list):
            yield self._step("SearchCached", f"Used the cached search results ({len(cached)} sources).")
            return normalise_results(cached)
        yield self._step("SearchStarted", "Searching for sources.")
        searcher = (
            self.searcher if self.searcher is not FROM_ENVIRONMENT else searcher_from_env() or DemoSearcher()
        )
        sources = normalise_results(searcher.search(topic))
        if sources:
            self.search_results.store([source.as_dict() for source in sources], topic)
        found = [source.as_dict() for source in sources]
        yield self._step("SearchCompleted", f"Found {len(sources)} sources.", sources=found)
        return sources

    def _scrape(
        self, topic: str, sources: tuple[SearchResult, ...], use_cache: bool
    ) -> Generator[RunResponse, None, dict[str, dict[str, str]]]:
        cached = self.scraped_articles.get(topic) if use_cache else None
        if isinstance(cached, dict) and cached:
            yield self._step("ScrapeCached", f"Used the cached articles ({len(cached)}).")
            return cached
        scraper = self.scraper if self.scraper is not FROM_ENVIRONMENT else scraper_from_env()
        articles: dict[str, dict[str, str]] = {}
        for n, source in enumerate(sources, 1):
            yield self._step("ScrapeStep", f"Reading source {n} of {len(sources)}: {source.title}")
            articles[source.url] = _article(scraper.scrape(source), source)
        self.scraped_articles.store(articles, topic)
        yield self._step("ScrapeCompleted", f"Read {len(articles)} articles.")
        return articles

    def _write(self, topic: str, articles: dict[str, dict[str, str]]) -> Iterator[RunResponse]:
        model = self.model or model_from_env()
        yield self._step("WritingStarted", f"Writing the post with {model.id}.")
        chunks = []
        for chunk in model.stream(
            system=WRITER_INSTRUCTIONS, prompt=pipeline_prompt(topic, articles), topic=topic
        ):
            chunks.append(chunk)
            yield RunResponse(run_id=self.run_id, event=RunEvent.run_response, content=chunk, model=model.id)
        post = "".join(chunks)
        if (usage := getattr(model, "last_usage", None)) is not None:
            self.record_usage(**usage)
        self.blog_posts.store(post, topic)
        yield self._step("PostCached", f"Cached the post on {topic!r}.")
        yield RunResponse(run_id=self.run_id, event=RunEvent.workflow_completed, content=post, model=model.id)
