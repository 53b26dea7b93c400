"""`{% savings_chart savings %}`: hits and misses per day as an inline SVG bar chart.

Drawn on the server as plain SVG elements (no script, no CDN), so it is within the site's
Content-Security-Policy and readable without JavaScript; the numbers are also in a table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import template

from sessions_app.selectors.savings import Day, Savings

register = template.Library()

BAR_WIDTH = 10
GAP = 4
HEIGHT = 120


@dataclass(frozen=True)
class Bar:
    """One day's stacked bar: misses from the bottom, hits on top."""

    day: Day
    x: int
    hit_y: float
    hit_height: float
    miss_y: float
    miss_height: float


def _bars(savings: Savings) -> list[Bar]:
    scale = HEIGHT / savings.busiest if savings.busiest else 0.0
    bars = []
    for n, day in enumerate(savings.days):
        miss_height, hit_height = day.misses * scale, day.hits * scale
        miss_y = HEIGHT - miss_height
        bars.append(Bar(day, n * (BAR_WIDTH + GAP), miss_y - hit_height, hit_height, miss_y, miss_height))
    return bars


@register.inclusion_tag("sessions/_savings_chart.html")
def savings_chart(savings: Savings) -> dict[str, Any]:
    """Render the chart of `savings.days`."""
    return {
        "savings": savings,
        "bars": _bars(savings),
        "width": max(1, len(savings.days) * (BAR_WIDTH + GAP) - GAP),
        "height": HEIGHT,
        "bar_width": BAR_WIDTH,
        "first": savings.days[0].day if savings.days else None,
        "last": savings.days[-1].day if savings.days else None,
    }
