"""Filters for untrusted text: `{{ post|markdown }}`, `{{ blocks|markdown_blocks }}`, `{{ url|safe_url }}`.

See sessions_app.markdown.
"""

from __future__ import annotations

from django import template
from django.utils.safestring import SafeString

from sessions_app.markdown import render_blocks, render_markdown
from sessions_app.markdown import safe_url as _safe_url

register = template.Library()


@register.filter
def markdown(text: object) -> SafeString:
    """Render untrusted Markdown as sanitised HTML."""
    return render_markdown("" if text is None else str(text))


@register.filter
def markdown_blocks(blocks: list[str]) -> SafeString:
    """Render Markdown blocks (as `markdown.post_split` gives them) one after another."""
    return render_blocks(list(blocks))


@register.filter
def safe_url(url: object) -> str:
    """Return the URL if it is http, https or mailto; otherwise an empty string."""
    return _safe_url(url)
