from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    # Login, logout and password change/reset at the names Django's auth views expect.
    path("accounts/", include("django.contrib.auth.urls")),
]
