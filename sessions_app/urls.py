"""The dashboard's URLs; session ids go through `SessionIdConverter`, so any id has a page."""

from __future__ import annotations

from urllib.parse import unquote

from django.urls import include, path, register_converter

from sessions_app.views import caches, events, live, run_list, runs, sessions, tokens


class SessionIdConverter:
    """Any session id as one path segment, even one holding "/", "%" or only dots.

    Django matches the decoded path, so a "/" in an id would be read as a separator (and
    "sessions/x/runs/" would be ambiguous). `to_url` percent-encodes "%" and "/" (and a
    segment of only dots, which browsers would resolve away), `reverse` then encodes the rest,
    and `to_python` undoes the first step after the server has undone the second.
    """

    regex = "[^/]+"

    def to_python(self, value: str) -> str:
        return unquote(value)

    def to_url(self, value: str) -> str:
        encoded = value.replace("%", "%25").replace("/", "%2F")
        if encoded in {".", ".."}:
            encoded = encoded.replace(".", "%2E")
        return encoded


register_converter(SessionIdConverter, "session_id")

urlpatterns = [
    path("sessions/", sessions.session_index, name="session_list"),
    path("cache/", caches.cache_overview, name="cache_overview"),
    path("sessions/<session_id:session_id>/", sessions.session_detail, name="session_detail"),
    path("sessions/<session_id:session_id>/runs/", runs.run_create, name="run_create"),
    path("sessions/<session_id:session_id>/cache/", sessions.session_cache_check, name="session_cache_check"),
    path("sessions/<session_id:session_id>/sections/", sessions.session_sections, name="session_sections"),
    path("sessions/<session_id:session_id>/row/", sessions.session_row, name="session_row"),
    path("live/sessions/", live.session_changes, name="session_changes"),
    path(
        "sessions/<session_id:session_id>/entries/<int:entry_id>/",
        caches.legacy_entry,
        name="session_entry",
    ),
    path(
        "sessions/<session_id:session_id>/caches/<session_id:state_key>/<session_id:key>/",
        caches.cache_entry,
        name="cache_entry",
    ),
    path(
        "sessions/<session_id:session_id>/caches/<session_id:state_key>/<session_id:key>/delete/",
        caches.cache_entry_delete_view,
        name="cache_entry_delete",
    ),
    path(
        "sessions/<session_id:session_id>/caches/<session_id:state_key>/<session_id:key>/regenerate/",
        caches.cache_entry_regenerate_view,
        name="cache_entry_regenerate",
    ),
    # History, diffs, clearing, restore, export and import of one session's state.
    path("sessions/<session_id:session_id>/", include("sessions_app.views.state_pages.urls")),
    path("runs/", run_list.run_list, name="run_list"),
    path("runs/<uuid:run_id>/row/", run_list.run_row, name="run_row"),
    path("runs/<uuid:run_id>/", runs.run_detail, name="run_detail"),
    path("runs/<uuid:run_id>/events/", events.run_events, name="run_events"),
    path("runs/<uuid:run_id>/cancel/", runs.run_cancel_view, name="run_cancel"),
    path("runs/<uuid:run_id>/again/", runs.run_again_view, name="run_again"),
    path("account/tokens/", tokens.api_tokens, name="api_tokens"),
    path("account/tokens/<int:token_id>/revoke/", tokens.api_token_revoke_view, name="api_token_revoke"),
]
