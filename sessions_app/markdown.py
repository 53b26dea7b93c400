"""Untrusted Markdown (model output, cached posts) to HTML that is safe to put in a page.

This module owns the only `mark_safe` of untrusted HTML in the project. markdown-it-py renders
with raw HTML off, so `<script>` in the text stays text; nh3 then keeps only an allow-list of
tags and attributes, drops any URL that is not http, https or mailto (relative ones too: a post
has no business linking into the dashboard), and marks every link `rel="noopener noreferrer
nofollow"`. Images are not allowed: a remote image in model output would report every reader's
visit to whoever wrote its URL.

A post that is still being written is shown as its top-level blocks (`markdown_blocks`): every
block but the last is complete and renders the same from then on; the last may still grow.
Each block is rendered on its own, so a link reference defined in one block does not reach
another until the finished post is rendered whole.
"""

from __future__ import annotations

import itertools
import re
from urllib.parse import urlsplit

import nh3
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

ALLOWED_TAGS = frozenset(
    {
        "a",
        "abbr",
        "blockquote",
        "br",
        "code",
        "del",
        "em",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "li",
        "ol",
        "p",
        "pre",
        "s",
        "strong",
        "table",
        "tbody",
        "td",
        "th",
        "thead",
        "tr",
        "ul",
    }
)
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "abbr": {"title"}}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "noopener noreferrer nofollow"

_markdown = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
_cleaner = nh3.Cleaner(
    tags=set(ALLOWED_TAGS),
    clean_content_tags={"script", "style"},
    attributes=ALLOWED_ATTRIBUTES,
    url_schemes=set(URL_SCHEMES),
    url_relative="deny",
    link_rel=LINK_REL,
    strip_comments=True,
)


_LINE_ENDS = re.compile(r"\r\n?")


def markdown_blocks(text: str) -> list[str]:
    """Split Markdown into the source of its top-level blocks, in order; joined, they are the text.

    Line ends are normalised as markdown-it does (so block line numbers match), and blank lines
    before the first block belong to it.
    """
    text = _LINE_ENDS.sub("\n", str(text))
    starts = [
        token.map[0]
        for token in _markdown.parse(text)
        if token.level == 0 and token.nesting >= 0 and token.map is not None
    ]
    if not starts:
        return [text] if text else []
    lines = text.split("\n")
    bounds = [0, *starts[1:], len(lines)]
    blocks = ["\n".join(lines[start:end]) for start, end in itertools.pairwise(bounds)]
    # split() dropped the line ends between blocks; each block but the last ends with one.
    return [block + "\n" for block in blocks[:-1]] + blocks[-1:]


def post_split(text: str) -> tuple[list[str], str]:
    """Return a post being written as its complete blocks and its last, still open one."""
    blocks = markdown_blocks(text)
    return blocks[:-1], (blocks[-1] if blocks else "")


def sanitize_html(html: str) -> str:
    """Return `html` with everything outside the allow-list removed (still a plain str)."""
    return _cleaner.clean(html)


def render_markdown(text: str) -> SafeString:
    """Render untrusted Markdown as sanitised HTML, ready for a template."""
    # Safe because nh3 has just kept only the allow-list; this is the one place that says so.
    return mark_safe(sanitize_html(_markdown.render(str(text))))


def render_blocks(blocks: list[str]) -> SafeString:
    """Render each Markdown block on its own, as `markdown_blocks` split them, one after another."""
    # Safe for the same reason as render_markdown: each part has been through nh3.
    return mark_safe("".join(sanitize_html(_markdown.render(str(block))) for block in blocks))


def safe_url(url: object) -> str:
    """Return `url` if a link to it is safe to offer (http, https or mailto), else ""."""
    if not isinstance(url, str):
        return ""
    candidate = url.strip()
    try:
        scheme = urlsplit(candidate).scheme.lower()
    except ValueError:
        return ""
    if scheme not in URL_SCHEMES or any(ord(ch) < 0x20 for ch in candidate):
        return ""
    return candidate
