"""Pages that act on one version from the history: undo the change that made it, fork a session from it.

Both are shared by the dashboard and the admin, like `actions`. The undo page shows what undoing
would change now (or why it cannot), then undoes through `state_change_undo`, which works the
same out again under the session's lock; the fork page asks for the new session's id and name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render

from sessions_app.models import WorkflowSession
from sessions_app.selectors.diffs import diff_rows
from sessions_app.selectors.undo import UndoConflictError, undo_plan
from sessions_app.services.forks import fork_default_name, session_fork
from sessions_app.services.state import state_change_undo
from sessions_app.state.store import state_snapshot
from sessions_app.state.versions import VersionUnavailableError, history_floor
from sessions_app.views.state_pages.forms import ForkForm, StateActionForm
from sessions_app.views.state_pages.pages import StateLinks, done, error_text


def _undo_confirm(
    request: HttpRequest,
    session: WorkflowSession,
    version: int,
    links: StateLinks,
    context: dict[str, Any],
    error: str = "",
) -> HttpResponse:
    found = state_snapshot(session.session_id)
    if found is None:
        raise Http404("The session was deleted.")
    session, latest = found
    context = {
        **context,
        "session": session,
        "links": links,
        "kind": "undo",
        "version": version,
        "title": f"Undo version {version}",
        "form": StateActionForm(initial={"base_version": session.version, "path": ""}),
        "restore_url": None,
    }
    rows = None
    try:
        rows = diff_rows(undo_plan(session=session, version=version, latest=latest))
    except VersionUnavailableError as err:
        raise Http404(str(err)) from None
    except (UndoConflictError, ValidationError) as err:
        error = error or (str(err) if isinstance(err, UndoConflictError) else error_text(err))
        floor = history_floor(session=session)
        if floor is not None and version - 1 >= floor:
            context["restore_url"] = links.url("restore", version - 1)
    context.update(rows=rows, error=error)
    status = 200 if not error else 409
    return render(request, "state/confirm.html", context, status=status)


def undo_page(
    request: HttpRequest,
    *,
    session: WorkflowSession,
    version: int,
    links: StateLinks,
    context: dict[str, Any],
) -> HttpResponse:
    """Show what undoing the change that made `version` would do (GET), or undo it (POST)."""
    if request.method != "POST":
        return _undo_confirm(request, session, version, links, context)
    try:
        change = state_change_undo(session=session, version=version, actor=request.user)
    except VersionUnavailableError as err:
        raise Http404(str(err)) from None
    except UndoConflictError as err:
        return _undo_confirm(request, session, version, links, context, error=str(err))
    except ValidationError as err:
        return _undo_confirm(request, session, version, links, context, error=error_text(err))
    return done(request, links, change, change.summary if change is not None else f"Undo version {version}")


def _check_forkable(session: WorkflowSession, version: int) -> None:
    floor = history_floor(session=session)
    kept = floor is not None and floor <= version < session.version
    if version != session.version and not kept:
        raise Http404(str(VersionUnavailableError(version, floor, session.version)))


def _fork(
    request: HttpRequest, form: ForkForm, session: WorkflowSession, version: int
) -> WorkflowSession | None:
    """Fork as the valid form says; None after putting the service's refusal on the form."""
    try:
        return session_fork(
            session=session,
            version=version,
            actor=request.user,
            session_id=form.cleaned_data["session_id"] or None,
            name=form.cleaned_data["name"] or None,
        )
    except VersionUnavailableError as err:
        raise Http404(str(err)) from None
    except ValidationError as err:
        for field, errors in err.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
        return None


def fork_page(
    request: HttpRequest,
    *,
    session: WorkflowSession,
    version: int,
    after: Callable[[WorkflowSession], str],
    links: StateLinks,
    context: dict[str, Any],
) -> HttpResponse:
    """Ask for the new session's id and name (GET), or fork the session from `version` (POST)."""
    form = ForkForm(request.POST or None)
    if request.method != "POST":
        _check_forkable(session, version)
    elif form.is_valid() and (fork := _fork(request, form, session, version)) is not None:
        messages.success(
            request, f"Forked version {version} of {session.session_id!r} as {fork.session_id!r}."
        )
        return HttpResponseRedirect(after(fork))
    form.fields["name"].widget.attrs["placeholder"] = fork_default_name(session, version)
    context = {
        **context,
        "title": f"Fork from version {version}",
        "session": session,
        "links": links,
        "version": version,
        "form": form,
    }
    return render(request, "state/fork.html", context, status=400 if request.method == "POST" else 200)
