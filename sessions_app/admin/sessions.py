"""The session admin: the state as editable JSON, its cached entries, history, restore, import, export."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.defaultfilters import filesizeformat
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from sessions_app.admin import state_views
from sessions_app.admin.forms import SessionStateForm
from sessions_app.admin.records import DeletesWhatItOwns
from sessions_app.models import WorkflowSession
from sessions_app.roles import CAN_CREATE_SESSION
from sessions_app.selectors.sessions import session_forks
from sessions_app.services.sessions import session_delete, session_rename
from sessions_app.services.state import session_state_edit
from sessions_app.state.layout import session_caches
from sessions_app.state.store import state_load
from sessions_app.state.versions import history_floor
from sessions_app.views.state_pages.forms import state_text
from sessions_app.views.state_pages.pages import export_response, state_overview, undo_url

ABOUT = [
    "session_id",
    "name",
    "workflow",
    "user_id",
    ("version", "updated_at"),
    ("state_size_text", "cache_entries"),
]
ABOUT += [("run_count", "last_run_status"), "created_at", "lineage"]


@admin.register(WorkflowSession)
class WorkflowSessionAdmin(DeletesWhatItOwns):
    form = SessionStateForm
    list_display = [
        "session_id",
        "name",
        "workflow",
        "version",
        "cache_entries",
        "state_size_text",
        "run_count",
        "updated_at",
    ]
    list_filter = ["workflow", "last_run_status"]
    search_fields = ["session_id", "name", "user_id"]
    ordering = ["-updated_at", "-id"]
    readonly_fields = [
        "session_id",
        "workflow",
        "user_id",
        "version",
        "state_size_text",
        "cache_entries",
        "run_count",
        "last_run_status",
        "created_at",
        "updated_at",
        "state_pretty",
        "lineage",
    ]
    actions = ["export_json"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[WorkflowSession]:
        # The state is read through state.store where it is shown; lists never load it.
        return super().get_queryset(request).defer("session_state", "list_keys")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # sessions come from the dashboard, runs, and imports

    def get_fieldsets(self, request: HttpRequest, obj: WorkflowSession | None = None) -> list[Any]:
        editable = obj is not None and self.has_change_permission(request, obj)
        state = ["state", "base_version"] if editable else ["state_pretty"]
        return [(None, {"fields": ABOUT}), ("State", {"fields": state})]

    @admin.display(description="State size", ordering="state_size")
    def state_size_text(self, obj: WorkflowSession) -> str:
        return filesizeformat(obj.state_size)

    @admin.display(description="Forks")
    def lineage(self, obj: WorkflowSession) -> SafeString | str:
        parts = []
        if obj.forked_from_session_id:
            source = obj.forked_from
            where = (
                format_html('<a href="{}">{}</a>', self._change_url(source), source.session_id)
                if source is not None
                else format_html("{} (deleted)", obj.forked_from_session_id)
            )
            parts.append(format_html("Forked from {} at version {}", where, obj.forked_from_version))
        forks = [
            format_html('<a href="{}">{}</a>', self._change_url(fork), fork.session_id)
            for fork in session_forks(session=obj)
        ]
        if forks:
            parts.append(format_html("Its forks: {}", format_html_join(", ", "{}", ((f,) for f in forks))))
        if len(parts) == 2:
            return format_html("{}<br>{}", *parts)
        return parts[0] if parts else "—"

    @staticmethod
    def _change_url(session: WorkflowSession) -> str:
        return reverse("admin:sessions_app_workflowsession_change", args=[session.pk])

    @admin.display(description="State")
    def state_pretty(self, obj: WorkflowSession) -> SafeString:
        return format_html('<pre class="state-json">{}</pre>', state_text(state_load(obj)))

    def save_model(
        self, request: HttpRequest, obj: WorkflowSession, form: SessionStateForm, change: bool
    ) -> None:
        if "name" in form.changed_data:
            session_rename(session=obj, name=form.cleaned_data["name"], actor=request.user)
        if form.edit is not None:
            base, on_top = form.edit
            # response_change, which says what was saved, is given only the request.
            request.state_change = session_state_edit(  # type: ignore[attr-defined]  # read by response_change
                session=obj,
                new_state=form.cleaned_data["state"],
                base_version=base,
                actor=request.user,
                on_top=on_top,
            )

    def delete_model(self, request: HttpRequest, obj: WorkflowSession) -> None:
        session_delete(session=obj, actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[WorkflowSession]) -> None:
        for session in queryset:
            session_delete(session=session, actor=request.user)

    def construct_change_message(
        self, request: HttpRequest, form: Any, formsets: Any, add: bool = False
    ) -> list[Any]:
        fields = [name for name in ("name", "state") if name in form.changed_data]
        return [{"changed": {"fields": fields}}] if fields else []

    def response_change(self, request: HttpRequest, obj: WorkflowSession) -> HttpResponse:
        change = getattr(request, "state_change", None)
        if change is not None:
            url = undo_url(self.links(obj), change, history_floor(session=obj))
            text = f"State saved as version {change.version}: {change.summary}"
            messages.success(request, format_html('{} <a href="{}">Undo</a>', text, url) if url else text)
        return super().response_change(request, obj)

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: WorkflowSession | None = None,
    ) -> HttpResponse:
        if obj is not None:
            form = context["adminform"].form
            state = getattr(form, "loaded_state", None)
            state = state_load(obj) if state is None else state
            context["state_keys"] = state_overview(state, self.links(obj), session_caches(obj))
            context["can_edit_state"] = self.has_change_permission(request, obj)
            context["state_links"] = self.links(obj)
        return super().render_change_form(request, context, add, change, form_url, obj)

    @staticmethod
    def links(obj: WorkflowSession) -> state_views.StateLinks:
        return state_views.admin_links(obj)

    @admin.action(description="Download the selected session as JSON", permissions=["view"])
    def export_json(self, request: HttpRequest, queryset: QuerySet[WorkflowSession]) -> HttpResponse | None:
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one session to download.", messages.WARNING)
            return None
        return export_response(queryset.get())

    def get_urls(self) -> list[URLPattern]:
        name = f"{self.opts.app_label}_{self.opts.model_name}"

        def view(func: Any, **kwargs: Any) -> Any:
            return self.admin_site.admin_view(partial(func, self, **kwargs))

        extra = [
            path("import/", view(state_views.import_view), name=f"{name}_import"),
            path(
                "<path:object_id>/state/history/",
                view(state_views.history_view),
                name=f"{name}_state_history",
            ),
            path("<path:object_id>/state/diff/", view(state_views.diff_view), name=f"{name}_state_diff"),
            path(
                "<path:object_id>/state/clear/",
                view(state_views.action_view, kind="clear"),
                name=f"{name}_state_clear",
            ),
            path(
                "<path:object_id>/state/delete/",
                view(state_views.action_view, kind="delete"),
                name=f"{name}_state_delete",
            ),
            path(
                "<path:object_id>/state/restore/<int:version>/",
                view(state_views.action_view, kind="restore"),
                name=f"{name}_state_restore",
            ),
            path(
                "<path:object_id>/state/undo/<int:version>/",
                view(state_views.undo_view),
                name=f"{name}_state_undo",
            ),
            path(
                "<path:object_id>/state/fork/<int:version>/",
                view(state_views.fork_view),
                name=f"{name}_state_fork",
            ),
            path(
                "<path:object_id>/state/fork/", view(state_views.fork_view), name=f"{name}_state_fork_latest"
            ),
            path("<path:object_id>/export/", view(state_views.export_view), name=f"{name}_state_export"),
        ]
        return extra + super().get_urls()

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra_context = {
            **(extra_context or {}),
            "import_url": reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_import"),
            "can_import": self.has_change_permission(request) and request.user.has_perm(CAN_CREATE_SESSION),
        }
        return super().changelist_view(request, extra_context)
