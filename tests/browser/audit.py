"""Checks a browser test runs on a page as it is now: axe-core's rules, and how it lays out.

axe-core (tests/browser/vendor/, see its README) is evaluated in the page through the DevTools
protocol, which the site's Content-Security-Policy does not govern, so the page is tested exactly
as it is served. Every `<details>` is opened first, so what it hides is checked too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import Page

AXE_SOURCE = Path(__file__).with_name("vendor") / "axe.min.js"
RUN_AXE = """async () => {
    document.querySelectorAll("details").forEach((details) => { details.open = true; });
    const results = await axe.run(document, { resultTypes: ["violations"] });
    return results.violations.map((violation) => ({
        id: violation.id,
        impact: violation.impact,
        help: violation.help,
        nodes: violation.nodes.slice(0, 5).map((node) => node.target.join(" ") + ": " + node.failureSummary),
    }));
}"""
# A word (letters between spaces, hyphens or slashes) that the layout put on more than one line.
BROKEN_WORDS = r"""(selector) => {
    const broken = [];
    const walker = document.createTreeWalker(document.querySelector(selector), NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const parent = node.parentElement;
        if (!parent || parent.closest("script, style, textarea, [hidden], .post-stream, pre")) continue;
        for (const match of node.textContent.matchAll(/[^\s\-\/]+/g)) {
            const range = document.createRange();
            range.setStart(node, match.index);
            range.setEnd(node, match.index + match[0].length);
            const lines = new Set([...range.getClientRects()].filter((r) => r.width > 0).map((r) => Math.round(r.top)));
            if (lines.size > 1) broken.push(`"${match[0]}" in <${parent.tagName.toLowerCase()} class="${parent.className}">`);
        }
    }
    return broken;
}"""
# What sticks out sideways: the page itself, a table wider than its box, a body cell with no label.
HIDDEN_SIDEWAYS = r"""() => {
    const problems = [];
    const root = document.scrollingElement;
    if (root.scrollWidth > window.innerWidth + 1) problems.push(`the page is ${root.scrollWidth}px wide in ${window.innerWidth}px`);
    for (const box of document.querySelectorAll(".table-scroll")) {
        if (box.scrollWidth > box.clientWidth + 1) problems.push(`a table is ${box.scrollWidth}px wide in a ${box.clientWidth}px box`);
        // Rows shown as cards (a narrow screen) must name each value; a real table has its headings.
        for (const cell of box.querySelectorAll("tbody td")) {
            if (getComputedStyle(cell).display === "table-cell") continue;
            const label = getComputedStyle(cell, "::before").content;
            if (!label || label === "none" || label === '""') problems.push(`a cell without its column's name: ${cell.textContent.trim().slice(0, 40)}`);
        }
    }
    return problems;
}"""


def axe_violations(page: Page) -> list[str]:
    """Run axe-core's rules on the page; return each violation as a line, with up to five nodes."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE_SOURCE.read_text())
    found: list[dict[str, Any]] = page.evaluate(RUN_AXE)
    return [
        f"{item['id']} ({item['impact']}): {item['help']}\n      " + "\n      ".join(item["nodes"])
        for item in found
    ]


def broken_words(page: Page, selector: str = "main, #content") -> list[str]:
    """Return each word the layout broke across lines inside `selector`."""
    return page.evaluate(BROKEN_WORDS, selector)


def hidden_sideways(page: Page) -> list[str]:
    """Return what is out of sight sideways: page overflow, scrolled tables, unlabelled stacked cells."""
    return page.evaluate(HIDDEN_SIDEWAYS)
