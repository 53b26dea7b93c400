from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponsePermanentRedirect
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from sessions_app.api.app import api_urls

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="session_list"), name="home"),
    # Pages name it with <link rel="icon">; this is for clients that ask for /favicon.ico anyway.
    # The URL is looked up when asked for: production's hashed name exists only after collectstatic.
    path(
        "favicon.ico",
        login_not_required(lambda request: HttpResponsePermanentRedirect(static("favicon.svg"))),
        name="favicon",
    ),
    path("admin/", admin.site.urls),
    # Login, logout and password change/reset at the names Django's auth views expect.
    path("accounts/", include("django.contrib.auth.urls")),
    # The JSON API answers for itself (401/403/404/405 as JSON), so it comes before the pages.
    path("api/v1/", include(api_urls(), namespace="api")),
    path("", include("sessions_app.ops.urls")),
    path("", include("sessions_app.urls")),
]

# The error pages in the site's layout (the admin's under /admin/), naming the role a 403 needs.
handler403 = "sessions_app.views.errors.permission_denied"
handler404 = "sessions_app.views.errors.page_not_found"
handler500 = "sessions_app.views.errors.server_error"
# A refused request says why (sessions_app.views.errors.RequestRefused).
handler400 = "sessions_app.views.errors.bad_request"
