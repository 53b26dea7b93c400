"""The research step: a pluggable searcher, tried a few times, reported step by step.

Configure a searcher with `WFSITE_SEARCHER=package.module:name` (default: none, and research is
skipped). `name` may be a class (instantiated with no arguments), an object with a `search(topic)`
method, or a plain function `search(topic)`. A searcher returns `SearchResult`s or mappings with
`title`, `url` and `summary` (or `snippet`, `content`, `description`) keys; results without a URL
are dropped. A searcher owns its own network timeouts: `research()` cannot interrupt a call.
"""

from __future__ import annotations

import importlib
import inspect
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from sessions_app.workflow.log import logger as engine_logger

__all__ = [
    "ResearchStep",
    "SearchResult",
    "Searcher",
    "SearcherConfigError",
    "load_plugin",
    "load_searcher",
    "normalise_results",
    "research",
    "searcher_from_env",
]

logger = engine_logger.getChild("search")

SEARCHER_VARIABLE = "WFSITE_SEARCHER"
DEFAULT_TRIES = 3
_SUMMARY_KEYS = ("summary", "snippet", "content", "description", "body")

StepKind = Literal["try", "found", "empty", "error", "skipped", "gave_up"]


@dataclass(frozen=True, slots=True)
class SearchResult:
    """One source the writer may cite."""

    title: str
    url: str
    summary: str = ""

    def as_dict(self) -> dict[str, str]:
        """Return the result as JSON-ready data for session_state."""
        return asdict(self)


@runtime_checkable
class Searcher(Protocol):
    """Find sources for a topic."""

    def search(self, topic: str) -> list[SearchResult]:
        """Return sources for the topic; an empty list or an exception means try again."""
        ...


@dataclass(frozen=True, slots=True)
class ResearchStep:
    """One thing that happened during research, ready to become a progress event.

    `final` steps ("found", "skipped", "gave_up") end the research; only "found" carries sources.
    """

    kind: StepKind
    attempt: int
    tries: int
    message: str
    sources: tuple[SearchResult, ...] = ()

    @property
    def final(self) -> bool:
        """Return whether research ends with this step."""
        return self.kind in {"found", "skipped", "gave_up"}


class SearcherConfigError(ValueError):
    """Report a WFSITE_SEARCHER value that does not name a usable searcher."""


class _FunctionSearcher:
    """Adapt a plain `search(topic)` function to the Searcher protocol."""

    def __init__(self, function: Callable[[str], Any]) -> None:
        self.function = function

    def __repr__(self) -> str:
        return f"_FunctionSearcher({self.function!r})"

    def search(self, topic: str) -> list[SearchResult]:
        """Call the function."""
        results: list[SearchResult] = self.function(topic)
        return results


def research(searcher: Searcher | None, topic: str, *, tries: int = DEFAULT_TRIES) -> Iterator[ResearchStep]:
    """Yield the research steps for a topic; the last step is final and holds any sources."""
    if tries < 1:
        raise ValueError(f"tries must be 1 or more, not {tries!r}")
    if searcher is None:
        yield ResearchStep(
            "skipped", 0, tries, f"Research skipped: no searcher configured ({SEARCHER_VARIABLE})."
        )
        return
    for attempt in range(1, tries + 1):
        yield ResearchStep("try", attempt, tries, f"Searching for sources, try {attempt} of {tries}.")
        try:
            sources = normalise_results(searcher.search(topic))
        except Exception as err:  # a third-party searcher may fail in any way; the run goes on
            logger.warning("Searcher %r failed on try %d of %d", searcher, attempt, tries, exc_info=True)
            yield ResearchStep("error", attempt, tries, f"Try {attempt} of {tries} failed: {_describe(err)}")
            continue
        if sources:
            found = _count(len(sources), "source", "sources")
            yield ResearchStep("found", attempt, tries, f"Found {found}.", sources)
            return
        yield ResearchStep("empty", attempt, tries, f"Try {attempt} of {tries} found no sources.")
    yield ResearchStep(
        "gave_up", tries, tries, f"Gave up on research after {_count(tries, 'try', 'tries')} without sources."
    )


def _count(number: int, singular: str, plural: str) -> str:
    return f"{number} {singular if number == 1 else plural}"


def normalise_results(results: Iterable[Any] | None) -> tuple[SearchResult, ...]:
    """Turn whatever a searcher returned into SearchResults, dropping entries without a URL."""
    if results is None:
        return ()
    if isinstance(results, str | bytes | Mapping):
        raise TypeError(f"a searcher must return a list of results, not {type(results).__name__}")
    normalised = (_one_result(item) for item in results)
    return tuple(result for result in normalised if result is not None)


def _one_result(item: Any) -> SearchResult | None:
    if isinstance(item, SearchResult):
        return item if item.url else None
    if not isinstance(item, Mapping):
        raise TypeError(f"a search result must be a SearchResult or a mapping, not {type(item).__name__}")
    url = str(item.get("url") or item.get("link") or item.get("href") or "").strip()
    if not url:
        return None
    summary = next((item[key] for key in _SUMMARY_KEYS if item.get(key)), "")
    return SearchResult(title=str(item.get("title") or url).strip(), url=url, summary=str(summary).strip())


def _describe(err: Exception) -> str:
    text = " ".join(str(err).split())
    if len(text) > 300:
        text = text[:299] + "…"
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def searcher_from_env(environ: Mapping[str, str] | None = None) -> Searcher | None:
    """Return the searcher WFSITE_SEARCHER names, or None when it is unset."""
    env = os.environ if environ is None else environ
    path = (env.get(SEARCHER_VARIABLE) or "").strip()
    return load_searcher(path) if path else None


def load_searcher(path: str) -> Searcher:
    """Import `package.module:name` and make a Searcher of it."""
    found = load_plugin(path, variable=SEARCHER_VARIABLE, method="search", noun="searcher")
    return found if hasattr(found, "search") else _FunctionSearcher(found)


def load_plugin(path: str, *, variable: str, method: str, noun: str) -> Any:
    """Import `package.module:name`: a class (made with no arguments), an object with `method`, or a function.

    A function is returned as it is, for the caller to adapt; errors name the setting `variable`.
    """
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise SearcherConfigError(f"{variable}={path!r} must look like 'package.module:name'.")
    try:
        target: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as err:
        raise SearcherConfigError(f"{variable}={path!r} cannot be loaded: {err}") from err
    if inspect.isclass(target):
        try:
            target = target()
        except Exception as err:  # a constructor can fail in any way; name the setting that caused it
            raise SearcherConfigError(f"{variable}={path!r} could not be created: {err}") from err
    if callable(getattr(target, method, None)) or callable(target):
        return target
    raise SearcherConfigError(
        f"{variable}={path!r} is neither a {noun} class, an object with {method}(), nor a function."
    )
