from __future__ import annotations

import re

import pytest
from django.template import Context, Template
from django.utils.safestring import SafeString

from sessions_app.markdown import markdown_blocks, post_split, render_blocks, render_markdown, safe_url
from sessions_app.templatetags.json_tree import json_tree

PAYLOADS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[x](javascript:alert(1))",
    '"><svg onload=alert(1)>',
    "[y](JaVaScRiPt:alert(1))",
    "[z](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "<a href='javascript:alert(1)'>a</a>",
    "![i](javascript:alert(1))",
    "<hx-partial hx-target='body'>x</hx-partial>",
    '<div hx-get="/admin/" hx-trigger="load" hx-on:click="alert(1)">d</div>',
]


def assert_inert(html: str) -> None:
    """No tag that runs script, no event handler attribute, no script URL, no htmx markup."""
    lowered = html.lower()
    assert "<script" not in lowered
    assert "<svg" not in lowered
    assert "<img" not in lowered
    assert "<hx-" not in lowered
    assert not re.search(r"<[^>]*\son\w+\s*=", lowered)
    assert not re.search(r"<[^>]*\shx-", lowered)
    assert "javascript:" not in re.sub(r">[^<]*<", "><", lowered)
    assert 'href="data:' not in lowered


@pytest.mark.parametrize("payload", PAYLOADS)
def test_markdown_payloads_are_inert(payload: str) -> None:
    html = render_markdown(f"# Title\n\n{payload}\n\nText {payload} inline.")

    assert isinstance(html, SafeString)
    assert_inert(html)


def test_markdown_renders_a_post() -> None:
    html = render_markdown(
        "# AI agents\n\nIntro *with* **emphasis** and `code`.\n\n## Section\n\n- one\n- two\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n\n```\nx < 1\n```\n\n[source](https://example.com/a?b=1&c=2)"
    )

    assert "<h1>AI agents</h1>" in html
    assert "<h2>Section</h2>" in html
    assert "<em>with</em>" in html
    assert "<strong>emphasis</strong>" in html
    assert "<li>one</li>" in html
    assert "<table>" in html
    assert "<td>1</td>" in html
    assert "x &lt; 1" in html
    assert 'href="https://example.com/a?b=1&amp;c=2"' in html
    assert 'rel="noopener noreferrer nofollow"' in html


def test_markdown_drops_links_that_are_not_http_https_or_mailto() -> None:
    html = render_markdown("[a](ftp://x/y) [b](/admin/) [c](mailto:a@example.com) [d](http://e.com)")

    assert "ftp:" not in html
    assert 'href="/admin/"' not in html
    assert 'href="mailto:a@example.com"' in html
    assert 'href="http://e.com"' in html


def test_markdown_raw_html_stays_text() -> None:
    html = render_markdown("<b>bold</b> <!-- comment --> <iframe src=x></iframe>")

    assert "&lt;b&gt;bold&lt;/b&gt;" in html
    assert "<iframe" not in html


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.com/x", "https://example.com/x"),
        (" http://e.com ", "http://e.com"),
        ("mailto:a@b.c", "mailto:a@b.c"),
        ("javascript:alert(1)", ""),
        ("JAVASCRIPT:alert(1)", ""),
        ("java\tscript:alert(1)", ""),
        ("data:text/html,<script>", ""),
        ("/relative", ""),
        ("http://[bad", ""),
        (None, ""),
        (42, ""),
    ],
)
def test_safe_url(url: object, expected: str) -> None:
    assert safe_url(url) == expected


def test_json_tree_escapes_every_key_and_value() -> None:
    payload = '"><svg onload=alert(1)><script>alert(1)</script>'
    state = {
        payload: payload,
        "list": [payload, {payload: [payload * 10]}],
        "n": 1.5,
        "t": True,
        "none": None,
        "empty": {},
    }

    html = json_tree(state)

    assert "<script" not in html
    assert "<svg" not in html
    assert "&lt;script&gt;" in html
    assert html.count("<details") >= 4
    assert '<span class="json-literal">true</span>' in html
    assert '<span class="json-literal">null</span>' in html
    assert '<span class="json-number">1.5</span>' in html


def test_json_tree_collapses_big_lists_and_long_strings() -> None:
    html = json_tree({"big": list(range(50)), "small": [1, 2], "long": "x" * 500})

    assert '<details><summary><span class="json-key">&quot;big&quot;</span>' in html
    assert '<details open><summary><span class="json-key">&quot;small&quot;</span>' in html
    assert "500 characters" in html


def test_json_tree_survives_deep_nesting() -> None:
    deep: object = "bottom"
    for _ in range(500):
        deep = [deep]

    html = json_tree({"deep": deep})

    assert "json-deep" in html


def test_template_filters_are_available() -> None:
    template = Template("{% load posts %}{{ text|markdown }}|{{ url|safe_url }}")

    html = template.render(Context({"text": "<script>x</script>", "url": "javascript:alert(1)"}))

    assert html == "<p>&lt;script&gt;x&lt;/script&gt;</p>\n|"


POST = """# A title

An opening paragraph that runs
over two lines.

## Steps

1. first
2. second

- a
- b

```python
print("x")
```

> a quote
lazily continued

| a | b |
| - | - |
| 1 | 2 |

---
The end, with a [link](https://e.com)."""


def test_markdown_blocks_are_the_top_level_blocks_and_join_back_to_the_text() -> None:
    blocks = markdown_blocks(POST)

    assert "".join(blocks) == POST
    assert [block.split("\n")[0] for block in blocks] == [
        "# A title",
        "An opening paragraph that runs",
        "## Steps",
        "1. first",
        "- a",
        "```python",
        "> a quote",
        "| a | b |",
        "---",
        "The end, with a [link](https://e.com).",
    ]
    assert markdown_blocks("") == []
    assert markdown_blocks("a\r\nb\r\n\r\nc") == ["a\nb\n\n", "c"]
    assert markdown_blocks("\n\n# late start") == ["\n\n# late start"]


def test_each_block_renders_as_its_part_of_the_whole_post() -> None:
    assert render_blocks(markdown_blocks(POST)) == render_markdown(POST)


def test_post_split_keeps_the_last_block_open() -> None:
    assert post_split("") == ([], "")
    assert post_split("# T") == ([], "# T")
    assert post_split("# T\n\nSome te") == (["# T\n\n"], "Some te")
    # An unclosed fence swallows what follows until it closes: still one open block.
    assert post_split("Intro\n\n```\ncode\n\n# not a heading") == (
        ["Intro\n\n"],
        "```\ncode\n\n# not a heading",
    )
    # A line that turns the paragraph above into a heading changes only the open block.
    assert post_split("Intro\n\nTitle\n===") == (["Intro\n\n"], "Title\n===")


def test_render_blocks_is_sanitised_and_marked_safe() -> None:
    html = render_blocks(["<script>alert(1)</script>\n\n", "[x](javascript:alert(1))"])

    assert isinstance(html, SafeString)
    assert_inert(html)
    assert "&lt;script&gt;" in html
