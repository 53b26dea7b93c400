"""Pages that change a state after asking: clear, delete, restore, import (dashboard and admin).

A GET shows what will happen, worked out from the latest state, and a form carrying that
version; the POST does it through a service, which refuses if the state moved on in between.
Then the page is shown again with what changed and a new version to confirm, with status 409.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render

from sessions_app.models import StateChange, WorkflowSession
from sessions_app.selectors.diffs import DiffRow, preview
from sessions_app.selectors.history import version_diff
from sessions_app.services.state import (
    StateConflictError,
    StateStaleError,
    session_state_clear,
    session_state_delete,
    session_state_restore,
)
from sessions_app.services.transfer import session_import
from sessions_app.state.changes import path_text, place_text
from sessions_app.state.layout import session_caches
from sessions_app.state.store import state_snapshot
from sessions_app.state.versions import VersionUnavailableError
from sessions_app.views.state_pages.forms import SessionImportForm, StateActionForm, path_param, path_parse
from sessions_app.views.state_pages.pages import StateLinks, done, error_text
from sessions_app.workflow.state import MISSING, Path, get_at

STALE = "The state changed since this page was opened (version {seen} → {latest}), so nothing was changed. Check again what will happen, then confirm."
CONFLICT = "{where} changed since this page was opened, so nothing was changed. Check again what will happen, then confirm."


def _title(
    kind: str, path: Path, version: int | None, session: WorkflowSession | None = None, state: Any = None
) -> str:
    if kind == "restore":
        return f"Restore version {version}"
    where = path_text(path)
    if session is not None and path:
        where = place_text(path, session_caches(session), get_at(state or {}, path))
    return f"{'Clear' if kind == 'clear' else 'Delete'} {where}"


def _rows(
    kind: str, session: WorkflowSession, state: dict[str, Any], path: Path, version: int | None
) -> list[DiffRow]:
    """Say what the action would change, from the latest state."""
    if kind == "restore":
        assert version is not None
        return version_diff(session=session, before=session.version, after=version).rows
    if kind == "clear" and not path:
        return [DiffRow(key, "removed", before=preview(value)) for key, value in state.items()]
    value = get_at(state, path)
    if value is MISSING:
        raise ValidationError(f"There is nothing at {path_text(path)}; it may have been removed already.")
    if kind == "clear" and isinstance(value, list | dict):
        empty = "[]" if isinstance(value, list) else "{}"
        return [DiffRow(path_text(path), "changed", preview(value), empty)]
    return [DiffRow(path_text(path), "removed", before=preview(value))]


def _confirm(
    request: HttpRequest,
    *,
    kind: str,
    session: WorkflowSession,
    path: Path,
    version: int | None,
    links: StateLinks,
    context: dict[str, Any],
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    found = state_snapshot(session.session_id)
    if found is None:
        raise Http404("The session was deleted.")
    session, state = found
    context = {
        **context,
        "session": session,
        "links": links,
        "kind": kind,
        "version": version,
        "title": _title(kind, path, version, session, state),
    }
    try:
        context["rows"] = _rows(kind, session, state, path, version)
    except VersionUnavailableError as err:
        raise Http404(str(err)) from None
    except ValidationError as err:
        error, status = error or error_text(err), 404 if status == 200 else status
        context["rows"] = None
    context["form"] = StateActionForm(initial={"base_version": session.version, "path": path_param(path)})
    context["error"] = error
    return render(request, "state/confirm.html", context, status=status)


def _perform(
    kind: str, session: WorkflowSession, data: dict[str, Any], version: int | None, actor: Any
) -> StateChange | None:
    base, path = data["base_version"], data["path"]
    if kind == "restore":
        assert version is not None
        return session_state_restore(session=session, version=version, base_version=base, actor=actor)
    if kind == "clear":
        return session_state_clear(session=session, base_version=base, actor=actor, path=path)
    return session_state_delete(session=session, path=path, base_version=base, actor=actor)


def action_page(
    request: HttpRequest,
    *,
    kind: str,
    session: WorkflowSession,
    links: StateLinks,
    context: dict[str, Any],
    version: int | None = None,
) -> HttpResponse:
    """Ask to confirm a clear, delete or restore (GET), or do it (POST)."""
    page: dict[str, Any] = {
        "kind": kind,
        "session": session,
        "version": version,
        "links": links,
        "context": context,
    }
    if request.method != "POST":
        try:
            path = path_parse(request.GET.get("path", ""))
        except ValidationError as err:
            return _confirm(request, path=(), error=error_text(err), status=400, **page)
        if kind == "delete" and not path:
            return _confirm(request, path=(), error="Say what to delete.", status=400, **page)
        return _confirm(request, path=path, **page)
    form = StateActionForm(request.POST)
    if not form.is_valid():
        why = " ".join(str(e) for e in form.errors.get("path", [])) or "The form was incomplete."
        return _confirm(request, path=(), error=f"{why} Nothing was changed.", status=400, **page)
    path = form.cleaned_data["path"]
    try:
        change = _perform(kind, session, form.cleaned_data, version, request.user)
    except StateStaleError as err:
        error = STALE.format(seen=err.base_version, latest=err.latest_version)
    except StateConflictError as err:
        error = CONFLICT.format(where=", ".join(path_text(p) for p in err.paths[:5]))
    except VersionUnavailableError as err:
        raise Http404(str(err)) from None
    except ValidationError as err:
        error = error_text(err)
    else:
        return done(
            request, links, change, change.summary if change is not None else _title(kind, path, version)
        )
    return _confirm(request, path=path, error=error, status=409, **page)


def import_page(
    request: HttpRequest,
    *,
    session: WorkflowSession | None,
    after: Callable[[WorkflowSession], str],
    context: dict[str, Any],
) -> HttpResponse:
    """Show the upload form (GET) or import the uploaded session file (POST); `session` insists on one."""
    form = SessionImportForm(request.POST or None, request.FILES or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                result = session_import(data=form.cleaned_data["file"], actor=request.user, into=session)
            except ValidationError as err:
                form.add_error("file", err)
            else:
                messages.success(request, result.describe())
                return HttpResponseRedirect(after(result.session))
    return render(request, "state/import.html", {**context, "session": session, "form": form}, status=status)
