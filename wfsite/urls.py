from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="session_list"), name="home"),
    path("admin/", admin.site.urls),
    # Login, logout and password change/reset at the names Django's auth views expect.
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("sessions_app.urls")),
]

# A refused request says why (sessions_app.views.errors.RequestRefused).
handler400 = "sessions_app.views.errors.bad_request"
