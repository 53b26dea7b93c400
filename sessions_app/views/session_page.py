"""The session page's context, shared by the session views and the run form's POST (which shows it again)."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.urls import reverse

from sessions_app.forms import RunForm
from sessions_app.models import WorkflowSession
from sessions_app.registry import UnknownWorkflowError, get_workflow_class
from sessions_app.selectors.runs import session_runs
from sessions_app.selectors.sessions import session_cached_entry, session_entries
from sessions_app.state.store import state_preview
from sessions_app.templatetags.dashboard import ago
from sessions_app.workflow import BlogPostGenerator
from sessions_app.workflow.blog_post_generator import CACHE_KEY, find_cached

RUN_HISTORY = 25
# The session page shows a preview of big states; the state pages show everything.
STATE_PREVIEW_ITEMS = 20
ENTRIES_PER_PAGE = 50


def session_context(
    session: WorkflowSession, run_form: RunForm | None = None, *, entries_page: str | None = None
) -> dict[str, Any]:
    """Return what the session page shows; `run_form` is a bound form to show again with its errors."""
    run_form = run_form or run_form_for(session)
    topic = run_form.data.get("topic", "") if run_form is not None and run_form.is_bound else ""
    return {
        "session": session,
        "state": state_preview(session, per_list=STATE_PREVIEW_ITEMS),
        "entries": Paginator(session_entries(session=session), ENTRIES_PER_PAGE).get_page(entries_page),
        "runs": session_runs(session=session, limit=RUN_HISTORY),
        "run_form": run_form,
        **cache_status(session, topic),
    }


def run_form_for(session: WorkflowSession, data: Any = None) -> RunForm | None:
    """Return the run form for the session's workflow, or None when that workflow is not registered."""
    try:
        workflow_class = get_workflow_class(session.workflow)
    except UnknownWorkflowError:
        return None
    check_url = None
    if issubclass(workflow_class, BlogPostGenerator):
        check_url = reverse("session_cache_check", args=[session.session_id])
    return RunForm(data, workflow_class=workflow_class, cache_check_url=check_url)


def cache_status(session: WorkflowSession, topic: str) -> dict[str, Any]:
    """Return whether `topic` is cached in the session and, when known, how long ago (`cached_age`)."""
    status: dict[str, Any] = {"topic": topic, "cached": False, "cached_age": ""}
    if not topic.strip():
        return status
    entry = session_cached_entry(session=session, topic=topic)
    if entry is not None:
        status.update(cached=True, cached_age=ago(entry.updated_at))
    elif isinstance(session.session_state.get(CACHE_KEY), dict):
        # A cache in the dict shape lives in session_state, not in entries; it has no age to show.
        status["cached"] = find_cached(session.session_state, topic) is not None
    return status
