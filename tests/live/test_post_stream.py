"""The post renders as it streams: each chunk's message brings the page to the post so far, rendered."""

from __future__ import annotations

import random

from sessions_app.markdown import post_split, render_markdown
from sessions_app.models import RunEvent
from sessions_app.views.events import RunMessages
from sessions_app.workflow.offline_model import compose_post
from tests.live.stream_page import apply, message_data, page_for


def chunks(text: str, seed: int) -> list[str]:
    """Cut `text` at random places, as a model's stream would (mid-word, mid-line, mid-marker)."""
    rng, cuts, at = random.Random(seed), [], 0
    while at < len(text):
        size = rng.randint(1, 40)
        cuts.append(text[at : at + size])
        at += size
    return cuts


def messages_for(pieces: list[str]) -> list[str]:
    renderer = RunMessages()
    return [
        renderer.event(RunEvent(seq=seq, event="RunResponse", content=piece))
        for seq, piece in enumerate(pieces, 1)
    ]


def test_each_chunk_shows_the_post_so_far_rendered_sending_each_complete_block_once() -> None:
    post = compose_post("Streaming Markdown")
    pieces = chunks(post, seed=1)
    page, swaps, text = page_for(""), [], ""

    for piece, message in zip(pieces, messages_for(pieces), strict=True):
        text += piece
        apply(page, message_data(message), swaps)
        assert page == page_for(text)

    assert page["#run-blocks"] + page["#run-tail"] == render_markdown(post)
    assert ("#run-blocks", "innerHTML") not in swaps  # never re-sent the complete blocks
    appended = sum(1 for swap in swaps if swap == ("#run-blocks", "beforeend"))
    assert appended <= len(post_split(post)[0])
    assert "<h2>" in page["#run-blocks"]
    assert "<li>" in page["#run-blocks"]


def test_a_message_carries_only_the_new_blocks_and_the_open_one() -> None:
    post = compose_post("Small messages")
    pieces = chunks(post, seed=2)
    biggest = max(len(message) for message in messages_for(pieces))

    # The whole post is about 3,700 characters; no chunk's message comes near re-sending it.
    assert biggest < len(render_markdown(post)) / 3


def test_a_page_rendered_mid_stream_resumes_to_the_same_post() -> None:
    post = compose_post("Reload mid-stream")
    pieces = chunks(post, seed=3)
    messages = messages_for(pieces)
    for reload_at in (1, len(pieces) // 3, len(pieces) // 2, len(pieces) - 1):
        page, swaps = page_for("".join(pieces[:reload_at])), []
        for message in messages[reload_at:]:  # the stream resumes after the page's last seq
            apply(page, message_data(message), swaps)
        assert page == page_for(post), f"reloaded after chunk {reload_at}"


def test_a_block_that_changes_after_it_looked_complete_is_replaced_whole() -> None:
    renderer = RunMessages()
    # Carriage returns make the renderer split the whole text each time, and compare.
    renderer.event(RunEvent(seq=1, event="RunResponse", content="Intro\r\n\r\n# Head\r\n\r\nbody"))
    # Pretend the blocks seen so far were different: the next chunk replaces them all, once.
    renderer.complete = ["Something else\n\n"]
    message = renderer.event(RunEvent(seq=2, event="RunResponse", content=" more"))
    data = message_data(message)

    assert '<hx-partial hx-target="#run-blocks" hx-swap="innerHTML"><p>Intro</p>\n<h1>Head</h1>\n' in data
    assert '<hx-partial hx-target="#run-tail" hx-swap="innerHTML"><p>body more</p>' in data


def test_streamed_markdown_is_sanitised() -> None:
    pieces = ["# <script>alert(1)</script>\n\n", "[x](javascript:alert(1)) <img src=x onerror=alert(1)>"]
    text = "".join(messages_for(pieces))

    assert "<script" not in text
    assert "<img" not in text
    assert "href=" not in text  # the javascript: link stays text
    assert "&lt;script&gt;" in text


TRICKY = """Intro line
===

> a quote
lazily continued
> and more

1. one
2. two

   still two

- a
- b
* c

```js
let x = 1;

# not a heading
```

    indented code

| a | b |
| - | - |
| 1 | 2 |

Term with *emphasis
across* a line and a [link](https://e.com "t").

---
Last words\\
with a hard break.
"""


def test_parsing_only_the_open_block_agrees_with_the_whole_text() -> None:
    for seed in range(20):
        pieces = chunks(TRICKY, seed=seed)
        page, text = page_for(""), ""
        for piece, message in zip(pieces, messages_for(pieces), strict=True):
            text += piece
            apply(page, message_data(message))
            assert page == page_for(text), f"seed {seed}, after {text!r}"


def test_carriage_returns_split_across_chunks_render_as_the_whole_text() -> None:
    pieces = ["# Title\r", "\nFirst para\r", "\n\r\n- item\r", "\n- other"]
    page = page_for("")
    for message in messages_for(pieces):
        apply(page, message_data(message))

    assert page == page_for("".join(pieces))
