"""A run page's post as the event stream's messages leave it, for tests: htmx's swaps, applied to strings."""

from __future__ import annotations

import re

from sessions_app.markdown import post_split, render_blocks, render_markdown

PARTIAL = re.compile(r'<hx-partial hx-target="([^"]+)" hx-swap="([^"]+)">(.*?)</hx-partial>', re.S)
DATA = re.compile(r"^data: ?(.*)$", re.M)
TARGETS = ("#run-blocks", "#run-tail")


def page_for(text: str) -> dict[str, str]:
    """What the run page shows for the text so far (the template renders these two filters)."""
    complete, tail = post_split(text)
    return {"#run-blocks": render_blocks(complete), "#run-tail": render_markdown(tail)}


def apply(page: dict[str, str], data: str, swaps: list[tuple[str, str]] | None = None) -> None:
    """Apply one message's data (its `data:` lines joined) to the streamed post, as htmx swaps it."""
    for target, swap, html in PARTIAL.findall(data):
        if target not in TARGETS:
            continue
        if swaps is not None:
            swaps.append((target, swap))
        page[target] = page[target] + html if swap == "beforeend" else html


def message_data(message: str) -> str:
    """Return a raw SSE message's data, its `data:` lines joined as the browser joins them."""
    return "\n".join(DATA.findall(message))
