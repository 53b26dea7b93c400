"""`{% json_tree value %}`: a JSON value as nested `<details>`, every key and value escaped.

Objects and lists are collapsible; the top level and small containers start open, lists longer
than OPEN_LIST_LIMIT start closed, and long strings show a preview that opens to the full text.
Everything goes through `format_html`, so no key or value can become markup. A state stored
before the nesting limit may be deeper than any page should recurse: containers below
WFSITE_MAX_STATE_DEPTH show as a note of what was cut (`state.values.bounded`).
"""

from __future__ import annotations

import json
from typing import Any

from django import template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from sessions_app.state.values import bounded

register = template.Library()

OPEN_LIST_LIMIT = 10
OPEN_DEPTH = 2
SHOWN_ITEMS = 500
LONG_STRING = 160
PREVIEW = 80
# Below this depth a value is shown as compact JSON text; `bounded` keeps that text shallow.
MAX_DEPTH = 40


@register.simple_tag
def json_tree(value: Any) -> SafeString:
    """Render a JSON value as a collapsible tree."""
    return format_html('<div class="json-tree">{}</div>', _node(None, bounded(value), 0))


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _label(key: str | int | None) -> SafeString:
    if key is None:
        return SafeString("")
    if isinstance(key, int):
        return format_html('<span class="json-index">{}</span> ', key)
    return format_html('<span class="json-key">{}</span>: ', json.dumps(key, ensure_ascii=False))


def _node(key: str | int | None, value: Any, depth: int) -> SafeString:
    if isinstance(value, dict | list | tuple) and depth >= MAX_DEPTH:
        text = json.dumps(value, ensure_ascii=False, default=repr)
        return format_html('{}<code class="json-deep">{}</code>', _label(key), text)
    if isinstance(value, dict):
        return _container(key, list(value.items()), depth, "{", "}", _count(len(value), "key"), True)
    if isinstance(value, list | tuple):
        items = list(enumerate(value))
        # A ListPreview (state.store.state_preview) holds only the first items of a longer list.
        total = max(getattr(value, "total", 0), len(items))
        opened = total <= OPEN_LIST_LIMIT and depth < OPEN_DEPTH
        return _container(key, items, depth, "[", "]", _count(total, "item"), opened, total)
    return _scalar(key, value)


def _container(
    key: str | int | None,
    items: list[tuple[Any, Any]],
    depth: int,
    start: str,
    end: str,
    count: str,
    opened: bool,
    total: int | None = None,
) -> SafeString:
    if not items:
        return format_html('{}<span class="json-empty">{}{}</span>', _label(key), start, end)
    children = format_html_join(
        "", "<li>{}</li>", ((_node(k, v, depth + 1),) for k, v in items[:SHOWN_ITEMS])
    )
    shown = min(len(items), SHOWN_ITEMS)
    hidden = max(total or 0, len(items)) - shown
    more = ""
    if hidden > 0:
        more = format_html('<li class="json-more">… {} more not shown</li>', hidden)
    return format_html(
        '<details{}><summary>{}<span class="json-brace">{}</span> <span class="json-count">{}</span>'
        "</summary><ul>{}{}</ul>{}</details>",
        " open" if opened or depth == 0 else "",
        _label(key),
        start,
        count,
        children,
        more,
        end,
    )


def _scalar(key: str | int | None, value: Any) -> SafeString:
    if isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
        if len(value) > LONG_STRING:
            return format_html(
                '<details class="json-long"><summary>{}<span class="json-string">{}</span> '
                '<span class="json-count">{} characters</span></summary>'
                '<pre class="json-string">{}</pre></details>',
                _label(key),
                json.dumps(value[:PREVIEW], ensure_ascii=False)[:-1] + "…",
                len(value),
                value,
            )
        kind = "string"
    elif isinstance(value, bool) or value is None:
        text, kind = json.dumps(value), "literal"
    elif isinstance(value, int | float):
        text, kind = json.dumps(value), "number"
    else:
        text, kind = repr(value), "other"
    return format_html('{}<span class="json-{}">{}</span>', _label(key), kind, text)
