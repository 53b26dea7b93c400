"""Read-only admins for append-only rows: runs, their events, and state changes."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import flatten
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from sessions_app.models import RunEvent, StateChange, StateEntry, WorkflowRun
from sessions_app.selectors.history import change_rows
from sessions_app.selectors.run_facts import duration_text, run_first_input
from sessions_app.services.runs import run_delete
from sessions_app.templatetags.dashboard import path_breaks

FIRST_INPUT_CHARS = 80

# Rows that exist only as part of a session (its entries, runs and history) or of a run (its events).
OWNED = (StateEntry, WorkflowRun, RunEvent, StateChange)


class DeletesWhatItOwns(admin.ModelAdmin):
    """Deleting a row deletes what belongs to it (entries, runs, events, history) without asking
    for permission to delete those by hand, which nobody has: their admins refuse it.

    The confirmation page still lists the whole cascade; a row of any other model in it still
    needs its own delete permission.
    """

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple[Any, ...]:
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        owned = {str(model._meta.verbose_name) for model in OWNED}
        return deleted, counts, {name for name in perms_needed if str(name) not in owned}, protected


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written by the system: people look, they do not add or edit."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _session_link(session: Any) -> SafeString:
    url = reverse("admin:sessions_app_workflowsession_change", args=[session.pk])
    return format_html('<a href="{}">{}</a>', url, session.session_id)


@admin.register(WorkflowRun)
class WorkflowRunAdmin(DeletesWhatItOwns, ReadOnlyAdmin):
    list_display = [
        "run_id",
        "session_link",
        "first_input",
        "workflow",
        "status",
        "cache_hit",
        "created_at",
        "took",
        "started_by",
    ]
    list_filter = ["status", "cache_hit", "workflow"]
    search_fields = ["run_id", "session__session_id"]
    list_select_related = ["session", "started_by"]
    date_hierarchy = "created_at"
    ordering = ["-created_at", "-id"]
    fields = [
        "run_link",
        "session_link",
        "workflow",
        "status",
        "cache_hit",
        "inputs_pretty",
        ("created_at", "started_at", "finished_at", "heartbeat_at"),
        "took",
        "started_by",
        ("cancel_requested_at", "cancelled_by"),
        "error",
        "output",
        "unsaved_state",
        "state_version",
    ]
    readonly_fields = flatten(fields)

    def get_queryset(self, request: HttpRequest) -> QuerySet[WorkflowRun]:
        return super().get_queryset(request).defer("output", "unsaved_state")

    def delete_model(self, request: HttpRequest, obj: WorkflowRun) -> None:
        run_delete(run=obj, actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[WorkflowRun]) -> None:
        for run in queryset:
            run_delete(run=run, actor=request.user)

    @admin.display(description="Session")
    def session_link(self, obj: WorkflowRun) -> SafeString:
        return _session_link(obj.session)

    @admin.display(description="First input")
    def first_input(self, obj: WorkflowRun) -> str:
        text = run_first_input(obj)
        return text if len(text) <= FIRST_INPUT_CHARS else text[: FIRST_INPUT_CHARS - 1] + "…"

    @admin.display(description="Duration")
    def took(self, obj: WorkflowRun) -> str:
        return duration_text(obj.duration) or "—"

    @admin.display(description="Run page")
    def run_link(self, obj: WorkflowRun) -> SafeString:
        return format_html('<a href="{}">{}</a>', reverse("run_detail", args=[obj.run_id]), obj.run_id)

    @admin.display(description="Inputs")
    def inputs_pretty(self, obj: WorkflowRun) -> SafeString:
        return format_html("<pre>{}</pre>", json.dumps(obj.inputs, indent=2, ensure_ascii=False))


@admin.register(RunEvent)
class RunEventAdmin(ReadOnlyAdmin):
    list_display = ["run", "seq", "event", "created_at"]
    list_filter = ["event"]
    search_fields = ["run__run_id"]
    list_select_related = ["run"]
    ordering = ["-id"]
    fields = readonly_fields = ("run", "seq", "event", "content", "data", "created_at")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # events go with their run


@admin.register(StateChange)
class StateChangeAdmin(ReadOnlyAdmin):
    list_display = ["session", "version", "source", "who", "created_at", "summary"]
    list_filter = ["source"]
    search_fields = ["session__session_id", "summary"]
    list_select_related = ["session", "actor", "run"]
    ordering = ["-created_at", "-id"]
    fields = readonly_fields = ("session_link", "version", "source", "who", "created_at", "summary", "diff")

    def get_queryset(self, request: HttpRequest) -> QuerySet[StateChange]:
        # The ops are read only on a change's own page.
        queryset = super().get_queryset(request)
        return (
            queryset
            if request.resolver_match and "object_id" in request.resolver_match.kwargs
            else queryset.defer("ops")
        )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # history is pruned by the retention setting, never by hand

    @admin.display(description="Session")
    def session_link(self, obj: StateChange) -> SafeString:
        return _session_link(obj.session)

    @admin.display(description="Made by")
    def who(self, obj: StateChange) -> str:
        if obj.actor is not None:
            return obj.actor.get_username()
        return f"run {obj.run.run_id}" if obj.run is not None else "the system"

    @admin.display(description="Diff")
    def diff(self, obj: StateChange) -> SafeString:
        rows = format_html_join(
            "",
            '<tr><td><code class="state-path">{}</code></td><td>{}</td><td><code class="diff-value">{}</code></td>'
            '<td><code class="diff-value">{}</code></td></tr>',
            ((path_breaks(row.path), row.kind, row.before, row.after) for row in change_rows(obj)),
        )
        return format_html(
            '<table class="state-diff"><thead><tr><th scope="col">Where</th><th scope="col">Change</th>'
            '<th scope="col">Before</th><th scope="col">After</th>'
            "</tr></thead><tbody>{}</tbody></table>",
            rows,
        )
