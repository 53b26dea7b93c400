"""Health, readiness and metrics, at the root: `/healthz`, `/readyz`, `/metrics` (no trailing slash)."""

from __future__ import annotations

from django.urls import path

from sessions_app.ops import health, metrics

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics, name="metrics"),
]
