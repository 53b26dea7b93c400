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
