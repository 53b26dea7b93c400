"""An offline demo searcher and scraper: deterministic sources that say they are demo data.

`BlogPostPipeline` uses them when no searcher (`WFSITE_SEARCHER`) or scraper (`WFSITE_SCRAPER`)
is configured, so that its three caches fill with no network and no key. Their URLs are under
`.invalid`, a domain that never resolves, so nothing links to a real site by accident.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass

from sessions_app.workflow.offline_model import display_topic
from sessions_app.workflow.search import SearchResult

DEMO_SITE = "https://demo-source.invalid"
_ANGLES = (
    ("A field guide to {t}", "what {t} is, where it came from and how people use it today"),
    ("{t}: five lessons from practice", "what went well and what did not when teams adopted {t}"),
    ("The open questions in {t}", "the debates about {t} that are still unsettled"),
    ("{t} for newcomers", "the vocabulary and first steps that make {t} approachable"),
    ("Measuring {t}", "how to tell whether {t} is working, and which numbers mislead"),
)


def _slug(topic: str) -> str:
    words = re.sub(r"[^a-z0-9]+", "-", display_topic(topic).casefold()).strip("-")
    digest = hashlib.sha256(topic.casefold().encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{words[:60] or 'topic'}-{digest}"


class DemoSearcher:
    """Find three made-up sources for any topic, always the same ones for the same topic."""

    def __repr__(self) -> str:
        return "DemoSearcher()"

    def search(self, topic: str) -> list[SearchResult]:
        """Return the topic's demo sources."""
        shown, slug = display_topic(topic), _slug(topic)
        start = int(hashlib.sha256(slug.encode()).hexdigest(), 16) % len(_ANGLES)
        results = []
        for n in range(3):
            title, about = _ANGLES[(start + n) % len(_ANGLES)]
            results.append(
                SearchResult(
                    title=title.format(t=shown),
                    url=f"{DEMO_SITE}/{slug}/{n + 1}",
                    summary=f"Demo data, made up offline: a source on {about.format(t=shown)}.",
                )
            )
        return results


@dataclass(frozen=True, slots=True)
class ScrapedArticle:
    """An article's text, as a scraper read it from its URL."""

    title: str
    url: str
    content: str

    def as_dict(self) -> dict[str, str]:
        """Return the article as JSON-ready data for session_state."""
        return asdict(self)


class DemoScraper:
    """Read a demo source: a short made-up article that says it is demo data."""

    def __repr__(self) -> str:
        return "DemoScraper()"

    def scrape(self, result: SearchResult) -> ScrapedArticle:
        """Return the article behind a search result (made up; nothing is fetched)."""
        content = (
            f"This article is demo data, generated offline by wfsite; it was not fetched from the web. "
            f"{result.summary} It stands in for the text a real scraper would read from {result.url}, "
            "so the scraped-articles cache fills without a network."
        )
        return ScrapedArticle(title=result.title, url=result.url, content=content)
