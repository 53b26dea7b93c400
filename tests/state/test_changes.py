"""Change summaries name cached entries by their key, as their cache declares, not by their place."""

from __future__ import annotations

from sessions_app.state.changes import ops_summary, place_text
from sessions_app.workflow import BlogPostGenerator, BlogPostPipeline
from sessions_app.workflow.state import MISSING, Op, diff

CACHES = {"blog_posts": BlogPostGenerator.blog_posts}
A = {"topic": "AI agents", "blog_post": "a"}
B = {"topic": "Rust", "blog_post": "b"}


def test_appends_deletes_and_changes_of_entries_are_named() -> None:
    assert (
        ops_summary([Op("append", ("blog_posts",), [A])], caches=CACHES) == "cached the post on 'AI agents'"
    )
    assert (
        ops_summary([Op("delete", ("blog_posts", 0), None, A)], caches=CACHES)
        == "deleted the post on 'AI agents'"
    )
    edited = diff({"blog_posts": [A]}, {"blog_posts": [{**A, "blog_post": "new"}]})
    touched = [("blog_posts", {**A, "blog_post": "new"}, 0)]
    assert ops_summary(edited, caches=CACHES, touched=touched) == "changed the post on 'AI agents'"


def test_replacing_a_whole_cache_names_what_came_and_went() -> None:
    op = Op("set", ("blog_posts",), [A, B], [B])
    assert ops_summary([op], caches=CACHES) == "cached the post on 'AI agents'"
    assert (
        ops_summary([Op("delete", ("blog_posts",), None, [A])], caches=CACHES)
        == "deleted the post on 'AI agents'"
    )


def test_dict_shaped_members_are_named_by_their_key() -> None:
    caches = {cache.state_key: cache for cache in BlogPostPipeline.caches()}
    ops = diff({}, {"search_results": {"Go": [{"url": "u"}]}, "tone": "dry"})
    assert ops_summary(ops, caches=caches) == "cached the search results for 'Go'; set tone"


def test_without_a_declaration_places_are_named_by_their_path() -> None:
    assert ops_summary([Op("append", ("blog_posts",), [A])]) == "appended 1 item to blog_posts"
    assert place_text(("blog_posts", 0), {}, A) == "blog_posts[0]"
    assert place_text(("blog_posts", 0), CACHES, A) == "the post on 'AI agents'"
    assert place_text(("blog_posts", 0), CACHES, MISSING) == "blog_posts[0]"
