"""URLs of the public domain: platform admin, health, metrics (and, later, auth, sign-up and inbound webhooks)."""

from django.contrib import admin
from django.urls import include, path

from bizosaas import health

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("", include("django_prometheus.urls")),
    path("admin/", admin.site.urls),
]
