"""Small display filters for the dashboard's pages: `{{ moment|ago }}`, `{{ key|state_path:position }}`."""

from __future__ import annotations

import json
from datetime import datetime
from urllib.parse import quote

from django import template
from django.utils import timezone
from django.utils.timesince import timesince

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
    """Say a length of time as a person reads it: "4.2 s", "3 min 5 s", "2 h 10 min"."""
    if not seconds:
        return "0 s"
    total = float(seconds)
    if total < 60:
        return f"{total:.1f} s"
    minutes, secs = divmod(round(total), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"
