"""A session's state pages; `sessions_app.urls` includes them under the session's own URL:

    path("sessions/<session_id:session_id>/", include("sessions_app.views.state_pages.urls")),

so each view receives `session_id`, decoded by the same converter as the session page.
"""

from __future__ import annotations

from django.urls import path

from sessions_app.views.state_pages import views as state

urlpatterns = [
    path("state/", state.state_overview_view, name="state_overview"),
    path("state/history/", state.state_history, name="state_history"),
    path("state/diff/", state.state_diff, name="state_diff"),
    path("state/clear/", state.state_clear, name="state_clear"),
    path("state/delete/", state.state_delete, name="state_delete"),
    path("state/versions/<int:version>/restore/", state.state_restore, name="state_restore"),
    path("state/versions/<int:version>/undo/", state.state_undo, name="state_undo"),
    path("state/versions/<int:version>/fork/", state.state_fork, name="state_fork"),
    path("export/", state.state_export, name="state_export"),
    path("import/", state.state_import, name="state_import"),
]
