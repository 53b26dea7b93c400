"""The session page's context, shared by the session views and the run form's POST (which shows it again)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.urls import reverse

from sessions_app.forms import RunForm
from sessions_app.models import WorkflowSession
from sessions_app.registry import UnknownWorkflowError, get_workflow_class, workflow_classes
from sessions_app.selectors.caches import KeyStatus, cache_key_status, cache_tables
from sessions_app.selectors.runs import session_runs
from sessions_app.selectors.savings import cache_savings
from sessions_app.selectors.sessions import session_forks, session_signatures
from sessions_app.state.store import state_preview

RUN_HISTORY = 25
# The session page shows a preview of big states; the state pages show everything.
STATE_PREVIEW_ITEMS = 20
FORKS_SHOWN = 50


def session_context(
    session: WorkflowSession,
    run_form: RunForm | None = None,
    *,
    entries_page: str | None = None,
    paged_cache: str | None = None,
) -> dict[str, Any]:
    """Return what the session page shows; `run_form` is a bound form to show again with its errors."""
    run_form = run_form or run_form_for(session)
    return {
        **session_sections_context(session, entries_page=entries_page, paged_cache=paged_cache),
        "run_form": run_form,
        "key_status": key_status(
            session, run_form.data if run_form is not None and run_form.is_bound else {}
        ),
        # Where the page is, for its change stream; and where its sections come from when it moves.
        "changes_url": changes_url([session.pk]),
        "sections_url": sections_url(session, entries_page=entries_page, paged_cache=paged_cache),
    }


def session_sections_context(
    session: WorkflowSession, *, entries_page: str | None = None, paged_cache: str | None = None
) -> dict[str, Any]:
    """Return what the session page's live sections show (everything but the run form)."""
    return {
        "session": session,
        "state": state_preview(session, per_list=STATE_PREVIEW_ITEMS),
        "cache_tables": cache_tables(session=session, page=entries_page, paged=paged_cache),
        "runs": session_runs(session=session, limit=RUN_HISTORY),
        "savings": cache_savings(session=session),
        "forks": list(session_forks(session=session)[:FORKS_SHOWN]),
        "registered": session.workflow in workflow_classes(),
    }


def changes_url(pks: list[int]) -> str:
    """Return the URL of the change stream of these sessions, from where they are now (`views.live`)."""
    signatures = session_signatures(pks=pks)
    watched = [("s", f"{pk}.{signatures[pk].token}" if pk in signatures else str(pk)) for pk in pks]
    return f"{reverse('session_changes')}?{urlencode(watched)}"


def sections_url(session: WorkflowSession, *, entries_page: str | None, paged_cache: str | None) -> str:
    """Return the URL of the page's sections, showing the same page of cached entries."""
    url = reverse("session_sections", args=[session.session_id])
    query = {name: value for name, value in (("cache", paged_cache), ("entries_page", entries_page)) if value}
    return f"{url}?{urlencode(query)}" if query else url


def run_form_for(session: WorkflowSession, data: Any = None) -> RunForm | None:
    """Return the run form for the session's workflow, or None when that workflow is not registered."""
    try:
        workflow_class = get_workflow_class(session.workflow)
    except UnknownWorkflowError:
        return None
    check_url = reverse("session_cache_check", args=[session.session_id])
    # When the session changes (templates/sessions/session_page/live.html), say again whether the typed key is cached.
    recheck_on = f"changed-{session.pk} from:#session-live"
    return RunForm(data, workflow_class=workflow_class, cache_check_url=check_url, recheck_on=recheck_on)


def key_status(session: WorkflowSession, data: Any) -> KeyStatus | None:
    """Return what the form says about the typed key of the session's result cache, if it has one."""
    try:
        workflow_class = get_workflow_class(session.workflow)
    except UnknownWorkflowError:
        return None
    cache = workflow_class.result_cache()
    if cache is None:
        return None
    inputs = {name: data.get(name, "") for name in cache.key_inputs}
    if not any(str(value).strip() for value in inputs.values()):
        return None
    return cache_key_status(session=session, workflow_class=workflow_class, inputs=inputs)
