"""Untrusted Markdown (model output, cached posts) to HTML that is safe to put in a page.

This module owns the only `mark_safe` of untrusted HTML in the project. markdown-it-py renders
with raw HTML off, so `<script>` in the text stays text; nh3 then keeps only an allow-list of
tags and attributes, drops any URL that is not http, https or mailto (relative ones too: a post
has no business linking into the dashboard), and marks every link `rel="noopener noreferrer
nofollow"`. Images are not allowed: a remote image in model output would report every reader's
visit to whoever wrote its URL.
"""

from __future__ import annotations

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


def sanitize_html(html: str) -> str:
    """Return `html` with everything outside the allow-list removed (still a plain str)."""
    return _cleaner.clean(html)


def render_markdown(text: str) -> SafeString:
    """Render untrusted Markdown as sanitised HTML, ready for a template."""
    # Safe because nh3 has just kept only the allow-list; this is the one place that says so.
    return mark_safe(sanitize_html(_markdown.render(str(text))))


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
