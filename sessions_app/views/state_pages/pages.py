"""The state pages, shared by the dashboard (`views.state_pages.views`) and the admin (`admin.state_views`).

Each page function takes the session, a `StateLinks` saying where its sibling pages live, and
the base context of the site it is shown in (the admin's carries its navigation); templates
extend `context["base_template"]`, so one template serves both. Every value from a state is
shown through autoescaping templates or `format_html`; nothing here marks state content safe.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.html import format_html
from django.utils.http import content_disposition_header

from sessions_app.models import StateChange, WorkflowSession
from sessions_app.selectors.diffs import DiffRow, preview
from sessions_app.selectors.history import change_rows, history_list, version_diff
from sessions_app.selectors.transfer import export_filename, session_export_bytes
from sessions_app.state.changes import path_text
from sessions_app.state.versions import VersionUnavailableError, history_floor
from sessions_app.views.state_pages.forms import path_param
from sessions_app.workflow.cache import Cache

HISTORY_PAGE = 50
ENTRIES_SHOWN = 200


@dataclass(frozen=True)
class StateLinks:
    """Where a session's state pages live: `url("history")`, `url("restore", 3)`; `back` ends an action."""

    url: Callable[..., str]
    back: str

    def action(self, name: str, path: tuple[str | int, ...]) -> str:
        """Return the confirmation page of a clear or delete at `path`."""
        return self.url(name) + "?" + urlencode({"path": path_param(path)})

    def diff(self, before: int, after: int) -> str:
        """Return the page comparing two versions."""
        return self.url("diff") + "?" + urlencode({"before": before, "after": after})

    # For templates, which cannot pass arguments.
    @property
    def history_url(self) -> str:
        return self.url("history")

    @property
    def diff_url(self) -> str:
        return self.url("diff")

    @property
    def clear_all_url(self) -> str:
        return self.url("clear")


# -- what the state holds ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class EntryItem:
    """One element of a cache (a list item or an object member), with its delete link."""

    label: str
    path: str
    preview: str
    delete_url: str


@dataclass(frozen=True)
class KeyItem:
    """One top-level key: what it holds, its entries when it is a list or object, and its actions."""

    key: str
    kind: str
    count: int | None
    preview: str
    clear_url: str | None
    delete_url: str
    entries: list[EntryItem]
    hidden: int


def _label(cache: Cache | None, key: str | int, value: Any) -> str:
    entry = None if cache is None else cache.entry(value, key)
    if entry is not None:
        return entry.display_key
    return f"[{key}]" if isinstance(key, int) else key


def state_overview(state: dict[str, Any], links: StateLinks, caches: Mapping[str, Cache]) -> list[KeyItem]:
    """List the state's top-level keys and, for lists and objects, their first entries (by key, in caches)."""
    items = []
    for key, value in state.items():
        members = (
            list(enumerate(value))
            if isinstance(value, list)
            else list(value.items())
            if isinstance(value, dict)
            else None
        )
        entries = [
            EntryItem(
                _label(caches.get(key), k, v),
                path_text((key, k)),
                preview(v),
                links.action("delete", (key, k)),
            )
            for k, v in (members or [])[:ENTRIES_SHOWN]
        ]
        items.append(
            KeyItem(
                key=key,
                kind="list" if isinstance(value, list) else "object" if isinstance(value, dict) else "value",
                count=None if members is None else len(members),
                preview="" if members else preview(value),
                clear_url=None if members is None else links.action("clear", (key,)),
                delete_url=links.action("delete", (key,)),
                entries=entries,
                hidden=max(0, len(members or []) - ENTRIES_SHOWN),
            )
        )
    return items


# -- history and diffs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryItem:
    """One change as the history page lists it, with links to see and undo it."""

    change: StateChange
    rows: list[DiffRow]
    diff_url: str | None
    restore_url: str | None
    undo_url: str | None
    fork_url: str | None


def undo_url(links: StateLinks, change: StateChange, floor: int | None) -> str | None:
    """Return the page that undoes `change` alone, when the version before it can be rebuilt."""
    before = change.version - 1
    return links.url("undo", change.version) if floor is not None and before >= floor else None


def history_page(
    request: HttpRequest, *, session: WorkflowSession, links: StateLinks, context: dict[str, Any]
) -> HttpResponse:
    """Show the session's changes, newest first, each with who made it, its diff and its actions."""
    page = Paginator(history_list(session=session), HISTORY_PAGE).get_page(request.GET.get("page"))
    floor = history_floor(session=session)
    items = [
        HistoryItem(
            change=change,
            rows=change_rows(change),
            diff_url=links.diff(change.version - 1, change.version)
            if floor is not None and change.version > floor
            else None,
            restore_url=links.url("restore", change.version) if change.version != session.version else None,
            undo_url=undo_url(links, change, floor),
            fork_url=links.url("fork", change.version)
            if floor is not None and change.version >= floor
            else None,
        )
        for change in page
    ]
    context = {
        **context,
        "title": "State history",
        "session": session,
        "links": links,
        "page": page,
        "items": items,
        "floor": floor,
        "before": max(0, session.version - 1),
        "after": session.version,
    }
    return render(request, "state/history.html", context)


def _version(value: str | None, default: int) -> int | None:
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError:
        return None


def diff_page(
    request: HttpRequest, *, session: WorkflowSession, links: StateLinks, context: dict[str, Any]
) -> HttpResponse:
    """Show what changed between two versions (`?before=&after=`, default: the last change)."""
    before = _version(request.GET.get("before"), max(0, session.version - 1))
    after = _version(request.GET.get("after"), session.version)
    context = {**context, "title": "Compare versions", "session": session, "links": links}
    context.update(before=before, after=after)
    if before is None or after is None:
        context["error"] = "Versions are whole numbers."
        return render(request, "state/diff.html", context, status=400)
    try:
        context["diff"] = version_diff(session=session, before=before, after=after)
    except VersionUnavailableError as error:
        context["error"] = str(error)
        return render(request, "state/diff.html", context, status=404)
    floor = history_floor(session=session)
    if floor is not None and before >= floor:
        context["restore_url"] = links.url("restore", before)
    return render(request, "state/diff.html", context)


def export_response(session: WorkflowSession) -> HttpResponse:
    """Answer the session file as a download."""
    response = HttpResponse(session_export_bytes(session=session), content_type="application/json")
    response["Content-Disposition"] = content_disposition_header(True, export_filename(session))
    return response


def done(
    request: HttpRequest, links: StateLinks, change: StateChange | None, text: str
) -> HttpResponseRedirect:
    """Go back after a change, saying what was done and offering to undo it."""
    if change is None:
        messages.info(request, f"{text}: nothing needed changing.")
        return HttpResponseRedirect(links.back)
    url = undo_url(links, change, history_floor(session=change.session))
    if url:
        messages.success(
            request, format_html('{} (now version {}). <a href="{}">Undo</a>', text, change.version, url)
        )
    else:
        messages.success(request, f"{text} (now version {change.version}).")
    return HttpResponseRedirect(links.back)


def error_text(error: ValidationError) -> str:
    """Join a ValidationError's messages into one line."""
    return " ".join(error.messages)
