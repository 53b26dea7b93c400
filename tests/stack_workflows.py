"""Workflows the fault and XSS tests register in a real stack (`WFSITE_WORKFLOWS=...,tests.stack_workflows.X`).

The stack's worker imports this module from the repository root, so it holds only engine code.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from sessions_app.workflow import RunEvent, RunResponse, Workflow
from tests.xss_payloads import PAYLOADS

ECHO_MODEL = "<img src=x onerror=alert('model')>"


class Checkpointing(Workflow):
    """Save one step at a time with write_to_storage(), slowly, so a worker can be killed between saves.

    After each save it also changes `pending`, which only the next save stores: a worker killed
    after step k leaves `steps == [1..k]`, `last_step == k` and `pending == k - 1`.
    """

    def run(self, steps: int = 100, pause: float = 0.1) -> Iterator[RunResponse]:
        start = int(self.session_state.get("last_step", 0))
        for step in range(start + 1, start + steps + 1):
            self.session_state.setdefault("steps", []).append(step)
            self.session_state["last_step"] = step
            self.write_to_storage()
            self.session_state["pending"] = step
            yield RunResponse(event="Checkpoint", content=f"saved step {step}")
            time.sleep(pause)
        yield RunResponse(event=RunEvent.workflow_completed, content=f"saved {steps} steps")


def echo_post() -> str:
    """Return a Markdown post that holds every payload, as paragraphs, headings, links and code."""
    parts = [f"# {PAYLOADS[0]}", *PAYLOADS, "## " + PAYLOADS[-1], "```\n" + PAYLOADS[1] + "\n```"]
    parts += [f"* [{payload[:20]}](javascript:alert(1))" for payload in PAYLOADS[:5]]
    return "\n\n".join(parts)


class XssEcho(Workflow):
    """Put hostile text everywhere a run can: step names and texts, sources, chunks, state, post, error."""

    def run(self, topic: str, pause: float = 0.0, fail: bool = False) -> Iterator[RunResponse]:
        sources = [{"title": payload, "url": "javascript:alert(1)"} for payload in PAYLOADS[:5]]
        yield RunResponse(
            event="<svg/onload=alert(1)>", content=topic, extra_data={"sources": sources}, model=ECHO_MODEL
        )
        for payload in PAYLOADS:
            yield RunResponse(event="ResearchStep", content=payload)
            yield RunResponse(content=payload + "\n", model=ECHO_MODEL)
            time.sleep(pause)
        state = self.session_state
        for index, payload in enumerate(PAYLOADS):
            state[payload] = {"value": payload, "index": index}
        state["nested ' \" <b>"] = {
            "list": PAYLOADS[:10],
            PAYLOADS[2]: [PAYLOADS[3], {PAYLOADS[4]: PAYLOADS[5]}],
        }
        posts = state.setdefault("blog_posts", [])
        posts += [{"topic": payload, "blog_post": echo_post()} for payload in PAYLOADS[:3]]
        if fail:
            raise RuntimeError("failed on purpose: " + " ".join(PAYLOADS[:10]))
        yield RunResponse(event=RunEvent.workflow_completed, content=echo_post(), model=ECHO_MODEL)
