"""What a run's page shows, read from its events: the steps, the streamed text and the final post.

The run page renders it once; the event stream (`views.events`) renders the same partials for
each new event, so the page and the stream always agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sessions_app.markdown import post_split, safe_url
from sessions_app.models import RunEvent, WorkflowRun
from sessions_app.selectors.runs import events_since
from sessions_app.services.run_events import CHUNK_EVENT, COMPLETED_EVENT, RUN_CANCELLED, RUN_FAILED

EVENT_BATCH = 500
ERROR_EVENTS = frozenset({RUN_FAILED, RUN_CANCELLED})


@dataclass
class Step:
    """One progress event as the steps list shows it."""

    event: str
    content: str
    failed: bool = False
    sources: list[dict[str, str]] = field(default_factory=list)


@dataclass
class RunView:
    """What the run page shows, read from the run's events up to `last_seq`."""

    steps: list[Step] = field(default_factory=list)
    text: str = ""
    final: str | None = None
    last_seq: int = 0

    @property
    def post_so_far(self) -> tuple[list[str], str]:
        """The streamed text as the stream shows it: its complete Markdown blocks and the open one."""
        return post_split(self.text)


def step_from_event(event: RunEvent) -> Step:
    """Return the steps-list item for a progress event, its sources' links checked."""
    data = event.data if isinstance(event.data, dict) else {}
    extra = data.get("extra_data")
    extra = extra if isinstance(extra, dict) else {}
    found = extra.get("sources")
    found = found if isinstance(found, list) else []
    sources = [
        {
            "title": str(source.get("title") or source.get("url") or "source"),
            "url": safe_url(source.get("url")),
        }
        for source in found
        if isinstance(source, dict)
    ]
    return Step(event=event.event, content=event.content, failed=event.event in ERROR_EVENTS, sources=sources)


def run_view(run: WorkflowRun) -> RunView:
    """Read every event of the run, in batches, into what its page shows."""
    view, chunks = RunView(), []
    while True:
        batch = events_since(run=run, after_seq=view.last_seq, limit=EVENT_BATCH)
        for event in batch:
            if event.event == CHUNK_EVENT:
                chunks.append(event.content)
            elif event.event == COMPLETED_EVENT:
                view.final = event.content
            else:
                view.steps.append(step_from_event(event))
            view.last_seq = event.seq
        if len(batch) < EVENT_BATCH:
            break
    view.text = "".join(chunks)
    if view.final is None and run.status == WorkflowRun.Status.SUCCEEDED:
        view.final = run.output or view.text
    return view


def run_context(run: WorkflowRun) -> dict[str, Any]:
    """Return the context of the run page's partials, for the page and the event stream alike."""
    return {"run": run, "view": run_view(run)}
