"""Small display filters for the dashboard's pages: `{{ moment|ago }}`, `{{ key|state_path:position }}`, ..."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from urllib.parse import quote

from django import template
from django.forms.utils import pretty_name
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.html import format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.timesince import timesince

from sessions_app.selectors.run_facts import duration_text as run_durations
from sessions_app.selectors.run_facts import input_text

register = template.Library()


@register.filter
def ago(moment: datetime | None) -> str:
    """Say how long ago `moment` was: "just now" within a minute, else "3 minutes ago"."""
    if moment is None:
        return ""
    if (timezone.now() - moment).total_seconds() < 60:
        return "just now"
    return f"{timesince(moment)} ago"


@register.filter
def moment(value: datetime | None) -> str:
    """Show a time to the second, with its zone: "2 Dec 2026, 03:48:07 UTC"."""
    if value is None:
        return ""
    return date_format(timezone.localtime(value) if timezone.is_aware(value) else value, "j M Y, H:i:s T")


@register.filter
def input_value(value: object) -> str:
    """Show a run input's value as a person reads it (Yes/No for booleans)."""
    return input_text(value)


@register.filter
def input_label(name: str) -> str:
    """Label a run input as its form field is labelled: use_cache -> "Use cache"."""
    return pretty_name(str(name))


@register.filter
def state_path(key: str, position: int | None = None) -> str:
    """Encode a state path as the `?path=` query value the state pages take (a JSON array)."""
    parts: list[str | int] = [key] if position is None or position == "" else [key, int(position)]
    return quote(json.dumps(parts, ensure_ascii=False), safe="")


@register.filter
def seconds(value: float | None) -> str:
    """Say a duration in seconds as a person reads it: "90 seconds", "2 hours", "7 days"."""
    if value is None:
        return ""
    total = float(value)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if (total >= size and total % size == 0) or total >= 2 * size:
            count = round(total / size, 1)
            count_text = f"{count:g}"
            return f"{count_text} {unit}{'' if count == 1 else 's'}"
    return f"{total:g} second{'' if total == 1 else 's'}"


@register.filter
def is_text(value: object) -> bool:
    """Return whether a value is text (a cached post to render, rather than data to show as a tree)."""
    return isinstance(value, str)


@register.filter
def duration_text(seconds: float | None) -> str:
    """Say a number of seconds as a person reads it: "4.2 s", "3 min 5 s", "2 h 10 min"."""
    return run_durations(timedelta(seconds=float(seconds or 0)))


# Before each "[" or "." of a path like posts[3].title: the places it may wrap.
_PATH_PARTS = re.compile(r"(?=[\[.])")
_WBR = mark_safe("<wbr>")  # a constant; every part of the path is escaped by format_html_join


@register.filter
def path_breaks(path: object) -> SafeString:
    """Escape a state path and let it wrap only between its parts, never inside a key."""
    parts = [part for part in _PATH_PARTS.split(str(path)) if part]
    return format_html_join(_WBR, "{}", ((part,) for part in parts))
