"""BlogPostGenerator: the seeds' workflow, researching and writing a post on a topic, with a cache.

The cache is declared (`blog_posts = Cache(...)`, see `sessions_app.workflow.cache`): it lives in
`session_state["blog_posts"]`, in upstream's list shape (`[{"topic": ..., "blog_post": ...}]`);
a dict shape (`{"topic": "post"}`) written by other code is read and extended in that shape.
Topics are matched after normalising case and whitespace, so "AI Agents " finds the post for
"ai agents"; where a list holds a topic twice, the newest wins.
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum
from typing import Any

from sessions_app.workflow.base import Workflow
from sessions_app.workflow.cache import Cache, normalize_key
from sessions_app.workflow.errors import InputError
from sessions_app.workflow.events import RunEvent, RunResponse
from sessions_app.workflow.llm import Model, model_from_env
from sessions_app.workflow.log import logger
from sessions_app.workflow.search import ResearchStep, Searcher, SearchResult, research, searcher_from_env

MAX_TOPIC_LENGTH = 300
FROM_ENVIRONMENT: Any = object()

WRITER_INSTRUCTIONS = """\
You are a senior writer for a well-read technology publication. Write an engaging, accurate blog
post on the topic you are given, in Markdown: a title as a level-1 heading, an introduction,
several sections with level-2 headings, and a "Key takeaways" list at the end. Where sources are
given, draw on them and cite them as Markdown links; never invent a source."""


class BlogEvent(StrEnum):
    """Progress events of a blog post run, beside upstream's RunEvent values."""

    research_started = "ResearchStarted"
    research_step = "ResearchStep"
    research_done = "ResearchCompleted"
    writing_started = "WritingStarted"
    post_cached = "PostCached"


def topic_key(topic: str) -> str:
    """Normalise a topic for cache lookups: case-folded, inner and outer whitespace collapsed."""
    return normalize_key(topic)


def find_cached(state: dict[str, Any], topic: str) -> str | None:
    """Return the cached post for `topic`, newest first, in either cache shape."""
    entry = BlogPostGenerator.blog_posts.find(state, topic_key(topic))
    return entry.value if entry is not None and isinstance(entry.value, str) else None


def store_post(state: dict[str, Any], topic: str, post: str) -> None:
    """Cache `post` for `topic`, replacing the topic's newest entry instead of adding a duplicate."""
    BlogPostGenerator.blog_posts.store(state, post, {"topic": topic})


def clean_topic(topic: Any) -> str:
    """Return the topic stripped, or raise ValueError saying what is wrong with it."""
    if not isinstance(topic, str):
        raise ValueError(f"The topic must be text, not {type(topic).__name__}.")
    cleaned = topic.strip()
    if not cleaned:
        raise ValueError("The topic is empty; say what the post should be about.")
    if len(cleaned) > MAX_TOPIC_LENGTH:
        raise ValueError(f"The topic is {len(cleaned)} characters long; the limit is {MAX_TOPIC_LENGTH}.")
    return cleaned


def writer_prompt(topic: str, sources: tuple[SearchResult, ...]) -> str:
    """Build the writer's prompt from the topic and any research."""
    if not sources:
        return f"Topic: {topic}\n\nNo research is available; write from general knowledge."
    listed = "\n".join(f"- [{s.title}]({s.url}): {s.summary}" for s in sources)
    return f"Topic: {topic}\n\nSources:\n{listed}"


class BlogPostGenerator(Workflow):
    """Research a topic, write a blog post about it as it streams, and cache the post per topic."""

    description = "Generate a blog post on a topic; a topic already written is served from the cache."
    blog_posts = Cache(key="topic", value="blog_post", label="post on {key}", markdown=True)
    input_limits = {"topic": MAX_TOPIC_LENGTH}
    model: Model | None = None
    searcher: Searcher | None = FROM_ENVIRONMENT
    research_tries: int = 3

    @classmethod
    def clean_run_inputs(cls, inputs: dict[str, Any]) -> dict[str, Any]:
        """Check the topic before a run is queued, so a bad one is refused at once."""
        try:
            return {**inputs, "topic": clean_topic(inputs.get("topic"))}
        except ValueError as error:
            raise InputError("topic", str(error)) from None

    def run(self, topic: str, use_cache: bool = True) -> Iterator[RunResponse]:
        """Yield the cached post, or research, write, cache and yield a new one."""
        topic = clean_topic(topic)
        if use_cache:
            cached = self.blog_posts.get(topic)
            if isinstance(cached, str):
                logger.info("Found cached blog post")
                self.cache_hit = True
                yield RunResponse(run_id=self.run_id, event=RunEvent.workflow_completed, content=cached)
                return
        self.cache_hit = False
        sources: tuple[SearchResult, ...] = ()
        yield RunResponse(run_id=self.run_id, event=BlogEvent.research_started, content="Research started.")
        searcher = searcher_from_env() if self.searcher is FROM_ENVIRONMENT else self.searcher
        for step in research(searcher, topic, tries=self.research_tries):
            yield self._research_event(step)
            if step.kind == "gave_up":
                yield RunResponse(
                    run_id=self.run_id,
                    event=RunEvent.workflow_completed,
                    content=f"Sorry, could not find any articles on the topic: {topic}",
                )
                return
            sources = step.sources or sources
        yield from self._write(topic, sources)

    def _research_event(self, step: ResearchStep) -> RunResponse:
        extra: dict[str, Any] = {"step": step.kind, "attempt": step.attempt, "tries": step.tries}
        if step.sources:
            extra["sources"] = [source.as_dict() for source in step.sources]
        event = BlogEvent.research_done if step.final else BlogEvent.research_step
        return RunResponse(run_id=self.run_id, event=event, content=step.message, extra_data=extra)

    def _write(self, topic: str, sources: tuple[SearchResult, ...]) -> Iterator[RunResponse]:
        model = self.model or model_from_env()
        yield RunResponse(
            run_id=self.run_id,
            event=BlogEvent.writing_started,
            content=f"Writing the post with {model.id}.",
            model=model.id,
        )
        chunks: list[str] = []
        for chunk in model.stream(
            system=WRITER_INSTRUCTIONS, prompt=writer_prompt(topic, sources), topic=topic
        ):
            chunks.append(chunk)
            yield RunResponse(run_id=self.run_id, event=RunEvent.run_response, content=chunk, model=model.id)
        post = "".join(chunks)
        if (usage := getattr(model, "last_usage", None)) is not None:
            self.record_usage(**usage)
        self.blog_posts.store(post, topic)
        yield RunResponse(
            run_id=self.run_id, event=BlogEvent.post_cached, content=f"Cached the post on {topic!r}."
        )
        yield RunResponse(run_id=self.run_id, event=RunEvent.workflow_completed, content=post, model=model.id)
