"""The house rule that makes the dashboard generic: knowledge of a workflow lives in its own module.

Outside `sessions_app/workflow/` (and the `generate_blog_post` command, which is that workflow's
command line), no module or template names a built-in workflow class, one of their caches' state
keys, or a field their caches key or hold entries by. Everything else reads the declarations.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import sessions_app.workflow as engine
from sessions_app.workflow import Workflow

BASE = Path(__file__).resolve().parent.parent
ALLOWED = {
    BASE / "sessions_app" / "management" / "commands" / "generate_blog_post.py",
}


def built_in_names() -> set[str]:
    """Return the names the rule forbids: built-in workflows, their caches' keys and fields."""
    names: set[str] = set()
    for _, cls in inspect.getmembers(engine, inspect.isclass):
        if issubclass(cls, Workflow) and cls is not Workflow:
            names.add(cls.__name__)
            for cache in cls.caches():
                names |= {cache.state_key, *cache.key_inputs}
                if cache.value:
                    names.add(cache.value)
    return names


def checked_files() -> list[Path]:
    files = [
        path
        for path in (BASE / "sessions_app").rglob("*.py")
        if "workflow" not in path.relative_to(BASE / "sessions_app").parts[:1]
        and "migrations" not in path.parts
        and path not in ALLOWED
    ]
    return files + list((BASE / "templates").rglob("*.html"))


def test_the_rule_knows_the_built_in_names() -> None:
    names = built_in_names()
    assert {"BlogPostGenerator", "BlogPostPipeline", "blog_posts", "topic", "blog_post"} <= names
    assert {"search_results", "scraped_articles"} <= names


def test_no_module_outside_the_engine_names_a_workflow_a_state_key_or_a_field() -> None:
    pattern = re.compile(r"\b(" + "|".join(sorted(map(re.escape, built_in_names()))) + r")\b", re.IGNORECASE)
    found = []
    for path in checked_files():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if match := pattern.search(line):
                found.append(f"{path.relative_to(BASE)}:{number}: {match.group()!r} in {line.strip()[:100]}")
    assert not found, "\n".join(found)


def test_the_check_would_catch_a_mention(tmp_path: Path) -> None:
    pattern = re.compile(r"\b(" + "|".join(sorted(map(re.escape, built_in_names()))) + r")\b", re.IGNORECASE)
    assert pattern.search('if name == "topic":')
    assert pattern.search("from sessions_app.workflow import BlogPostGenerator")
    assert not pattern.search("topical cache keys")
