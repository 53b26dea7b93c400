"""Stream a run to a terminal: the post to stdout as it is written, progress to stderr."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TextIO

from sessions_app.workflow.events import RunEvent, RunResponse


def stream_to_console(events: Iterable[RunResponse], *, out: TextIO, err: TextIO) -> tuple[str | None, bool]:
    """Print a run's events as they arrive; return the final content and whether it was cached."""
    streamed = False
    final: str | None = None
    for event in events:
        if event.event == RunEvent.run_response:
            out.write(event.get_content_as_string())
            out.flush()
            streamed = True
        elif event.event == RunEvent.workflow_completed:
            final = event.get_content_as_string()
            if not streamed:
                out.write(final)
        else:
            err.write(f"[{event.event}] {event.get_content_as_string()}\n")
            err.flush()
    out.write("\n")
    out.flush()
    return final, not streamed and final is not None
