"""URLs served on a tenant's own domain (e.g. demo.localhost)."""

from django.urls import include, path

from bizosaas import health

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("", include("django_prometheus.urls")),
]
